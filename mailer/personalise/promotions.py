"""Promotion response: who buys on discount, and who buys what is new and good regardless.

Some customers wait for money off; others "don't respond to money-off
promotions; they want the most timely, best quality product". From each
customer's priced purchases, :func:`promotion_response` counts those paid at
least ``min_discount`` below the product's regular price and estimates
their discount rate, shrunk toward the whole base's rate with
``prior_strength`` pseudo-purchases (three purchases say little; thirty say
a lot). A customer whose rate is ``margin`` above the base rate is
``promotion``-led; ``margin`` below, ``full_price``; anyone else (and anyone
without priced purchases) ``unknown``.

:meth:`PromotionResponse.variant` then picks a campaign's promotional or
content-led variant per customer. Sensitive purchases do not count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mailer.errors import ConfigError
from mailer.personalise.purchases import PurchaseTable

__all__ = ["LABELS", "PromotionResponse", "PromotionRules", "promotion_response"]

LABELS = ("unknown", "promotion", "full_price")


@dataclass(frozen=True, kw_only=True)
class PromotionRules:
    """What counts as a discount, how strongly to shrink, and how far from the base rate a label needs.

    >>> PromotionRules(margin=0.2).margin
    0.2
    >>> PromotionRules(min_discount=1.2)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: promotion.min_discount must be between 0 and 1, got 1.2
    """

    min_discount: float = 0.05
    prior_strength: float = 4.0
    margin: float = 0.15

    def __post_init__(self) -> None:
        for name, high in (("min_discount", 1.0), ("prior_strength", math.inf), ("margin", 1.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= high:
                bound = f"between 0 and {high:g}" if high != math.inf else "at least 0"
                raise ConfigError(f"promotion.{name} must be {bound}, got {value!r}")


@dataclass(frozen=True, eq=False)
class PromotionResponse:
    """Per customer of a history: discounted and priced purchase counts, shrunk rate, label code."""

    customer_ids: np.ndarray
    discounted: np.ndarray
    priced: np.ndarray
    rate: np.ndarray
    base_rate: float
    label: np.ndarray

    def labels_of(self, customer_ids: np.ndarray | Sequence[str]) -> np.ndarray:
        """Each customer's label (``unknown`` for one without history)."""
        ids = np.asarray(customer_ids, dtype=str)
        n = self.customer_ids.shape[0]
        if n == 0:
            return np.full(ids.shape[0], LABELS[0], dtype=object)
        at = np.minimum(np.searchsorted(self.customer_ids, ids), n - 1)
        codes = np.where(self.customer_ids[at] == ids, self.label[at], 0)
        return np.asarray(LABELS, dtype=object)[codes]

    def variant(
        self, customer_ids: np.ndarray | Sequence[str], *, promotional: str, content: str, unknown: str | None = None
    ) -> np.ndarray:
        """Per customer, the promotional variant for the promotion-led, the content-led one for
        full-price buyers, and ``unknown`` (default: content-led) for the rest."""
        labels = self.labels_of(customer_ids)
        out = np.full(labels.shape[0], content if unknown is None else unknown, dtype=object)
        out[labels == "promotion"] = promotional
        out[labels == "full_price"] = content
        return out


def promotion_response(
    purchases: PurchaseTable, *, today: int, rules: PromotionRules | None = None
) -> PromotionResponse:
    """Learn each customer's response to discounts from purchases up to day ``today``.

    >>> from decimal import Decimal
    >>> from mailer.content.money import Money
    >>> from mailer.personalise.catalogue import Catalogue
    >>> from mailer.inputs.products import Product
    >>> cat = Catalogue.from_products([Product(id="P", title="Coat", price=Money(Decimal("100"), "GBP"),
    ...                                        link="https://s.test/p")])
    >>> who = ["deal"] * 6 + ["full"] * 6 + ["once"]
    >>> paid = [70.0] * 6 + [100.0] * 6 + [70.0]
    >>> table = PurchaseTable.from_arrays(cat, who, product=[0] * 13, day=[10] * 13, price=paid)
    >>> promotion_response(table, today=20).labels_of(["deal", "full", "once", "new"]).tolist()
    ['promotion', 'full_price', 'unknown', 'unknown']
    """
    rules = rules or PromotionRules()
    n = purchases.n_customers
    known = (
        (purchases.day <= today) & ~purchases.sensitive
        & np.isfinite(purchases.price) & np.isfinite(purchases.list_price) & (purchases.list_price > 0)
    )  # fmt: skip
    rows = purchases.customer[known]
    on_discount = purchases.price[known] <= purchases.list_price[known] * (1 - rules.min_discount)
    priced = np.bincount(rows, minlength=n)
    discounted = np.bincount(rows[on_discount], minlength=n)
    base = float(discounted.sum() / priced.sum()) if priced.sum() else 0.0
    rate = (discounted + rules.prior_strength * base) / (priced + rules.prior_strength)
    label = np.zeros(n, dtype=np.int8)
    label[(priced > 0) & (rate >= base + rules.margin)] = LABELS.index("promotion")
    label[(priced > 0) & (rate <= base - rules.margin)] = LABELS.index("full_price")
    return PromotionResponse(purchases.customer_ids, discounted, priced, rate, base, label)
