from __future__ import annotations

import io
from pathlib import Path

import pytest

from mailer.errors import ConfigError, CustomerError
from mailer.inputs.customers import iter_customers
from mailer.inputs.encodings import SAMPLE_ROWS, decoding_note, parse_encoding
from mailer.inputs.feeds import detect_format
from mailer.report import Report

HEADER = "id,email,name,locale,currency,timezone\n"
NAMES = ["José", "Zoë", "Ann", "Françoise", "Björk"]


def rows(n: int) -> str:
    return "".join(f"c{i},c{i}@example.com,{NAMES[i % len(NAMES)]},fr_FR,EUR,Europe/Paris\n" for i in range(n))


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes((HEADER + text).encode(encoding))
    return path


def test_latin1_customers_say_so_once_at_the_top(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", rows(50), "latin-1")
    report = Report()
    customers = list(iter_customers(path, report=report))
    assert [c.name for c in customers] == ["Ann"] * 10
    first, *per_row = report.problems
    assert isinstance(first, CustomerError) and first.line is None and first.path == str(path)
    assert first.reason == "40 of the first 50 rows are not valid UTF-8: the file may be Latin-1: give --encoding latin-1"
    assert len(per_row) == 40 and all(p.line is not None and p.field == "name" for p in per_row)


def test_latin1_customers_read_whole_with_the_declared_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", rows(5), "latin-1")
    report = Report()
    assert [c.name for c in iter_customers(path, report=report, encoding="latin-1")] == NAMES
    assert report.count == 0


def test_windows_1252_bytes_get_their_own_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "c1,a@example.com,Zoë’s,fr_FR,EUR,Europe/Paris\n", "cp1252")
    report = Report()
    assert list(iter_customers(path, report=report)) == []
    assert report.problems[0].reason.endswith("give --encoding cp1252")


def test_a_few_bad_rows_get_no_file_level_note(tmp_path: Path) -> None:
    text = rows(100).replace("José", "Jose").replace("Françoise", "Francoise").replace("Björk", "Bjork")
    path = write(tmp_path / "c.csv", text, "latin-1")  # 20 of 100 rows keep "Zoë"
    assert decoding_note(io.BytesIO(path.read_bytes()), "utf-8-sig") is not None
    path = write(tmp_path / "c.csv", text.replace("Zoë", "Zoe", 19), "latin-1")
    report = Report()
    assert len(list(iter_customers(path, report=report))) == 99
    assert [p.line for p in report.problems] == [98]  # c96, the 20th "Zoë"


def test_the_sample_is_the_first_thousand_rows() -> None:
    good, bad = b"c1,Ann\n" * SAMPLE_ROWS, "c2,José\n".encode("latin-1") * 10
    assert decoding_note(io.BytesIO(good + bad), "utf-8-sig") is None


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_byte_order_marks_decide_the_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "c.csv"
    data = (HEADER + rows(5)).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    report = Report()
    assert [c.name for c in iter_customers(path, report=report, encoding="latin-1")] == NAMES
    assert report.count == 0


def test_declared_utf16_without_a_mark(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", rows(5), "utf-16-le")
    assert detect_format(path, encoding="utf-16-le").kind == "csv"
    assert [c.name for c in iter_customers(path, encoding="utf-16-le")] == NAMES


def test_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", rows(1), "utf-8")
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        list(iter_customers(path, encoding="klingon"))


def test_latin1_header_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("id,email,name,locale,currency,timezone,prénom\n".encode("latin-1"))
    with pytest.raises(CustomerError, match="--encoding latin-1"):
        list(iter_customers(path))


def test_parse_encoding_refuses_codecs_that_are_not_text() -> None:
    with pytest.raises(ValueError, match="not a text encoding"):
        parse_encoding("base64")
