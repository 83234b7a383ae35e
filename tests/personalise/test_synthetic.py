"""The generated shop: structure the benchmarks rely on, and a sample that mailer's readers load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mailer.inputs.customers import iter_customers
from mailer.inputs.feeds import iter_products
from mailer.inputs.history import iter_purchases
from mailer.report import Report
from tests.support.synthetic import generate, write_sample

from ..conftest import FIXTURES


def test_generated_shop_has_variants_cold_starts_and_discounts() -> None:
    shop = generate(600, 2000, seed=4)
    assert len(shop.products) == 600
    groups = [p.item_group_id for p in shop.products if p.item_group_id]
    assert len(groups) > len(set(groups))  # sizes share a group
    bought = np.zeros(2000, bool)
    bought[shop.purchase_customer] = True
    assert 0.15 < 1 - bought.mean() < 0.45  # cold starts
    paid = shop.purchase_price
    listed = np.array([float(shop.products[i].price.amount) for i in shop.purchase_product])
    assert 0.05 < (paid < listed * 0.95).mean() < 0.5


def test_generation_is_deterministic() -> None:
    a, b = generate(200, 300, seed=2), generate(200, 300, seed=2)
    assert [p.id for p in a.products] == [p.id for p in b.products]
    assert (a.purchase_product == b.purchase_product).all()


def test_written_sample_loads_without_problems(tmp_path: Path) -> None:
    write_sample(generate(120, 40, seed=3), tmp_path)
    report = Report()
    products = list(iter_products(tmp_path / "products.jsonl", report=report))
    customers = list(iter_customers(tmp_path / "customers.csv", report=report))
    purchases = list(iter_purchases(tmp_path / "purchases.csv", report=report))
    assert not report, report.lines()
    assert len(products) == 120 and len(customers) == 40 and purchases
    assert products[0].extra["custom_label_0"]  # the day it was added


def test_committed_sample_is_the_generator_output(tmp_path: Path) -> None:
    write_sample(generate(300, 200, seed=1), tmp_path)
    for name in ("products.jsonl", "customers.csv", "purchases.csv"):
        assert (tmp_path / name).read_bytes() == (FIXTURES / "generated" / name).read_bytes(), name
