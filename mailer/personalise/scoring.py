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
point agreement with :mod:`mailer.personalise.reference`).
:func:`hard_rules` gives what no score can buy: the price ceiling, recent
purchases and showings, the audience, and which candidates are exploration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailer.personalise.profiles import Features, Profiles
from mailer.personalise.rules import SelectionRules, Weights
from mailer.personalise.seeding import uniform

__all__ = ["PRICE_CAP", "TERMS", "Terms", "hard_rules", "score", "terms", "weight_vector"]

TERMS = ("affinity", "brand", "gender", "age", "popularity", "newness", "price", "noise")
#: The largest price penalty, in squared band widths.
PRICE_CAP = 4.0


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


def terms(profiles: Profiles, features: Features, candidates: np.ndarray, rules: SelectionRules) -> Terms:
    """Every term for every candidate of every recipient in the batch."""
    cat = profiles.catalogue
    valid = candidates >= 0
    p = np.where(valid, candidates, 0)
    b = np.arange(candidates.shape[0])[:, None]
    out = np.empty((len(TERMS), *candidates.shape))

    affinity = out[0]
    for d, weight in enumerate(rules.depth_weights):
        part = weight * features.shares[b, cat.path[p, d]]
        if d == 0:
            affinity[...] = part
        else:
            affinity += part
    out[1] = features.brand_shares[b, cat.brand[p]]
    out[2] = features.gender_fit[b, cat.gender[p]]
    out[3] = features.age_fit[b, cat.age[p]]
    out[4] = profiles.popularity.score[p, features.market[:, None]]
    out[5] = profiles.newness[p]
    centre = features.centre[b, cat.band[p]]
    distance = (cat.log_price[p] - centre) / rules.band_width
    penalty = np.minimum(distance * distance, PRICE_CAP)
    out[6] = -np.where(np.isnan(centre), 0.0, penalty)
    out[7] = uniform(rules.seed, features.hash[:, None], cat.hash[p])
    return Terms(out, p, valid)


def score(values: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """``Σ weights[i] × values[i]``, added in :data:`TERMS` order."""
    total = weights[0] * values[0]
    for i in range(1, len(TERMS)):
        total += weights[i] * values[i]
    return total


def hard_rules(
    profiles: Profiles, features: Features, t: Terms, rules: SelectionRules
) -> tuple[np.ndarray, np.ndarray]:
    """``allowed`` (may be shown) and ``explore`` (from a top-level category they never bought), ``(B, K)``."""
    cat = profiles.catalogue
    p = t.product
    b = np.arange(p.shape[0])[:, None]
    allowed = t.valid & features.audience[:, None]
    if not rules.allow_above_band:
        allowed &= cat.log_price[p] <= features.ceiling[b, cat.band[p]]
    if features.excluded.size:
        keys = b * max(cat.n_groups, 1) + cat.group[p]
        at = np.minimum(np.searchsorted(features.excluded, keys), features.excluded.size - 1)
        allowed &= features.excluded[at] != keys
    explore = features.warm[:, None] & (features.shares[b, cat.path[p, 0]] == 0)
    return allowed, explore
