"""Product feeds: a retailer's catalogue, in whatever format it already has, as Products.

Read formats: Google Merchant Center RSS 2.0 and Atom 1.0 (the ``g:``
namespace), Google's tab-separated text, Meta (Facebook) catalog CSV, plain
CSV and JSON Lines. The format and the CSV delimiter are detected from the
content, never from the file name (a ``.csv`` file may be tab-separated).

Feeds are streamed: XML through a pyexpat parser that keeps only the item it
is reading (never a tree), CSV and JSON Lines row by row. Feeds are untrusted:
entity declarations (the "billion laughs" bomb, external entities) are refused
the way ``defusedxml`` refuses them, by expat handlers that raise, and fields
and lines are bounded.

A bad item (missing title, unparseable price, unknown currency, ...) becomes a
:class:`~mailer.errors.FeedError` with ``path``, ``line``, ``item``, ``field``
and a reason; it is added to the caller's :class:`~mailer.report.Report` and
skipped, and the rest of the feed loads. A file that is no feed at all, or
cannot be read, raises :class:`~mailer.errors.FeedError` naming the file.

The row reading (:func:`detect_format`, :func:`iter_records`,
:func:`record_text`) is shared with :mod:`mailer.inputs.customers` and
:mod:`mailer.inputs.history`, which read the same CSV and JSON Lines shapes.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import IO, Literal, NoReturn
from xml.parsers import expat

from babel.numbers import list_currencies

from mailer.errors import ConfigError, FeedError, InputError
from mailer.content.money import Money
from mailer.inputs.encodings import DEFAULT_ENCODING, bom_encoding, decoding_note, parse_encoding
from mailer.inputs.products import Availability, Product
from mailer.report import Report

__all__ = [
    "FeedFormat",
    "FeedKind",
    "Record",
    "detect_format",
    "iter_products",
    "iter_records",
    "no_products_reason",
    "parse_availability",
    "parse_currency",
    "parse_effective_dates",
    "parse_gtin",
    "parse_price",
    "record_text",
]

FeedKind = Literal["rss", "atom", "csv", "jsonl"]
#: One row or item, keys normalised (``g:Price `` → ``price``). Values are text,
#: or a tuple of texts for repeated XML elements and JSON arrays.
Record = Mapping[str, str | tuple[str, ...]]
PathArg = str | os.PathLike[str]

G_NS = "http://base.google.com/ns/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"

#: Longest field accepted in any format (the csv module's own default limit).
MAX_FIELD_CHARS = 131_072
#: Longest line (and CSV row, quoted line breaks and all) accepted in CSV and
#: JSON Lines, and most text kept for one XML item.
MAX_LINE_CHARS = 1 << 20
#: How far past a row's limit the reader looks for the quote that closes its
#: value before it gives up and reads on from the next line (a quote that
#: never closes would otherwise swallow the rest of the file).
MAX_QUOTED_SKIP = 4 * MAX_LINE_CHARS
#: How much of a file :func:`detect_format` reads at most to find the XML root.
_SNIFF_BYTES = 1 << 20
_CHUNK = 1 << 16

_REQUIRED_COLUMNS = ("id", "title", "price", "link")
#: The fields a product is built from; every other column or element is ignored.
_KNOWN_FIELDS = frozenset({
    "id", "title", "description", "link", "price", "sale_price", "sale_price_effective_date",
    "currency", "availability", "brand", "product_type", "google_product_category",
    "item_group_id", "gender", "age_group", "size", "color", "image_link",
    "additional_image_link", "condition", "gtin", "mpn",
    "custom_label_0", "custom_label_1", "custom_label_2", "custom_label_3", "custom_label_4",
})  # fmt: skip
#: Kept in ``Product.extra``: useful for segmenting, not modelled.
_EXTRA_FIELDS = ("condition", "gtin", "mpn", "custom_label_0", "custom_label_1",
                 "custom_label_2", "custom_label_3", "custom_label_4")  # fmt: skip
_CSV_DELIMITERS = "\t,;|"


@dataclass(frozen=True, slots=True)
class FeedFormat:
    """What a file holds, as read from its content.

    ``delimiter`` is set for ``csv`` only; ``encoding`` is the text encoding
    CSV and JSON Lines are read with (XML declares its own).

    >>> FeedFormat("csv", "\\t")
    FeedFormat(kind='csv', delimiter='\\t', encoding='utf-8-sig')
    """

    kind: FeedKind
    delimiter: str | None = None
    encoding: str = "utf-8-sig"


class _Invalid(ValueError):
    """One field of one record is wrong; the caller turns it into a located FeedError."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


# --------------------------------------------------------------------------- detection


