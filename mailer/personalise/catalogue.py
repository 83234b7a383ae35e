"""The live product feed as arrays: what selection scores and filters.

:class:`Catalogue` turns :class:`~mailer.inputs.products.Product` values into one
array per attribute (category codes at every level, brand, item group,
gender, age group, price, stock, date added, privacy sensitivity,
consumability), built once per feed and shared by every customer. Prices are
in one currency (the feed's, or converted with a rates table), and are what a
customer would pay at ``at`` (sale prices apply inside their window).

A catalogue is built for the category depth and the sensitive and consumable
lists of a :class:`~mailer.personalise.rules.SelectionRules`; selection checks
that it is given the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import numpy as np

from mailer.errors import ConfigError
from mailer.content.money import Rates
from mailer.personalise.categories import Categories, path_matches, split_path
from mailer.personalise.privacy import is_sensitive
from mailer.personalise.rules import SelectionRules
from mailer.personalise.seeding import stable_hash
from mailer.inputs.products import Product

__all__ = ["AGE_GROUPS", "GENDERS", "Catalogue", "day_number", "gender_code"]

#: Gender codes; 0 is unisex or unknown (fits everyone).
GENDERS = ("", "female", "male")
#: Google ``age_group`` codes; 0 is unknown (fits everyone).
AGE_GROUPS = ("", "newborn", "infant", "toddler", "kids", "adult")
_GENDER_ALIASES = {"female": 1, "f": 1, "woman": 1, "women": 1, "male": 2, "m": 2, "man": 2, "men": 2}
_EPOCH = date(1970, 1, 1)


def gender_code(text: str | None) -> int:
    """0 (unisex/unknown), 1 (female) or 2 (male).

    >>> gender_code("Female"), gender_code("unisex"), gender_code(None), gender_code("m")
    (1, 0, 0, 2)
    """
    return _GENDER_ALIASES.get((text or "").strip().casefold(), 0)


def age_code(text: str | None) -> int:
    """The :data:`AGE_GROUPS` code of a Google ``age_group`` value.

    >>> age_code("Kids"), age_code(None)
    (4, 0)
    """
    key = (text or "").strip().casefold()
    return AGE_GROUPS.index(key) if key in AGE_GROUPS else 0


def day_number(at: date | datetime) -> int:
    """Days since 1970-01-01 (UTC for an aware datetime).

    >>> day_number(date(1970, 1, 2)), day_number(datetime(2026, 1, 1, 23, 30, tzinfo=timezone.utc))
    (1, 20454)
    """
    if isinstance(at, datetime):
        if at.tzinfo is not None:
            at = at.astimezone(timezone.utc)
        at = at.date()
    return (at - _EPOCH).days


@dataclass(frozen=True, eq=False)
class Catalogue:
    """Products as parallel arrays (``P`` products), and the vocabularies behind their codes.

    ``path[:, d]`` is each product's category code at level ``d + 1`` (filled
    past the end of a short path; -1 when uncategorised), ``band`` its code
    at the price-band level. ``group`` codes the ``item_group_id`` (a product
    without one is its own group). ``added_day`` is the day the product was
    added (NaN when unknown). ``band_reference`` is, per category code, the
    median log price of the catalogue's products in it.

    >>> from mailer.content.money import Money
    >>> bag = Product(id="B1", title="Bag", price=Money(Decimal("30"), "GBP"), link="https://s.test/b1",
    ...               category=("Accessories", "Bags"), brand="Acme")
    >>> cat = Catalogue.from_products([bag])
    >>> cat.categories.names, cat.path.tolist(), float(cat.price[0]), cat.brands
    (('Accessories', 'Accessories > Bags'), [[0, 1, 1]], 30.0, ('Acme',))
    """

    products: tuple[Product, ...]
    ids: np.ndarray
    currency: str
    categories: Categories
    brands: tuple[str, ...]
    path: np.ndarray
    band: np.ndarray
    group: np.ndarray
    brand: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    price: np.ndarray
    regular_price: np.ndarray
    log_price: np.ndarray
    in_stock: np.ndarray
    added_day: np.ndarray
    sensitive: np.ndarray
    consumable: np.ndarray
    hash: np.ndarray
    band_reference: np.ndarray
    rules: SelectionRules

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.group.max()) + 1 if len(self) else 0

    def index_of(self, product_ids: Iterable[str]) -> np.ndarray:
        """Each id's product index, -1 when not in the catalogue."""
        index = self._index
        return np.fromiter((index.get(i, -1) for i in product_ids), dtype=np.int64)

    @property
    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {str(pid): i for i, pid in enumerate(self.ids.tolist())}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def category_codes(self, names: Iterable[str]) -> np.ndarray:
        """The codes of these category paths (``"Women > Dresses"``); unknown ones are left out."""
        codes = [self.categories.code(split_path(n)) for n in names]
        return np.asarray([c for c in codes if c >= 0], dtype=np.int32)

    def in_categories(self, names: Iterable[str]) -> np.ndarray:
        """Boolean mask of the products under any of these category paths."""
        codes = self.category_codes(names)
        if not codes.size:
            return np.zeros(len(self), dtype=bool)
        return np.asarray(np.isin(self.path, codes).any(axis=1))

    def age_days(self, today: int) -> np.ndarray:
        """Days since each product was added, as of day number ``today`` (NaN when unknown)."""
        return today - self.added_day

    @classmethod
    def from_products(
        cls,
        products: Iterable[Product],
        *,
        rules: SelectionRules | None = None,
        at: datetime | None = None,
        added: Mapping[str, date | datetime] | None = None,
        rates: Rates | None = None,
        currency: str | None = None,
    ) -> Catalogue:
        """Build the arrays from products (the first of a repeated id wins).

        ``at`` is when the email is sent (sale prices apply then); ``added``
        maps product ids to the day they went live (for newness); ``rates``
        converts products in other currencies into ``currency`` (default: the
        first product's).
        """
        rules = rules or SelectionRules()
        seen: set[str] = set()
        kept: list[Product] = []
        for product in products:
            if product.id not in seen:
                seen.add(product.id)
                kept.append(product)
        if currency is None:
            currency = kept[0].price.currency if kept else "GBP"
        categories = Categories(depth=rules.depth)
        brand_codes: dict[str, int] = {}
        group_codes: dict[str, int] = {}
        n = len(kept)
        path = np.full((n, rules.depth), -1, dtype=np.int32)
        arrays = {
            name: np.zeros(n, dtype)
            for name, dtype in (("group", np.int32), ("brand", np.int32), ("gender", np.int8), ("age", np.int8),
                                ("price", np.float64), ("regular_price", np.float64), ("in_stock", bool),
                                ("sensitive", bool), ("consumable", bool))
        }  # fmt: skip
        added_day = np.full(n, np.nan)
        converters: dict[str, object] = {}

        def amount(value: Decimal, code: str) -> float:
            if code == currency:
                return float(value)
            if rates is None:
                raise ConfigError(
                    f"the feed mixes currencies ({currency} and {code}); give rates to convert them"
                )
            convert = converters.get(code) or converters.setdefault(code, rates.converter(code, currency))
            return float(convert(value))  # type: ignore[operator]

        for i, product in enumerate(kept):
            category = product.category or tuple(c for c in product.google_category if not c.isdigit())
            category = split_path(category)
            path[i] = categories.encode(category)
            group_key = product.item_group_id or f"\0{product.id}"
            arrays["group"][i] = group_codes.setdefault(group_key, len(group_codes))
            arrays["brand"][i] = brand_codes.setdefault(product.brand.strip(), len(brand_codes)) if product.brand else -1
            arrays["gender"][i] = gender_code(product.gender)
            arrays["age"][i] = age_code(product.age_group)
            current = product.current_price(at) if at is not None else product.price
            arrays["price"][i] = amount(current.amount, current.currency)
            arrays["regular_price"][i] = amount(product.price.amount, product.price.currency)
            arrays["in_stock"][i] = product.in_stock
            arrays["sensitive"][i] = is_sensitive(category, product.age_group, rules)
            arrays["consumable"][i] = path_matches(category, rules.consumable_categories)
            when = (added or {}).get(product.id)
            if when is not None:
                added_day[i] = day_number(when)
        price = arrays["price"]
        with np.errstate(divide="ignore"):
            log_price = np.log(np.maximum(price, 1e-9))
        band = path[:, rules.band_depth - 1].copy() if n else np.zeros(0, np.int32)
        return cls(
            products=tuple(kept),
            ids=np.asarray([p.id for p in kept], dtype=str),
            currency=currency,
            categories=categories,
            brands=tuple(brand_codes),
            path=path,
            band=band,
            log_price=log_price,
            added_day=added_day,
            hash=stable_hash([p.id for p in kept]),
            band_reference=_median_by_code(band, log_price, len(categories)),
            rules=rules,
            **arrays,
        )


def _median_by_code(codes: np.ndarray, values: np.ndarray, n_codes: int) -> np.ndarray:
    """The median of ``values`` per code (NaN for a code with none)."""
    out = np.full(n_codes, np.nan)
    keep = codes >= 0
    codes, values = codes[keep], values[keep]
    order = np.lexsort((values, codes))
    codes, values = codes[order], values[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], codes.size]
    lo = values[starts + (ends - starts - 1) // 2]
    hi = values[starts + (ends - starts) // 2]
    out[codes[starts]] = (lo + hi) / 2
    return out


def same_catalogue_rules(a: SelectionRules, b: SelectionRules) -> bool:
    """Whether catalogue-building rules agree (depth, band level, sensitive and consumable lists)."""
    fields = ("depth", "band_depth", "sensitive_categories", "sensitive_age_groups", "consumable_categories")
    return all(getattr(a, f) == getattr(b, f) for f in fields)

