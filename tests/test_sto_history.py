"""mailer.sto.history: reading histories from files, rows and arrays."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.errors import ConfigError, CustomerError
from mailer.report import Report
from mailer.sto.history import History, history_from_rows, read_history
from tests.support.history_reference import read_history_reference
from tests.support.hostile_history import hostile_history

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sto_history.csv"
HEADER = "customer_id,timezone,sent_at,opened_at,clicked_at,machine_open\n"


def read(text: str, **kwargs: object) -> tuple[History, Report]:
    return read_bytes(text.encode(), **kwargs)


def read_bytes(data: bytes, **kwargs: object) -> tuple[History, Report]:
    report = Report()
    history = read_history(io.BytesIO(data), report=report, **kwargs)  # type: ignore[arg-type]
    return history, report


def columns(h: History) -> dict[str, list[object]]:
    return {
        "ids": h.customer_ids[h.customer].tolist(),
        "sent": h.sent_minute.tolist(),
        "open": h.open_minute.tolist(),
        "open_delay": [None if np.isnan(x) else float(x) for x in h.open_delay],
        "click": h.click_minute.tolist(),
        "machine": h.machine_open.tolist(),
    }


def test_reads_local_minutes_and_delays_across_a_dst_change() -> None:
    h, report = read(
        HEADER
        + "a,Europe/London,2024-03-31T00:30:00Z,2024-03-31T01:30:00Z,2024-03-31T01:31:00+00:00,false\n"
        + "b,America/New_York,2024-11-03T05:00:00Z,2024-11-03T06:30:00Z,,TRUE\n"
    )
    assert not report
    assert columns(h) == {
        "ids": ["a", "b"],
        "sent": [30, 60],  # 00:30 GMT; 01:00 EDT
        "open": [150, 90],  # 02:30 BST (clocks jumped); 01:30 EST (clocks fell back)
        "open_delay": [60.0, 90.0],
        "click": [151, -1],
        "machine": [0, 1],
    }


def test_extra_columns_any_order_crlf_bom_and_quotes() -> None:
    text = (
        "\ufeffcampaign,clicked_at,customer_id,opened_at,sent_at,timezone\r\n"
        '"spring, sale",,c1,2024-05-01T09:10:00Z,2024-05-01T09:00:00Z,Asia/Kolkata\r\n'
        "plain,,c2,,2024-05-01T09:00:00Z,Asia/Kolkata\r\n"
    )
    h, report = read(text)
    assert not report
    assert columns(h)["ids"] == ["c1", "c2"]
    assert h.sent_minute.tolist() == [14 * 60 + 30, 14 * 60 + 30]
    assert h.open_delay[0] == 10.0


def test_bad_rows_are_reported_with_line_and_field_and_skipped() -> None:
    h, report = read(
        HEADER
        + "ok,UTC,2024-05-01T09:00:00Z,,,\n"
        + "naive,UTC,2024-05-01 09:00,,,\n"
        + "zone,Mars/Base,2024-05-01T09:00:00Z,,,\n"
        + "flag,UTC,2024-05-01T09:00:00Z,2024-05-01T09:01:00Z,,maybe\n"
        + "early,UTC,2024-05-01T09:00:00Z,2024-05-01T08:00:00Z,,\n"
        + "nothing,UTC,,,,\n"
        + ",UTC,2024-05-01T09:00:00Z,,,\n"
        + "short,UTC,2024-05-01T09:00:00Z\n"
        + "ok2,UTC,2024-05-01T10:00:00Z,,,\n"
    )
    assert h.customer_ids.tolist() == ["ok", "ok2"]
    found = sorted((p.line, p.field) for p in report.problems)  # type: ignore[attr-defined]
    assert found == [
        (3, "sent_at"),
        (4, "timezone"),
        (5, "machine_open"),
        (6, "opened_at"),
        (7, "sent_at"),
        (8, "customer_id"),
        (9, None),
    ]
    assert all(isinstance(p, CustomerError) and p.path is None for p in report.problems)
    assert "found '2024-05-01 09:00'" in str(next(p for p in report.problems if p.line == 3))  # type: ignore[attr-defined]


def test_long_and_short_ids_are_told_apart() -> None:
    ids = ["customer-000000001@example.com", "customer-000000002@example.com", "x", "é-client-ünïcode-id", "C0000001"]
    text = HEADER + "".join(f"{i},UTC,2024-05-01T0{k % 10}:00:00Z,,,\n" for k, i in enumerate(ids * 3))
    for block in (64, 1 << 20):
        h = read_history(io.BytesIO(text.encode()), block_bytes=block)
        assert sorted(h.customer_ids.tolist()) == sorted(ids) == h.customer_ids.tolist()
        assert h.customer_ids[h.customer].tolist() == ids * 3


def test_missing_column_names_the_file() -> None:
    with pytest.raises(CustomerError, match="missing column.*opened_at") as err:
        read_history(io.BytesIO(b"customer_id,sent_at,clicked_at\n"))
    assert err.value.line == 1


def test_timezone_column_or_default_is_required() -> None:
    with pytest.raises(ConfigError, match="default time zone"):
        read_history(io.BytesIO(b"customer_id,sent_at,opened_at,clicked_at\n"))
    with pytest.raises(ConfigError, match="Nowhere/Land"):
        read_history(io.BytesIO(b"customer_id,sent_at,opened_at,clicked_at\n"), default_timezone="Nowhere/Land")


def test_default_timezone_fills_empty_cells_and_missing_column() -> None:
    h, report = read(HEADER + "a,,2024-07-01T12:00:00Z,,,\n", default_timezone="Asia/Tokyo")
    assert not report and h.sent_minute.tolist() == [21 * 60]
    h, report = read(HEADER + "a,,2024-07-01T12:00:00Z,,,\n")
    assert report.count == 1 and report.problems[0].field == "timezone"  # type: ignore[attr-defined]
    h2 = read_history(io.BytesIO(b"customer_id,sent_at,opened_at,clicked_at\nx,2024-07-01T12:00:00Z,,\n"), default_timezone="UTC")
    assert h2.sent_minute.tolist() == [720]


def test_unknown_send_time_keeps_the_engagement() -> None:
    h, _ = read(HEADER + "a,Europe/Paris,,2024-07-01T18:05:00+02:00,,\n")
    assert (h.sent_minute.tolist(), h.open_minute.tolist(), np.isnan(h.open_delay).tolist()) == ([-1], [18 * 60 + 5], [True])


@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 20])
def test_block_size_does_not_change_the_result(block_bytes: int) -> None:
    whole = read_history(FIXTURE, default_timezone="Europe/London")
    pieces = read_history(FIXTURE, default_timezone="Europe/London", block_bytes=block_bytes)
    for name in ("customer", "sent_minute", "open_minute", "click_minute", "machine_open"):
        assert getattr(pieces, name).tolist() == getattr(whole, name).tolist()
    assert np.array(pieces.zones)[pieces.zone].tolist() == np.array(whole.zones)[whole.zone].tolist()
    assert np.array_equal(pieces.open_delay, whole.open_delay, equal_nan=True)
    assert pieces.customer_ids.tolist() == whole.customer_ids.tolist()


def test_quoted_block_boundaries() -> None:
    rows = "".join(f'c{i},UTC,2024-01-01T0{i % 10}:00:00Z,,,"note, with a\nline break"\n' for i in range(40))
    text = "customer_id,timezone,sent_at,opened_at,clicked_at,note\n" + rows
    for block in (50, 333, 1 << 16):
        report = Report()
        h = read_history(io.BytesIO(text.encode()), report=report, block_bytes=block)
        assert not report and len(h) == 40 and h.sent_minute.tolist() == [(i % 10) * 60 for i in range(40)]


def test_rows_and_arrays_agree_with_the_file() -> None:
    import csv

    with open(FIXTURE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    from_rows = history_from_rows(rows, default_timezone="Europe/London")
    from_file = read_history(FIXTURE, default_timezone="Europe/London")
    assert from_rows.customer_ids.tolist() == from_file.customer_ids.tolist()
    for name in ("customer", "sent_minute", "open_minute", "click_minute", "machine_open"):
        assert getattr(from_rows, name).tolist() == getattr(from_file, name).tolist(), name


def test_rows_report_bad_rows_by_number() -> None:
    report = Report()
    h = history_from_rows(
        [
            {"customer_id": "a", "timezone": "UTC", "sent_at": "2024-01-01T00:00:00Z"},
            {"customer_id": "b", "timezone": "UTC", "sent_at": "2024-01-01T00:00:00"},
        ],
        report=report,
    )
    assert len(h) == 1 and report.problems[0].line == 2 and report.problems[0].field == "sent_at"  # type: ignore[attr-defined]


def test_from_arrays_rejects_a_bad_row_by_number() -> None:
    with pytest.raises(CustomerError, match="opened_at is before sent_at") as err:
        History.from_arrays(
            ["a", "b"],
            np.array(["2024-01-01T10:00", "2024-01-01T10:00"], "datetime64[s]"),
            np.array(["2024-01-01T11:00", "2024-01-01T09:00"], "datetime64[s]"),
            default_timezone="UTC",
        )
    assert err.value.line == 2


ENGAGEMENTS = FIXTURE.parent / "engagements.csv"


def assert_same_reading(path_or_data: Path | bytes, **kwargs: object) -> None:
    """The columnar reader and the row-at-a-time reference agree: rows, values and every reported problem."""

    def both(read):  # type: ignore[no-untyped-def]
        report = Report()
        source = io.BytesIO(path_or_data) if isinstance(path_or_data, bytes) else path_or_data
        try:
            return read(source, report=report, **kwargs), report
        except (CustomerError, ConfigError) as err:
            return (type(err), str(err)), None

    (got, got_report), (want, want_report) = both(read_history), both(read_history_reference)
    if isinstance(want, tuple) or isinstance(got, tuple):
        assert got == want
        return
    assert got.customer_ids.dtype == want.customer_ids.dtype
    assert got.customer_ids.tolist() == want.customer_ids.tolist()
    for name in ("customer", "sent_minute", "open_minute", "click_minute", "machine_open", "open_delay", "click_delay"):
        g, w = getattr(got, name), getattr(want, name)
        assert g.dtype == w.dtype and np.array_equal(g, w, equal_nan=True), name
    assert np.array(got.zones + ("",))[got.zone].tolist() == np.array(want.zones + ("",))[want.zone].tolist()
    assert sorted(got.zones) == sorted(want.zones)
    assert got_report is not None and want_report is not None
    assert [(p.line, p.field, str(p)) for p in got_report.problems] == [  # type: ignore[attr-defined]
        (p.line, p.field, str(p)) for p in want_report.problems  # type: ignore[attr-defined]
    ]
    assert got_report.count == want_report.count


@pytest.mark.parametrize("path", [FIXTURE, ENGAGEMENTS], ids=["sto_history", "engagements"])
@pytest.mark.parametrize("default_timezone", [None, "Europe/London"])
@pytest.mark.parametrize("block_bytes", [64, 1000, 32 << 20])
def test_fixtures_read_like_the_reference(path: Path, default_timezone: str | None, block_bytes: int) -> None:
    assert_same_reading(path, default_timezone=default_timezone, block_bytes=block_bytes)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("hazards", ["all", "no quotes", "no quotes, lone CR"])
@pytest.mark.parametrize("block_bytes", [64, 700, 1 << 20])
def test_hostile_files_read_like_the_reference(seed: int, hazards: str, block_bytes: int) -> None:
    data = hostile_history(seed, rows=250, quotes=hazards == "all", lone_cr=hazards != "no quotes")
    assert_same_reading(data, default_timezone="Europe/Paris" if seed % 2 else None, block_bytes=block_bytes)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([97, 4096, 1 << 20]), st.booleans())
def test_any_hostile_file_reads_like_the_reference(seed: int, block_bytes: int, quotes: bool) -> None:
    assert_same_reading(hostile_history(seed, rows=120, quotes=quotes), default_timezone="UTC", block_bytes=block_bytes)


def test_a_full_report_keeps_the_first_problems_and_counts_the_rest() -> None:
    data = hostile_history(7, rows=400, quotes=False)
    got, want = Report(limit=5), Report(limit=5)
    read_history(io.BytesIO(data), report=got, block_bytes=900)
    read_history_reference(io.BytesIO(data), report=want, block_bytes=900)
    assert [str(p) for p in got.problems] == [str(p) for p in want.problems] and len(got.problems) == 5
    assert got.count == want.count > 5


@pytest.mark.parametrize(
    ("path", "default_timezone", "zones"),
    [
        (FIXTURE, None, ("Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata", "America/Los_Angeles",
                         "Europe/London", "Europe/Berlin", "America/New_York", "Asia/Tokyo")),
        (FIXTURE, "Europe/London", ("Europe/London", "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata",
                                    "America/Los_Angeles", "Europe/Berlin", "America/New_York", "Asia/Tokyo")),
        (ENGAGEMENTS, None, ("America/Los_Angeles", "Europe/Zurich", "America/Chicago", "Europe/London",
                             "Europe/Dublin", "Europe/Paris", "Europe/Stockholm", "Europe/Berlin", "America/New_York",
                             "Asia/Tokyo", "Europe/Copenhagen", "Europe/Helsinki", "Europe/Vienna")),
    ],
)
def test_zone_codes_keep_their_numbering(path: Path, default_timezone: str | None, zones: tuple[str, ...]) -> None:
    assert read_history(path, default_timezone=default_timezone, report=Report()).zones == zones


def test_a_line_longer_than_a_parsing_block_is_read() -> None:
    note = "n" * (3 << 20)
    h, report = read(
        "customer_id,timezone,sent_at,opened_at,clicked_at,note\n"
        f"a,UTC,2024-05-01T09:00:00Z,,,{note}\nb,UTC,2024-05-01T10:00:00Z,,\nc,UTC,2024-05-01T11:00:00Z,,,x\n"
    )
    assert h.customer_ids[h.customer].tolist() == ["a", "c"] and h.sent_minute.tolist() == [540, 660]
    assert [(p.line, str(p.reason)) for p in report.problems] == [(3, "expected 6 fields, found 5")]  # type: ignore[attr-defined]


def test_a_misshaped_line_that_is_not_utf8_is_named() -> None:
    h, report = read_bytes(HEADER.encode() + b"\xff\xfe,UTC\n" + b"a,UTC,2024-05-01T09:00:00Z,,,\n")
    assert len(h) == 1 and [(p.line, p.field) for p in report.problems] == [(2, None)]  # type: ignore[attr-defined]
