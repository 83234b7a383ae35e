"""What a layout sees of a product: ``product.title``, ``product.price``, …

A view is made for each slot of each message, but its fields — prices
formatted in the recipient's locale and currency, links checked — are worked
out only when a layout first reads one. A product card the fragment cache
already holds reads nothing but ``product.key``, so for most slots of most
messages nothing is formatted, and nothing of a product needs keeping between
messages besides its rendered cards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import markupsafe

from mailer.content.localise import Localiser
from mailer.inputs.products import Product
from mailer.content.render import ContextDict

_SAFE_URL = re.compile(r"https?://[^\s\"'<>]+\Z", re.I)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None (no ``javascript:``).

    >>> safe_url("https://shop.test/p/1"), safe_url("javascript:alert(1)")
    ('https://shop.test/p/1', None)
    """
    if url and _SAFE_URL.match(url):
        return url
    return None


def product_fields(product: Product, l10n: Localiser, now: datetime) -> dict[str, Any]:
    """A product's fields as a layout shows them, as plain text."""
    price = product.current_price(now)
    return {
        "id": product.id,
        "title": product.title,
        "brand": product.brand or "",
        "link": safe_url(product.link) or "",
        "image": safe_url(product.image_link) or "",
        "price": l10n.money(price),
        "was_price": l10n.money(product.price) if price is not product.price else "",
        "color": product.color or "",
        "size": product.size or "",
    }


class _LazyView(ContextDict):
    """A dict whose entries besides ``key`` appear the first time one is read
    (from ``_source``, which is None once they have)."""

    __slots__ = ("_source",)

    def fill(self) -> None:
        raise NotImplementedError

    def __missing__(self, name: str) -> Any:
        if self._source is None:
            raise KeyError(name)
        self.fill()
        return self[name]


def _filled(method: Callable[..., Any]) -> Callable[..., Any]:
    def read(self: _LazyView, *args: Any, **kwargs: Any) -> Any:
        if self._source is not None:
            self.fill()
        return method(self, *args, **kwargs)

    read.__name__ = method.__name__
    return read


def _compared(method: Callable[..., Any]) -> Callable[..., Any]:
    def compare(self: _LazyView, other: Any) -> Any:
        self.fill()
        if isinstance(other, _LazyView):
            other.fill()
        return method(self, other)

    compare.__name__ = method.__name__
    return compare


# Every way of reading a view besides view[name] sees all its fields.
for _name in ("get", "__contains__", "__iter__", "__reversed__", "__len__", "keys", "values", "items", "copy", "__repr__"):
    setattr(_LazyView, _name, _filled(getattr(dict, _name)))
for _name in ("__eq__", "__ne__"):
    setattr(_LazyView, _name, _compared(getattr(dict, _name)))
_LazyView.__hash__ = None  # type: ignore[assignment]


class ProductView(_LazyView):
    """A product for the text part: its fields as plain text, for one
    locale, currency and send date.

    ``key`` is a number that stands for the product (equal products, the
    same number): it names the product's cards in the fragment caches, which
    are kept per locale, currency and send date, and shows layouts nothing.
    """

    __slots__ = ()

    def __init__(self, product: Product, key: int, l10n: Localiser, now: datetime) -> None:
        self["key"] = key
        self._source: tuple[Product, Localiser, datetime] | None = (product, l10n, now)

    def fill(self) -> None:
        source = self._source
        if source is not None:
            fields = product_fields(*source)  # before clearing: a failure leaves the view to try again
            self._source = None
            dict.update(self, fields)


class EscapedProductView(_LazyView):
    """The same product for the HTML part: every text escaped once, so that
    ``|safe`` on a product field in a layout still shows it escaped."""

    __slots__ = ()

    def __init__(self, plain: ProductView) -> None:
        self["key"] = plain["key"]
        self._source: ProductView | None = plain

    def fill(self) -> None:
        plain = self._source
        if plain is not None:
            plain.fill()
            escaped = {name: markupsafe.escape(value) for name, value in dict.items(plain) if isinstance(value, str)}
            self._source = None
            dict.update(self, escaped)
