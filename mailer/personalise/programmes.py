"""Lifecycle programmes: series of emails a customer moves through, one step at a time.

A :class:`Programme` is a list of :class:`Step` (what to send, how many days
after entering), an end (the day the programme is over for whoever is still
in it, and what they become then), and whether a purchase ends it early.
Two are built in:

* :data:`WELCOME`: three content-led emails (days 0, 3 and 7) before any
  direct selling; the customer then *graduates* to ordinary campaigns;
* :data:`LAPSED`: three reactivation attempts over six weeks (days 0, 21
  and 42), then a discount offer (day 56); a purchase at any point ends it
  (*converted*); whoever has not bought by day 70 becomes a *non-target*,
  whom no campaign should mail again unless a separate re-activation
  programme (:data:`REACTIVATION`, entered from that status) picks them up.

:func:`advance` is the daily step, pure and vectorised over every position:
it enrols today's entrants, ends the programme for buyers, sends each active
customer the next step that is due (at most one per run, and never two
within ``min_gap_days``), and closes finished positions. Running it twice on
one day sends nothing twice. Positions are durable in
:class:`~mailer.personalise.programme_store.ProgrammeStore` (SQLite), which
:func:`~mailer.personalise.programme_store.run_day` ties together for a
scheduled script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mailer.errors import ConfigError

__all__ = ["LAPSED", "REACTIVATION", "STATUSES", "WELCOME", "DayPlan", "Positions", "Programme", "Step", "advance"]

StepKind = Literal["content", "reactivation", "offer"]
#: Position statuses, by code.
STATUSES = ("active", "converted", "graduated", "non_target")
_ACTIVE, _CONVERTED = 0, 1
_NONE = -1


@dataclass(frozen=True)
class Step:
    """One email of a programme: its name (the campaign or layout to send), its day after entry, its kind."""

    name: str
    day: int
    kind: StepKind = "content"


@dataclass(frozen=True)
class Programme:
    """A series of steps with an end.

    >>> Programme("p", steps=(Step("a", 5), Step("b", 2)), end_day=10)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: programme 'p': step days must increase and end before end_day 10
    """

    name: str
    steps: tuple[Step, ...]
    end_day: int
    end_status: Literal["graduated", "non_target"] = "graduated"
    exit_on_purchase: bool = True
    min_gap_days: int = 2
    re_entry_days: int | None = None

    def __post_init__(self) -> None:
        days = [s.day for s in self.steps]
        if not self.steps or days[0] < 0 or any(a >= b for a, b in zip(days, days[1:])) or days[-1] >= self.end_day:
            raise ConfigError(
                f"programme {self.name!r}: step days must increase and end before end_day {self.end_day}"
            )
        if self.end_status not in ("graduated", "non_target"):
            raise ConfigError(f"programme {self.name!r}: end_status must be graduated or non_target")


WELCOME = Programme(
    "welcome",
    steps=(Step("welcome-1", 0), Step("welcome-2", 3), Step("welcome-3", 7)),
    end_day=10,
    end_status="graduated",
    exit_on_purchase=False,
)
LAPSED = Programme(
    "lapsed",
    steps=(
        Step("reactivation-1", 0, "reactivation"),
        Step("reactivation-2", 21, "reactivation"),
        Step("reactivation-3", 42, "reactivation"),
        Step("offer", 56, "offer"),
    ),
    end_day=70,
    end_status="non_target",
    re_entry_days=180,
)
REACTIVATION = Programme(
    "reactivation",
    steps=(Step("reactivation-offer", 0, "offer"),),
    end_day=30,
    end_status="non_target",
    re_entry_days=365,
)


@dataclass(frozen=True, eq=False)
class Positions:
    """Where each customer is in one programme (sorted by id).

    ``status`` codes :data:`STATUSES`; ``next_step`` is the index of the next
    step to send; days are day numbers (``last_sent_day`` -1: none yet).
    """

    customer_ids: np.ndarray
    status: np.ndarray
    next_step: np.ndarray
    entered_day: np.ndarray
    last_sent_day: np.ndarray
    updated_day: np.ndarray

    @classmethod
    def empty(cls) -> Positions:
        z = np.zeros(0, dtype=np.int32)
        return cls(np.zeros(0, dtype=str), z.astype(np.int8), z.astype(np.int16), z, z, z)

    def __len__(self) -> int:
        return int(self.customer_ids.shape[0])

    def status_of(self, customer_ids: np.ndarray | list[str]) -> np.ndarray:
        """Each customer's status name, ``""`` when they were never in the programme."""
        rows = _rows(self.customer_ids, np.asarray(customer_ids, dtype=str))
        names = np.asarray(("", *STATUSES), dtype=object)
        return names[np.where(rows >= 0, self.status[np.maximum(rows, 0)] + 1 if len(self) else 0, 0)]


