"""Customers as a retailer knows them: sign-up data, read from CSV or JSON Lines.

:func:`iter_customers` streams a customer file (format and delimiter detected
from the content, as for feeds) into :class:`Customer` values, each field
validated: email (``email-validator``, normalised), locale (Babel, stored as
``de_DE``), currency (ISO 4217), time zone (IANA), birthday (a real past
date) and names free of control characters, which would otherwise reach
message headers. A bad row is reported as a :class:`~mailer.errors.CustomerError`
(path, line, item, field, reason) and skipped; so is a repeated customer id,
and a repeated address (:func:`address_key`: the same mailbox, however cased).

The value checks (:func:`parse_email`, :func:`parse_locale`,
:func:`parse_timezone`, :func:`parse_name`, :func:`parse_birthday`) are pure;
they, :func:`read_field` and :func:`read_rows` are shared with
:mod:`mailer.inputs.history`, which reads the same kind of file.
"""

from __future__ import annotations

import os
import unicodedata
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from hashlib import blake2b
from typing import Literal, TypeVar, overload
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email

from mailer.errors import CustomerError
from mailer.inputs.feeds import Record, iter_records, parse_currency, record_text
from mailer.report import Report

__all__ = [
    "Customer",
    "address_key",
    "iter_customers",
    "parse_birthday",
    "parse_volume",
    "parse_email",
    "parse_locale",
    "parse_name",
    "parse_timezone",
    "read_field",
    "read_rows",
]

T = TypeVar("T")

REQUIRED_COLUMNS = ("id", "email", "name", "locale", "currency", "timezone")
#: Longest name or gender accepted: enough for any real name, short enough for a header.
MAX_NAME_CHARS = 256


@dataclass(frozen=True, slots=True)
class Customer:
    """One recipient. ``locale`` is normalised to Babel form (``de_DE``),
    ``currency`` to an upper-case ISO 4217 code, ``timezone`` an IANA name."""

    id: str
    email: str
    name: str
    locale: str
    currency: str
    timezone: str
    gender: str | None = None
    birthday: date | None = None
    volume: str | None = None
    """The customer's volume dial (``everything``, ``weekly``, ``monthly``,
    ``only-important``; see :mod:`mailer.sending.caps`) when the file says."""


def iter_customers(
    path: str | os.PathLike[str],
    *,
    report: Report | None = None,
    today: date | None = None,
    encoding: str | None = None,
) -> Iterator[Customer]:
    """Stream the customers of a CSV or JSON Lines file.

    Columns: ``id``, ``email``, ``name``, ``locale``, ``currency``,
    ``timezone``, optional ``gender``, ``birthday`` and ``volume``; others are ignored.
    ``today`` (default: the local date) bounds birthdays. ``encoding`` is the
    file's text encoding when it has no byte-order mark (default UTF-8; e.g.
    ``latin-1``). A customer whose id or address an earlier row already
    had is reported and skipped.

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("id;email;name;locale;currency;timezone\\n"
    ...                 "c1;Zoe@Example.com;Zoë;fr-CH;chf;Europe/Zurich\\n"
    ...                 "c2;nobody;Ann;en_GB;GBP;Europe/London\\n")
    >>> report = Report()
    >>> list(iter_customers(f.name, report=report))
    [Customer(id='c1', email='Zoe@example.com', name='Zoë', locale='fr_CH', currency='CHF', timezone='Europe/Zurich', gender=None, birthday=None, volume=None)]
    >>> report.problems[0].line, report.problems[0].field
    (3, 'email')
    >>> os.remove(f.name)
    """
    today = today or date.today()
    ids, addresses = FirstLines(), FirstLines()
    for line, customer in read_rows(
        path,
        lambda record: _customer(record, today),
        required=REQUIRED_COLUMNS,
        report=report,
        encoding=encoding,
    ):
        if (first := ids.get(customer.id)) is not None:
            reason, field = f"duplicate customer id (first on line {first})", "id"
        elif (first := addresses.add(address_key(customer.email), line)) is not None:
            reason, field = f"duplicate address of the customer on line {first}", "email"
        else:
            ids.add(customer.id, line)
            yield customer
            continue
        if report is not None:
            report.add(CustomerError(reason, path=path, line=line, item=customer.id, field=field))


