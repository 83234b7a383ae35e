"""The feed as arrays: prices, categories, groups, privacy and consumable flags, newness."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from mailer.errors import ConfigError
from mailer.content.money import Money, Rates
from mailer.personalise import Catalogue
from mailer.inputs.products import Product

from .conftest import product


def test_sale_price_applies_at_send_time() -> None:
    sale = Product(id="S", title="S", price=Money(Decimal("80"), "GBP"), link="https://s.test/s",
                   sale_price=Money(Decimal("60"), "GBP"), sale_start=datetime(2026, 11, 27, tzinfo=timezone.utc))  # fmt: skip
    before = Catalogue.from_products([sale], at=datetime(2026, 11, 24, tzinfo=timezone.utc))
    during = Catalogue.from_products([sale], at=datetime(2026, 11, 28, tzinfo=timezone.utc))
    assert before.price.tolist() == [80.0] and during.price.tolist() == [60.0]
    assert during.regular_price.tolist() == [80.0]


def test_other_currencies_need_rates() -> None:
    products = [product("A", "Home", "10.00"), Product(id="B", title="B", price=Money(Decimal("12"), "EUR"),
                                                       link="https://s.test/b")]  # fmt: skip
    with pytest.raises(ConfigError, match="mixes currencies"):
        Catalogue.from_products(products)
    rates = Rates(base="EUR", as_of=date(2026, 1, 1), rates={"GBP": Decimal("0.85")})
    assert Catalogue.from_products(products, rates=rates).price.tolist() == [10.0, 10.2]


def test_flags_groups_and_first_id_wins() -> None:
    cat = Catalogue.from_products([
        product("J-S", "Women > Jeans", "50.00", group="J"),
        product("J-M", "Women > Jeans", "50.00", group="J"),
        product("MAT", "Women > Maternity > Jeans", "40.00"),
        product("SERUM", "Beauty > Skincare", "20.00"),
        product("J-S", "Home", "1.00"),
    ])  # fmt: skip
    assert len(cat) == 4
    assert cat.group.tolist()[:2] == [0, 0] and cat.group[2] != 0
    assert cat.sensitive.tolist() == [False, False, True, False]
    assert cat.consumable.tolist() == [False, False, False, True]
    assert cat.in_categories(["Women > Jeans"]).tolist() == [True, True, False, False]


def test_age_of_products_added_on_known_days() -> None:
    cat = Catalogue.from_products([product("A", "Home", "1.00"), product("B", "Home", "1.00")],
                                  added={"A": date(2026, 11, 20)})  # fmt: skip
    ages = cat.age_days((date(2026, 11, 23) - date(1970, 1, 1)).days)
    assert ages[0] == 3 and ages[1] != ages[1]  # NaN when unknown
