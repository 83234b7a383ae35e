"""Candidate pools: the few hundred products each customer is scored against.

Scoring every customer against every product (a million × ten thousand) is
ten billion scores; a personal shopper instead looks where the customer
shops, at the prices they pay. :func:`build_pools` ranks the products that
may be shown at all (in stock, not sensitive, within the campaign's
categories) once per send, by their non-personal pull
(``weights.popularity × popularity + weights.newness × newness``, all
markets), into fixed-size pools:

* per category at the deepest level (``Women > Dresses > Midi Dresses``)
  and per band-level category (``Women > Dresses``), ``price_tiers`` tiers of
  equal numbers of products from cheapest to dearest, with the best
  ``pool_per_tier`` of each;
* per brand, the best ``pool_per_brand``;
* *discovery*: about ``pool_discovery`` products spread over the top-level
  categories (what exploration and cold starts draw on);
* per market, its ``pool_market`` bestsellers; and the ``pool_new`` best of
  what is new in.

Each customer's candidates (:func:`gather`) are, for their
``pool_categories`` favourite deepest-level categories and ``pool_bands``
favourite band-level ones, the three price tiers around the centre of their
price band there; the pools of their ``pool_brands`` favourite brands;
discovery, their market's bestsellers and new in. About 250 products,
gathered for a whole batch by array indexing. When the pools hold every
eligible product, the result is exactly the full scan of
:mod:`tests.support.reference`; on the generated 10,000-product shop
the pooled picks score within a few per cent of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mailer.personalise.profiles import Features, Profiles
from mailer.personalise.rules import SelectionRules

__all__ = ["Pools", "TIER_WINDOW", "build_pools", "eligible_products", "gather"]

#: How many neighbouring price tiers around a customer's band centre are gathered.
TIER_WINDOW = 3


@dataclass(frozen=True, eq=False)
class TieredPools:
    """Per category (one row each), price-tier cut points and, per (category, tier), the best products.

    ``codes`` are the category codes with a pool; ``cuts`` (``n × (T-1)``,
    log prices, ``inf``-padded) are where each tier after the first starts;
    ``table`` row ``i * T + t`` holds tier ``t`` of category ``i``, and its
    last row (all -1) is what a missing category reads.
    """

    codes: np.ndarray
    band_of: np.ndarray
    cuts: np.ndarray
    table: np.ndarray


@dataclass(frozen=True, eq=False)
class Pools:
    """Product-index pools, each padded with -1."""

    leaves: TieredPools
    bands: TieredPools
    by_brand: np.ndarray
    discovery: np.ndarray
    by_market: np.ndarray
    new: np.ndarray


def eligible_products(profiles: Profiles, rules: SelectionRules) -> np.ndarray:
    """Products that may be shown at all: in stock, not sensitive, within the campaign's categories."""
    cat = profiles.catalogue
    ok: np.ndarray = cat.in_stock & ~cat.sensitive
    if rules.categories:
        ok &= cat.in_categories(rules.categories)
    return ok


