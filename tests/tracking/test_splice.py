"""Splicing edits into a quoted-printable body: the same text as editing it decoded."""

from __future__ import annotations

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.content.mime import encoded_body, quoted_printable_piece
from mailer.tracking.splice import Edit, apply_edits, splice

PIECES = list("ab <>=.\n\t é€😀") + ["From ", "x" * 69, "x" * 72, "x" * 75, "€" * 30, "  \n"]
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
replacements = st.lists(st.sampled_from(PIECES + ["https://t.shop.test/c/EQJrMQcBAHNob3A"]), max_size=4).map("".join)


def encode(text: str) -> tuple[bytes, str]:
    """A body as the composer renders it, and its decoded content (CRLF line breaks)."""
    return encoded_body(quoted_printable_piece(text)), text.replace("\n", "\r\n")


def decode(body: bytes) -> str:
    return binascii.a2b_qp(body).decode("utf-8")[:-2]


@st.composite
def edited(draw: st.DrawFn) -> tuple[str, list[Edit]]:
    text = draw(texts).replace("\n", "\r\n")
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
    # Edits never split a CRLF (the HTML rewriter's never do: they sit in tags).
    cuts = [c for c in cuts if not (0 < c < len(text) and text[c - 1] == "\r" and text[c] == "\n")]
    edits = [(start, end, draw(replacements)) for start, end in zip(cuts[::2], cuts[1::2])]
    return text.replace("\r\n", "\n"), edits


@settings(max_examples=400)
@given(edited())
def test_splicing_equals_editing_the_decoded_text(case: tuple[str, list[Edit]]) -> None:
    original, edits = case
    body, text = encode(original)
    assert decode(body) == text
    result = splice(body, text, edits)
    assert decode(result).replace("\r\n", "\n") == apply_edits(text, edits).replace("\r\n", "\n")
    assert result.endswith(b"\r\n")
    for line in result[:-2].split(b"\r\n"):
        assert len(line) <= 76 and line.isascii()
        assert not line.startswith((b".", b"From ")) and not line.endswith((b" ", b"\t"))


def test_lines_before_the_first_edit_and_after_the_last_are_kept() -> None:
    original = "\n".join(f"line {i} " + "é" * 30 for i in range(40))
    body, text = encode(original)
    at = text.index("line 20")
    result = splice(body, text, [(at, at + 4, "LINE")])
    before, after = body.split(b"\r\n"), result.split(b"\r\n")
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert 1 <= len(changed) <= 2
    assert decode(result) == text.replace("line 20", "LINE 20")


def test_no_edits_is_the_same_body() -> None:
    body, text = encode("<p>Hi</p>")
    assert splice(body, text, []) is body


def test_an_insertion_at_the_very_end_goes_before_the_delimiters_line_break() -> None:
    body, text = encode("<p>Hi</p>")
    result = splice(body, text, [(len(text), len(text), "<img>")])
    assert result == b"<p>Hi</p><img>\r\n"
