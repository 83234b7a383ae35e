"""Durable programme positions: a small SQLite table in a state file.

Each customer's position in each programme (status, next step, the day they
entered, the day of their last email) is one row of ``programme_positions``;
each email a programme decided to send is one row of ``programme_sends``.
:func:`run_day` loads a programme's positions, :func:`~mailer.personalise.programmes.advance`s
them and writes the changed rows and the day's sends in one transaction, so
a crash leaves either the whole day or none of it, and running again on the
same day returns the same sends without adding any. Days are stored as ISO
dates, for people reading the file.

The statements are named and commented in ``programme_store.sql``, in one place.
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from collections.abc import Iterable
from datetime import date
from os import PathLike
from pathlib import Path

import numpy as np

from mailer.personalise.catalogue import day_number
from mailer.personalise.programmes import STATUSES, Positions, Programme, advance
from mailer.store.queries import parse_queries

__all__ = ["SQL", "ProgrammeStore", "run_day"]

SQL = {name: query.sql for name, query in parse_queries(
    resources.files(__package__).joinpath("programme_store.sql").read_text(encoding="utf-8")
).items()}
"""The named statements of ``programme_store.sql``."""

_EPOCH = np.datetime64("1970-01-01", "D")


def _iso(days: np.ndarray) -> list[str]:
    return [str(d) for d in (_EPOCH + days.astype("timedelta64[D]")).astype(str).tolist()]


def _days(texts: list[str]) -> np.ndarray:
    return (np.asarray(texts, dtype="datetime64[D]") - _EPOCH).astype(np.int32)


class ProgrammeStore:
    """Programme positions in an SQLite file (``:memory:`` for tests).

    >>> store = ProgrammeStore(":memory:")
    >>> from mailer.personalise.programmes import WELCOME
    >>> run_day(store, WELCOME, today=date(2026, 11, 23), entrants=["c1"])
    [('c1', 'welcome-1')]
    >>> run_day(store, WELCOME, today=date(2026, 11, 23), entrants=["c1"])  # again the same day: the same sends
    [('c1', 'welcome-1')]
    >>> run_day(store, WELCOME, today=date(2026, 11, 26))
    [('c1', 'welcome-2')]
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(str(path))
        with self.connection:
            self.connection.execute(SQL["create_positions"])
            self.connection.execute(SQL["create_sends"])

    def close(self) -> None:
        self.connection.close()

    def load(self, programme: str) -> Positions:
        """All positions of one programme."""
        rows = self.connection.execute(SQL["load_positions"], (programme,)).fetchall()
        if not rows:
            return Positions.empty()
        ids, status, step, entered, last, updated = zip(*rows)
        ids_array = np.asarray(ids, dtype=str)
        order = np.argsort(ids_array, kind="stable")
        last_days = np.asarray([-1 if d is None else int(day_number(date.fromisoformat(d))) for d in last], np.int32)
        return Positions(
            customer_ids=ids_array[order],
            status=np.asarray([STATUSES.index(s) for s in status], dtype=np.int8)[order],
            next_step=np.asarray(step, dtype=np.int16)[order],
            entered_day=_days(list(entered))[order],
            last_sent_day=last_days[order],
            updated_day=_days(list(updated))[order],
        )

    def save(self, programme: str, positions: Positions, changed: np.ndarray, sends: Iterable[tuple[str, str]],
             *, today: int) -> None:  # fmt: skip
        """Write the changed positions and the day's sends, in one transaction."""
        rows = np.flatnonzero(changed)
        entered, updated = _iso(positions.entered_day[rows]), _iso(positions.updated_day[rows])
        last = positions.last_sent_day[rows]
        last_iso = _iso(np.maximum(last, 0))
        day = _iso(np.asarray([today]))[0]
        with self.connection:
            self.connection.executemany(
                SQL["save_position"],
                (
                    (programme, str(positions.customer_ids[r]), STATUSES[int(positions.status[r])],
                     int(positions.next_step[r]), entered[i], last_iso[i] if last[i] >= 0 else None, updated[i])
                    for i, r in enumerate(rows.tolist())
                ),  # fmt: skip
            )
            self.connection.executemany(SQL["log_send"], ((programme, day, c, s) for c, s in sends))

    def sends_on(self, programme: str, day: date) -> list[tuple[str, str]]:
        """The sends one programme decided on one day."""
        rows = self.connection.execute(SQL["sends_on"], (programme, day.isoformat())).fetchall()
        return [(str(c), str(s)) for c, s in rows]

    def with_status(self, programme: str, status: str) -> list[str]:
        """Customers with this status in this programme (``non_target`` for the lapsed who never came back)."""
        rows = self.connection.execute(SQL["with_status"], (programme, status)).fetchall()
        return [str(row[0]) for row in rows]


def run_day(
    store: ProgrammeStore,
    programme: Programme,
    *,
    today: date,
    entrants: Iterable[str] = (),
    last_purchases: Iterable[tuple[str, date]] = (),
) -> list[tuple[str, str]]:
    """Advance a programme to ``today`` durably; the ``(customer id, step name)`` sends due today."""
    day = day_number(today)
    purchases = list(last_purchases)
    plan = advance(
        programme,
        store.load(programme.name),
        today=day,
        entrants=list(entrants),
        last_purchase_ids=[c for c, _ in purchases],
        last_purchase_days=[day_number(d) for _, d in purchases],
    )
    store.save(programme.name, plan.positions, plan.changed, plan.sends(programme), today=day)
    return store.sends_on(programme.name, today)


GATES = {
    # programme, status: the message classes an ordinary campaign leaves to the programme
    ("welcome", "active"): frozenset({"promotional"}),
    ("lapsed", "non_target"): frozenset({"promotional", "lifecycle"}),
}
"""Who an ordinary campaign holds back: a customer still in the welcome series
gets no promotion until they graduate; one the lapsed programme gave up on
(a non-target) gets nothing but the reactivation programme."""


def held_back(store: ProgrammeStore, message_class: str) -> dict[str, str]:
    """Customers an ordinary campaign of ``message_class`` leaves alone, each with why.

    >>> store = ProgrammeStore(":memory:")
    >>> from mailer.personalise.programmes import WELCOME
    >>> _ = run_day(store, WELCOME, today=date(2026, 11, 23), entrants=["c1"])
    >>> held_back(store, "promotional"), held_back(store, "transactional")
    ({'c1': 'in the welcome programme (active)'}, {})
    """
    held: dict[str, str] = {}
    for (programme, status), classes in GATES.items():
        if message_class in classes:
            for customer_id in store.with_status(programme, status):
                held.setdefault(customer_id, f"in the {programme} programme ({status})")
    return held
