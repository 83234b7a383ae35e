from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.inputs.customers import (
    Customer,
    iter_customers,
    parse_birthday,
    parse_email,
    parse_locale,
    parse_name,
    parse_timezone,
    read_field,
)
from mailer.errors import CustomerError
from mailer.report import Report

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TODAY = date(2026, 11, 23)
COLUMNS = ["id", "email", "name", "locale", "currency", "timezone", "gender", "birthday"]


def customer(ident: str = "c1", **fields: str) -> dict[str, str]:
    row = {
        "id": ident,
        "email": f"{ident}@example.com",
        "name": "Ann Example",
        "locale": "en_GB",
        "currency": "GBP",
        "timezone": "Europe/London",
        "gender": "",
        "birthday": "",
    }
    row.update(fields)
    return row


def write_csv(path: Path, rows: Sequence[Mapping[str, str]], *, delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(path: Path) -> tuple[list[Customer], list[CustomerError]]:
    report = Report()
    customers = list(iter_customers(path, report=report, today=TODAY))
    problems = [p for p in report.problems if isinstance(p, CustomerError)]
    assert len(problems) == report.count
    return customers, problems


# --------------------------------------------------------------------------- the fixture


def test_fixture_loads_thirty_and_reports_two() -> None:
    customers, problems = load(FIXTURES / "customers.csv")
    assert (len(customers), len(problems)) == (30, 2)
    assert [(p.line, p.item, p.field) for p in problems] == [(32, "C0031", "email"), (33, "C0032", "timezone")]


def test_fixture_normalises_locales_and_keeps_non_ascii_names() -> None:
    customers = {c.id: c for c in load(FIXTURES / "customers.csv")[0]}
    assert customers["C0008"].name == "Søren Kierkegaard"
    assert customers["C0010"].name == "Björk Lindqvist"
    assert customers["C0024"] == Customer(
        "C0024", "hanako.tanaka@example.jp", "田中 花子", "ja_JP", "JPY", "Asia/Tokyo", "female", date(1991, 3, 3)
    )
    assert customers["C0002"].locale == "en_GB"  # written en-GB
    assert {c.locale for c in customers.values()} >= {
        "en_GB", "en_US", "da_DK", "sv_SE", "sv_FI", "de_DE", "de_AT", "fr_FR", "fr_CH", "ja_JP",
    }  # fmt: skip
    assert {c.currency for c in customers.values()} == {"GBP", "USD", "EUR", "DKK", "SEK", "CHF", "JPY"}


# --------------------------------------------------------------------------- formats


def test_semicolon_csv_with_bom(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.txt", [customer(name="Zoë")], delimiter=";")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [c.name for c in load(path)[0]] == ["Zoë"]


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "customers"
    row = {**customer(), "id": 42, "birthday": "1990-01-31", "gender": None, "score": [1, 2]}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    [c] = load(path)[0]
    assert (c.id, c.birthday, c.gender) == ("42", date(1990, 1, 31), None)


def test_missing_column_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,email,name\nc1,a@example.com,Ann\n")
    with pytest.raises(CustomerError, match="lacks 'locale', 'currency', 'timezone'") as info:
        list(iter_customers(path))
    assert info.value.path == str(path)


def test_xml_is_not_a_customer_file(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_text("<rss><channel/></rss>")
    with pytest.raises(CustomerError, match="expected CSV or JSON Lines"):
        list(iter_customers(path))


def test_unreadable_file_raises_customer_error(tmp_path: Path) -> None:
    with pytest.raises(CustomerError, match="cannot read"):
        list(iter_customers(tmp_path / "missing.csv"))


# --------------------------------------------------------------------------- validation


BAD_ROWS = [
    ("email", {"email": "not-an-email"}, "invalid email address"),
    ("email", {"email": ""}, "missing email"),
    ("email", {"email": "a@b@example.com"}, "invalid email address"),
    ("locale", {"locale": "xx_YY"}, "unknown locale"),
    ("locale", {"locale": "../../etc"}, "unknown locale"),
    ("currency", {"currency": "EURO"}, "unknown currency"),
    ("currency", {"currency": ""}, "missing currency"),
    ("timezone", {"timezone": "../../etc/passwd"}, "unknown time zone"),
    ("timezone", {"timezone": "/etc/passwd"}, "unknown time zone"),
    ("timezone", {"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
    ("timezone", {"timezone": "localtime"}, "unknown time zone"),
    ("birthday", {"birthday": "1990-02-30"}, "not a date"),
    ("birthday", {"birthday": "31/01/1990"}, "not a date"),
    ("birthday", {"birthday": "2030-01-01"}, "not in the past"),
    ("birthday", {"birthday": "2026-11-23"}, "not in the past"),
    ("name", {"name": "Eve\r\nBcc: everyone@example.com"}, "control character (U+000D)"),
    ("name", {"name": "Eve\nX"}, "control character (U+000A)"),
    ("name", {"name": "Eve\x00"}, "control character (U+0000)"),
    ("name", {"name": "Eve\u2028Bcc"}, "control character (U+2028)"),
    ("name", {"name": "Eve\x85Bcc"}, "control character (U+0085)"),
    ("name", {"name": "E" * 300}, "longer than 256"),
    ("gender", {"gender": "f\ne"}, "control character"),
    ("id", {"id": " "}, "missing id"),
]


@pytest.mark.parametrize(("field", "change", "reason"), BAD_ROWS, ids=[repr(b[1]) for b in BAD_ROWS])
def test_bad_row_is_reported_and_skipped(tmp_path: Path, field: str, change: dict[str, str], reason: str) -> None:
    path = write_csv(tmp_path / "c.csv", [customer("c1"), customer("c2", **change), customer("c3")])
    customers, problems = load(path)
    assert [c.id for c in customers] == ["c1", "c3"]
    [problem] = problems
    assert (problem.path, problem.line, problem.field) == (str(path), 3, field)
    assert problem.item == (change.get("id", "c2").strip() or None)
    assert reason in problem.reason


def test_duplicate_id_reports_the_second(tmp_path: Path) -> None:
    rows = [customer("c1"), customer("c2"), customer("c1", email="other@example.com")]
    customers, problems = load(write_csv(tmp_path / "c.csv", rows))
    assert [(c.id, c.email) for c in customers] == [("c1", "c1@example.com"), ("c2", "c2@example.com")]
    [problem] = problems
    assert (problem.line, problem.item, problem.field) == (4, "c1", "id")
    assert problem.reason == "duplicate customer id (first on line 2)"


def test_values_are_normalised(tmp_path: Path) -> None:
    row = customer(
        email="Søren@Example.DK",
        name="  Søren  ",
        locale="da-dk",
        currency="dkk",
        timezone="europe/copenhagen",
        gender=" Male ",
        birthday="1983-05-05",
    )
    [c] = load(write_csv(tmp_path / "c.csv", [row]))[0]
    assert c == Customer("c1", "Søren@example.dk", "Søren", "da_DK", "DKK", "Europe/Copenhagen", "Male", date(1983, 5, 5))


def test_empty_name_is_allowed(tmp_path: Path) -> None:
    [c] = load(write_csv(tmp_path / "c.csv", [customer(name="")]))[0]
    assert c.name == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("de-DE", "de_DE"), ("de_DE", "de_DE"), ("de", "de"), ("sv_FI", "sv_FI"), ("zh-Hant-TW", "zh_Hant_TW")],
)
def test_parse_locale(text: str, expected: str) -> None:
    assert parse_locale(text) == expected


def test_parse_timezone_never_touches_the_file_system() -> None:
    for junk in ("../../etc/passwd", "/etc/passwd", "Europe/../../../etc/passwd", "", "\x00", "UTC\n"):
        if junk.strip() == "UTC":
            assert parse_timezone(junk) == "UTC"
            continue
        with pytest.raises(ValueError, match="unknown time zone"):
            parse_timezone(junk)


def test_parse_email_rejects_display_names_and_newlines() -> None:
    for junk in ("Ann <ann@example.com>", "ann@example.com\r\nBcc: x@example.com", "ann@localhost"):
        with pytest.raises(ValueError, match="invalid email address"):
            parse_email(junk)


def test_parse_name_keeps_joiners_used_in_real_names() -> None:
    # ZWNJ is part of Persian spelling; only control characters are refused.
    assert parse_name("می\u200cخواهم") == "می\u200cخواهم"


def test_parse_birthday_accepts_leap_day() -> None:
    assert parse_birthday("1992-02-29", today=TODAY) == date(1992, 2, 29)


def test_read_field_names_the_field() -> None:
    with pytest.raises(CustomerError) as info:
        read_field({"birthday": "x"}, "birthday", date.fromisoformat)
    assert info.value.field == "birthday"


# --------------------------------------------------------------------------- robustness


@given(name=st.text(max_size=60), email=st.text(max_size=40), tz=st.text(max_size=30), locale=st.text(max_size=12))
@settings(max_examples=200, deadline=None)
def test_any_text_loads_or_is_reported(name: str, email: str, tz: str, locale: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write_csv(Path(directory) / "c.csv", [customer(name=name, email=email, timezone=tz, locale=locale)])
        report = Report()
        customers = list(iter_customers(path, report=report, today=TODAY))
        assert len(customers) + report.count == 1
        for c in customers:
            assert c.name == name.strip()
            assert not any(ch in c.name for ch in "\r\n\x00")
        assert all(isinstance(p, CustomerError) for p in report.problems)


@given(data=st.binary(max_size=300))
@settings(max_examples=150, deadline=None)
def test_arbitrary_bytes_raise_only_customer_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c"
        path.write_bytes(data)
        try:
            list(iter_customers(path, report=Report(), today=TODAY))
        except CustomerError:
            pass


def test_first_lines_finds_every_repeat_among_many_ids() -> None:
    from mailer.inputs.customers import FirstLines

    seen = FirstLines(capacity=4)  # grows many times
    ids = [f"C{i:07d}" for i in range(50_000)]
    assert all(seen.add(key, line) is None for line, key in enumerate(ids, start=2))
    assert len(seen) == 50_000
    assert [seen.add(ids[i], 10**6) for i in (0, 4_999, 49_999)] == [2, 5_001, 50_001]
    assert seen.add("C-new", 7) is None and seen.add("C-new", 8) == 7
    assert seen.add("\udcff", 9) is None  # any string, even one that is not valid UTF-8


# --------------------------------------------------------------------------- rows that lose nothing


def test_two_megabyte_value_in_a_csv_row_is_reported_and_skipped(tmp_path: Path) -> None:
    rows = [customer("c1"), customer("c2", name="x" * 2_000_000), customer("c3")]
    customers, problems = load(write_csv(tmp_path / "c.csv", rows))
    assert [c.id for c in customers] == ["c1", "c3"]
    assert [(p.path, p.line, p.reason) for p in problems] == [
        (str(tmp_path / "c.csv"), 3, "line longer than 1048576 characters")
    ]


def test_two_megabyte_value_over_many_lines_is_one_problem(tmp_path: Path) -> None:
    value = ("y" * 999 + "\n") * 2_000
    rows = [customer("c1"), customer("c2", name=value), customer("c3"), customer("c4", email="nobody")]
    customers, problems = load(write_csv(tmp_path / "c.csv", rows))
    assert [c.id for c in customers] == ["c1", "c3"]
    assert [(p.line, p.item) for p in problems] == [(3, None), (2_005, "c4")]  # c2 ends on line 2,003


def test_value_past_the_field_limit_is_one_problem(tmp_path: Path) -> None:
    rows = [customer("c1"), customer("c2", name=("z" * 99 + "\n") * 2_000), customer("c3")]
    customers, problems = load(write_csv(tmp_path / "c.csv", rows))
    assert [c.id for c in customers] == ["c1", "c3"]
    assert [(p.line, "field larger than field limit" in p.reason) for p in problems] == [(3, True)]


def test_address_differing_only_in_case_is_a_duplicate(tmp_path: Path) -> None:
    rows = [customer("c1", email="x6@example.com"), customer("c2", email="X6@EXAMPLE.com"), customer("c3")]
    customers, problems = load(write_csv(tmp_path / "c.csv", rows))
    assert [c.id for c in customers] == ["c1", "c3"]
    assert [(p.line, p.item, p.field, p.reason) for p in problems] == [
        (3, "c2", "email", "duplicate address of the customer on line 2")
    ]


def test_row_skipped_for_its_address_does_not_claim_its_id(tmp_path: Path) -> None:
    rows = [customer("c1", email="a@example.com"), customer("c2", email="A@example.com"), customer("c2")]
    customers, problems = load(write_csv(tmp_path / "c.csv", rows))
    assert [c.id for c in customers] == ["c1", "c2"]
    assert [p.field for p in problems] == ["email"]


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_blank_name_reads_as_empty(tmp_path: Path, name: str) -> None:
    [c] = load(write_csv(tmp_path / "c.csv", [customer(name=name)]))[0]
    assert c.name == ""


@pytest.mark.parametrize("name", ["", "  ", "\u200b", "-", " . "])
def test_a_name_without_letters_gives_no_first_name(name: str) -> None:
    from mailer.content.compose import first_name

    assert first_name(name, "en") == ""


def test_a_volume_column_sets_each_customers_dial_and_a_bad_one_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,email,name,locale,currency,timezone,volume\n"
                    "c1,a@example.com,Ann,en_GB,GBP,Europe/London,Weekly\n"
                    "c2,b@example.com,Bo,en_GB,GBP,Europe/London,\n"
                    "c3,c@example.com,Cy,en_GB,GBP,Europe/London,never\n")  # fmt: skip
    report = Report()
    people = list(iter_customers(path, report=report))
    assert [(c.id, c.volume) for c in people] == [("c1", "weekly"), ("c2", None)]
    (problem,) = report.problems
    assert problem.line == 4 and problem.field == "volume" and "unknown volume 'never'" in str(problem)
