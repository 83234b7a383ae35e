"""Planning: when each recipient's message should go out, and whether it may.

Pure functions over plain data. A :data:`Rule` says when: :class:`At` (one
instant for everybody), :class:`LocalWindow` (a window in each recipient's
local time, recipients spread evenly and deterministically across it) or
:class:`BestHour` (each recipient's best local hour, e.g. from
:mod:`mailer.sto`). :class:`QuietHours` then moves anything that would land
at night (by default 21:00–08:00 local) to the morning. Local times are
converted with :mod:`zoneinfo`, so daylight-saving changes are respected: a
wall time skipped by a spring-forward change moves forward by the gap, and a
repeated one means its first occurrence.

:func:`plan` applies a rule to a stream of recipients and checks the
frequency caps (:mod:`mailer.sending.caps`) at the planned time; the store checks
them again when the message is claimed.

>>> from datetime import date
>>> rule = LocalWindow(date(2026, 11, 24), time(9), time(9, 1))
>>> send_time(rule, recipient="C1", timezone="Europe/Copenhagen").isoformat()
'2026-11-24T08:00:35+00:00'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal, Protocol, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.sending import caps as caps_
from mailer.errors import ConfigError, LocaleError

UTC = timezone.utc


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No marketing mail between ``start`` and ``end``, local time (may wrap midnight).

    >>> QuietHours().contains(time(22, 30)), QuietHours().contains(time(8))
    (True, False)
    """

    start: time = time(21)
    end: time = time(8)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class At:
    """Everybody at one instant (aware datetime)."""

    when: datetime

    def __post_init__(self) -> None:
        if self.when.tzinfo is None:
            raise ConfigError("a send time needs a time zone (e.g. 2026-11-24T09:00:00Z)")


@dataclass(frozen=True, slots=True)
class LocalWindow:
    """On ``day``, between ``start`` and ``end`` in each recipient's local time."""

    day: date
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ConfigError(f"a send window must start before it ends, got {self.start}–{self.end}")


@dataclass(frozen=True, slots=True)
class BestHour:
    """On ``day``, at each recipient's best local hour (``hours`` maps recipient
    id → hour 0–23); recipients without one get ``fallback``."""

    day: date
    hours: Mapping[str, int]
    fallback: time = time(10)


