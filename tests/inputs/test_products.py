"""The product model: equality and hashing (products key caches)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from mailer.content.money import Money
from mailer.inputs.products import Product


def product(**overrides: object) -> Product:
    values: dict[str, object] = {
        "id": "SKU-1", "title": "Merino jumper", "price": Money(Decimal("49.00"), "GBP"),
        "link": "https://shop.test/p/1", "category": ("Women", "Knitwear"),
    }
    values.update(overrides)
    return Product(**values)  # type: ignore[arg-type]


def test_equal_products_hash_alike_and_a_change_makes_another_key() -> None:
    first, second = product(), product()
    assert first == second and hash(first) == hash(second)
    assert len({first, second, product(title="Merino cardigan")}) == 2
    assert hash(dataclasses.replace(first, price=Money(Decimal("39.00"), "GBP"))) != hash(first)


def test_extra_fields_do_not_change_equality_or_hash() -> None:
    assert product(extra={"a": "1"}) == product() and hash(product(extra={"a": "1"})) == hash(product())
