"""Promotion response: discount buyers, full-price buyers, and the undecided."""

from __future__ import annotations

import pytest

from mailer.errors import ConfigError
from mailer.personalise import PurchaseTable
from mailer.personalise.catalogue import Catalogue
from mailer.personalise.promotions import PromotionRules, promotion_response

from .conftest import product


def table(rows: list[tuple[str, float]], sensitive: bool = False) -> PurchaseTable:
    category = "Baby > Toys" if sensitive else "Home > Decor"
    cat = Catalogue.from_products([product("P", category, "100.00")])
    return PurchaseTable.from_arrays(cat, [c for c, _ in rows], product=[0] * len(rows), day=[1] * len(rows),
                                     price=[p for _, p in rows])  # fmt: skip


BASE = [("deal", 70.0)] * 8 + [("full", 100.0)] * 8 + [("mixed", 70.0), ("mixed", 100.0)] + [("few", 70.0)]


def test_labels_discount_and_full_price_buyers() -> None:
    response = promotion_response(table(BASE), today=10)
    assert response.labels_of(["deal", "full", "mixed", "few", "stranger"]).tolist() == [
        "promotion", "full_price", "unknown", "unknown", "unknown"]  # fmt: skip


def test_variant_per_customer() -> None:
    response = promotion_response(table(BASE), today=10)
    chosen = response.variant(["deal", "full", "stranger"], promotional="money-off", content="new-season")
    assert chosen.tolist() == ["money-off", "new-season", "new-season"]


def test_small_discounts_do_not_count() -> None:
    response = promotion_response(table([("c", 98.0)] * 10), today=10, rules=PromotionRules(min_discount=0.05))
    assert response.discounted.tolist() == [0]


def test_sensitive_purchases_do_not_count() -> None:
    response = promotion_response(table([("c", 50.0)] * 10, sensitive=True), today=10)
    assert response.priced.tolist() == [0]


def test_rules_are_validated() -> None:
    with pytest.raises(ConfigError, match="promotion.margin"):
        PromotionRules(margin=-0.1)
