"""Report field blocks: ``Name: value`` groups separated by blank lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailer.feedback.fields import read_fields


def test_names_are_lower_cased_and_values_trimmed() -> None:
    assert [(f.name, f.value) for f in read_fields("Feedback-Type:  abuse  \n")] == [("feedback-type", "abuse")]


def test_continuation_lines_are_unfolded() -> None:
    assert [f.value for f in read_fields("Diagnostic-Code: smtp; 550\n\tuser\n  unknown\n")] == ["smtp; 550 user unknown"]


def test_blank_lines_number_the_groups() -> None:
    fields = read_fields("A: 1\n\n\nB: 2\nC: 3\n\nD: 4")
    assert [(f.name, f.group) for f in fields] == [("a", 0), ("b", 1), ("c", 1), ("d", 2)]


def test_lines_that_are_not_fields_are_skipped() -> None:
    assert [f.name for f in read_fields("<<< 550 no\nStatus: 5.1.1\n>>> RCPT TO:<a@b>\n")] == ["status"]


def test_a_huge_value_is_capped() -> None:
    value = next(read_fields("X: " + "a " * 10_000 + "\n" + " b\n" * 10_000)).value
    assert len(value) <= 4000


@given(st.text(max_size=2000))
def test_any_text_reads_without_error(text: str) -> None:
    for field in read_fields(text):
        assert field.name == field.name.lower()
