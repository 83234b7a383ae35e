"""Purchase histories coded against the catalogue, from Purchase values and from arrays."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import numpy as np

from mailer.inputs.history import Purchase
from mailer.content.money import Money, Rates
from mailer.personalise import Catalogue, PurchaseTable

from .conftest import product

AT = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_from_purchases_converts_prices_and_keeps_gone_products_by_category() -> None:
    cat = Catalogue.from_products([product("D1", "Women > Dresses", "50.00", brand="Hollis")])
    rates = Rates(base="EUR", as_of=date(2026, 1, 1), rates={"GBP": Decimal("0.8")})
    rows = [
        Purchase("c1", "D1", AT, 1, Money(Decimal("50"), "EUR")),
        Purchase("c1", "OLD", AT, 2, Money(Decimal("8"), "GBP"), category=("Women", "Dresses"), brand="Hollis"),
        Purchase("c2", "GONE", AT, 1, None, category=("Maternity", "Tops")),
    ]
    table = PurchaseTable.from_purchases(rows, cat, rates=rates, markets={"c1": "de_DE"})
    assert table.customer_ids.tolist() == ["c1", "c2"]
    assert table.product.tolist() == [0, -1, -1]
    assert np.allclose(table.price[:2], [40.0, 8.0]) and np.isnan(table.price[2])
    assert table.path[1].tolist() == table.path[0].tolist() and table.brand.tolist() == [0, 0, -1]
    assert table.sensitive.tolist() == [False, False, True]
    assert table.markets == ("de_DE",) and table.market.tolist() == [0, 0, -1]


def test_rows_of_finds_customers_and_misses_strangers() -> None:
    cat = Catalogue.from_products([product("A", "Home", "1.00")])
    table = PurchaseTable.from_arrays(cat, ["b", "a"], product=[0, 0], day=[1, 2])
    assert table.rows_of(np.array(["a", "zed", "b"])).tolist() == [0, -1, 1]
