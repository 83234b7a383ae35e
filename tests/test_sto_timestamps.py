"""mailer.sto.timestamps: ISO 8601 instants parsed a column at a time, checked against datetime."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.sto.timestamps import EMPTY, INVALID, OK, parse_instants, real_instants
from tests.support.history_reference import instant


def parse(*texts: str) -> tuple[list[int], list[int]]:
    seconds, status = parse_instants(list(texts))
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
        "2024-03-31T10:00:00+05:60",
        "2024-03-31X10:00:00Z",
        "2024-03-31T10:00:00.Z",
        "2024-03-31T10:00:00.12a4Z",
        "2024-03-31T10:00:00.1234567890Z",
        "2024-03-31T10Z",  # Arrow's own reading takes these three
        "2024-03-31T1000Z",
        "2024-03-31",
        "２０２４-03-31T10:00:00Z",
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


def test_lower_case_letters_and_fractions_read_as_whole_seconds() -> None:
    seconds, status = parse("2024-05-01t09:00:00z", "2024-05-01T09:00:00.999999999+00:00", "2024-05-01T09:00.5Z")
    assert status == [OK] * 3 and len(set(seconds)) == 1


def test_one_bad_day_does_not_spoil_the_column() -> None:
    seconds, status = parse("2024-05-01T09:00:00Z", "2024-02-30T09:00:00Z", "2024-05-01T09:00:00.5Z", "2024-05-01T09:00Z")
    assert status == [OK, INVALID, OK, OK] and seconds[0] == seconds[2] == seconds[3]


def test_reads_binary_and_string_arrays() -> None:
    texts = ["2024-05-01T09:00:00Z", ""]
    for values in (pa.array(texts), pa.array([t.encode() for t in texts], pa.binary())):
        assert parse_instants(values)[1].tolist() == [OK, EMPTY]


def test_real_instants_checks_the_calendar() -> None:
    texts = ["2000-02-29T00:00Z", "1900-02-29T00:00Z", "2024-04-31T00:00Z", "2024-04-30T23:59:59-23:59", "2024-04-30T00:00:60Z"]
    assert real_instants(pa.array(texts)).tolist() == [True, False, False, True, False]


mutations = st.text(alphabet="0123456789-:.+ TtZz,é", max_size=4)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1900, 2100), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
            st.one_of(st.none(), st.integers(0, 61)), st.sampled_from(["Z", "z", "+05:30", "-0800", "+01", "+24:00", "-00:60", ""]),
            st.sampled_from(["T", "t", " "]), mutations, st.integers(0, 30),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_parses_like_the_reference_alone_and_in_a_column(parts: list[tuple]) -> None:  # type: ignore[type-arg]
    texts = []
    for year, month, day, hour, minute, second, zone, sep, noise, at in parts:
        text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}" + (f":{second:02d}" if second is not None else "") + zone
        texts.append((text[:at] + noise + text[at:]).encode())
    want = [instant(t) if t else None for t in texts]
    want_status = [OK if w is not None else EMPTY if not t else INVALID for t, w in zip(texts, want)]
    seconds, status = parse_instants(texts)  # a column with a bad time takes the slower way
    assert status.tolist() == want_status
    assert [s if w is not None else None for s, w in zip(seconds.tolist(), want)] == want
    for text, w, st in zip(texts, want, want_status):  # a good time alone takes the fast one
        alone = parse_instants([text])
        assert (alone[1].tolist(), alone[0].tolist() if w is not None else [None]) == ([st], [w]), text