def detect_format(
    path: PathArg, *, error: type[InputError] = FeedError, encoding: str | None = None
) -> FeedFormat:
    """Tell RSS, Atom, CSV (and its delimiter) or JSON Lines apart by content.

    The text encoding of CSV and JSON Lines is the one a byte-order mark
    names (UTF-8, UTF-16, UTF-32), else ``encoding`` when given (``latin-1``,
    ``cp1252``, ...), else UTF-8; XML declares its own. Raises ``error`` (a
    :class:`FeedError` unless told otherwise) naming the file when it cannot
    be read or is none of those, :class:`~mailer.errors.ConfigError` for an
    unknown ``encoding``.

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("id\\ttitle\\tprice\\n1\\tMug\\t5.00 GBP\\n")
    >>> detect_format(f.name)
    FeedFormat(kind='csv', delimiter='\\t', encoding='utf-8-sig')
    >>> os.remove(f.name)
    """
    declared = None
    if encoding is not None:
        try:
            declared = parse_encoding(encoding)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    try:
        with open(path, "rb") as f:
            head = f.read(_CHUNK)
            if (bom := bom_encoding(head)) not in (None, DEFAULT_ENCODING):
                assert bom is not None
                text = codecs.getincrementaldecoder(bom)(errors="replace").decode(head)
                return _detect_text(path, text, bom, f, head, error)
            for magic, what in _BINARY_KINDS:
                if head.startswith(magic):
                    raise error(f"not a text file: {what}", path=path)
            if declared is not None and bom is None:
                text = codecs.getincrementaldecoder(declared)(errors="replace").decode(head)
                return _detect_text(path, text, declared, f, head, error, checked=True)
            if b"\0" in head.lstrip().split(b"\n", 1)[0]:
                raise error("not a text file (it contains NUL bytes)", path=path)
            text = head.decode(DEFAULT_ENCODING, errors="surrogateescape")
            return _detect_text(path, text, DEFAULT_ENCODING, f, head, error)
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror or exc}", path=path) from None


_BINARY_KINDS = (
    (b"PK\x03\x04", "a ZIP archive or Excel workbook (export the sheet as CSV, UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (export the sheet as CSV, UTF-8)"),
    (b"\x1f\x8b", "a gzip archive (decompress it first)"),
)


def _detect_text(
    path: PathArg,
    text: str,
    encoding: str,
    f: IO[bytes],
    head: bytes,
    error: type[InputError],
    *,
    checked: bool = False,
) -> FeedFormat:
    stripped = text.lstrip()
    if not stripped:
        raise error("the file is empty", path=path)
    first = stripped[0]
    if first == "<":
        return FeedFormat(_xml_root_kind(path, f, head, error))
    first_line = stripped.split("\n", 1)[0]
    # Bad bytes in a row are that row's problem; in the first line, the file's.
    if not checked and _UNREADABLE.search(first_line):
        raise error(
            "not UTF-8 text; save the file as UTF-8, or give its encoding (e.g. --encoding latin-1)", path=path
        )
    if first == "{":
        return FeedFormat("jsonl", encoding=encoding)
    if first == "[":
        raise error("a JSON array, not JSON Lines (one object per line)", path=path)
    return FeedFormat("csv", _sniff_delimiter(first_line), encoding)


