"""The product model every feed format is read into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from mailer.money import Money

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
