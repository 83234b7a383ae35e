"""Frequency caps: whether one more message may go to a customer now.

Caps are rolling windows counted over everything a customer was sent, across
all campaigns (the store's send log, plus messages in flight). They are pure
arithmetic over plain data, so the planner checks them when it plans and the
store checks them again, inside the claim transaction, so that two campaigns
racing for one recipient under a 1-a-day cap send exactly one message.

Message classes, from most to least important:

* ``transactional`` (receipts, password resets) is exempt from every cap;
* ``lifecycle`` (welcome, win-back) counts only other lifecycle messages, so
  promotional volume never crowds it out — it outranks promotional mail;
* ``promotional`` counts every non-exempt message.

Each customer may also turn a volume dial (not an on/off switch):
``everything``, ``weekly`` (at most one non-exempt message a week),
``monthly`` (one in 30 days) or ``only-important`` (no promotional mail).

>>> caps = Caps()
>>> history = [Sent(at=0.0, message_class="promotional")]
>>> check(history, now=3600.0, message_class="promotional", caps=caps)
Verdict(allowed=False, reason='frequency cap: at most 1 in 1 day', retry_at=86400.0)
>>> check(history, now=3600.0, message_class="lifecycle", caps=caps).allowed
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from mailer.errors import ConfigError

MessageClass = Literal["transactional", "lifecycle", "promotional"]
Volume = Literal["everything", "weekly", "monthly", "only-important"]

MESSAGE_CLASSES: tuple[str, ...] = get_args(MessageClass)
VOLUMES: tuple[str, ...] = get_args(Volume)

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY

CLASS_RANK = {"transactional": 0, "lifecycle": 1, "promotional": 2}
"""Claim order: a lower rank is claimed first when messages compete."""


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` messages in any ``seconds``-long rolling window.

    >>> Window(DAY, 1)
    Window(seconds=86400.0, limit=1)
    """

    seconds: float
    limit: int

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.limit < 1:
            raise ConfigError(f"a cap window needs seconds > 0 and limit >= 1, got {self.seconds}, {self.limit}")

    def describe(self) -> str:
        """``'at most 3 in 7 days'``.

        >>> Window(WEEK, 3).describe()
        'at most 3 in 7 days'
        """
        if self.seconds % DAY == 0:
            days = int(self.seconds // DAY)
            span = f"{days} day" + ("s" if days != 1 else "")
        elif self.seconds % HOUR == 0:
            hours = int(self.seconds // HOUR)
            span = f"{hours} hour" + ("s" if hours != 1 else "")
        else:
            span = f"{self.seconds:g} seconds"
        return f"at most {self.limit} in {span}"


@dataclass(frozen=True, slots=True)
class Caps:
    """The cap policy: rolling windows and the exempt classes.

    >>> Caps(windows=(Window(DAY, 2),)).windows
    (Window(seconds=86400.0, limit=2),)
    """

    windows: tuple[Window, ...] = (Window(DAY, 1), Window(WEEK, 3))
    exempt: frozenset[str] = field(default_factory=lambda: frozenset({"transactional"}))

    @property
    def horizon(self) -> float:
        """How far back history matters (the longest window, volume dials included)."""
        return max([30 * DAY, *(w.seconds for w in self.windows)])


@dataclass(frozen=True, slots=True)
class Sent:
    """One message a customer was sent (or that is in flight to them)."""

    at: float
    message_class: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed``, or why not and when it could be (``retry_at`` None: never)."""

    allowed: bool
    reason: str | None = None
    retry_at: float | None = None


ALLOWED = Verdict(True)

_VOLUME_WINDOWS = {"weekly": Window(WEEK, 1), "monthly": Window(30 * DAY, 1)}


def check_class(message_class: str) -> str:
    """``message_class`` if known, else :class:`ConfigError`.

    >>> check_class("lifecycle")
    'lifecycle'
    """
    if message_class not in CLASS_RANK:
        raise ConfigError(f"unknown message class {message_class!r}; known: {', '.join(MESSAGE_CLASSES)}")
    return message_class


def check_volume(volume: str) -> str:
    """``volume`` if known, else :class:`ConfigError`.

    >>> check_volume("weekly")
    'weekly'
    """
    if volume not in VOLUMES:
        raise ConfigError(f"unknown volume preference {volume!r}; known: {', '.join(VOLUMES)}")
    return volume


def check(
    history: Iterable[Sent],
    *,
    now: float,
    message_class: str,
    volume: str = "everything",
    caps: Caps = Caps(),
) -> Verdict:
    """May one more ``message_class`` message go out at ``now``?

    ``history`` is what the customer was sent (in any order; entries older
    than the longest window are ignored). An entry stamped later than ``now``
    counts too: another worker's clock may run ahead, or its lease may have
    been taken while this claim waited for the customer's lock. When a window
    is full, ``retry_at`` is the moment its oldest counted message leaves it.

    >>> week = [Sent(at=d * DAY, message_class="promotional") for d in range(3)]
    >>> check(week, now=3 * DAY, message_class="promotional")
    Verdict(allowed=False, reason='frequency cap: at most 3 in 7 days', retry_at=604800.0)
    >>> check([], now=0.0, message_class="promotional", volume="only-important").reason
    'the customer asked for only important mail'
    >>> check(week, now=3 * DAY, message_class="transactional").allowed
    True
    >>> check([Sent(at=5.0, message_class="promotional")], now=0.0, message_class="promotional").retry_at
    86405.0
    """
    check_class(message_class)
    check_volume(volume)
    if message_class in caps.exempt:
        return ALLOWED
    if volume == "only-important" and message_class == "promotional":
        return Verdict(False, "the customer asked for only important mail", None)
    windows = list(caps.windows)
    if volume in _VOLUME_WINDOWS:
        windows.append(_VOLUME_WINDOWS[volume])
    counted = sorted(
        sent.at
        for sent in history
        if sent.message_class not in caps.exempt
        and (message_class == "promotional" or sent.message_class == message_class)
        and sent.at > now - caps.horizon
    )
    worst: Verdict = ALLOWED
    for window in windows:
        inside = [at for at in counted if at > now - window.seconds]
        if len(inside) >= window.limit:
            retry_at = inside[len(inside) - window.limit] + window.seconds
            if worst.allowed or (worst.retry_at is not None and retry_at > worst.retry_at):
                worst = Verdict(False, f"frequency cap: {window.describe()}", retry_at)
    return worst