def _sniff_delimiter(header: str) -> str:
    """The delimiter that splits the header line most often (quoted text ignored)."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = [(unquoted.count(d), -i, d) for i, d in enumerate(_CSV_DELIMITERS)]
    best = max(counts)
    return best[2] if best[0] else ","


class _Root(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _xml_root_kind(path: PathArg, f: IO[bytes], head: bytes, error: type[InputError]) -> FeedKind:
    parser = _secure_parser()

    def start(name: str, attrs: dict[str, str]) -> NoReturn:
        raise _Root(name)

    parser.StartElementHandler = start
    data, read = head, len(head)
    try:
        while data:
            parser.Parse(data, False)
            if read >= _SNIFF_BYTES:
                break
            data = f.read(_CHUNK)
            read += len(data)
        parser.Parse(b"", True)
    except _Root as root:
        if root.name == "rss":
            return "rss"
        if root.name in (f"{ATOM_NS} feed", "feed"):
            return "atom"
        local = root.name.rpartition(" ")[2]
        raise error(f"not a product feed: XML whose root element is <{local}>", path=path) from None
    except _Forbidden as exc:
        raise error(str(exc), path=path, line=parser.CurrentLineNumber) from None
    except expat.ExpatError as exc:
        raise error(f"malformed XML: {expat.ErrorString(exc.code)}", path=path, line=exc.lineno) from None
    raise error("not a product feed: no XML root element found", path=path)


class _Forbidden(Exception):
    """The XML tried something a feed never needs and an attacker would (entities)."""


def _secure_parser() -> expat.XMLParserType:
    """An expat parser that refuses entity declarations and external entities.

    The same defence as ``defusedxml`` (which wraps expat the same way), kept
    here so the streaming reader can also ask expat for line numbers.
    """
    parser = expat.ParserCreate(namespace_separator=" ")

    def forbid(*_: object) -> NoReturn:
        raise _Forbidden("entity declarations are not allowed in a feed")

    parser.EntityDeclHandler = forbid
    parser.UnparsedEntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


# --------------------------------------------------------------------------- records


def iter_records(
    path: PathArg,
    *,
    fmt: FeedFormat | None = None,
    required: tuple[str, ...] = (),
    error: type[InputError] = FeedError,
    report: Report | None = None,
    encoding: str | None = None,
) -> Iterator[tuple[int, Record]]:
    """Stream ``(line, record)`` from a CSV or JSON Lines file.

    Header names are normalised (whitespace, BOM and a ``g:`` prefix stripped,
    lower-cased, inner spaces to ``_``); short CSV rows read as empty fields.
    A CSV header lacking a ``required`` column raises ``error``; a row that
    cannot be read at all (a line or row longer than :data:`MAX_LINE_CHARS`,
    a field longer than :data:`MAX_FIELD_CHARS`, bad JSON) is reported as
    ``error`` and skipped. ``encoding`` is as for :func:`detect_format`
    (``fmt``, when given, carries its own); when many rows do not decode, one
    problem naming the file and the likely encoding comes before theirs.

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
    ...     _ = f.write('{"id": "A1", "price": 9.90}\\n\\n{"id": "A2"}\\n')
    >>> list(iter_records(f.name))
    [(1, {'id': 'A1', 'price': '9.90'}), (3, {'id': 'A2'})]
    >>> os.remove(f.name)
    """
    fmt = fmt or detect_format(path, error=error, encoding=encoding)
    if fmt.kind not in ("csv", "jsonl"):
        raise error(f"expected CSV or JSON Lines, found {fmt.kind.upper()}", path=path)
    try:
        if report is not None:
            with open(path, "rb") as raw:
                if fmt.kind == "csv":
                    raw.readline()  # the header decoded, or detect_format said so
                if note := decoding_note(raw, fmt.encoding):
                    report.add(error(note, path=path))
        with open(path, encoding=fmt.encoding, errors="surrogateescape", newline="") as f:
            if fmt.kind == "jsonl":
                yield from _jsonl_records(path, f, error, report)
            else:
                yield from _csv_records(path, f, fmt.delimiter or ",", required, error, report)
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror or exc}", path=path) from None


def _normalise_key(key: str) -> str:
    key = key.strip().lstrip("\ufeff").strip().lower()
    if key.startswith("g:"):
        key = key[2:]
    return re.sub(r"[\s-]+", "_", key.strip())


class _TooLong(Exception):
    """A line or row past :data:`MAX_LINE_CHARS`; it has been read to its end."""


# Where a CSV scan stands: at the start of a field, inside an unquoted one,
# inside a quoted one, or just after a quote inside a quoted one.
_START, _UNQUOTED, _QUOTED, _AFTER_QUOTE = range(4)


class _RowLines:
    """The physical lines of a CSV file, as the ``csv`` module reads them, bounded.

    A line longer than :data:`MAX_LINE_CHARS`, or a row whose quoted line
    breaks take it past that, raises :class:`_TooLong` once read to the end of
    its row, so the ``csv`` reader (which survives an exception from its
    input) starts afresh on the next row. After the ``csv`` module itself
    gives up on a row (a field past its limit), :meth:`skip_rest` reads on to
    that row's end. ``number`` is the last physical line read.
    """

    def __init__(self, f: IO[str], delimiter: str) -> None:
        self.f = f
        self.delimiter = delimiter
        self.stops = re.compile(f"[{re.escape(delimiter)}\r\n]")
        self.number = 0
        self.row: list[str] = []
        self.size = 0

    def __iter__(self) -> _RowLines:
        return self

    def __next__(self) -> str:
        line = self.f.readline(MAX_LINE_CHARS)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            state = self._scan(line, self._row_state())
            while (line := self.f.readline(MAX_LINE_CHARS)) and not line.endswith(("\n", "\r")):
                state = self._scan(line, state)
            state = self._scan(line, state)
            multiline = bool(self.row) or state == _QUOTED
            self._skip_quoted(state)
            raise _TooLong(f"{'row' if multiline else 'line'} longer than {MAX_LINE_CHARS} characters")
        self.row.append(line)
        self.size += len(line)
        if self.size > MAX_LINE_CHARS:
            self.skip_rest()
            raise _TooLong(f"row longer than {MAX_LINE_CHARS} characters (a quoted value runs over many lines)")
        return line

    def row_done(self) -> None:
        """The ``csv`` reader finished a row: forget its lines."""
        self.row.clear()
        self.size = 0

    def skip_rest(self) -> None:
        """Read on to the end of the row the ``csv`` reader gave up on."""
        self._skip_quoted(self._row_state())

    def _row_state(self) -> int:
        state = _START
        for line in self.row:
            state = self._scan(line, state)
        return state

    def _skip_quoted(self, state: int) -> None:
        skipped = 0
        while state == _QUOTED and skipped < MAX_QUOTED_SKIP:
            line = self.f.readline(MAX_LINE_CHARS)
            if not line:
                break
            if line.endswith(("\n", "\r")) or len(line) < MAX_LINE_CHARS:
                self.number += 1
            skipped += len(line)
            state = self._scan(line, state)
        self.row_done()

    def _scan(self, text: str, state: int) -> int:
        """The scan state after ``text``, read from ``state`` as the ``csv`` module would.

        A line ends its row unless it ends inside a quoted value (``_QUOTED``).
        """
        i, n, delimiter = 0, len(text), self.delimiter
        while i < n:
            if state == _QUOTED:
                j = text.find('"', i)
                if j < 0:
                    return _QUOTED
                state, i = _AFTER_QUOTE, j + 1
                continue
            if state == _UNQUOTED:
                stop = self.stops.search(text, i)
                if stop is None:
                    return _UNQUOTED
                state, i = _START, stop.end()
                continue
            char = text[i]
            i += 1
            if state == _AFTER_QUOTE:
                state = _QUOTED if char == '"' else _START if char in (delimiter, "\r", "\n") else _UNQUOTED
            elif char == '"':
                state = _QUOTED
            elif char not in (delimiter, "\r", "\n"):
                state, i = _UNQUOTED, i - 1
        return _START if state == _AFTER_QUOTE else state


def _csv_records(
    path: PathArg,
    f: IO[str],
    delimiter: str,
    required: tuple[str, ...],
    error: type[InputError],
    report: Report | None,
) -> Iterator[tuple[int, Record]]:
    lines = _RowLines(f, delimiter)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = [_normalise_key(k) for k in next(reader)]
    except StopIteration:
        raise error("the file is empty", path=path) from None
    except _TooLong as exc:
        raise error(f"unreadable header: {exc}", path=path, line=1) from None
    except csv.Error as exc:
        raise error(f"unreadable header: {exc}", path=path, line=1) from None
    lines.row_done()
    missing = [c for c in required if c not in header]
    if missing:
        found = ", ".join(repr(h) for h in header if h) or "none"
        raise error(
            f"not a recognised file: the header lacks {', '.join(map(repr, missing))} "
            f"(columns found: {found[:300]})",
            path=path,
            line=1,
        )
    first_index = {k: i for i, k in reversed(list(enumerate(header))) if k}  # a repeated column: the first wins
    columns = sorted((i, k) for k, i in first_index.items())
    width = len(header)
    while True:
        line = lines.number + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except _TooLong as exc:
            _skip(report, error(str(exc), path=path, line=line))
            continue
        except csv.Error as exc:
            lines.skip_rest()
            _skip(report, error(f"unreadable row: {exc}", path=path, line=line))
            continue
        lines.row_done()
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) > width and any(v.strip() for v in row[width:]):
            _skip(
                report,
                error(
                    f"row has {len(row)} fields but the header has {width} "
                    f"(an unquoted {delimiter!r} inside a value?)",
                    path=path,
                    line=line,
                    item=row[0].strip() or None,
                ),
            )
            continue
        yield line, {k: row[i] for i, k in columns if i < len(row)}


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _jsonl_records(
    path: PathArg, f: IO[str], error: type[InputError], report: Report | None
) -> Iterator[tuple[int, Record]]:
    number = 0
    while line := f.readline(MAX_LINE_CHARS):
        number += 1
        if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while line and not line.endswith(("\n", "\r")):
                line = f.readline(MAX_LINE_CHARS)
            _skip(report, error(f"line longer than {MAX_LINE_CHARS} characters", path=path, line=number))
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            _skip(report, error(f"not valid JSON: {exc}", path=path, line=number))
            continue
        if not isinstance(value, dict):
            _skip(report, error(f"expected a JSON object, found {type(value).__name__}", path=path, line=number))
            continue
        record: dict[str, str | tuple[str, ...]] = {}
        for key, v in value.items():
            text = _json_text(v)
            if text is not None and (k := _normalise_key(key)) not in record:
                record[k] = text
        yield number, record


def _json_text(value: object) -> str | tuple[str, ...] | None:
    """JSON scalars as the text they were written as; arrays of scalars as a tuple."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, Decimal)):
        return str(value)
    if isinstance(value, list):
        items = [_json_text(v) for v in value]
        return tuple(i for i in items if isinstance(i, str))
    return None  # nested objects: nothing this reader models


