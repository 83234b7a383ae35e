"""Amounts of money and conversion between currencies; Decimal throughout, never float.

A :class:`Money` is a Decimal amount and an ISO 4217 code. A campaign supplies
a :class:`Rates` table (one base currency, one as-of date) to show feed prices
in each recipient's currency.

Rounding policy
---------------
A converted amount is computed at full Decimal precision (28 significant
digits: ``amount × rate[to] ÷ rate[from]``, never through float), then rounded
**once**, to the target currency's minor unit as CLDR defines it (0 digits for
JPY, KRW and ISK, 2 for EUR, USD and most others including HUF and CZK, 3 for
KWD and BHD), half away from zero (``ROUND_HALF_UP``, commercial rounding:
0.125 → 0.13, −0.125 → −0.13). An amount already in the target currency is not
converted and not rounded: feed prices are shown as the retailer gave them.
Only display rounds such a price, and the same way, if it has more places than
its currency shows (12.345 EUR is shown as 12,35 €).

>>> rates = Rates(base="EUR", as_of=date(2025, 6, 2),
...               rates={"USD": Decimal("1.1372"), "JPY": Decimal("163.45")})
>>> rates.convert(Money(Decimal("19.99"), "EUR"), "USD")
Money(amount=Decimal('22.73'), currency='USD')
>>> rates.convert(Money(Decimal("19.99"), "USD"), "JPY")
Money(amount=Decimal('2873'), currency='JPY')
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from os import PathLike
from pathlib import Path
from types import MappingProxyType

from babel.numbers import get_currency_precision, list_currencies

from mailer.errors import RatesError

__all__ = ["Money", "Rates", "minor_unit"]

# Our own context, so a caller's thread-local decimal context can never change
# how money is converted.
_CONTEXT = Context(prec=28)
_CODE = re.compile(r"[A-Z]{3}\Z")
_COLUMNS = ("base", "currency", "rate", "as_of")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency.

    >>> Money(Decimal("15.00"), "USD")
    Money(amount=Decimal('15.00'), currency='USD')
    """

    amount: Decimal
    currency: str