def _best(indices: np.ndarray, rank: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` of ``indices`` with the highest ``rank`` (ties: lower index first), best first."""
    if indices.size == 0 or k <= 0:
        return indices[:0]
    order = np.lexsort((indices, -rank[indices]))
    return indices[order[:k]]


def _table(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Rows padded with -1 to ``width``, plus a final all -1 row."""
    out = np.full((len(rows) + 1, width), -1, dtype=np.int32)
    for i, row in enumerate(rows):
        out[i, : min(row.size, width)] = row[:width]
    return out


def _split(items: np.ndarray, keys: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``items`` grouped by ``keys`` (ascending), each group in ascending item order."""
    order = np.lexsort((items, keys))
    items, keys = items[order], keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], keys.size].astype(np.int64)
    return [(int(keys[s]), items[s:e]) for s, e in zip(starts, ends)]


def _tiered(profiles: Profiles, items: np.ndarray, level: int, pull: np.ndarray, rules: SelectionRules) -> TieredPools:
    cat = profiles.catalogue
    tiers, width = rules.price_tiers, rules.pool_per_tier
    keys = cat.path[items, level]
    keep = keys >= 0
    groups = _split(items[keep], keys[keep])
    cuts = np.full((len(groups), max(tiers - 1, 0)), np.inf)
    rows: list[np.ndarray] = []
    for i, (_, members) in enumerate(groups):
        by_price = members[np.lexsort((members, cat.price[members]))]
        parts = np.array_split(by_price, tiers)
        for t, part in enumerate(parts):
            if t and part.size:
                cuts[i, t - 1] = cat.log_price[part[0]]
            rows.append(_best(part, pull, width))
    codes = np.asarray([code for code, _ in groups], dtype=np.int32)
    band_of = cat.band[np.asarray([m[0] for _, m in groups], dtype=np.int64)] if groups else np.zeros(0, np.int32)
    return TieredPools(codes=codes, band_of=band_of.astype(np.int32), cuts=cuts, table=_table(rows, width))


def build_pools(profiles: Profiles, rules: SelectionRules) -> Pools:
    """Rank the eligible products into pools (once per send)."""
    cat = profiles.catalogue
    w = rules.weights
    pull = w.popularity * profiles.popularity.score[:, -1].astype(np.float64) + w.newness * profiles.newness
    items = np.flatnonzero(eligible_products(profiles, rules))

    by_brand = dict(_split(items[cat.brand[items] >= 0], cat.brand[items][cat.brand[items] >= 0]))
    brands = [_best(by_brand.get(b, items[:0]), pull, rules.pool_per_brand) for b in range(len(cat.brands))]

    tops = _split(items, cat.path[items, 0])
    per_top = math.ceil(rules.pool_discovery / max(len(tops), 1)) if rules.pool_discovery else 0
    discovery = np.concatenate([_best(members, pull, per_top) for _, members in tops] or [items[:0]])

    markets = []
    for m in range(profiles.popularity.score.shape[1]):
        market_pull = w.popularity * profiles.popularity.score[:, m].astype(np.float64) + w.newness * profiles.newness
        markets.append(_best(items, market_pull, rules.pool_market))

    return Pools(
        leaves=_tiered(profiles, items, rules.depth - 1, pull, rules),
        bands=_tiered(profiles, items, rules.band_depth - 1, pull, rules),
        by_brand=_table(brands, rules.pool_per_brand),
        discovery=discovery.astype(np.int32),
        by_market=_table(markets, rules.pool_market),
        new=_best(items[profiles.is_new[items]], pull, rules.pool_new).astype(np.int32),
    )


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest positive values; -1 where fewer are positive."""
    b, n = values.shape
    k = min(k, n)
    if k == 0:
        return np.zeros((b, 0), dtype=np.int64)
    if k < n:
        idx = np.argpartition(-values, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(n), (b, n)).copy()
    chosen = np.take_along_axis(values, idx, axis=1)
    return np.where(chosen > 0, idx, -1)


def _tiers_around(pools: TieredPools, features: Features, k: int, rules: SelectionRules) -> np.ndarray:
    """``(B, k × window × per_tier)`` products of each recipient's ``k`` favourite categories of these
    pools, in the price tiers around their band centre."""
    b = features.rows.shape[0]
    tiers = rules.price_tiers
    favourite = _top(features.shares[:, pools.codes], k)  # (B, k) rows of pools, -1 none
    safe = np.maximum(favourite, 0)
    centre = features.centre[np.arange(b)[:, None], pools.band_of[safe]] if pools.codes.size else np.zeros((b, 0))
    tier = (pools.cuts[safe] <= centre[..., None]).sum(axis=2)
    tier = np.where(np.isnan(centre), tiers // 2, tier)
    window = min(TIER_WINDOW, tiers)
    first = np.clip(tier - window // 2, 0, tiers - window)
    rows = (safe * tiers + first)[..., None] + np.arange(window)
    missing = len(pools.table) - 1
    rows = np.where((favourite >= 0)[..., None], rows, missing)
    return pools.table[rows].reshape(b, -1)


def gather(pools: Pools, features: Features, rules: SelectionRules, profiles: Profiles) -> np.ndarray:
    """``(B, K)`` candidate product indices for a batch, -1 where a pool ran short."""
    b = features.rows.shape[0]
    top_brands = _top(features.brand_shares[:, :-1], rules.pool_brands)
    parts = [
        _tiers_around(pools.leaves, features, rules.pool_categories, rules),
        _tiers_around(pools.bands, features, rules.pool_bands, rules),
        pools.by_brand[top_brands].reshape(b, -1),
        np.broadcast_to(pools.discovery, (b, pools.discovery.size)),
        pools.by_market[features.market],
        np.broadcast_to(pools.new, (b, pools.new.size)),
    ]
    return np.concatenate(parts, axis=1)