_UNREADABLE = re.compile(r"[\ud800-\udfff]")


def record_text(record: Record, key: str) -> str | None:
    """A field's text, stripped; ``None`` when absent or blank.

    Raises :class:`ValueError` for bytes that were not valid UTF-8 (or lone
    surrogates from JSON) and for several values where one is expected.

    >>> record_text({"title": "  Mug \\n"}, "title")
    'Mug'
    >>> record_text({"title": "  "}, "title") is None
    True
    """
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) > 1:
            raise ValueError(f"expected one value, found {len(value)}")
        value = value[0] if value else ""
    if _UNREADABLE.search(value):
        raise ValueError("contains bytes that are not valid UTF-8 text")
    return value.strip() or None


def _skip(report: Report | None, problem: InputError) -> None:
    if report is not None:
        report.add(problem)


# --------------------------------------------------------------------------- XML items


class _ItemReader:
    """Feeds bytes to expat; collects each finished ``<item>``/``<entry>`` as a record.

    Only the item being read is held: elements are never built into a tree, so
    memory stays bounded by one item whatever the feed's length. Text is only
    collected inside a field the product model knows (``g:shipping`` and other
    unknown elements are skipped, nested ``g:price`` included).
    """

    def __init__(self, kind: FeedKind) -> None:
        self.parser = _secure_parser()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.item_names = ("item",) if kind == "rss" else (f"{ATOM_NS} entry", "entry")
        self.fields: dict[str, tuple[bool, str] | None] = {}
        self.depth = 0
        self.item_depth = -1
        self.done: list[tuple[int, Record, str | None]] = []
        self._reset()

    def _reset(self) -> None:
        self.item_line = 0
        self.google: dict[str, str | list[str]] = {}
        self.plain: dict[str, str | list[str]] = {}
        self.field: tuple[dict[str, str | list[str]], str] | None = None
        self.buffer: list[str] = []
        self.size = 0
        self.oversize: str | None = None

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.item_depth < 0:
            if name in self.item_names:
                self.item_depth = self.depth
                self.item_line = self.parser.CurrentLineNumber
            return
        if self.depth != self.item_depth + 1:
            return
        if name in self.fields:
            spec = self.fields[name]
        else:
            spec = _field_spec(name)
            if len(self.fields) < 256:  # element names come from the feed: bound the cache
                self.fields[name] = spec
        if spec is None:
            return
        google, local = spec
        target = self.google if google else self.plain
        if local == "link" and "href" in attrs:  # Atom: <link rel="alternate" href="..."/>
            if attrs.get("rel", "alternate") == "alternate":
                self._keep(target, local, attrs["href"])
            return
        self.field, self.buffer = (target, local), []
        self.parser.CharacterDataHandler = self._text

    def _text(self, data: str) -> None:
        if self.oversize:
            return
        self.size += len(data)
        if self.size > MAX_LINE_CHARS:
            self.oversize = f"item holds more than {MAX_LINE_CHARS} characters of text"
            self.buffer = []
        else:
            self.buffer.append(data)

    def _end(self, name: str) -> None:
        depth = self.depth
        self.depth -= 1
        if self.field is not None and depth == self.item_depth + 1:
            self.parser.CharacterDataHandler = None
            target, local = self.field
            text = "".join(self.buffer)
            if len(text) > MAX_FIELD_CHARS and not self.oversize:
                self.oversize = f"field {local!r} longer than {MAX_FIELD_CHARS} characters"
            self._keep(target, local, text)
            self.field, self.buffer = None, []
        elif depth == self.item_depth:
            record: dict[str, str | tuple[str, ...]] = {}
            for source in (self.plain, self.google):  # g: fields win over plain ones
                for key, value in source.items():
                    record[key] = tuple(value) if isinstance(value, list) else value
            self.done.append((self.item_line, record, self.oversize))
            self.item_depth = -1
            self._reset()

    @staticmethod
    def _keep(target: dict[str, str | list[str]], key: str, text: str) -> None:
        if key == "additional_image_link":
            links = target.setdefault(key, [])
            assert isinstance(links, list)
            links.append(text)
        elif key not in target or not str(target[key]).strip():
            target[key] = text  # the first non-blank value wins