def address_key(email: str) -> str:
    """What makes two normalised addresses (:func:`parse_email`) the same mailbox.

    The domain is already lower-cased; the local part is compared without
    case too, as every large mailbox provider treats it.

    >>> address_key(parse_email("X6@EXAMPLE.com")) == address_key(parse_email("x6@example.com"))
    True
    """
    local, _, domain = email.rpartition("@")
    return f"{local.lower()}@{domain}"


class FirstLines:
    """The line each id of a stream was first seen on, in 12 bytes a slot.

    An id is kept as a 64-bit BLAKE2b digest with its line, in an open-addressing
    table grown at three quarters full: ten million customers take 2²⁴ slots,
    about 200 MB (300 MB for a moment while it grows), not the gigabyte and
    more a dict of strings would. Two ids share a digest with odds of about
    n²/2⁶⁵ (3 in a million for ten million ids).

    >>> seen = FirstLines()
    >>> seen.add("c1", 2), seen.add("c2", 3), seen.add("c1", 9)
    (None, None, 2)
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, key: str) -> int | None:
        """The line ``key`` was first seen on, or ``None``; records nothing.

        >>> seen = FirstLines()
        >>> seen.get("c1"), seen.add("c1", 4), seen.get("c1")
        (None, None, 4)
        """
        digest = _digest(key)
        keys, mask = self._keys, self._mask
        slot = digest & mask
        while (held := keys[slot]) != 0:
            if held == digest:
                return self._lines[slot]
            slot = (slot + 1) & mask
        return None

    def add(self, key: str, line: int) -> int | None:
        """Record ``key`` on ``line``; the line it was first seen on if it was seen before."""
        digest = _digest(key)
        keys, mask = self._keys, self._mask
        slot = digest & mask
        while True:
            held = keys[slot]
            if held == 0:
                break
            if held == digest:
                return self._lines[slot]
            slot = (slot + 1) & mask
        keys[slot] = digest
        self._lines[slot] = min(line, 0xFFFFFFFF)
        self._count += 1
        if self._count * 4 > (mask + 1) * 3:
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_lines = self._keys, self._lines
        size = 2 * len(old_keys)
        self._keys = keys = array("Q", bytes(8 * size))
        self._lines = lines = array("I", bytes(4 * size))
        self._mask = mask = size - 1
        for digest, line in zip(old_keys, old_lines):
            if digest:
                slot = digest & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = digest
                lines[slot] = line


def _digest(key: str) -> int:
    return int.from_bytes(blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little") or 1


def _customer(record: Record, today: date) -> Customer:
    return Customer(
        id=read_field(record, "id", str, required=True),
        email=read_field(record, "email", parse_email, required=True),
        name=read_field(record, "name", parse_name) or "",
        locale=read_field(record, "locale", parse_locale, required=True),
        currency=read_field(record, "currency", parse_currency, required=True),
        timezone=read_field(record, "timezone", parse_timezone, required=True),
        gender=read_field(record, "gender", parse_name),
        birthday=read_field(record, "birthday", lambda text: parse_birthday(text, today=today)),
        volume=read_field(record, "volume", parse_volume),
    )


def read_rows(
    path: str | os.PathLike[str],
    build: Callable[[Record], T],
    *,
    required: tuple[str, ...],
    report: Report | None = None,
    encoding: str | None = None,
) -> Iterator[tuple[int, T]]:
    """Stream ``(line, build(record))`` over a CSV or JSON Lines file of customer data.

    ``build`` raises :class:`CustomerError` (as :func:`read_field` does) for a
    bad row; the row is then reported with its path, line and id, and skipped.
    ``encoding`` is as for :func:`mailer.inputs.feeds.detect_format`.
    """
    for line, record in iter_records(
        path, required=required, error=CustomerError, report=report, encoding=encoding
    ):
        try:
            value = build(record)
        except CustomerError as bad:
            if report is not None:
                report.add(CustomerError(bad.reason, path=path, line=line, item=_row_id(record), field=bad.field))
            continue
        yield line, value


def _row_id(record: Record) -> str | None:
    for key in ("id", "customer_id"):
        try:
            if value := record_text(record, key):
                return value
        except ValueError:
            pass
    return None


@overload
def read_field(record: Record, key: str, parse: Callable[[str], T], *, required: Literal[True]) -> T: ...


@overload
def read_field(record: Record, key: str, parse: Callable[[str], T], *, required: bool = False) -> T | None: ...


def read_field(record: Record, key: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
    """A field's stripped text passed through ``parse``; ``None`` when blank.

    A blank ``required`` field, or a ``ValueError`` from ``parse``, raises
    :class:`CustomerError` naming the field (the caller adds path and line).

    >>> read_field({"qty": " 3 "}, "qty", int)
    3
    >>> read_field({"qty": "three"}, "qty", int)
    Traceback (most recent call last):
    ...
    mailer.errors.CustomerError: field 'qty': invalid literal for int() with base 10: 'three'
    """
    try:
        text = record_text(record, key)
        if text is None:
            if required:
                raise CustomerError(f"missing {key}", field=key)
            return None
        return parse(text)
    except CustomerError:
        raise
    except ValueError as exc:
        raise CustomerError(str(exc), field=key) from None


def parse_email(text: str) -> str:
    """An email address, validated (syntax only, no DNS) and normalised.

    >>> parse_email("Søren@Example.DK")
    'Søren@example.dk'
    >>> parse_email("søren@")
    Traceback (most recent call last):
    ...
    ValueError: invalid email address 'søren@': There must be something after the @-sign.
    """
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email address {text[:80]!r}: {exc}") from None


def parse_locale(text: str) -> str:
    """A locale Babel knows, in Babel's form; ``de-DE``, ``de_DE`` and ``de`` all work.

    >>> parse_locale("de-de"), parse_locale("sv_FI"), parse_locale("ja")
    ('de_DE', 'sv_FI', 'ja')
    """
    try:
        return str(Locale.parse(text.strip().replace("-", "_")))
    except (ValueError, UnknownLocaleError, TypeError):
        raise ValueError(f"unknown locale {text[:40]!r}") from None


@lru_cache(maxsize=1)
def _timezones() -> dict[str, str]:
    # Keys are looked up here, never opened as paths: '../../etc/passwd' is just unknown.
    names = available_timezones() - {"localtime", "Factory"}
    return {name.lower(): name for name in names}


def parse_timezone(text: str) -> str:
    """An IANA time zone name, in its canonical spelling.

    >>> parse_timezone("europe/copenhagen")
    'Europe/Copenhagen'
    >>> parse_timezone("../../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: unknown time zone '../../etc/passwd' (expected an IANA name such as Europe/London)
    """
    name = _timezones().get(text.strip().lower())
    if name is None:
        raise ValueError(f"unknown time zone {text.strip()[:60]!r} (expected an IANA name such as Europe/London)")
    return name


_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def parse_name(text: str) -> str:
    """Free text for a header: trimmed, no CR, LF or other control characters.

    >>> parse_name("  Björk Guðmundsdóttir ")
    'Björk Guðmundsdóttir'
    >>> parse_name("Eve\\r\\nBcc: all@example.com")
    Traceback (most recent call last):
    ...
    ValueError: contains a control character (U+000D)
    """
    text = text.strip()
    for char in text:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise ValueError(f"contains a control character (U+{ord(char):04X})")
    if len(text) > MAX_NAME_CHARS:
        raise ValueError(f"longer than {MAX_NAME_CHARS} characters")
    return text


def parse_volume(text: str) -> str:
    """A volume dial, as a customers file may give it.

    >>> parse_volume(" Weekly ")
    'weekly'
    >>> parse_volume("never")
    Traceback (most recent call last):
    ...
    ValueError: unknown volume 'never' (expected everything, weekly, monthly or only-important)
    """
    from mailer.sending.caps import VOLUMES

    value = text.strip().lower().replace("_", "-")
    if value not in VOLUMES:
        raise ValueError(f"unknown volume {text.strip()!r} (expected {', '.join(VOLUMES[:-1])} or {VOLUMES[-1]})")
    return value


def parse_birthday(text: str, *, today: date) -> date:
    """An ISO 8601 date before ``today``.

    >>> parse_birthday("1990-02-28", today=date(2026, 1, 1))
    datetime.date(1990, 2, 28)
    >>> parse_birthday("1990-02-30", today=date(2026, 1, 1))
    Traceback (most recent call last):
    ...
    ValueError: not a date (YYYY-MM-DD): '1990-02-30'
    """
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {text.strip()[:40]!r}") from None
    if value >= today:
        raise ValueError(f"birthday {value.isoformat()} is not in the past")
    return value