_QUANTA: dict[str, Decimal] = {}


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` shown, per CLDR (cached).

    >>> minor_unit("EUR"), minor_unit("JPY"), minor_unit("KWD")
    (Decimal('0.01'), Decimal('1'), Decimal('0.001'))
    """
    quantum = _QUANTA.get(currency)
    if quantum is None:
        quantum = _QUANTA[currency] = Decimal(1).scaleb(-get_currency_precision(currency))
    return quantum


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """How many units of each currency one unit of ``base`` buys, as of a date.

    ``rates`` need not list ``base`` itself (its rate is 1). Build one from a
    CSV file with :meth:`from_csv`.

    >>> rates = Rates(base="EUR", as_of=date(2025, 6, 2), rates={"GBP": Decimal("0.8421")})
    >>> rates.convert(Money(Decimal("12.50"), "GBP"), "EUR")
    Money(amount=Decimal('14.84'), currency='EUR')
    >>> rates.convert(Money(Decimal("12.50"), "EUR"), "CHF")
    Traceback (most recent call last):
      ...
    mailer.errors.RatesError: item 'CHF': no rate for CHF (rates have base EUR, as of 2025-06-02)
    """

    base: str
    as_of: date
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    path: str | None = None

    def __post_init__(self) -> None:
        table = dict(self.rates)
        for code, rate in table.items():
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                raise RatesError(f"rate for {code} must be a positive Decimal, not {rate!r}",
                                 path=self.path, item=code)
        if table.setdefault(self.base, Decimal(1)) != 1:
            raise RatesError(f"the base {self.base} must have rate 1", path=self.path, item=self.base)
        object.__setattr__(self, "rates", MappingProxyType(table))

    @classmethod
    def from_csv(cls, path: str | PathLike[str]) -> Rates:
        """Read a rates table from a CSV file with columns ``base,currency,rate,as_of``.

        Every row names the same base currency and as-of date (ISO 8601); a bad
        row raises :class:`RatesError` naming the file and line.
        """
        with Path(path).open(newline="", encoding="utf-8") as lines:
            return cls.parse(lines, path=str(path))

    @classmethod
    def parse(cls, lines: Iterable[str], *, path: str | None = None) -> Rates:
        """Read a rates table from CSV text (see :meth:`from_csv`).

        >>> Rates.parse(["base,currency,rate,as_of", "EUR,USD,1.1372,2025-06-02"]).rates["USD"]
        Decimal('1.1372')
        >>> Rates.parse(["base,currency,rate,as_of", "EUR,USD,1,1372,2025-06-02"], path="rates.csv")
        Traceback (most recent call last):
          ...
        mailer.errors.RatesError: rates.csv, line 2: expected 4 fields (base,currency,rate,as_of), found 5
        """
        reader = csv.reader(lines)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != _COLUMNS:
            raise RatesError(f"expected the header {','.join(_COLUMNS)}, found {header!r}",
                             path=path, line=1)
        known = list_currencies()
        base: str | None = None
        as_of: date | None = None
        table: dict[str, Decimal] = {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(_COLUMNS):
                raise RatesError(f"expected {len(_COLUMNS)} fields ({','.join(_COLUMNS)}), found {len(row)}",
                                 path=path, line=line)
            row_base, code, text, day = (cell.strip() for cell in row)
            for name, value in (("base", row_base), ("currency", code)):
                if not _CODE.match(value) or value not in known:
                    raise RatesError(f"unknown ISO 4217 currency code {value!r}", path=path, line=line, field=name)
            try:
                rate = Decimal(text)
            except InvalidOperation:
                rate = Decimal("NaN")
            if not rate.is_finite() or rate <= 0:
                raise RatesError(f"expected a positive decimal rate, found {text!r}", path=path, line=line, field="rate")
            try:
                row_as_of = date.fromisoformat(day)
            except ValueError:
                raise RatesError(f"expected an ISO date (2025-06-02), found {day!r}",
                                 path=path, line=line, field="as_of") from None
            if base is None:
                base, as_of = row_base, row_as_of
            if row_base != base:
                raise RatesError(f"every row must have base {base}, found {row_base}", path=path, line=line, field="base")
            if row_as_of != as_of:
                raise RatesError(f"every row must be as of {as_of}, found {row_as_of}", path=path, line=line, field="as_of")
            if code in table:
                raise RatesError(f"a second rate for {code}", path=path, line=line, field="currency")
            if code == base and rate != 1:
                raise RatesError(f"the base {base} must have rate 1, found {text}", path=path, line=line, field="rate")
            table[code] = rate
        if base is None or as_of is None:
            raise RatesError("the rates table has no rows", path=path)
        return cls(base=base, as_of=as_of, rates=table, path=path)

    def rate(self, currency: str) -> Decimal:
        """Units of ``currency`` per unit of the base; :class:`RatesError` if absent.

        >>> Rates(base="EUR", as_of=date(2025, 6, 2)).rate("EUR")
        Decimal('1')
        """
        try:
            return self.rates[currency]
        except KeyError:
            raise RatesError(f"no rate for {currency} (rates have base {self.base}, as of {self.as_of})",
                             path=self.path, item=currency) from None

    def convert(self, money: Money, currency: str) -> Money:
        """``money`` in ``currency``, rounded once to its minor unit (see the module docstring).

        >>> rates = Rates(base="EUR", as_of=date(2025, 6, 2), rates={"KWD": Decimal("0.3488")})
        >>> rates.convert(Money(Decimal("10"), "EUR"), "KWD")
        Money(amount=Decimal('3.488'), currency='KWD')
        >>> rates.convert(Money(Decimal("9.999"), "KWD"), "KWD")
        Money(amount=Decimal('9.999'), currency='KWD')
        """
        if money.currency == currency:
            return money
        return Money(self.convert_amount(money.amount, money.currency, currency), currency)

    def convert_amount(self, amount: Decimal, currency: str, to: str) -> Decimal:
        """:meth:`convert` on a bare amount: ``amount`` of ``currency`` in ``to``.

        >>> Rates(base="EUR", as_of=date(2025, 6, 2), rates={"USD": Decimal("1.5")}).convert_amount(
        ...     Decimal("0.03"), "EUR", "USD")
        Decimal('0.05')
        """
        return self.converter(currency, to)(amount)

    def converter(self, currency: str, to: str) -> Callable[[Decimal], Decimal]:
        """A function converting amounts of ``currency`` into ``to``, for many amounts.

        The rates are looked up once (:class:`RatesError` now if one is absent).

        >>> to_jpy = Rates(base="EUR", as_of=date(2025, 6, 2), rates={"JPY": Decimal("163.45")}).converter("EUR", "JPY")
        >>> to_jpy(Decimal("19.99")), to_jpy(Decimal("0.01"))
        (Decimal('3267'), Decimal('2'))
        """
        if currency == to:
            return _unchanged
        numerator, denominator, quantum = self.rate(to), self.rate(currency), minor_unit(to)
        multiply, divide = _CONTEXT.multiply, _CONTEXT.divide

        def convert(amount: Decimal) -> Decimal:
            return divide(multiply(amount, numerator), denominator).quantize(quantum, ROUND_HALF_UP, _CONTEXT)

        return convert


def _unchanged(amount: Decimal) -> Decimal:
    return amount
