"""Hand-made shops for personalisation tests: a few products, a few customers, known answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from mailer.content.money import Money
from mailer.personalise import Catalogue, Profiles, PurchaseTable, Recipients, SelectionRules, fit_profiles
from mailer.personalise.catalogue import day_number
from mailer.inputs.products import Product

TODAY = date(2026, 11, 23)
LONG_AGO = day_number(date(2025, 6, 1))  # outside the recent-purchase window
LAST_WEEK = day_number(date(2026, 11, 16))
A_MONTH_AGO = day_number(date(2026, 10, 20))  # past a consumable's gap, inside the recent-purchase window


def product(
    pid: str,
    category: str,
    price: str,
    *,
    brand: str | None = None,
    group: str | None = None,
    stock: bool = True,
    gender: str | None = None,
    age_group: str | None = None,
) -> Product:
    return Product(
        id=pid,
        title=pid,
        price=Money(Decimal(price), "GBP"),
        link=f"https://shop.test/p/{pid}",
        availability="in_stock" if stock else "out_of_stock",
        brand=brand if brand is not None else f"Brand {pid}",
        category=tuple(p.strip() for p in category.split(">")),
        item_group_id=group,
        gender=gender,
        age_group=age_group,
    )


def shop(
    products: Sequence[Product],
    purchases: Sequence[tuple[str, str, int]] = (),
    *,
    rules: SelectionRules | None = None,
    added: dict[str, date] | None = None,
    prices: Sequence[float] | None = None,
    markets: dict[str, str] | None = None,
) -> Profiles:
    """Profiles for ``purchases`` as ``(customer, product id, day number)``."""
    rules = rules or SelectionRules()
    catalogue = Catalogue.from_products(products, rules=rules, added=added)
    table = PurchaseTable.from_arrays(
        catalogue,
        [c for c, _, _ in purchases],
        product=catalogue.index_of(p for _, p, _ in purchases),
        day=[d for _, _, d in purchases],
        price=prices,
        markets=[(markets or {}).get(c, "") for c, _, _ in purchases],
    )
    return fit_profiles(catalogue, table, now=TODAY, rules=rules)


def people(*ids: str, gender: str | None = None, market: str = "en_GB") -> Recipients:
    return Recipients.from_arrays(list(ids), genders=[gender] * len(ids), markets=[market] * len(ids))


def mixed_people(ids: Sequence[str], genders: Sequence[str | None], markets: Sequence[str]) -> Recipients:
    return Recipients.from_arrays(list(ids), genders=list(genders), markets=list(markets))
