"""``mailer programme --entrants`` files (read by :func:`mailer.cli.programme.read_ids`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.cli.programme import read_ids


@pytest.mark.parametrize("header", ["id", "customer_id", "ID", '"customer_id"'])
def test_a_one_column_header_is_not_a_customer(tmp_path: Path, header: str) -> None:
    path = tmp_path / "entrants.csv"
    path.write_text(f"{header}\nC0000001\nC0000002\n", encoding="utf-8")
    assert read_ids(path) == ["C0000001", "C0000002"]


def test_a_list_without_header_keeps_its_first_id(tmp_path: Path) -> None:
    path = tmp_path / "entrants.txt"
    path.write_text("C0000001\nC0000002\n", encoding="utf-8")
    assert read_ids(path) == ["C0000001", "C0000002"]