_ATOM_NAMES = {"summary": "description", "content": "description"}


def _field_spec(name: str) -> tuple[bool, str] | None:
    """``(is_google, field)`` for an element expat named ``"namespace local"``, else None."""
    ns, _, local = name.rpartition(" ")
    if ns == ATOM_NS:
        local = _ATOM_NAMES.get(local, local)
    elif ns not in (G_NS, ""):
        return None
    return (ns == G_NS, local) if local in _KNOWN_FIELDS else None


def _xml_records(path: PathArg, kind: FeedKind) -> Iterator[tuple[int, Record, str | None]]:
    reader = _ItemReader(kind)
    try:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                try:
                    reader.parser.Parse(chunk, not chunk)
                except _Forbidden as exc:
                    yield from reader.done
                    raise FeedError(str(exc), path=path, line=reader.parser.CurrentLineNumber) from None
                except expat.ExpatError as exc:
                    yield from reader.done
                    raise FeedError(
                        f"malformed XML, the rest of the feed cannot be read: "
                        f"{expat.ErrorString(exc.code)} (column {exc.offset})",
                        path=path,
                        line=exc.lineno,
                    ) from None
                yield from reader.done
                reader.done.clear()
                if not chunk:
                    return
    except OSError as exc:
        raise FeedError(f"cannot read the file: {exc.strerror or exc}", path=path) from None