@dataclass(frozen=True, eq=False)
class DayPlan:
    """One day of a programme: who gets which step (``sends``), the new positions, and which rows changed."""

    send_ids: np.ndarray
    send_steps: np.ndarray
    positions: Positions
    changed: np.ndarray

    def sends(self, programme: Programme) -> list[tuple[str, str]]:
        """``(customer id, step name)`` pairs."""
        return [(c, programme.steps[s].name) for c, s in zip(self.send_ids.tolist(), self.send_steps.tolist())]


def _rows(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    n = sorted_ids.shape[0]
    if n == 0:
        return np.full(ids.shape[0], -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, ids), n - 1)
    return np.where(sorted_ids[at] == ids, at, -1)


def advance(
    programme: Programme,
    positions: Positions,
    *,
    today: int,
    entrants: np.ndarray | list[str] = (),  # type: ignore[assignment]
    last_purchase_ids: np.ndarray | list[str] = (),  # type: ignore[assignment]
    last_purchase_days: np.ndarray | list[int] = (),  # type: ignore[assignment]
) -> DayPlan:
    """Move every position one day forward to day number ``today``.

    ``entrants`` are the customers who qualify today (new sign-ups for
    welcome, lapsed customers for the lapsed programme); ``last_purchase_*``
    give each customer's most recent purchase day (sorted ids not required).

    >>> day0 = advance(LAPSED, Positions.empty(), today=100, entrants=["ann", "bob"])
    >>> day0.sends(LAPSED)
    [('ann', 'reactivation-1'), ('bob', 'reactivation-1')]
    >>> again = advance(LAPSED, day0.positions, today=100, entrants=["ann", "bob"])
    >>> again.sends(LAPSED)
    []
    >>> day21 = advance(LAPSED, day0.positions, today=121, last_purchase_ids=["bob"], last_purchase_days=[110])
    >>> day21.sends(LAPSED), day21.positions.status_of(["ann", "bob"]).tolist()
    ([('ann', 'reactivation-2')], ['active', 'converted'])
    """
    entrants = np.unique(np.asarray(entrants, dtype=str))
    ids = positions.customer_ids
    newcomers = entrants[_rows(ids, entrants) < 0]
    all_ids = np.concatenate([ids, newcomers])
    order = np.argsort(all_ids, kind="stable")
    n_old, n_new = len(positions), newcomers.shape[0]

    def grow(values: np.ndarray, fill: int) -> np.ndarray:
        return np.concatenate([values, np.full(n_new, fill, dtype=values.dtype)])[order]

    status = grow(positions.status, _ACTIVE)
    next_step = grow(positions.next_step, 0)
    entered = grow(positions.entered_day, today)
    last_sent = grow(positions.last_sent_day, _NONE)
    updated = grow(positions.updated_day, today)
    ids = all_ids[order]
    changed = np.concatenate([np.zeros(n_old, bool), np.ones(n_new, bool)])[order]

    # Re-entry: a converted or graduated customer who qualifies again, long enough after leaving.
    if programme.re_entry_days is not None and entrants.size:
        again = np.isin(ids, entrants) & (status != _ACTIVE) & (status != STATUSES.index("non_target"))
        again &= today - updated >= programme.re_entry_days
        status[again], next_step[again], entered[again], last_sent[again], updated[again] = _ACTIVE, 0, today, _NONE, today
        changed |= again

    active = status == _ACTIVE
    if programme.exit_on_purchase and len(last_purchase_ids):
        bought = np.full(ids.shape[0], -(1 << 30), dtype=np.int64)
        rows = _rows(ids, np.asarray(last_purchase_ids, dtype=str))
        known = rows >= 0
        np.maximum.at(bought, rows[known], np.asarray(last_purchase_days, dtype=np.int64)[known])
        converts = active & (bought >= entered) & (bought <= today)
        status[converts], updated[converts] = _CONVERTED, today
        changed |= converts
        active &= ~converts

    step_days = np.asarray([s.day for s in programme.steps] + [1 << 30], dtype=np.int64)
    due = active & (next_step < len(programme.steps)) & (today >= entered + step_days[np.minimum(next_step, len(programme.steps))])
    due &= (last_sent == _NONE) | (today - last_sent >= programme.min_gap_days)
    send_ids, send_steps = ids[due], next_step[due].copy()
    next_step[due] += 1
    last_sent[due], updated[due] = today, today
    changed |= due

    finished = active & ~due & (next_step >= len(programme.steps)) & (today >= entered + programme.end_day)
    status[finished], updated[finished] = STATUSES.index(programme.end_status), today
    changed |= finished

    return DayPlan(
        send_ids=send_ids,
        send_steps=send_steps.astype(np.int16),
        positions=Positions(ids, status.astype(np.int8), next_step.astype(np.int16), entered.astype(np.int32),
                            last_sent.astype(np.int32), updated.astype(np.int32)),  # fmt: skip
        changed=changed,
    )
