"""Send windows and quiet hours: spans of local clock time.

Both are written ``HH:MM-HH:MM`` in the recipient's local time; a span whose
end is earlier than its start runs past midnight (quiet hours
``21:00-08:00``).  ``24:00`` ends a span at midnight.  Sending is allowed at
a minute inside the window and outside the quiet hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mailer.errors import ConfigError

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class TimeRange:
    """Local minutes ``[start, end)`` of the day, wrapping past midnight if ``end < start``.

    >>> quiet = TimeRange.parse("21:00-08:00")
    >>> quiet, quiet.contains(np.array([20 * 60 + 59, 23 * 60, 7 * 60 + 59, 8 * 60])).tolist()
    (TimeRange('21:00-08:00'), [False, True, True, False])
    >>> TimeRange.parse("9-17")
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: expected a local time span HH:MM-HH:MM, found '9-17'
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < 1440 and 0 < self.end <= 1440) or self.start == self.end:
            raise ConfigError(f"a time span needs distinct times within a day, got {self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """A span from ``HH:MM-HH:MM``."""
        match = _SPAN.match(text)
        if not match:
            raise ConfigError(f"expected a local time span HH:MM-HH:MM, found {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ConfigError(f"not a time of day in {text!r}")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ConfigError(f"empty or ambiguous time span {text!r}")
        return cls(start, end)

    def contains(self, minutes: np.ndarray) -> np.ndarray:
        """Whether each local minute of the day lies in the span."""
        minutes = np.asarray(minutes)
        if self.start < self.end:
            return (minutes >= self.start) & (minutes < self.end)
        return (minutes >= self.start) | (minutes < self.end)

    def __repr__(self) -> str:
        return f"TimeRange({str(self)!r})"

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def allowed_minutes(
    minutes: np.ndarray, window: TimeRange | str | None = None, quiet_hours: TimeRange | str | None = None
) -> np.ndarray:
    """Which local ``minutes`` are inside ``window`` (everywhere if None) and outside ``quiet_hours``.

    >>> allowed_minutes(np.array([420, 480, 1230, 1290]), "08:00-22:00", "21:00-08:00").tolist()
    [False, True, True, False]
    """
    window = TimeRange.parse(window) if isinstance(window, str) else window
    quiet_hours = TimeRange.parse(quiet_hours) if isinstance(quiet_hours, str) else quiet_hours
    allowed = np.ones(np.shape(minutes), dtype=bool)
    if window is not None:
        allowed &= window.contains(minutes)
    if quiet_hours is not None:
        allowed &= ~quiet_hours.contains(minutes)
    return allowed
