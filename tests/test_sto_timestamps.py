"""mailer.sto.timestamps: ISO 8601 instants parsed from bytes, checked against datetime."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.sto.timestamps import EMPTY, INVALID, OK, days_from_civil, parse_instants


def parse(*texts: str) -> tuple[list[int], list[int]]:
    data = ",".join(texts).encode()
    starts, stops, pos = [], [], 0
    for t in texts:
        starts.append(pos)
        stops.append(pos + len(t.encode()))
        pos += len(t.encode()) + 1
    seconds, status = parse_instants(np.frombuffer(data, np.uint8), np.array(starts), np.array(stops))
    return seconds.tolist(), status.tolist()


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets)


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(["T", " "]), st.sampled_from(["z", "long", "compact", "hours"]), st.booleans(), st.booleans())
def test_parses_like_datetime(moment: datetime, sep: str, form: str, seconds: bool, fraction: bool) -> None:
    moment = moment.replace(microsecond=moment.microsecond if fraction else 0)
    if not seconds:
        moment = moment.replace(second=0, microsecond=0)
    offset = moment.utcoffset()
    assert offset is not None
    if form == "hours":
        moment = moment.replace(tzinfo=timezone(timedelta(hours=int(offset.total_seconds() // 3600))))
    if form == "z":
        moment = moment.astimezone(timezone.utc)
    text = moment.isoformat(sep=sep, timespec="microseconds" if fraction else ("seconds" if seconds else "minutes"))
    if form == "z":
        text = text.replace("+00:00", "Z")
    elif form == "compact":
        text = text[:-3] + text[-2:]
    elif form == "hours":
        text = text[:-3]
    got, status = parse(text)
    assert status == [OK], text
    assert got == [int(moment.timestamp() // 1)], text


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-31T01:30:00",  # no offset: ambiguous
        "2024-02-30T10:00:00Z",  # no such day
        "2023-02-29T10:00:00Z",  # not a leap year
        "2024-13-01T10:00:00Z",
        "2024-03-31T24:00:00Z",
        "2024-03-31T10:60:00Z",
        "2024-03-31T10:00:61Z",
        "2024-03-31T10:00:00+25:00",
        "2024-03-31X10:00:00Z",
        "2024-03-31T10:00:00.Z",
        "2024-03-31T10:00:00.12a4Z",
        "31/03/2024 10:00",
        "yesterday",
    ],
)
def test_rejects(text: str) -> None:
    assert parse(text)[1] == [INVALID]


def test_empty_field_is_empty_not_invalid() -> None:
    assert parse("", "2024-02-29T23:59:59-00:30")[1] == [EMPTY, OK]


def test_leap_day_and_offsets() -> None:
    seconds, _ = parse("2024-02-29T23:59:59-00:30", "2024-03-01T00:29:59Z")
    assert seconds[0] == seconds[1]


def test_days_from_civil_matches_ordinal() -> None:
    years = np.arange(1900, 2101)
    expected = [(datetime(int(y), 3, 1) - datetime(1970, 1, 1)).days for y in years]
    assert days_from_civil(years, np.full_like(years, 3), np.ones_like(years)).tolist() == expected