# --------------------------------------------------------------------------- products


def iter_products(
    path: PathArg, *, report: Report | None = None, encoding: str | None = None
) -> Iterator[Product]:
    """Stream the products of a feed in any supported format.

    Bad items are added to ``report`` (when given) as :class:`FeedError` and
    skipped; when none is left, :func:`no_products_reason` says why. Raises
    :class:`FeedError` when the file is not a feed, cannot be read, or its XML
    breaks off (items before the break are yielded first). ``encoding`` is
    the text encoding of a CSV or JSON Lines feed without a byte-order mark
    (default UTF-8; XML declares its own).

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    ...     _ = f.write("id,title,link,price\\n"
    ...                 "A1,Mug,https://shop.test/a1,5.00 GBP\\n"
    ...                 "A2,Bowl,https://shop.test/a2,TBC\\n")
    >>> report = Report()
    >>> [p.title for p in iter_products(f.name, report=report)]
    ['Mug']
    >>> report.problems[0].line, report.problems[0].field, report.problems[0].reason
    (3, 'price', "unparseable price 'TBC' (expected e.g. '15.00 USD')")
    >>> os.remove(f.name)
    """
    fmt = detect_format(path, encoding=encoding)
    if fmt.kind in ("rss", "atom"):
        for line, record, oversize in _xml_records(path, fmt.kind):
            if oversize:
                _skip(report, FeedError(oversize, path=path, line=line, item=_item_id(record)))
                continue
            product = _product_or_report(path, line, record, report)
            if product is not None:
                yield product
    else:
        for line, record in iter_records(path, fmt=fmt, required=_REQUIRED_COLUMNS, report=report):
            product = _product_or_report(path, line, record, report)
            if product is not None:
                yield product


def no_products_reason(report: Report | None, *, path: PathArg | None = None, kinds: int = 3) -> str:
    """Why a feed gave no product: the report's most frequent ``kinds`` of problem, counted.

    For the error a caller raises when :func:`iter_products` yielded nothing;
    ``path``, which that error names already, is left out of each kind.

    >>> report = Report()
    >>> for line in (2, 3):
    ...     report.add(FeedError("unparseable price 'TBC'", path="feed.csv", line=line, field="price"))
    >>> no_products_reason(report, path="feed.csv")
    "no product could be read from the feed: 2 × field 'price': unparseable price '…'"
    >>> no_products_reason(Report())
    'no product could be read from the feed: it holds no items'
    """
    reason = "no product could be read from the feed"
    if report is None:
        return reason
    if not report:
        return f"{reason}: it holds no items"
    summary = list(report.summary(0).items())
    prefix = str(path) if path is not None else None
    shown = "; ".join(f"{count} × {_without(kind, prefix)}" for kind, (count, _) in summary[:kinds])
    more = len(summary) - kinds
    return f"{reason}: {shown}" + (f"; and {more} more kind{'s' if more > 1 else ''} of problem" if more > 0 else "")


def _without(kind: str, path: str | None) -> str:
    if path and kind.startswith((f"{path}, ", f"{path}: ")):
        return kind[len(path) + 2 :]
    return kind


def _item_id(record: Record) -> str | None:
    try:
        return record_text(record, "id")
    except ValueError:
        return None


def _product_or_report(path: PathArg, line: int, record: Record, report: Report | None) -> Product | None:
    try:
        return _product(record)
    except _Invalid as bad:
        _skip(report, FeedError(bad.reason, path=path, line=line, item=_item_id(record), field=bad.field))
        return None


#: Fields whose value may be a path repeated in XML; the first one is the main one.
_FIRST_OF_MANY = frozenset({"product_type", "google_product_category"})


def _texts(record: Record) -> dict[str, str]:
    """The record's known single-valued fields, stripped, blanks dropped."""
    texts: dict[str, str] = {}
    for key, value in record.items():
        if key not in _KNOWN_FIELDS or key == "additional_image_link":
            continue
        if isinstance(value, tuple):
            if len(value) > 1 and key not in _FIRST_OF_MANY:
                raise _Invalid(key, f"expected one value, found {len(value)}")
            value = value[0] if value else ""
        text = value.strip()
        if text:
            if _UNREADABLE.search(text):
                raise _Invalid(key, "contains bytes that are not valid UTF-8 text")
            texts[key] = text
    return texts


