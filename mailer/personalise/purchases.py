"""Purchase histories as arrays, coded against a catalogue.

:class:`PurchaseTable` holds one row per order line: who (a row of
``customer_ids``), what (catalogue index, or -1 for a product no longer in
the feed, whose category and brand then come from the purchase itself), when
(a day number), how many, the unit price paid and the product's regular
price (both in the catalogue's currency), whether it was privacy-sensitive or
consumable, and the buyer's market. Build it from
:class:`~mailer.inputs.history.Purchase` values (:meth:`PurchaseTable.from_purchases`)
or, for millions of rows, straight from arrays (:meth:`PurchaseTable.from_arrays`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from mailer.errors import RatesError
from mailer.inputs.history import Purchase
from mailer.content.money import Rates
from mailer.personalise.catalogue import Catalogue, day_number
from mailer.personalise.categories import path_matches
from mailer.personalise.privacy import is_sensitive

__all__ = ["PurchaseTable"]


@dataclass(frozen=True, eq=False)
class PurchaseTable:
    """``N`` order lines over ``C`` customers (``customer_ids`` sorted, unique).

    >>> from mailer.personalise.catalogue import Catalogue
    >>> from mailer.inputs.products import Product
    >>> from mailer.content.money import Money
    >>> cat = Catalogue.from_products([Product(id="P1", title="Mug", price=Money(Decimal("8"), "GBP"),
    ...                                        link="https://s.test/p1", category=("Home", "Kitchen"))])
    >>> t = PurchaseTable.from_arrays(cat, ["bob", "ann", "bob"], product=[0, 0, 0], day=[20000, 20001, 20002])
    >>> t.customer_ids.tolist(), t.customer.tolist(), t.price.tolist()
    (['ann', 'bob'], [1, 0, 1], [8.0, 8.0, 8.0])
    """

    customer_ids: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    path: np.ndarray
    brand: np.ndarray
    group: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    day: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    list_price: np.ndarray
    sensitive: np.ndarray
    consumable: np.ndarray
    market: np.ndarray
    markets: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    @property
    def n_customers(self) -> int:
        return int(self.customer_ids.shape[0])

    def rows_of(self, customer_ids: np.ndarray) -> np.ndarray:
        """Each id's row in ``customer_ids``, -1 for a customer with no purchases."""
        ids = np.asarray(customer_ids, dtype=str)
        if self.n_customers == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        at = np.searchsorted(self.customer_ids, ids)
        at = np.minimum(at, self.n_customers - 1)
        return np.where(self.customer_ids[at] == ids, at, -1).astype(np.int64)

    @classmethod
    def from_arrays(
        cls,
        catalogue: Catalogue,
        customer_ids: Sequence[str] | np.ndarray,
        *,
        product: Sequence[int] | np.ndarray,
        day: Sequence[int] | np.ndarray,
        quantity: Sequence[int] | np.ndarray | None = None,
        price: Sequence[float] | np.ndarray | None = None,
        markets: Sequence[str] | np.ndarray | None = None,
    ) -> PurchaseTable:
        """Rows of catalogue products: per row the customer id, product index and day
        number; ``price`` paid defaults to the catalogue price, ``markets`` (per row) to none."""
        ids = np.asarray(customer_ids, dtype=str)
        unique, inverse = np.unique(ids, return_inverse=True)
        product = np.asarray(product, dtype=np.int32)
        n = product.shape[0]
        market_codes, market_names = _codes(markets, n)
        return cls(
            customer_ids=unique,
            customer=inverse.astype(np.int32),
            product=product,
            path=catalogue.path[product],
            brand=catalogue.brand[product],
            group=catalogue.group[product],
            gender=catalogue.gender[product],
            age=catalogue.age[product],
            day=np.asarray(day, dtype=np.int32),
            quantity=np.ones(n, np.int32) if quantity is None else np.asarray(quantity, dtype=np.int32),
            price=catalogue.price[product] if price is None else np.asarray(price, dtype=np.float64),
            list_price=catalogue.regular_price[product],
            sensitive=catalogue.sensitive[product],
            consumable=catalogue.consumable[product],
            market=market_codes,
            markets=market_names,
        )

    @classmethod
    def from_purchases(
        cls,
        purchases: Iterable[Purchase],
        catalogue: Catalogue,
        *,
        rates: Rates | None = None,
        markets: Mapping[str, str] | None = None,
    ) -> PurchaseTable:
        """From :class:`~mailer.inputs.history.Purchase` values. Unit prices in another
        currency are converted with ``rates`` (unknown without them);
        ``markets`` maps customer ids to their locale."""
        rules = catalogue.rules
        index = catalogue.index_of
        rows = list(purchases)
        n = len(rows)
        product = index(p.product_id for p in rows).astype(np.int32)
        known = product >= 0
        safe = np.where(known, product, 0)

        def take(values: np.ndarray, fill: object) -> np.ndarray:
            """Each row's catalogue value, ``fill`` for products not in it (or no catalogue at all)."""
            if values.shape[0] == 0:
                return np.full((n, *values.shape[1:]), fill, dtype=values.dtype)
            mask = known.reshape((n,) + (1,) * (values.ndim - 1))
            return np.where(mask, values[safe], fill)

        path = take(catalogue.path, -1).astype(np.int32)
        brand = take(catalogue.brand, -1).astype(np.int32)
        sensitive = take(catalogue.sensitive, False)
        consumable = take(catalogue.consumable, False)
        brand_code = {name: i for i, name in enumerate(catalogue.brands)}
        price = np.full(n, np.nan)
        converters: dict[str, Callable[[Decimal], Decimal] | None] = {}
        for i, p in enumerate(rows):
            if not known[i]:
                path[i] = catalogue.categories.lookup(p.category)
                brand[i] = brand_code.get((p.brand or "").strip(), -1)
                sensitive[i] = is_sensitive(p.category, None, rules)
                consumable[i] = path_matches(p.category, rules.consumable_categories)
            if p.unit_price is not None:
                convert = _converter(converters, rates, p.unit_price.currency, catalogue.currency)
                if convert is not None:
                    price[i] = float(convert(p.unit_price.amount))
        ids = np.asarray([p.customer_id for p in rows], dtype=str)
        unique, inverse = np.unique(ids, return_inverse=True)
        market_codes, market_names = _codes([(markets or {}).get(p.customer_id, "") for p in rows], n)
        return cls(
            customer_ids=unique,
            customer=inverse.astype(np.int32),
            product=product,
            path=path,
            brand=brand,
            group=take(catalogue.group, -1).astype(np.int32),
            gender=take(catalogue.gender, 0).astype(np.int8),
            age=take(catalogue.age, 0).astype(np.int8),
            day=np.fromiter((day_number(p.purchased_at) for p in rows), dtype=np.int32, count=n),
            quantity=np.fromiter((p.quantity for p in rows), dtype=np.int32, count=n),
            price=price,
            list_price=take(catalogue.regular_price, np.nan),
            sensitive=sensitive.astype(bool),
            consumable=consumable.astype(bool),
            market=market_codes,
            markets=market_names,
        )


def _converter(
    cache: dict[str, Callable[[Decimal], Decimal] | None], rates: Rates | None, code: str, to: str
) -> Callable[[Decimal], Decimal] | None:
    if code not in cache:
        if code == to:
            cache[code] = lambda amount: amount
        elif rates is None:
            cache[code] = None
        else:
            try:
                cache[code] = rates.converter(code, to)
            except RatesError:
                cache[code] = None
    return cache[code]


def _codes(values: Sequence[str] | np.ndarray | None, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Market codes per row (-1 for none) and the market names."""
    if values is None:
        return np.full(n, -1, dtype=np.int16), ()
    names, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    codes = inverse.astype(np.int16)
    if names.size and names[0] == "":
        return codes - 1, tuple(names[1:].tolist())
    return codes, tuple(names.tolist())
