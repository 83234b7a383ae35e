"""What customers did: purchases and engagements (one row per message sent).

Both are read from CSV (delimiter detected) or JSON Lines, streamed, with the
same report-and-skip behaviour as customers: a bad row becomes a
:class:`~mailer.errors.CustomerError` with path, line, item and field.

Engagement files are the format the send-time-optimisation module
(:mod:`mailer.sto`) reads in bulk: ``customer_id``, ``timezone`` (IANA,
optional), ``sent_at``, ``opened_at``, ``clicked_at`` (ISO 8601 with an offset
or ``Z``; empty when it did not happen; an empty ``sent_at`` is a send time
nobody recorded) and optional ``machine_open`` (true/false). The checks here
agree with that reader: an open or click more than a minute before its send is
an error, and so is a row with no time at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.inputs.customers import parse_timezone, read_field, read_rows
from mailer.errors import CustomerError
from mailer.inputs.feeds import Record, parse_price
from mailer.content.money import Money
from mailer.report import Report

__all__ = [
    "Engagement",
    "Purchase",
    "iter_engagements",
    "iter_purchases",
    "parse_flag",
    "parse_instant",
    "parse_quantity",
]

PathArg = str | os.PathLike[str]

#: How far an open or click may precede its send (clock skew) before it is an error.
CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Purchase:
    """One order line: who bought what, when, how many, at what unit price.

    ``category`` is the product's category path when the file carries it
    (``Women > Dresses`` → ``("Women", "Dresses")``).
    """

    customer_id: str
    product_id: str
    purchased_at: datetime
    quantity: int = 1
    unit_price: Money | None = None
    category: tuple[str, ...] = ()
    brand: str | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    """One message sent to one customer, and what became of it.

    ``machine_open`` is ``True`` when the mailbox provider, not a person,
    opened the message (Apple Mail Privacy Protection and the like); ``None``
    when the file does not say.
    """

    customer_id: str
    timezone: str | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    machine_open: bool | None = None

    @property
    def opened(self) -> bool:
        return self.opened_at is not None or self.clicked_at is not None


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date and time with a UTC offset (or ``Z``).

    >>> parse_instant("2026-05-04T09:00:00Z").isoformat()
    '2026-05-04T09:00:00+00:00'
    >>> parse_instant("2026-05-04T09:00")
    Traceback (most recent call last):
    ...
    ValueError: '2026-05-04T09:00' has no UTC offset (add Z or e.g. +02:00)
    """
    text = text.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date and time: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or e.g. +02:00)")
    return value


def parse_quantity(text: str) -> int:
    """A whole number of items, at least 1.

    >>> parse_quantity("2")
    2
    >>> parse_quantity("0")
    Traceback (most recent call last):
    ...
    ValueError: quantity must be a whole number of at least 1, found '0'
    """
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and int(text) >= 1):
        raise ValueError(f"quantity must be a whole number of at least 1, found {text[:20]!r}")
    return int(text)


_TRUE = frozenset({"true", "t", "1", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "no", "n"})


def parse_flag(text: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``), any case.

    >>> parse_flag("TRUE"), parse_flag("0")
    (True, False)
    """
    token = text.strip().lower()
    if token in _TRUE:
        return True
    if token in _FALSE:
        return False
    raise ValueError(f"expected true or false, found {text[:20]!r}")


def iter_purchases(
    path: PathArg, *, report: Report | None = None, encoding: str | None = None
) -> Iterator[Purchase]:
    """Stream purchases from CSV or JSON Lines.

    Columns: ``customer_id``, ``product_id``, ``purchased_at``, optional
    ``quantity`` (default 1), ``unit_price`` (``15.00 GBP``, or a number with a
    ``currency`` column), ``category`` and ``brand``. ``encoding`` is the
    file's text encoding when it has no byte-order mark (default UTF-8).

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
    ...     _ = f.write('{"customer_id": "c1", "product_id": "P1", "purchased_at": "2026-03-01T10:00Z",'
    ...                 ' "quantity": 2, "unit_price": 15.5, "currency": "GBP", "category": "Home > Kitchen"}\\n')
    >>> [p] = iter_purchases(f.name)
    >>> p.quantity, p.unit_price, p.category
    (2, Money(amount=Decimal('15.5'), currency='GBP'), ('Home', 'Kitchen'))
    >>> os.remove(f.name)
    """
    required = ("customer_id", "product_id", "purchased_at")
    for _, purchase in read_rows(path, _purchase, required=required, report=report, encoding=encoding):
        yield purchase


def _purchase(record: Record) -> Purchase:
    currency = read_field(record, "currency", str)
    category = read_field(record, "category", str)
    return Purchase(
        customer_id=read_field(record, "customer_id", str, required=True),
        product_id=read_field(record, "product_id", str, required=True),
        purchased_at=read_field(record, "purchased_at", parse_instant, required=True),
        quantity=read_field(record, "quantity", parse_quantity) or 1,
        unit_price=read_field(record, "unit_price", lambda text: parse_price(text, currency=currency)),
        category=tuple(p for part in (category or "").split(">") if (p := part.strip())),
        brand=read_field(record, "brand", str),
    )


def iter_engagements(
    path: PathArg, *, report: Report | None = None, encoding: str | None = None
) -> Iterator[Engagement]:
    """Stream engagements (one row per message sent) from CSV or JSON Lines.

    ``encoding`` is the file's text encoding when it has no byte-order mark
    (default UTF-8).

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
    ...     _ = f.write("customer_id,timezone,sent_at,opened_at,clicked_at,machine_open\\n"
    ...                 "c1,Europe/Paris,2026-05-04T09:00Z,2026-05-04T11:12+02:00,,false\\n"
    ...                 "c2,,2026-05-04T09:00Z,2026-05-04T08:00Z,,\\n")
    >>> report = Report()
    >>> [e.customer_id for e in iter_engagements(f.name, report=report)]
    ['c1']
    >>> report.problems[0].field, report.problems[0].reason
    ('opened_at', 'opened_at is before sent_at')
    >>> os.remove(f.name)
    """
    for _, engagement in read_rows(
        path, _engagement, required=("customer_id",), report=report, encoding=encoding
    ):
        yield engagement


def _engagement(record: Record) -> Engagement:
    engagement = Engagement(
        customer_id=read_field(record, "customer_id", str, required=True),
        timezone=read_field(record, "timezone", parse_timezone),
        sent_at=read_field(record, "sent_at", parse_instant),
        opened_at=read_field(record, "opened_at", parse_instant),
        clicked_at=read_field(record, "clicked_at", parse_instant),
        machine_open=read_field(record, "machine_open", parse_flag),
    )
    sent = engagement.sent_at
    if sent is None and engagement.opened_at is None and engagement.clicked_at is None:
        raise CustomerError("row has no sent_at, opened_at or clicked_at", field="sent_at")
    if sent is not None:
        for field, at in (("opened_at", engagement.opened_at), ("clicked_at", engagement.clicked_at)):
            if at is not None and at < sent - CLOCK_SKEW:
                raise CustomerError(f"{field} is before sent_at", field=field)
    return engagement
