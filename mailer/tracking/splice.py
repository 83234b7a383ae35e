"""Edits to a text, and the same edits to its quoted-printable encoding.

The composer renders the HTML part straight to quoted-printable (see
:mod:`mailer.content.mime`); encoding 30 KB anew costs more than the rest of
tracking a message. Quoted-printable state resets at every line break, soft
or hard, so :func:`splice` re-encodes only the encoded lines an edit touches
and keeps every other byte as it was.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mailer.content.mime import encoded_body, quoted_printable_piece

__all__ = ["Edit", "apply_edits", "splice"]

Edit = tuple[int, int, str]
"""``(start, end, replacement)``: the text from ``start`` to ``end`` becomes ``replacement``."""

_CONTINUATIONS = (b"=8", b"=9", b"=A", b"=B")
"""How b2a_qp writes a UTF-8 continuation byte (0x80–0xBF)."""


def apply_edits(text: str, edits: list[Edit], offset: int = 0) -> str:
    """``text`` (which starts at ``offset`` of its document) with ``edits``
    (``(start, end, replacement)`` in document offsets, in order, not
    overlapping) made.

    >>> apply_edits("<a href=x>", [(8, 9, "y"), (10, 10, "!")])
    '<a href=y>!'
    """
    if not edits:
        return text
    pieces = []
    last = 0
    for start, end, replacement in edits:
        pieces.append(text[last : start - offset])
        pieces.append(replacement)
        last = end - offset
    pieces.append(text[last:])
    return "".join(pieces)


def splice(encoded: bytes, text: str, edits: list[Edit]) -> bytes:
    """``encoded`` (a body as :func:`mailer.content.mime.encoded_body` makes
    it: CRLF lines, ending in the CRLF of the MIME delimiter) with ``edits``
    made to ``text``, its decoded content without that last CRLF; only the
    encoded lines holding an edit are encoded anew. A body that b2a_qp did
    not write is encoded anew as a whole.

    >>> text = "Grüße " + "x" * 80 + " <a href=x>"
    >>> body = encoded_body(quoted_printable_piece(text))
    >>> body.split(b"\\r\\n")[1]
    b'xxxxxxxxxxxxxxxxxxxxx <a href=3Dx>'
    >>> spliced = splice(body, text, [(95, 96, "y")]).split(b"\\r\\n")
    >>> spliced[0] == body.split(b"\\r\\n")[0], spliced[1]
    (True, b'xxxxxxxxxxxxxxxxxxxxx <a href=3Dy>')
    """
    if not edits:
        return encoded
    body = encoded[:-2]
    zeros = _silent_bytes(body)
    if len(body) - len(zeros) != len(text):  # not b2a_qp's output: encode it all anew
        return encoded_body(quoted_printable_piece(apply_edits(text, edits)))
    # The byte where the character at each edit's start and end is encoded:
    # the n-th byte that is not silent, found by counting the silent ones.
    points = np.array([point for edit in edits for point in edit[:2]], dtype=np.int64)
    offsets = points + np.searchsorted(zeros - np.arange(len(zeros)), points, side="right")
    regions = _regions(edits, offsets.tolist(), body)
    bounds = np.array([bound for region in regions for bound in region[:2]], dtype=np.int64)
    characters = (bounds - np.searchsorted(zeros, bounds, side="left")).tolist()
    pieces: list[bytes] = []
    done = 0  # bytes before this are written
    for number, (start, end, inside) in enumerate(regions):
        first, last = characters[2 * number], characters[2 * number + 1]
        pieces.append(encoded[done:start])
        piece = quoted_printable_piece(apply_edits(text[first:last], inside, first))
        # The last line ends in the delimiter's CRLF: no soft break there.
        pieces.append(encoded_body(piece) if end == len(body) else piece.encode("ascii"))
        done = end + 2 if end == len(body) else end
    pieces.append(encoded[done:])
    return b"".join(pieces)


_HEX_89AB = np.zeros(256, dtype=bool)
_HEX_89AB[list(b"89AB")] = True


def _silent_bytes(body: bytes) -> npt.NDArray[np.int64]:
    """The offsets, in order, of an encoded body's bytes that decode to no
    character of their own: the hex digits of every ``=XX`` escape, the ``=``
    of an escaped UTF-8 continuation byte (``=80``–``=BF``), and soft breaks
    (``=`` CRLF). Every other byte starts one decoded character: b2a_qp
    escapes every byte of 0x80 and above.

    Found with numpy among the ``=`` signs, so that only small arrays are
    made (a Python loop over the lines, or an array per byte, costs more
    than all the rest of a rewrite).
    """
    data = np.frombuffer(body, dtype=np.uint8)
    size = data.size
    equals = np.flatnonzero(data == ord("="))
    following = data[np.minimum(equals + 1, size - 1)] if size else data
    soft = equals[following == ord("\r")]
    escapes = equals[(following != ord("\r")) & (equals + 2 < size)]
    continuations = escapes[_HEX_89AB[data[escapes + 1]]]
    silent = np.concatenate((escapes + 1, escapes + 2, continuations, soft, soft + 1, soft + 2))
    silent.sort()
    return silent[silent < size]


def _line_start(body: bytes, at: int) -> int:
    """Where the encoded line holding byte ``at`` starts."""
    found = body.rfind(b"\r\n", 0, at)
    return 0 if found < 0 else found + 2


def _regions(
    edits: list[Edit], offsets: list[int], body: bytes
) -> list[tuple[int, int, list[Edit]]]:
    """Edits gathered by the whole encoded lines that hold them: ``(start,
    end, edits)`` byte ranges of ``body`` (``end`` after the line's CRLF, or
    the end of ``body``), in order; ``offsets`` are the bytes of each edit's
    start and end.

    A soft break can fall inside a character's UTF-8 bytes; a range never
    starts or ends there (a line that starts with a continuation byte goes
    with the line before it).
    """
    size = len(body)
    regions: list[tuple[int, int, list[Edit]]] = []
    for number, edit in enumerate(edits):
        first, after = offsets[2 * number], offsets[2 * number + 1]
        start = _line_start(body, first)
        while start and body[start : start + 2] in _CONTINUATIONS:
            start = _line_start(body, start - 2)
        found = body.find(b"\r\n", min(after, size))
        end = size if found < 0 else found + 2
        while end < size and body[end : end + 2] in _CONTINUATIONS:
            found = body.find(b"\r\n", end)
            end = size if found < 0 else found + 2
        if regions and (start < regions[-1][1] or regions[-1][1] == size):
            previous = regions[-1]
            regions[-1] = (min(previous[0], start), max(previous[1], end), [*previous[2], edit])
        else:
            regions.append((start, end, [edit]))
    return regions
