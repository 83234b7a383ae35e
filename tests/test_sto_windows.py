"""mailer.sto.windows: local time spans."""

from __future__ import annotations

import numpy as np
import pytest

from mailer.errors import ConfigError
from mailer.sto.windows import TimeRange, allowed_minutes


@pytest.mark.parametrize(
    "text, inside, outside",
    [
        ("08:00-20:00", [480, 1199], [479, 1200]),
        ("21:00-08:00", [1260, 0, 479], [480, 1259]),
        ("00:00-24:00", [0, 1439], []),
        ("09:30-09:45", [570, 584], [569, 585]),
    ],
)
def test_contains(text: str, inside: list[int], outside: list[int]) -> None:
    span = TimeRange.parse(text)
    assert span.contains(np.array(inside, dtype=int)).all()
    assert not span.contains(np.array(outside, dtype=int)).any()
    assert str(span) == text


@pytest.mark.parametrize("text", ["", "9-17", "08:00-08:00", "24:00-08:00", "08:60-09:00", "25:00-26:00", "08:00-24:30"])
def test_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        TimeRange.parse(text)


def test_window_minus_quiet_hours() -> None:
    minutes = np.arange(1440)
    allowed = allowed_minutes(minutes, "07:00-23:00", "22:00-09:00")
    assert allowed.sum() == 13 * 60 and allowed[9 * 60] and not allowed[22 * 60]
