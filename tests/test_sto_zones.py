"""mailer.sto.zones: array conversions agree with zoneinfo, across DST."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.errors import LocaleError
from mailer.sto.zones import Zones, local_instants, transitions, zone

NAMES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "UTC",
]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 4_102_444_800)), min_size=1, max_size=40))
def test_to_local_matches_zoneinfo(rows: list[tuple[str, int]]) -> None:
    zones = Zones()
    codes = np.array([zones.code(name) for name, _ in rows])
    utc = np.array([t for _, t in rows])
    got = zones.to_local(utc, codes)
    for (name, t), local in zip(rows, got.tolist()):
        wall = datetime.fromtimestamp(t, ZoneInfo(name)).replace(tzinfo=timezone.utc)
        assert local == int(wall.timestamp()), (name, t)


def test_transitions_to_the_second() -> None:
    start = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
    end = int(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp())
    instants, offsets = transitions("America/New_York", start, end)
    got = [datetime.fromtimestamp(int(t), timezone.utc).isoformat() for t in instants[1:]]
    assert got == ["2024-03-10T07:00:00+00:00", "2024-11-03T06:00:00+00:00"]
    assert offsets.tolist() == [-18000, -14400, -18000]


def test_unknown_zone() -> None:
    with pytest.raises(LocaleError, match="Not/AZone"):
        zone("Not/AZone")


def clock(name: str, day: date, hhmm: list[str]) -> tuple[list[str], list[bool]]:
    minutes = np.array([int(t[:2]) * 60 + int(t[3:]) for t in hhmm])
    utc, exists = local_instants(name, day, minutes)
    return [datetime.fromtimestamp(int(t), timezone.utc).strftime("%m-%d %H:%M") for t in utc], exists.tolist()


@pytest.mark.parametrize(
    "name, day, times, expected, exists",
    [
        # Spring forward: 01:00-01:59 does not exist in London.
        ("Europe/London", date(2024, 3, 31), ["00:30", "01:30", "02:30", "10:00"],
         ["03-31 00:30", "03-31 01:30", "03-31 01:30", "03-31 09:00"], [True, False, True, True]),
        # Fall back: 01:30 happens twice; the first (BST) is used.
        ("Europe/London", date(2024, 10, 27), ["00:30", "01:30", "02:30", "10:00"],
         ["10-26 23:30", "10-27 00:30", "10-27 02:30", "10-27 10:00"], [True, True, True, True]),
        ("America/New_York", date(2024, 3, 10), ["01:30", "02:30", "03:30", "10:00"],
         ["03-10 06:30", "03-10 07:30", "03-10 07:30", "03-10 14:00"], [True, False, True, True]),
        ("America/New_York", date(2024, 11, 3), ["00:30", "01:30", "10:00"],
         ["11-03 04:30", "11-03 05:30", "11-03 15:00"], [True, True, True]),
        # Sydney leaves DST on 7 April (03:00 → 02:00) and enters it on 6 October (02:00 → 03:00).
        ("Australia/Sydney", date(2024, 4, 7), ["01:30", "02:30", "10:00"],
         ["04-06 14:30", "04-06 15:30", "04-07 00:00"], [True, True, True]),
        ("Australia/Sydney", date(2024, 10, 6), ["01:30", "02:30", "10:00"],
         ["10-05 15:30", "10-05 16:30", "10-05 23:00"], [True, False, True]),
        ("Asia/Kolkata", date(2024, 3, 31), ["00:00", "10:00", "23:50"],
         ["03-30 18:30", "03-31 04:30", "03-31 18:20"], [True, True, True]),
    ],
)
def test_local_instants_across_dst(name: str, day: date, times: list[str], expected: list[str], exists: list[bool]) -> None:
    assert clock(name, day, times) == (expected, exists)