def _product(record: Record) -> Product:
    """Build a :class:`Product` from one normalised record; raises ``_Invalid``."""
    texts = _texts(record)
    get = texts.get
    item_id = _required(texts, "id")
    title = _required(texts, "title")
    price = _money(texts, "price")
    if price is None:
        raise _Invalid("price", "missing price")
    link = _url("link", _required(texts, "link"))
    availability: Availability = "in_stock"
    if availability_text := get("availability"):
        try:
            availability = parse_availability(availability_text)
        except ValueError as exc:
            raise _Invalid("availability", str(exc)) from None

    sale_price = _money(texts, "sale_price")
    sale_start = sale_end = None
    if sale_price is not None:
        if sale_price.currency != price.currency:
            raise _Invalid(
                "sale_price",
                f"sale price currency {sale_price.currency} differs from price currency {price.currency}",
            )
        if dates := get("sale_price_effective_date"):
            try:
                sale_start, sale_end = parse_effective_dates(dates)
            except ValueError as exc:
                raise _Invalid("sale_price_effective_date", str(exc)) from None

    image = get("image_link") or _meta_image(record, 0)
    gender, age_group = get("gender"), get("age_group")
    return Product(
        id=item_id,
        title=title,
        price=price,
        link=link,
        availability=availability,
        image_link=_url("image_link", image) if image else None,
        additional_image_links=_image_links(record),
        description=get("description", ""),
        brand=get("brand"),
        category=_path(get("product_type")),
        google_category=_path(get("google_product_category")),
        item_group_id=get("item_group_id"),
        gender=gender.lower() if gender else None,
        age_group=age_group.lower() if age_group else None,
        size=get("size"),
        color=get("color"),
        sale_price=sale_price,
        sale_start=sale_start,
        sale_end=sale_end,
        extra={k: _extra(k, texts[k]) for k in _EXTRA_FIELDS if k in texts},
    )


def _extra(key: str, text: str) -> str:
    if key == "gtin":
        try:
            return parse_gtin(text)
        except ValueError as exc:
            raise _Invalid("gtin", str(exc)) from None
    return text


#: Meta's catalog columns for images: ``image[0].url`` is the main one.
_META_IMAGE = re.compile(r"image\[(\d{1,3})\]\.url")


def _meta_image(record: Record, index: int) -> str | None:
    value = record.get(f"image[{index}].url")
    if not isinstance(value, str) or not value.strip():
        return None
    if _UNREADABLE.search(value):
        raise _Invalid("image_link", "contains bytes that are not valid UTF-8 text")
    return value.strip()


def _meta_images(record: Record) -> list[str]:
    """Meta's ``image[1].url``, ``image[2].url``, ... in order."""
    indexes = sorted(int(m[1]) for key in record if (m := _META_IMAGE.fullmatch(key)) and m[1] != "0")
    return [text for i in indexes if (text := _meta_image(record, i))]


def _required(texts: dict[str, str], key: str) -> str:
    value = texts.get(key)
    if value is None:
        raise _Invalid(key, f"missing {key}")
    return value


def _money(texts: dict[str, str], key: str) -> Money | None:
    text = texts.get(key)
    if text is None:
        return None
    try:
        return parse_price(text, currency=texts.get("currency"))
    except ValueError as exc:
        raise _Invalid(key, str(exc)) from None


def _path(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(part for p in text.split(">") if (part := p.strip()))


def _image_links(record: Record) -> tuple[str, ...]:
    value = record.get("additional_image_link") or ()
    texts = (value if isinstance(value, tuple) else (value,)) + tuple(_meta_images(record))
    links: list[str] = []
    for text in texts:
        if _UNREADABLE.search(text):
            raise _Invalid("additional_image_link", "contains bytes that are not valid UTF-8 text")
        # Text feeds separate several links with commas; XML repeats the element.
        links.extend(_url("additional_image_link", u.strip()) for u in text.split(",") if u.strip())
    return tuple(links)


_URL = re.compile(r"https?://[^\x00-\x20\x7f-\x9f/?#]+[^\x00-\x20\x7f-\x9f]*", re.IGNORECASE)


def _url(field: str, text: str) -> str:
    """An absolute http(s) URL without spaces or control characters (it will reach an href)."""
    if not _URL.fullmatch(text):
        raise _Invalid(field, f"expected an http(s) URL, found {text[:80]!r}")
    return text


# --------------------------------------------------------------------------- values


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def parse_currency(text: str) -> str:
    """An ISO 4217 code Babel knows, upper-cased; :class:`ValueError` otherwise.

    >>> parse_currency("gbp")
    'GBP'
    >>> parse_currency("XYZ")
    Traceback (most recent call last):
    ...
    ValueError: unknown currency 'XYZ' (not an ISO 4217 code)
    """
    code = text.strip().upper()
    if code not in _currencies():
        raise ValueError(f"unknown currency {text.strip()!r} (not an ISO 4217 code)")
    return code


_PRICE = re.compile(
    r"""\s*(?:(?P<before>[A-Za-z]{3})\s*)?
    (?:(?P<point>[0-9]{1,3}(?:[,'\u2019][0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
      |(?P<comma>[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+|[0-9]+,[0-9]+))
    \s*(?P<after>[A-Za-z]{3})?\s*""",
    re.VERBOSE,
)


def parse_price(text: str, *, currency: str | None = None) -> Money:
    """Read a feed price: ``15.00 USD``, ``99 USD``, ``USD 15.00``, ``1,299.00 USD``,
    and with a decimal comma, ``CHF 49,90`` or ``1.299,00 EUR``.

    A comma followed by exactly three digits groups thousands (``1,299 USD``);
    followed by any other number of digits, or after dots that group
    thousands, it is the decimal separator. Swiss apostrophes group thousands
    (``CHF 1'299.00``). ``currency`` (a separate column) is used when the
    text has no code.

    >>> parse_price("1,299.00 USD")
    Money(amount=Decimal('1299.00'), currency='USD')
    >>> parse_price("USD 15.00")
    Money(amount=Decimal('15.00'), currency='USD')
    >>> parse_price("9.5", currency="eur")
    Money(amount=Decimal('9.5'), currency='EUR')
    >>> parse_price("CHF 49,90"), parse_price("1.299,00 EUR")
    (Money(amount=Decimal('49.90'), currency='CHF'), Money(amount=Decimal('1299.00'), currency='EUR'))
    """
    match = _PRICE.fullmatch(text)
    if match is None:
        raise ValueError(f"unparseable price {text.strip()[:80]!r} (expected e.g. '15.00 USD')")
    before, after = match["before"], match["after"]
    if before and after and before.upper() != after.upper():
        raise ValueError(f"price {text.strip()!r} names two currencies")
    code = before or after or currency
    if not code:
        raise ValueError(f"price {text.strip()!r} has no currency (e.g. '15.00 USD')")
    if match["comma"]:
        number = match["comma"].replace(".", "").replace(",", ".")
    else:
        number = re.sub(r"[,'\u2019]", "", match["point"])
    return Money(Decimal(number), parse_currency(code))


_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]+)?[eE][+]?[0-9]+")


