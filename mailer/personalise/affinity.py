"""Affinity: what each customer buys, as shares of their purchases.

Every non-sensitive purchase made up to the day of the email counts,
weighted by quantity and by recency (``affinity_half_life``): a purchase a
year old counts half. For each customer :func:`learn_affinity` keeps

* the share of their purchases under each category prefix (every level:
  ``Women``, ``Women > Dresses``, ``Women > Dresses > Midi Dresses``);
* the share per brand;
* the weight of what they bought per product gender and age group (for the
  gender and age fit in :mod:`mailer.personalise.scoring`).

A product's category affinity for a customer is then a weighted sum of their
shares at each level of its path (``SelectionRules.depth_weights``): a midi
dress scores for a customer who bought other dresses, and a little for one who
bought anything from Women.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailer.personalise.catalogue import AGE_GROUPS, GENDERS, Catalogue
from mailer.personalise.categories import split_path
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.ragged import Ragged, sum_by_key
from mailer.personalise.rules import SelectionRules

__all__ = ["Affinity", "has_affinity", "learn_affinity", "purchase_weights"]


@dataclass(frozen=True, eq=False)
class Affinity:
    """Per-customer shares (rows are ``PurchaseTable.customer_ids``).

    ``categories``/``category``/``category_share`` and
    ``brands``/``brand``/``brand_share`` are ragged lists; ``weight`` is each
    customer's total counted weight (0: nothing to learn from, a cold start);
    ``gender_weight`` (``C × 3``) and ``age_weight`` (``C × 6``) are by
    :data:`~mailer.personalise.catalogue.GENDERS` and ``AGE_GROUPS`` code.
    """

    categories: Ragged
    category: np.ndarray
    category_share: np.ndarray
    brands: Ragged
    brand: np.ndarray
    brand_share: np.ndarray
    weight: np.ndarray
    gender_weight: np.ndarray
    age_weight: np.ndarray


def purchase_weights(purchases: PurchaseTable, *, today: int, half_life: float) -> np.ndarray:
    """Each row's weight: quantity halved every ``half_life`` days of age; 0 for a
    sensitive purchase or one after ``today``.

    >>> from mailer.personalise.catalogue import Catalogue
    >>> from mailer.inputs.products import Product
    >>> from mailer.content.money import Money
    >>> from decimal import Decimal
    >>> cat = Catalogue.from_products([Product(id="P1", title="Mug", price=Money(Decimal("8"), "GBP"),
    ...                                        link="https://s.test/p1")])
    >>> t = PurchaseTable.from_arrays(cat, ["a", "a", "a"], product=[0, 0, 0], day=[100, 0, 101], quantity=[1, 2, 1])
    >>> purchase_weights(t, today=100, half_life=100.0).tolist()
    [1.0, 1.0, 0.0]
    """
    age = (today - purchases.day).astype(np.float64)
    weight = purchases.quantity * np.exp2(-np.maximum(age, 0.0) / half_life)
    return np.where((age >= 0) & ~purchases.sensitive, weight, 0.0)


def learn_affinity(
    purchases: PurchaseTable, catalogue: Catalogue, *, rules: SelectionRules, today: int
) -> Affinity:
    """Shares per customer, from purchases up to day number ``today`` (sensitive ones never count)."""
    n = purchases.n_customers
    weight = purchase_weights(purchases, today=today, half_life=rules.affinity_half_life)
    counted = weight > 0
    rows, path, w = purchases.customer[counted], purchases.path[counted], weight[counted]
    total = np.bincount(rows, weights=w, minlength=n)

    # One entry per distinct prefix of each purchase: a filled path repeats its deepest code.
    distinct = np.ones_like(path, dtype=bool)
    distinct[:, 1:] = path[:, 1:] != path[:, :-1]
    distinct &= path >= 0
    entry_rows = np.broadcast_to(rows[:, None], path.shape)[distinct]
    entry_w = np.broadcast_to(w[:, None], path.shape)[distinct]
    n_codes = max(len(catalogue.categories), 1)
    c_rows, c_codes, c_sums = sum_by_key(entry_rows, path[distinct], entry_w, n_codes)
    category_share = (c_sums / total[c_rows]).astype(np.float32)

    has_brand = purchases.brand[counted] >= 0
    b_rows, b_codes, b_sums = sum_by_key(
        rows[has_brand], purchases.brand[counted][has_brand], w[has_brand], max(len(catalogue.brands), 1)
    )
    brand_share = (b_sums / total[b_rows]).astype(np.float32)

    gender_weight = _table(rows, purchases.gender[counted], w, n, len(GENDERS))
    age_weight = _table(rows, purchases.age[counted], w, n, len(AGE_GROUPS))
    return Affinity(
        categories=Ragged.from_rows(c_rows, n_rows=n),
        category=c_codes.astype(np.int32),
        category_share=category_share,
        brands=Ragged.from_rows(b_rows, n_rows=n),
        brand=b_codes.astype(np.int32),
        brand_share=brand_share,
        weight=total.astype(np.float32),
        gender_weight=gender_weight.astype(np.float32),
        age_weight=age_weight.astype(np.float32),
    )


def has_affinity(affinity: Affinity, catalogue: Catalogue, category: str, rows: np.ndarray) -> np.ndarray:
    """Whether each customer row (-1: no history) ever bought (non-sensitively) under ``category``.

    For a whole-category campaign's audience: ``has_affinity(a, cat, "Beauty", rows)``.
    """
    code = catalogue.categories.code(split_path(category))
    out = np.zeros(np.asarray(rows).shape[0], dtype=bool)
    if code < 0:
        return out
    owner, flat = affinity.categories.gather(rows)
    hit = (affinity.category[flat] == code) & (affinity.category_share[flat] > 0)
    out[owner[hit]] = True
    return out


def _table(rows: np.ndarray, codes: np.ndarray, weights: np.ndarray, n_rows: int, n_codes: int) -> np.ndarray:
    """Dense ``n_rows × n_codes`` sums of ``weights``."""
    keys = rows.astype(np.int64) * n_codes + codes
    return np.bincount(keys, weights=weights, minlength=n_rows * n_codes).reshape(n_rows, n_codes)
