"""Time zones for whole arrays: UTC instants to local clock times and back.

Learning happens in each recipient's local time and sending in UTC, across
daylight-saving changes.  :class:`Zones` keeps, per IANA zone, the exact
instants at which its UTC offset changes (found with :mod:`zoneinfo`, so the
rules are the tz database's), and converts millions of instants with one
``searchsorted``.  :func:`local_instants` goes the other way for a handful of
local clock times on one date, flagging times a spring-forward day skips.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from mailer.errors import LocaleError

_STEP = 12 * 3600  # no zone changes its offset twice within twelve hours
_SHIFT = 40  # bits for the instant inside a combined (zone, instant) key
_BIAS = 1 << 39
_YEAR = 365 * 86400


@lru_cache(maxsize=None)
def zone(name: str) -> ZoneInfo:
    """The :class:`~zoneinfo.ZoneInfo` for an IANA name, or :class:`LocaleError`.

    >>> zone("Asia/Kolkata").key
    'Asia/Kolkata'
    >>> zone("Mars/Olympus_Mons")
    Traceback (most recent call last):
    ...
    mailer.errors.LocaleError: unknown time zone 'Mars/Olympus_Mons'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise LocaleError(f"unknown time zone {name!r}") from None


def _offset(tz: ZoneInfo, t: int) -> int:
    off = datetime.fromtimestamp(t, tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def transitions(name: str, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Offset changes of zone ``name`` between epoch seconds ``lo`` and ``hi``.

    Returns ``(instants, offsets)``: ``offsets[0]`` applies from before ``lo``
    and ``offsets[j]`` from ``instants[j]`` on (``instants[0]`` is ``lo``).

    >>> t, off = transitions("Europe/London", 1704067200, 1735689600)  # 2024
    >>> [datetime.fromtimestamp(x, timezone.utc).isoformat() for x in t[1:]], off.tolist()
    (['2024-03-31T01:00:00+00:00', '2024-10-27T01:00:00+00:00'], [0, 3600, 0])
    """
    tz = zone(name)
    grid = list(range(lo, hi, _STEP)) + [hi]
    offsets = [_offset(tz, t) for t in grid]
    instants = [lo]
    values = [offsets[0]]
    for i in range(1, len(grid)):
        if offsets[i] == offsets[i - 1]:
            continue
        a, b = grid[i - 1], grid[i]  # offset(a) != offset(b): bisect to the second
        while b - a > 1:
            mid = (a + b) // 2
            if _offset(tz, mid) == offsets[i - 1]:
                a = mid
            else:
                b = mid
        if b < hi:  # a change exactly at ``hi`` belongs to the next span
            instants.append(b)
            values.append(offsets[i])
    return np.array(instants, dtype=np.int64), np.array(values, dtype=np.int64)


@lru_cache(maxsize=4096)
def _year_transitions(name: str, year: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`transitions` over one 365-day block of epoch time (cached)."""
    return transitions(name, year * _YEAR, (year + 1) * _YEAR)


class Zones:
    """A growing set of named zones; converts UTC instants to local time in bulk.

    Zones are referred to by a small integer code (their order of first use).

    >>> zones = Zones()
    >>> codes = np.array([zones.code("Europe/London"), zones.code("Asia/Kolkata")] * 2)
    >>> utc = np.array([1711845000, 1711845000, 1711848600, 1711848600])  # 00:30Z, 01:30Z on 2024-03-31
    >>> (zones.to_local(utc, codes) % 86400 // 60).tolist()  # local minute of day
    [30, 360, 150, 420]
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        self._lo = 0
        self._hi = -1
        self._keys = np.zeros(0, dtype=np.int64)
        self._offsets = np.zeros(0, dtype=np.int64)

    def code(self, name: str) -> int:
        """The code of zone ``name``, adding it (and validating it) if new."""
        found = self._codes.get(name)
        if found is None:
            zone(name)
            found = self._codes[name] = len(self.names)
            self.names.append(name)
            self._hi = -1  # rebuild the table on next use
        return found

    def _cover(self, lo: int, hi: int) -> None:
        if self._hi >= self._lo and lo >= self._lo and hi <= self._hi:
            return
        if self._hi >= self._lo:
            lo, hi = min(lo, self._lo), max(hi, self._hi)
        # Whole years, plus a margin, so that successive chunks rarely rebuild.
        first, last = lo // _YEAR - 1, hi // _YEAR + 1
        keys, offsets = [], []
        for code, name in enumerate(self.names):
            pieces = [_year_transitions(name, year) for year in range(first, last + 1)]
            instants = np.concatenate([p[0] for p in pieces])
            values = np.concatenate([p[1] for p in pieces])
            instants[0] = -_BIAS
            keys.append((np.int64(code) << _SHIFT) + instants + _BIAS)
            offsets.append(values)
        self._keys = np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)
        self._offsets = np.concatenate(offsets) if offsets else np.zeros(0, dtype=np.int64)
        self._lo, self._hi = first * _YEAR, (last + 1) * _YEAR - 1

    def offsets(self, utc: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """UTC offsets in seconds of instants ``utc`` (epoch seconds) in zones ``codes``."""
        utc = np.asarray(utc, dtype=np.int64)
        if utc.size == 0 or not self.names:
            return np.zeros(utc.shape, dtype=np.int64)
        self._cover(int(utc.min()), int(utc.max()))
        keys = (np.asarray(codes, dtype=np.int64) << _SHIFT) + utc + _BIAS
        return self._offsets[np.searchsorted(self._keys, keys, side="right") - 1]

    def to_local(self, utc: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Local wall-clock time of each instant, as epoch-style seconds."""
        utc = np.asarray(utc, dtype=np.int64)
        return utc + self.offsets(utc, codes)


def local_instants(name: str, day: date, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds of local clock times ``minutes`` (minute of day) on ``day`` in zone ``name``.

    Returns ``(utc, exists)``.  A time skipped by a spring-forward change does
    not exist (``exists`` is False; ``utc`` is then where the clock lands).  A
    time repeated by a fall-back change maps to its first occurrence.

    >>> utc, exists = local_instants("Europe/London", date(2024, 3, 31), np.array([30, 90, 150]))
    >>> [datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M") for t in utc], exists.tolist()
    (['00:30', '01:30', '01:30'], [True, False, True])
    """
    tz = zone(name)
    utc = np.zeros(len(minutes), dtype=np.int64)
    exists = np.zeros(len(minutes), dtype=bool)
    midnight = datetime(day.year, day.month, day.day)
    for i, minute in enumerate(np.asarray(minutes).tolist()):
        wall = midnight + timedelta(minutes=int(minute))
        instant = wall.replace(tzinfo=tz).astimezone(timezone.utc)
        utc[i] = int(instant.timestamp())
        exists[i] = instant.astimezone(tz).replace(tzinfo=None) == wall
    return utc, exists
