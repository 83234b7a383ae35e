"""Popularity and newness: the pull a product has before anything personal.

*Popularity* counts, per item group (every size of a jean shares its
bestseller status), the units bought in the last ``popular_days``, in each
market (locale) and overall; a market's counts are shrunk toward the overall
ones (a new market has bestsellers from day one). Counts become a score in
[0, 1] on a log scale: ``log1p(G·rate) / log1p(G·max rate)`` for ``G``
groups, so an average product scores about ``log 2 / log(1 + G·max)``.
Sensitive purchases are not counted.

*Newness* is 1 the day a product is added and halves every
``newness_half_life`` days; a product counts as *new in* for ``new_days``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailer.personalise.catalogue import Catalogue
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.rules import SelectionRules

__all__ = ["Popularity", "learn_popularity", "newness"]

#: Pseudo-units of the overall pattern added to each market's counts.
MARKET_PRIOR = 20.0


@dataclass(frozen=True, eq=False)
class Popularity:
    """``score[p, m]`` for product ``p`` in market ``markets[m]``; the last column is all markets."""

    markets: tuple[str, ...]
    score: np.ndarray

    def column(self, markets: np.ndarray) -> np.ndarray:
        """Each market's column (the all-markets column for an unknown market).

        >>> Popularity(("de_DE", "en_GB"), np.zeros((1, 3))).column(np.array(["en_GB", "fr_FR"])).tolist()
        [1, 2]
        """
        lookup = {m: i for i, m in enumerate(self.markets)}
        unique, inverse = np.unique(np.asarray(markets, dtype=str), return_inverse=True)
        codes = np.asarray([lookup.get(m, len(self.markets)) for m in unique.tolist()], dtype=np.int64)
        return codes[inverse.ravel()] if unique.size else np.zeros(0, np.int64)


def learn_popularity(
    purchases: PurchaseTable, catalogue: Catalogue, *, rules: SelectionRules, today: int
) -> Popularity:
    """Per-market popularity from the last ``popular_days`` of non-sensitive purchases."""
    n_groups = max(catalogue.n_groups, 1)
    n_markets = len(purchases.markets)
    age = today - purchases.day
    keep = (age >= 0) & (age < rules.popular_days) & ~purchases.sensitive & (purchases.group >= 0)
    group, market, units = purchases.group[keep], purchases.market[keep], purchases.quantity[keep].astype(np.float64)
    overall = np.bincount(group, weights=units, minlength=n_groups)
    total = overall.sum()
    scores = np.zeros((n_groups, n_markets + 1))
    if total > 0:
        known = market >= 0
        counts = np.bincount(
            market[known].astype(np.int64) * n_groups + group[known], weights=units[known],
            minlength=n_markets * n_groups,
        ).reshape(n_markets, n_groups)
        shares = overall / total
        rates = np.empty((n_markets + 1, n_groups))
        rates[:n_markets] = (counts + MARKET_PRIOR * shares) / (counts.sum(axis=1, keepdims=True) + MARKET_PRIOR)
        rates[n_markets] = shares
        top = rates.max(axis=1, keepdims=True)
        scores = (np.log1p(n_groups * rates) / np.log1p(n_groups * np.maximum(top, 1e-300))).T
    return Popularity(markets=purchases.markets, score=scores[catalogue.group].astype(np.float32))


def newness(catalogue: Catalogue, *, today: int, rules: SelectionRules) -> tuple[np.ndarray, np.ndarray]:
    """Each product's newness in [0, 1] and whether it is new in, as of day ``today``."""
    age = catalogue.age_days(today)
    known = np.isfinite(age)
    safe = np.where(known, np.maximum(age, 0.0), 0.0)
    value = np.where(known, np.exp2(-safe / rules.newness_half_life), 0.0)
    return value, known & (safe <= rules.new_days)
