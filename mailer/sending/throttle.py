"""Token buckets: how long to wait before the next message, at a steady rate.

Pure arithmetic over a bucket's saved level; the store keeps the level (so a
rate holds across restarts and is shared by every worker on the same
transport) and calls :func:`reserve` inside a write transaction.

A reservation always succeeds: the level may go below zero, and the caller
waits until its token would have arrived. Reserving in order like this means
the sends are spaced by at least ``1 / rate`` once the burst is spent.

>>> level, wait = reserve(None, None, now=0.0, rate=10.0, burst=1.0)
>>> level, wait
(0.0, 0.0)
>>> reserve(level, 0.0, now=0.0, rate=10.0, burst=1.0)
(-1.0, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` messages per second, with bursts of up to ``burst``.

    >>> RateLimit(50.0).burst
    1.0
    """

    rate: float
    burst: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ConfigError(f"a rate limit needs rate > 0 and burst >= 1, got {self.rate}, {self.burst}")


def reserve(
    level: float | None, updated_at: float | None, *, now: float, rate: float, burst: float
) -> tuple[float, float]:
    """Take one token: the bucket's new level and how long to wait for it.

    A new bucket (``level`` None) starts full. Time running backwards (a clock
    step) adds nothing.

    >>> reserve(-1.0, 0.0, now=0.05, rate=10.0, burst=1.0)
    (-1.5, 0.15)
    >>> reserve(0.0, 0.0, now=100.0, rate=10.0, burst=3.0)
    (2.0, 0.0)
    """
    level = _refilled(level, updated_at, now=now, rate=rate, burst=burst) - 1.0
    wait = 0.0 if level >= 0 else -level / rate
    return round(level, 9), round(wait, 9)


def hold(level: float | None, updated_at: float | None, *, now: float, until: float, rate: float, burst: float) -> float:
    """The bucket's level at ``now`` such that its next token comes no sooner
    than ``until``: a worker whose last send went out late (a busy machine, a
    slow commit) pushes the next sender back, across a restart too.

    >>> hold(0.0, 0.0, now=1.0, until=1.1, rate=10.0, burst=1.0)   # full, held for 0.1 s
    0.0
    >>> reserve(0.0, 1.0, now=1.05, rate=10.0, burst=1.0)[1]         # so a token waits
    0.05
    >>> hold(-2.0, 1.0, now=1.0, until=1.1, rate=10.0, burst=1.0)   # already later: kept
    -2.0
    """
    level = _refilled(level, updated_at, now=now, rate=rate, burst=burst)
    return round(min(level, 1.0 - (until - now) * rate), 9) + 0.0  # never -0.0


def _refilled(level: float | None, updated_at: float | None, *, now: float, rate: float, burst: float) -> float:
    """The bucket's level at ``now``: a new one starts full; time running
    backwards (a clock step) adds nothing."""
    if level is None or updated_at is None:
        return burst
    if now > updated_at:
        return min(burst, level + (now - updated_at) * rate)
    return level