Rule = Union[At, LocalWindow, BestHour]


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or :class:`LocaleError`.

    >>> zone("Europe/London").key
    'Europe/London'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise LocaleError(f"unknown time zone {name!r}") from err


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in ``tz``: a time skipped by a
    spring-forward change moves forward by the gap; a repeated one means the
    first occurrence.

    >>> berlin = zone("Europe/Berlin")
    >>> local_instant(date(2026, 3, 29), time(2, 30), berlin).isoformat()   # skipped
    '2026-03-29T01:30:00+00:00'
    >>> local_instant(date(2026, 10, 25), time(2, 30), berlin).isoformat()  # repeated
    '2026-10-25T00:30:00+00:00'
    """
    return datetime.combine(day, wall, tzinfo=tz).replace(fold=0).astimezone(UTC)


def _spread(recipient: str, seconds: float) -> float:
    digest = hashlib.blake2b(recipient.encode(), digest_size=8, person=b"mailer.plan").digest()
    return int.from_bytes(digest, "big") / 2**64 * seconds


def send_time(
    rule: Rule, *, recipient: str, timezone: str, quiet: QuietHours | None = QuietHours()
) -> datetime:
    """When ``recipient`` (in ``timezone``) should be sent the message, in UTC.

    >>> rule = At(datetime(2026, 11, 24, 22, 0, tzinfo=UTC))
    >>> send_time(rule, recipient="C1", timezone="Europe/London").isoformat()     # 22:00 is quiet
    '2026-11-25T08:00:00+00:00'
    >>> send_time(rule, recipient="C1", timezone="America/New_York").isoformat()  # 17:00 there
    '2026-11-24T22:00:00+00:00'
    """
    tz = zone(timezone)
    if isinstance(rule, At):
        instant = rule.when.astimezone(UTC)
    elif isinstance(rule, LocalWindow):
        start = local_instant(rule.day, rule.start, tz)
        end = local_instant(rule.day, rule.end, tz)
        instant = start + timedelta(seconds=int(_spread(recipient, (end - start).total_seconds())))
    elif isinstance(rule, BestHour):
        hour = rule.hours.get(recipient)
        wall = time(hour) if hour is not None else rule.fallback
        instant = local_instant(rule.day, wall, tz)
    else:  # pragma: no cover - the Rule union is closed
        raise ConfigError(f"unknown send-time rule {rule!r}")
    return after_quiet_hours(instant, tz, quiet)


def after_quiet_hours(instant: datetime, tz: ZoneInfo, quiet: QuietHours | None = QuietHours()) -> datetime:
    """``instant``, or the end of the quiet hours it falls in (local time).

    >>> after_quiet_hours(datetime(2026, 11, 24, 1, 0, tzinfo=UTC), zone("Europe/Paris")).isoformat()
    '2026-11-24T07:00:00+00:00'
    """
    if quiet is None:
        return instant.astimezone(UTC)
    local = instant.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return instant.astimezone(UTC)
    day = local.date()
    if local.time().replace(tzinfo=None) >= quiet.end:
        day += timedelta(days=1)
    return local_instant(day, quiet.end, tz)


class Recipient(Protocol):
    """What planning needs of a customer (:class:`mailer.Customer` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Planned:
    """One recipient's plan: when (UTC), or why not (``dropped``)."""

    recipient: Recipient
    not_before: datetime
    dropped: str | None = None
    deferred: str | None = None


def plan(
    recipients: Iterable[Recipient],
    rule: Rule,
    *,
    quiet: QuietHours | None = QuietHours(),
    message_class: str = "promotional",
    caps: caps_.Caps | None = caps_.Caps(),
    history: Callable[[str], Sequence[caps_.Sent]] | None = None,
    volume: Callable[[str], str] | None = None,
    on_cap: Literal["defer", "drop"] = "defer",
) -> Iterator[Planned]:
    """Plan each recipient (streamed). With ``history`` (recipient id → what
    they were sent), the caps are checked at the planned time: a capped
    recipient is deferred to when the cap allows (then past quiet hours) or
    dropped, per ``on_cap``, and the reason is kept.

    >>> from types import SimpleNamespace as R
    >>> rule = At(datetime(2026, 11, 24, 10, tzinfo=UTC))
    >>> sent = {"C2": [caps_.Sent(rule.when.timestamp() - 3600, "promotional")]}
    >>> for p in plan([R(id="C1", timezone="UTC"), R(id="C2", timezone="UTC")], rule,
    ...               history=lambda r: sent.get(r, [])):
    ...     print(p.recipient.id, p.not_before.isoformat(), p.deferred)
    C1 2026-11-24T10:00:00+00:00 None
    C2 2026-11-25T09:00:00+00:00 frequency cap: at most 1 in 1 day
    """
    caps_.check_class(message_class)
    for recipient in recipients:
        when = send_time(rule, recipient=recipient.id, timezone=recipient.timezone, quiet=quiet)
        if caps is None or history is None:
            yield Planned(recipient, when)
            continue
        verdict = caps_.check(
            history(recipient.id),
            now=when.timestamp(),
            message_class=message_class,
            volume=volume(recipient.id) if volume else "everything",
            caps=caps,
        )
        if verdict.allowed:
            yield Planned(recipient, when)
        elif on_cap == "defer" and verdict.retry_at is not None:
            later = datetime.fromtimestamp(verdict.retry_at, UTC)
            yield Planned(recipient, after_quiet_hours(later, zone(recipient.timezone), quiet), deferred=verdict.reason)
        else:
            yield Planned(recipient, when, dropped=verdict.reason)
