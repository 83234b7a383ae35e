"""Progress bars: on a terminal only, never in CI or a pipe; rows counted without parsing."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from mailer.progress import count_rows, counted, enabled
from tests.conftest import FIXTURES


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only_and_never_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MAILER_NO_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not enabled()
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert enabled()
    monkeypatch.setenv("CI", "true")
    assert not enabled()


def test_a_bar_on_a_terminal_shows_count_rate_and_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MAILER_NO_PROGRESS", raising=False)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(counted(range(5), "queueing", total=5)) == [0, 1, 2, 3, 4]
    assert "queueing" in terminal.getvalue() and "5/5" in terminal.getvalue()


def test_off_a_terminal_items_pass_through_and_nothing_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    assert list(counted(iter("abc"), "rendering")) == ["a", "b", "c"]
    assert pipe.getvalue() == ""


def test_rows_are_counted_without_the_csv_header(tmp_path: Path) -> None:
    lines = (FIXTURES / "customers.csv").read_text(encoding="utf-8").splitlines()
    assert count_rows(FIXTURES / "customers.csv") == len(lines) - 1
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"id": 1}\n{"id": 2}')  # no final line break
    assert count_rows(jsonl) == 2
    assert count_rows(tmp_path / "missing.csv") is None
