"""Text encodings of CSV and JSON Lines inputs: which one a file is read in,
and what to tell the user when its rows do not decode.

A byte-order mark decides first (UTF-8, UTF-16, UTF-32): it is unambiguous.
Without one, the encoding the user declared is used, else UTF-8. Bytes that
do not decode become that row's problem (see :func:`mailer.inputs.feeds.record_text`);
when many rows of a file fail, :func:`decoding_note` says so once, with the
likely encoding, instead of leaving a person to infer it from a thousand
per-row errors.
"""

from __future__ import annotations

import codecs
from typing import IO

__all__ = [
    "DEFAULT_ENCODING",
    "bom_encoding",
    "decoding_note",
    "parse_encoding",
]

#: What a file without a byte-order mark or a declared encoding is read as
#: (``-sig``: a UTF-8 byte-order mark, if present, is dropped).
DEFAULT_ENCODING = "utf-8-sig"
#: Rows :func:`decoding_note` looks at, from the top of the file.
SAMPLE_ROWS = 1000

# UTF-32 LE before UTF-16 LE: its mark begins with UTF-16 LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start of ``head`` names, if any.

    >>> bom_encoding(b"\\xef\\xbb\\xbfid,email"), bom_encoding("id".encode("utf-16"))
    ('utf-8-sig', 'utf-16')
    >>> bom_encoding(b"id,email") is None
    True
    """
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return encoding
    return None


def parse_encoding(name: str) -> str:
    """A declared encoding, checked and in Python's spelling; :class:`ValueError` if unknown.

    UTF-8 is read so that a byte-order mark, if any, is dropped.

    >>> parse_encoding("Latin-1"), parse_encoding("UTF8"), parse_encoding("windows-1252")
    ('iso8859-1', 'utf-8-sig', 'cp1252')
    >>> parse_encoding("latin-9000")
    Traceback (most recent call last):
    ...
    ValueError: unknown encoding 'latin-9000' (e.g. utf-8, latin-1, cp1252)
    """
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError):
        raise ValueError(f"unknown encoding {name.strip()[:40]!r} (e.g. utf-8, latin-1, cp1252)") from None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib and the like
        raise ValueError(f"{name.strip()[:40]!r} is not a text encoding")
    return "utf-8-sig" if info.name == "utf-8" else info.name


def decoding_note(f: IO[bytes], encoding: str) -> str | None:
    """Why many rows of ``f`` will not read, with a hint; ``None`` when they read.

    Looks at the first :data:`SAMPLE_ROWS` non-blank lines, from where ``f``
    stands: "many" is more than one in ten. Only encodings in which a line
    ends with the byte ``\\n`` are checked (not UTF-16 or UTF-32).

    >>> import io
    >>> rows = "1,Zoë\\n2,José\\n3,Ann\\n".encode("latin-1")
    >>> decoding_note(io.BytesIO(rows), "utf-8-sig")
    '2 of the first 3 rows are not valid UTF-8: the file may be Latin-1: give --encoding latin-1'
    >>> decoding_note(io.BytesIO(rows), "latin-1") is None
    True
    """
    base = codecs.lookup(encoding).name
    utf8 = base in ("utf-8", "utf-8-sig")
    if not utf8 and "\n".encode(base, errors="ignore") != b"\n":
        return None
    decode = codecs.getdecoder(encoding)
    sampled = failing = 0
    windows = False
    for line in f:
        if not line.strip():
            continue
        sampled += 1
        try:
            decode(line)
        except UnicodeDecodeError:
            failing += 1
            windows = windows or _windows_1252(line)
        if sampled >= SAMPLE_ROWS:
            break
    if not failing or failing * 10 <= sampled:
        return None
    found = f"{failing} of the first {sampled} rows are not valid {'UTF-8' if utf8 else base}"
    if not utf8:
        return f"{found}: give the file's encoding"
    if windows:
        return f"{found}: the file may be Windows-1252: give --encoding cp1252"
    return f"{found}: the file may be Latin-1: give --encoding latin-1"


def _windows_1252(line: bytes) -> bool:
    """Whether a line that is not UTF-8 holds bytes Windows-1252 prints and Latin-1 does not."""
    try:
        line.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return any(0x80 <= b <= 0x9F for b in line)
