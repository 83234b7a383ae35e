"""The product model every feed format is read into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from mailer.content.money import Money

Availability = Literal["in_stock", "out_of_stock", "preorder", "backorder"]


@dataclass(frozen=True, slots=True)
class Product:
    """One item of a product feed, normalised across feed formats.

    ``category`` is the retailer's own ``product_type`` path and
    ``google_category`` the ``google_product_category`` path, each split on
    ``>`` into a tuple (``("Apparel", "Shoes")``). ``sale_price`` applies only
    between ``sale_start`` and ``sale_end`` (either may be open).
    """

    id: str
    title: str
    price: Money
    link: str
    availability: Availability = "in_stock"
    image_link: str | None = None
    additional_image_links: tuple[str, ...] = ()
    description: str = ""
    brand: str | None = None
    category: tuple[str, ...] = ()
    google_category: tuple[str, ...] = ()
    item_group_id: str | None = None
    gender: str | None = None
    age_group: str | None = None
    size: str | None = None
    color: str | None = None
    sale_price: Money | None = None
    sale_start: datetime | None = None
    sale_end: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def in_stock(self) -> bool:
        return self.availability == "in_stock"

    def on_sale(self, at: datetime) -> bool:
        """Whether ``sale_price`` applies at the (timezone-aware) instant ``at``."""
        if self.sale_price is None:
            return False
        if self.sale_start is not None and at < self.sale_start:
            return False
        if self.sale_end is not None and at >= self.sale_end:
            return False
        return True

    def current_price(self, at: datetime) -> Money:
        """The price a customer pays at ``at``: the sale price while it is effective."""
        if self.on_sale(at):
            assert self.sale_price is not None
            return self.sale_price
        return self.price


def product_to_json(product: Product) -> dict[str, Any]:
    """A product as plain JSON values, exactly (prices as decimal strings).

    >>> from decimal import Decimal
    >>> p = Product("A1", "Scarf", Money(Decimal("12.50"), "EUR"), "https://shop.test/a1", category=("Apparel",))
    >>> product_from_json(product_to_json(p)) == p
    True
    """
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(product, name)
        if value is None or value == () or value == {}:
            continue
        if isinstance(value, Money):
            value = [str(value.amount), value.currency]
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return data


def product_from_json(data: Mapping[str, Any]) -> Product:
    """The product :func:`product_to_json` wrote."""
    values: dict[str, Any] = dict(data)
    for name in ("price", "sale_price"):
        if name in values:
            amount, currency = values[name]
            values[name] = Money(Decimal(amount), currency)
    for name in ("sale_start", "sale_end"):
        if name in values:
            values[name] = datetime.fromisoformat(values[name])
    for name in ("additional_image_links", "category", "google_category"):
        if name in values:
            values[name] = tuple(values[name])
    return Product(**values)


_FIELDS = tuple(f.name for f in fields(Product))
