"""Scoring: how well each candidate product suits each customer.

A product's score for a customer is a weighted sum of eight terms
(:data:`TERMS`), each computed for a whole batch of candidates at once:

* ``affinity``: their category shares along the product's path
  (``depth_weights``-weighted, see :mod:`mailer.personalise.affinity`);
* ``brand``: their share of purchases of its brand;
* ``gender`` and ``age``: how much of what they buy is for the product's
  gender and age group (1 for unisex and ageless products); before any
  purchase, the gender they declared;
* ``popularity`` in their market and ``newness``;
* ``price``: minus the squared distance, in band widths, of its price from
  the centre of their band for its category (at most 4; 0 when their band is
  unknown);
* ``noise``: a seeded draw in [0, 1), so ties break the same way every time.

:func:`score` adds them in that order (the order matters for exact floating
point agreement with :mod:`tests.support.reference`).
:func:`hard_rules` gives what no score can buy: the price ceiling, recent
purchases and showings, the audience, and which candidates are exploration.

Lookups go through :class:`ProductColumns`, per-product columns prepared
once per send, and flat indices into the batch's dense features: a
``take`` on a flat index is several times cheaper than two-dimensional
fancy indexing, and this is the hot loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailer.personalise.profiles import Features, Profiles
from mailer.personalise.rules import SelectionRules, Weights
from mailer.personalise.seeding import pair_key, uniform_keyed

__all__ = ["PRICE_CAP", "TERMS", "ProductColumns", "Terms", "hard_rules", "score", "terms", "weight_vector"]

TERMS = ("affinity", "brand", "gender", "age", "popularity", "newness", "price", "noise")
#: The largest price penalty, in squared band widths.
PRICE_CAP = 4.0


@dataclass(frozen=True, eq=False)
class ProductColumns:
    """Per-product lookups for scoring, with -1 codes pointed at the features' zero columns."""

    levels: tuple[np.ndarray, ...]
    brand: np.ndarray
    raw_brand: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    band: np.ndarray
    group: np.ndarray
    log_price: np.ndarray
    newness: np.ndarray
    is_new: np.ndarray
    popularity: np.ndarray
    n_markets: int
    noise_key: np.ndarray
    n_groups: int

    @classmethod
    def build(cls, profiles: Profiles, rules: SelectionRules) -> ProductColumns:
        cat = profiles.catalogue
        v, nb = len(cat.categories), len(cat.brands)

        def col(codes: np.ndarray, missing: int) -> np.ndarray:
            return np.where(codes >= 0, codes, missing).astype(np.intp)

        return cls(
            levels=tuple(col(cat.path[:, d], v) for d in range(cat.path.shape[1])),
            brand=col(cat.brand, nb),
            raw_brand=cat.brand.astype(np.intp),
            gender=cat.gender.astype(np.intp),
            age=cat.age.astype(np.intp),
            band=col(cat.band, v),
            group=cat.group.astype(np.intp),
            log_price=cat.log_price,
            newness=profiles.newness,
            is_new=profiles.is_new,
            popularity=np.ascontiguousarray(profiles.popularity.score, dtype=np.float64).ravel(),
            n_markets=profiles.popularity.score.shape[1],
            noise_key=pair_key(rules.seed, cat.hash),
            n_groups=max(cat.n_groups, 1),
        )


@dataclass(frozen=True, eq=False)
class Terms:
    """``(len(TERMS), B, K)`` term values for a batch of candidates (``product`` is the safe index)."""

    values: np.ndarray
    product: np.ndarray
    valid: np.ndarray


def weight_vector(weights: Weights, *, personal: bool = True) -> tuple[float, ...]:
    """The weights in :data:`TERMS` order; without affinity and brand for bestseller slots.

    >>> weight_vector(Weights(), personal=False)[:3]
    (0.0, 0.0, 1.5)
    """
    values = [float(getattr(weights, name)) for name in TERMS]
    if not personal:
        values[0] = values[1] = 0.0
    return tuple(values)


def _lookup(table: np.ndarray, row_offset: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``table[b, codes[b, k]]`` for every ``(b, k)``, via a flat index."""
    index = codes + row_offset
    out: np.ndarray = table.ravel().take(index)
    return out


def terms(
    profiles: Profiles, features: Features, candidates: np.ndarray, rules: SelectionRules, cols: ProductColumns
) -> Terms:
    """Every term for every candidate of every recipient in the batch."""
    valid = candidates >= 0
    p = np.where(valid, candidates, 0).astype(np.intp)
    b = candidates.shape[0]
    out = np.empty((len(TERMS), *candidates.shape))
    rows = np.arange(b, dtype=np.intp)[:, None]
    share_offset = rows * features.shares.shape[1]

    affinity = out[0]
    for d, weight in enumerate(rules.depth_weights):
        part = weight * _lookup(features.shares, share_offset, cols.levels[d].take(p))
        if d == 0:
            affinity[...] = part
        else:
            affinity += part
    out[1] = _lookup(features.brand_shares, rows * features.brand_shares.shape[1], cols.brand.take(p))
    out[2] = _lookup(features.gender_fit, rows * features.gender_fit.shape[1], cols.gender.take(p))
    out[3] = _lookup(features.age_fit, rows * features.age_fit.shape[1], cols.age.take(p))
    out[4] = cols.popularity.take(p * cols.n_markets + features.market[:, None])
    out[5] = cols.newness.take(p)
    centre = _lookup(features.centre, share_offset, cols.band.take(p))
    distance = (cols.log_price.take(p) - centre) / rules.band_width
    penalty = np.minimum(distance * distance, PRICE_CAP)
    out[6] = -np.where(np.isnan(centre), 0.0, penalty)
    out[7] = uniform_keyed(features.hash[:, None], cols.noise_key.take(p))
    return Terms(out, p, valid)


def score(values: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """``Σ weights[i] × values[i]``, added in :data:`TERMS` order."""
    total: np.ndarray = weights[0] * values[0]
    for i in range(1, len(TERMS)):
        total += weights[i] * values[i]
    return total


def hard_rules(
    features: Features, t: Terms, rules: SelectionRules, cols: ProductColumns
) -> tuple[np.ndarray, np.ndarray]:
    """``allowed`` (may be shown) and ``explore`` (from a top-level category they never bought), ``(B, K)``."""
    p = t.product
    rows = np.arange(p.shape[0], dtype=np.intp)[:, None]
    share_offset = rows * features.shares.shape[1]
    allowed = t.valid & features.audience[:, None]
    if not rules.allow_above_band:
        allowed &= cols.log_price.take(p) <= _lookup(features.ceiling, share_offset, cols.band.take(p))
    if features.excluded.size:
        keys = rows * cols.n_groups + cols.group.take(p)
        at = np.minimum(np.searchsorted(features.excluded, keys), features.excluded.size - 1)
        allowed &= features.excluded[at] != keys
    explore = features.warm[:, None] & (_lookup(features.shares, share_offset, cols.levels[0].take(p)) == 0)
    return allowed, explore