def parse_gtin(text: str) -> str:
    """A GTIN (EAN, UPC, ISBN-13, ITF-14): 8, 12, 13 or 14 digits with a valid check digit.

    Spaces and hyphens are dropped. A number a spreadsheet wrote in
    scientific notation has lost digits and is refused, naming the cause.

    >>> parse_gtin("4012345678901"), parse_gtin("0 12345 67890 5")
    ('4012345678901', '012345678905')
    >>> parse_gtin("4.0112E+12")
    Traceback (most recent call last):
    ...
    ValueError: GTIN '4.0112E+12' was turned into a number in scientific notation by a spreadsheet, which loses digits; export the column as text
    """
    text = text.strip()
    if _SCIENTIFIC.fullmatch(text):
        raise ValueError(
            f"GTIN {text[:40]!r} was turned into a number in scientific notation by a spreadsheet, "
            "which loses digits; export the column as text"
        )
    digits = re.sub(r"[\s-]", "", text)
    if not (digits.isascii() and digits.isdigit() and len(digits) in (8, 12, 13, 14)):
        raise ValueError(f"GTIN {text[:40]!r} is not 8, 12, 13 or 14 digits")
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise ValueError(f"GTIN {text[:40]!r} has a wrong check digit (a typing error?)")
    return digits


_AVAILABILITY: dict[str, Availability] = {
    "in stock": "in_stock",
    "out of stock": "out_of_stock",
    "preorder": "preorder",
    "backorder": "backorder",
    # Meta's legacy values.
    "available for order": "in_stock",
    "discontinued": "out_of_stock",
}


def parse_availability(text: str) -> Availability:
    """Google's and Meta's availability spellings, normalised.

    >>> parse_availability("In Stock"), parse_availability("out_of_stock")
    ('in_stock', 'out_of_stock')
    >>> parse_availability("available for order")
    'in_stock'
    """
    key = re.sub(r"[\s_]+", " ", text.strip().lower())
    try:
        return _AVAILABILITY[key]
    except KeyError:
        raise ValueError(
            f"unknown availability {text.strip()[:80]!r} "
            "(expected in stock, out of stock, preorder or backorder)"
        ) from None


def parse_effective_dates(text: str) -> tuple[datetime | None, datetime | None]:
    """An ISO 8601 interval ``start/end`` of aware datetimes; either side may be empty.

    >>> start, end = parse_effective_dates("2011-03-01T13:00-0800/2011-03-11T15:30-0800")
    >>> start.isoformat(), end.isoformat()
    ('2011-03-01T13:00:00-08:00', '2011-03-11T15:30:00-08:00')
    """
    parts = text.strip().split("/")
    if len(parts) != 2:
        raise ValueError(f"expected 'start/end' (ISO 8601), found {text.strip()[:80]!r}")
    start, end = (_instant(p) for p in parts)
    if start and end and end < start:
        raise ValueError(f"the sale ends before it starts: {text.strip()!r}")
    return start, end


def _instant(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date and time: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (e.g. 2011-03-01T13:00-08:00)")
    return value
