"""Engagement histories: one row per message sent, read into plain arrays.

A history says, per message, who received it, when it was sent and when (if
ever) it was opened and clicked.  Send-time learning only needs local clock
times and delays, so a :class:`History` keeps exactly that, about 21 bytes a
row: twenty million rows fit in well under half a gigabyte.

:func:`read_history` streams a CSV file in large blocks: pyarrow's CSV reader
splits each block into columns and :func:`~mailer.sto.timestamps.parse_instants`
reads a column of times at once (in a second thread, a block ahead), then
:class:`~mailer.sto.zones.Zones` turns them into local clock times (no Python
loop per row).
:meth:`History.from_arrays` and :func:`history_from_rows` build the same
thing from arrays or dictionaries.  Bad rows are reported to a
:class:`~mailer.report.Report` and skipped.

The file's columns (others are ignored): ``customer_id``, ``timezone``
(IANA, optional), ``sent_at``, ``opened_at``, ``clicked_at`` (ISO 8601 with an
offset or ``Z``; empty when it did not happen) and optional ``machine_open``
(true/false).  A row with an empty ``sent_at`` is an engagement whose send
time is unknown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from os import PathLike
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from pyarrow import csv as pacsv  # type: ignore[import-untyped]

from mailer.errors import ConfigError, CustomerError, LocaleError
from mailer.report import Report
from mailer.sto.timestamps import EMPTY, INVALID, parse_instants
from mailer.sto.zones import Zones

REQUIRED = ("customer_id", "sent_at", "opened_at", "clicked_at")
OPTIONAL = ("timezone", "machine_open")
_TIMES = ("sent_at", "opened_at", "clicked_at")
_MAX_ID = 256
_SKEW = 60  # seconds an open may precede its send (clock skew) before it is an error
_TRUE = (b"true", b"t", b"1", b"yes", b"y")
_FALSE = (b"false", b"f", b"0", b"no", b"n")
_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class History:
    """Per-message arrays (``N`` rows) over ``C`` customers and a few zones.

    Minutes are local minutes of the day (0-1439, -1 when absent); delays are
    real elapsed minutes since ``sent_at`` (NaN when either end is unknown).
    ``machine_open`` is 1 when the provider flagged the open as automatic, 0
    when it flagged it human, -1 when it said nothing.

    >>> h = History.from_arrays(
    ...     ["ann", "ann", "bob"],
    ...     sent_at=np.array(["2024-06-03T08:00", "2024-06-04T08:00", "NaT"], "datetime64[s]"),
    ...     opened_at=np.array(["2024-06-03T18:30", "NaT", "2024-06-04T07:05"], "datetime64[s]"),
    ...     timezones=["Europe/London", "Europe/London", "Asia/Kolkata"],
    ... )
    >>> len(h), h.customer_ids.tolist(), h.open_minute.tolist(), h.open_delay.tolist()
    (3, ['ann', 'bob'], [1170, -1, 755], [630.0, nan, nan])
    """

    customer_ids: np.ndarray
    zones: tuple[str, ...]
    customer: np.ndarray
    zone: np.ndarray
    sent_minute: np.ndarray
    open_minute: np.ndarray
    open_delay: np.ndarray
    click_minute: np.ndarray
    click_delay: np.ndarray
    machine_open: np.ndarray

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    @property
    def n_customers(self) -> int:
        return int(self.customer_ids.shape[0])

    def customer_zone(self) -> np.ndarray:
        """Each customer's zone code: the zone of their last row."""
        last = np.full(self.n_customers, -1, dtype=np.int64)
        np.maximum.at(last, self.customer, np.arange(len(self), dtype=np.int64))
        return self.zone[np.maximum(last, 0)].astype(np.int16)

    @classmethod
    def from_arrays(
        cls,
        customer_ids: Iterable[str] | np.ndarray,
        sent_at: np.ndarray,
        opened_at: np.ndarray | None = None,
        clicked_at: np.ndarray | None = None,
        *,
        timezones: Iterable[str] | np.ndarray | None = None,
        default_timezone: str | None = None,
        machine_open: np.ndarray | None = None,
    ) -> History:
        """A history from per-row arrays; instants are ``datetime64`` in UTC (NaT when absent).

        Raises :class:`~mailer.errors.CustomerError` naming the first bad row
        (arrays come from a program, so there is nothing to skip).
        """
        ids = np.asarray(list(customer_ids) if not isinstance(customer_ids, np.ndarray) else customer_ids)
        n = ids.shape[0]

        def instants(values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            if values is None:
                return np.zeros(n, np.int64), np.zeros(n, bool)
            arr = np.asarray(values)
            if arr.dtype.kind != "M":
                arr = arr.astype("datetime64[s]")
            present = ~np.isnat(arr)
            secs = np.where(present, arr.astype("datetime64[s]").astype(np.int64), 0)
            return secs, present

        zones = Zones()
        if timezones is None:
            if default_timezone is None:
                raise ConfigError("no timezones given and no default_timezone")
            names = np.full(n, default_timezone, dtype=object)
        else:
            names = np.asarray(list(timezones), dtype=object)
            if default_timezone is not None:
                names = np.where((names == "") | (names == None), default_timezone, names)  # noqa: E711
        uniq_names, zone_code = np.unique(names.astype(str), return_inverse=True)
        codes = []
        for i, name in enumerate(uniq_names.tolist()):
            try:
                codes.append(zones.code(name))
            except LocaleError:
                row = int(np.flatnonzero(zone_code == i)[0])
                raise CustomerError(f"unknown time zone {name!r}", line=row + 1, field="timezone") from None
        zone_of_row = np.asarray(codes, dtype=np.int16)[zone_code] if n else np.zeros(0, np.int16)
        (sent, has_sent), (opened, has_open), (clicked, has_click) = map(instants, (sent_at, opened_at, clicked_at))
        flag = np.full(n, -1, np.int8) if machine_open is None else _flags_from_values(machine_open)
        columns, problem = _local_columns(zones, zone_of_row, sent, has_sent, opened, has_open, clicked, has_click)
        bad = np.flatnonzero(problem >= 0)
        if bad.size:
            field, reason = _PROBLEMS[int(problem[bad[0]])]
            raise CustomerError(reason, line=int(bad[0]) + 1, field=field)
        uniq_ids, customer = np.unique(ids.astype(str), return_inverse=True)
        return cls(
            customer_ids=uniq_ids,
            zones=tuple(zones.names),
            customer=customer.astype(np.int32),
            zone=zone_of_row,
            machine_open=flag,
            **columns,
        )


_ROW_FIELDS = (
    "customer",
    "zone",
    "sent_minute",
    "open_minute",
    "open_delay",
    "click_minute",
    "click_delay",
    "machine_open",
)

# Row problems found after parsing, by code: (field, reason).
_PROBLEMS = (
    ("sent_at", "row has no sent_at, opened_at or clicked_at"),
    ("opened_at", "opened_at is before sent_at"),
    ("clicked_at", "clicked_at is before sent_at"),
)


def _flags_from_values(values: np.ndarray) -> np.ndarray:
    flags = np.full(len(values), -1, np.int8)
    for i, v in enumerate(values):
        if v is None or v == "" or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, str):
            token = v.strip().lower().encode()
            if token in _TRUE:
                flags[i] = 1
            elif token in _FALSE:
                flags[i] = 0
            else:
                raise CustomerError(f"expected true or false, found {v!r}", line=i + 1, field="machine_open")
        else:
            flags[i] = 1 if bool(v) else 0
    return flags


def _local_columns(
    zones: Zones,
    zone: np.ndarray,
    sent: np.ndarray,
    has_sent: np.ndarray,
    opened: np.ndarray,
    has_open: np.ndarray,
    clicked: np.ndarray,
    has_click: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Local minutes and delays of parsed instants, and a problem code per row (-1: fine)."""
    problem = np.full(sent.shape[0], -1, np.int8)
    problem[~(has_sent | has_open | has_click)] = 0
    out: dict[str, np.ndarray] = {}
    for name, secs, present in (("sent", sent, has_sent), ("open", opened, has_open), ("click", clicked, has_click)):
        minute = np.full(secs.shape[0], -1, np.int16)
        local = zones.to_local(secs[present], zone[present])
        minute[present] = (local // 60) % 1440
        out[f"{name}_minute"] = minute
    for code, name, secs, present in ((1, "open", opened, has_open), (2, "click", clicked, has_click)):
        known = np.flatnonzero(present & has_sent)
        delay = (secs[known] - sent[known]) / 60.0
        early = known[delay < -_SKEW / 60.0]
        problem[early[problem[early] < 0]] = code
        out[f"{name}_delay"] = np.full(secs.shape[0], np.nan, np.float32)
        out[f"{name}_delay"][known] = np.maximum(delay, 0.0)
    return out, problem


_Lines = Callable[[], np.ndarray]
"""The line numbers of a block's rows, worked out only when a problem must name one."""

_Columns = dict[str, pa.Array | pa.ChunkedArray]
"""A block's needed columns, by name, each value as bytes."""


def _given(lines: np.ndarray) -> _Lines:
    return lambda: lines


class _Problems:
    """Turns bad rows into reported errors, building at most what the report keeps."""

    def __init__(self, report: Report, path: str | None) -> None:
        self.report = report
        self.path = path

    def add(self, rows: np.ndarray, lines: _Lines, field: str | None, reason: str | Callable[[np.ndarray], list[str]]) -> None:
        """Report rows ``rows`` (indices into ``lines()``), for ``reason`` or ``reason(rows)[i]``."""
        if rows.size == 0:
            return
        kept = rows[: max(self.report.limit - len(self.report.problems), 0)]
        if kept.size:
            texts = [reason] * kept.size if isinstance(reason, str) else reason(kept)
            for line, text in zip(lines()[kept].tolist(), texts):
                self.report.add(CustomerError(text, path=self.path, line=line, field=field))
        rest = rows.size - kept.size
        if rest:
            self.report.count += rest
            self.report.reasons[CustomerError.__name__] += rest


@dataclass
class _Parsed:
    """A block's rows that have the header's number of fields: columns, and what needs no other block."""

    columns: _Columns
    lines: _Lines
    misshaped: list[tuple[np.ndarray, str]]  # lines left out for their shape, and why, in report order
    times: dict[str, tuple[np.ndarray, np.ndarray]]  # seconds and status (see parse_instants), by column
    keys: np.ndarray | None  # customer ids as numbers (see _id_keys)


@dataclass
class _Chunk:
    """A block's good rows: customer ids (bytes) and the history's other per-row columns."""

    ids: pa.Array | pa.ChunkedArray
    keys: np.ndarray | None
    columns: dict[str, np.ndarray]


class _Reader:
    """Reads CSV blocks into per-row columns, sharing zones and problems across blocks."""

    def __init__(self, header: list[str], path: str | None, default_timezone: str | None, report: Report) -> None:
        self.path = path
        self.problems = _Problems(report, path)
        names = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise CustomerError(
                f"missing column(s) {', '.join(missing)}; found {', '.join(names)}",
                path=path,
                line=1,
                field=missing[0],
            )
        self.ncols = len(names)
        self.index = {c: names.index(c) for c in REQUIRED + OPTIONAL if c in names}
        self.zones = Zones()
        self.default_zone = -1
        if default_timezone is not None:
            try:
                self.default_zone = self.zones.code(default_timezone)
            except LocaleError as err:
                raise ConfigError(f"--default-timezone: {err}") from None
        if "timezone" not in self.index and self.default_zone < 0:
            raise ConfigError(f"{path or 'history'} has no timezone column; give a default time zone")
        self._zone_of: dict[bytes, int] = {}
        # Columns by position (header names may repeat or be empty), each read as raw bytes.
        fields = [f"f{j}" for j in range(self.ncols)]
        self._read = pacsv.ReadOptions(column_names=fields)
        self._convert = pacsv.ConvertOptions(
            include_columns=[fields[j] for j in self.index.values()],
            column_types={f: pa.binary() for f in fields},
        )

    def parse(self, block: _Block) -> _Parsed:
        """Split a block into columns and parse its times (nothing here depends on other blocks).

        Blocks without quotes go through pyarrow's CSV reader; a block with a
        quote is read by :mod:`csv`, and one with a CR that does not end a
        line (data here, a line end to pyarrow) by splitting, both slower.
        """
        misshaped: list[tuple[np.ndarray, str]] = []
        if block.has(b'"'):
            columns, lines = self._quoted(block, misshaped)
        elif block.has(b"\r") and block.count(b"\r") != block.count(b"\r\n"):
            columns, lines = self._split(block, misshaped)
        else:
            columns, lines = self._arrow(block, misshaped)
        times = {column: parse_instants(columns[column]) for column in _TIMES}
        return _Parsed(columns, lines, misshaped, times, _id_keys(columns["customer_id"]))

    def _arrow(self, block: _Block, misshaped: list[tuple[np.ndarray, str]]) -> tuple[_Columns, _Lines]:
        invalid: list[object] = []

        def skip(row: object) -> str:  # the line is named below, from its number of fields
            invalid.append(row)
            return "skip"

        parse = pacsv.ParseOptions(quote_char=False, invalid_row_handler=skip)
        if not block.utf8():  # pyarrow would fail to hand a misshaped line over as text: stop instead
            parse = pacsv.ParseOptions(quote_char=False)
        try:
            table = pacsv.read_csv(
                pa.py_buffer(block.view()), read_options=self._read, parse_options=parse, convert_options=self._convert
            )
        except pa.ArrowInvalid:  # that, or a line longer than pyarrow's parsing block
            return self._split(block, misshaped)
        columns = {c: table.column(f"f{j}") for c, j in self.index.items()}
        if invalid:
            return columns, _given(self._shapes(block, misshaped))
        first, n = block.first_line, block.lines
        if table.num_rows == n:  # no blank line either: row i is on line first + i
            return columns, cache(lambda: first + np.arange(n))
        return columns, _given(_line_shapes(block, self.ncols)[0])

    def _split(self, block: _Block, misshaped: list[tuple[np.ndarray, str]]) -> tuple[_Columns, _Lines]:
        shaped = self._shapes(block, misshaped)
        values: dict[str, list[bytes]] = {c: [] for c in self.index}
        for text in bytes(block.view()).split(b"\n")[:-1]:
            fields = (text[:-1] if text.endswith(b"\r") else text).split(b",")
            if len(fields) == self.ncols:  # a blank line has one field, the header at least four
                for c, j in self.index.items():
                    values[c].append(fields[j])
        return {c: pa.array(v, pa.binary()) for c, v in values.items()}, _given(shaped)

    def _shapes(self, block: _Block, misshaped: list[tuple[np.ndarray, str]]) -> np.ndarray:
        """Note the lines with the wrong number of fields; return the line numbers of the others."""
        shaped, other, count = _line_shapes(block, self.ncols)
        for n in np.unique(count).tolist():
            misshaped.append((other[count == n], f"expected {self.ncols} fields, found {n}"))
        return shaped

    def _quoted(self, block: _Block, misshaped: list[tuple[np.ndarray, str]]) -> tuple[_Columns, _Lines]:
        rows = csv.reader(io.StringIO(str(block.view(), "utf-8", "replace"), newline=""))
        values: dict[str, list[bytes]] = {c: [] for c in self.index}
        lines = []
        for row in rows:
            line = block.first_line + rows.line_num - 1
            if not row:
                continue
            if len(row) != self.ncols:
                misshaped.append((np.array([line]), f"expected {self.ncols} fields, found {len(row)}"))
                continue
            needed = [row[j] for j in self.index.values()]
            if any(("," in v or "\n" in v or "\r" in v) for v in needed):
                misshaped.append((np.array([line]), "a comma or line break inside a needed field"))
                continue
            for c, v in zip(self.index, needed):
                values[c].append(v.encode())
            lines.append(line)
        return {c: pa.array(v, pa.binary()) for c, v in values.items()}, _given(np.array(lines, dtype=np.int64))

    def check(self, block: _Parsed) -> _Chunk | None:
        """Report a parsed block's bad rows, a kind of problem at a time, and keep the good ones."""
        for misshaped, reason in block.misshaped:
            self.problems.add(np.arange(misshaped.size), _given(misshaped), None, reason)
        columns, lines = block.columns, block.lines
        id_length = pc.binary_length(columns["customer_id"]).to_numpy(zero_copy_only=False)
        n = id_length.shape[0]
        if n == 0:
            return None
        self.problems.add(np.flatnonzero(id_length == 0), lines, "customer_id", "empty customer_id")
        too_long = f"customer_id longer than {_MAX_ID} bytes"
        self.problems.add(np.flatnonzero(id_length > _MAX_ID), lines, "customer_id", too_long)
        ok = (id_length > 0) & (id_length <= _MAX_ID)

        if "timezone" in columns:
            zone = self._zone_codes(columns["timezone"], ok, lines)
        else:
            zone = np.full(n, self.default_zone, np.int16)

        times = block.times
        for column in _TIMES:
            values, status = columns[column], times[column][1]

            def shown(rows: np.ndarray, values: pa.Array | pa.ChunkedArray = values) -> list[str]:
                texts = (v.decode("utf-8", "replace") for v in values.take(rows).to_pylist())
                return [f"expected an ISO 8601 time with an offset or Z, found {t!r}" for t in texts]

            self.problems.add(np.flatnonzero(ok & (status == INVALID)), lines, column, shown)
            ok &= status != INVALID

        flag = np.full(n, -1, np.int8)
        if "machine_open" in columns:
            flag = _machine_flags(columns["machine_open"])
            filled = pc.binary_length(columns["machine_open"]).to_numpy(zero_copy_only=False) > 0
            self.problems.add(np.flatnonzero(ok & (flag < 0) & filled), lines, "machine_open", "expected true or false")
            ok &= (flag >= 0) | ~filled

        (sent, sent_status), (opened, open_status), (clicked, click_status) = (times[c] for c in _TIMES)
        local, problem = _local_columns(
            self.zones, zone, sent, sent_status != EMPTY, opened, open_status != EMPTY, clicked, click_status != EMPTY
        )
        for code, (field, reason) in enumerate(_PROBLEMS):
            self.problems.add(np.flatnonzero(ok & (problem == code)), lines, field, reason)
        ok &= problem < 0

        local = {k: v[ok] for k, v in local.items()}
        local["zone"] = zone[ok]
        local["machine_open"] = flag[ok]
        keys = None if block.keys is None else block.keys[ok]
        return _Chunk(columns["customer_id"].filter(pa.array(ok)), keys, local)

    def _zone_codes(self, names: pa.Array | pa.ChunkedArray, ok: np.ndarray, lines: _Lines) -> np.ndarray:
        dictionary, which = _distinct(names)
        distinct = dictionary.to_pylist()
        codes = np.empty(len(distinct), np.int64)
        for i in _lookup_order(distinct):
            name = distinct[i]
            if name not in self._zone_of:
                if not name:
                    self._zone_of[name] = self.default_zone
                else:
                    try:
                        self._zone_of[name] = self.zones.code(name.decode("utf-8", "replace").strip())
                    except LocaleError:
                        self._zone_of[name] = -2
            codes[i] = self._zone_of[name]
        zone = codes[which]
        self.problems.add(np.flatnonzero(ok & (zone == -1)), lines, "timezone", "no time zone and no default time zone")
        self.problems.add(
            np.flatnonzero(ok & (zone == -2)),
            lines,
            "timezone",
            lambda rows: [f"unknown time zone {distinct[i].decode('utf-8', 'replace')!r}" for i in which[rows].tolist()],
        )
        ok &= zone >= 0
        return np.maximum(zone, 0).astype(np.int16)


def _line_shapes(block: _Block, ncols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Line numbers of a block's lines with ``ncols`` fields; those of the other non-blank lines, and their field counts.

    _Lines end at ``\\n`` (a ``\\r`` just before it is not data) and fields at
    commas: the block holds no quotes.
    """
    buf = np.frombuffer(block.view(), np.uint8)
    newline = np.flatnonzero(buf == 10)
    start = np.concatenate(([0], newline[:-1] + 1))
    stop = newline - ((newline > start) & (buf[np.maximum(newline - 1, 0)] == 13))
    comma = np.flatnonzero(buf == 44)
    count = np.searchsorted(comma, stop) - np.searchsorted(comma, start) + 1
    lines = block.first_line + np.arange(newline.shape[0])
    filled = stop > start
    shaped = filled & (count == ncols)
    other = filled & ~shaped
    return lines[shaped], lines[other], count[other]


def _distinct(values: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """The distinct values (in order of appearance), and for each row the index of its own."""
    encoded = pc.dictionary_encode(values)
    parts = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if any(len(p.dictionary) != len(parts[-1].dictionary) for p in parts):  # chunks encoded apart
        parts = encoded.unify_dictionaries().chunks
    if not parts:
        return pa.array([], values.type), np.zeros(0, np.int32)
    return parts[-1].dictionary, np.concatenate([p.indices.to_numpy(zero_copy_only=False) for p in parts])


def _id_keys(ids: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Each id's bytes read as one little-endian 64-bit number, if none has more than eight bytes.

    Numbers hash several times faster than bytes, and telling a million
    customers apart among twenty million rows is hashing.
    """
    if len(ids) == 0 or pc.max(pc.binary_length(ids)).as_py() > 8:
        return None
    words = pc.binary_slice(pc.binary_join_element_wise(ids, b"\0" * 8, b""), 0, 8).cast(pa.binary(8))
    parts = words.chunks if isinstance(words, pa.ChunkedArray) else [words]
    return np.concatenate([np.frombuffer(w.buffers()[1], "<u8", len(w), w.offset * 8) for w in parts if len(w)])


def _machine_flags(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """1 for a true token, 0 for a false one, -1 otherwise (an empty field included).

    A token matches when it has at most eight bytes and equals one of
    :data:`_TRUE`/:data:`_FALSE` once the ``0x20`` bit of every byte is set
    (ASCII lower case).
    """
    distinct, which = _distinct(values)
    flags = []
    for token in distinct.to_pylist():
        lower = bytes(b | 0x20 for b in token)
        flags.append(-1 if len(token) > 8 else 1 if lower in _TRUE else 0 if lower in _FALSE else -1)
    return np.array(flags, np.int8)[which]


_MIX = 0x9E3779B97F4A7C15
_WORD = (1 << 64) - 1


def _lookup_order(names: list[bytes]) -> list[int]:
    """The order in which a block's distinct zone names are first looked up, and so numbered.

    By a 64-bit key of each name: its bytes for names of up to eight bytes,
    else a multiplicative hash of its eight-byte words (by the names
    themselves should two keys meet).  Zone codes have always been given in
    this order; keeping it keeps a file's history arrays the same.
    """
    width = max(map(len, names), default=0)

    def key(name: bytes) -> int:
        if width <= 8:
            return int.from_bytes(name, "little")
        value = len(name) * _MIX & _WORD
        for at in range(0, width, 8):
            value = (value ^ int.from_bytes(name[at : at + 8], "little")) * _MIX & _WORD
            value ^= value >> 29
        return value

    keys = [key(name) for name in names]
    by = names if len(set(keys)) < len(keys) else keys
    return sorted(range(len(names)), key=by.__getitem__)


def read_history(
    source: str | PathLike[str] | BinaryIO,
    *,
    default_timezone: str | None = None,
    report: Report | None = None,
    block_bytes: int = 32 << 20,
) -> History:
    """Read a history CSV file, streaming it in blocks of ``block_bytes``.

    Bad rows go to ``report`` (a :class:`~mailer.errors.CustomerError` with
    ``path``, ``line`` and ``field`` each) and are skipped; a missing column
    raises.  Quoted fields are understood (more slowly, through :mod:`csv`).
    Memory holds the history and about two blocks.

    >>> data = io.BytesIO(
    ...     b"customer_id,timezone,sent_at,opened_at,clicked_at\\n"
    ...     b"c1,America/New_York,2024-11-03T09:00:00Z,2024-11-03T12:15:00Z,\\n"
    ...     b"c2,,2024-11-03T09:00:00Z,,\\n"
    ...     b"c3,Europe/Paris,2024-11-03 09:00,,\\n")
    >>> report = Report()
    >>> h = read_history(data, default_timezone="UTC", report=report)
    >>> h.customer_ids.tolist(), h.open_minute.tolist(), h.open_delay.tolist()
    (['c1', 'c2'], [435, -1], [195.0, nan])
    >>> report.lines()
    ["line 4, field 'sent_at': expected an ISO 8601 time with an offset or Z, found '2024-11-03 09:00'"]
    """
    report = report if report is not None else Report()
    path: str | None
    if isinstance(source, (str, PathLike)):
        path = str(source)
        stream: BinaryIO = open(Path(source), "rb")  # noqa: SIM115 - closed below
    else:
        path = getattr(source, "name", None) if isinstance(getattr(source, "name", None), str) else None
        stream = source
    try:
        header_bytes = stream.readline()
        if header_bytes.startswith(b"\xef\xbb\xbf"):
            header_bytes = header_bytes[3:]
        header = next(csv.reader([header_bytes.decode("utf-8", "replace")]), [])
        reader = _Reader(header, path, default_timezone, report)
        with ThreadPoolExecutor(max_workers=1) as ahead:
            parsed = (reader.parse(block) for block in _blocks(stream, block_bytes))
            chunks = [chunk for block in _prefetched(ahead, parsed) if (chunk := reader.check(block)) is not None]
    finally:
        if path is not None:
            stream.close()
    history = _assemble(chunks, reader.zones)
    del chunks
    pa.default_memory_pool().release_unused()  # give the blocks' memory back for what comes next (fitting)
    return history


@dataclass(frozen=True)
class _Block:
    """Whole lines of the file, ``data[:size]``: ``lines`` of them, the first being line ``first_line``."""

    data: bytes | bytearray
    size: int
    first_line: int
    lines: int

    def view(self) -> memoryview:
        return memoryview(self.data)[: self.size]

    def has(self, text: bytes) -> bool:
        return self.data.find(text, 0, self.size) >= 0

    def count(self, text: bytes) -> int:
        return self.data.count(text, 0, self.size)

    def utf8(self) -> bool:
        if np.frombuffer(self.view(), np.uint8).max(initial=0) < 0x80:
            return True
        try:
            str(self.view(), "utf-8")
        except UnicodeDecodeError:
            return False
        return True


def _blocks(stream: BinaryIO, block_bytes: int) -> Iterator[_Block]:
    """The rest of ``stream`` in blocks of ``block_bytes`` or so, each cut after its last line end outside quotes.

    Two buffers take turns, reused to spare the memory allocator: a block
    stays as it is while the next one is read, and no longer.
    """
    buffers = [bytearray(block_bytes), bytearray(block_bytes)]
    carry = b""  # the start of a line that the block before cut off
    line = 2
    while True:
        buffer = buffers[0]
        if len(buffer) < len(carry) + block_bytes:  # a line longer than a block
            buffer = buffers[0] = bytearray(len(carry) + block_bytes)
        buffer[: len(carry)] = carry
        got = _read_into(stream, memoryview(buffer)[len(carry) : len(carry) + block_bytes])
        size = len(carry) + got
        if not got:
            if size:
                data = bytes(buffer[:size]) + (b"" if buffer[size - 1] == 10 else b"\n")
                yield _Block(data, len(data), line, data.count(b"\n"))
            return
        cut = _last_row_end(buffer, size)
        carry = bytes(buffer[cut:size])
        if cut:
            block = _Block(buffer, cut, line, int(np.count_nonzero(np.frombuffer(buffer, np.uint8, cut) == 10)))
            yield block
            line += block.lines
            buffers.reverse()


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(view))
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


def _last_row_end(data: bytearray, size: int) -> int:
    """Offset just past the last newline of ``data[:size]`` that is not inside a quoted field (0 if none)."""
    end = data.rfind(b"\n", 0, size) + 1
    if end == 0 or data.find(b'"', 0, end) < 0:
        return end
    buf = np.frombuffer(data, np.uint8, size)
    quotes = np.flatnonzero(buf == 34)
    newlines = np.flatnonzero(buf == 10)
    outside = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return int(outside[-1]) + 1 if outside.size else 0


def _prefetched(pool: ThreadPoolExecutor, items: Iterator[_T]) -> Iterator[_T]:
    """``items``, the next one being made in ``pool`` while the caller works on this one."""
    done = object()
    coming = pool.submit(next, items, done)
    while (item := coming.result()) is not done:
        coming = pool.submit(next, items, done)
        yield cast(_T, item)


def _assemble(chunks: list[_Chunk], zones: Zones) -> History:
    if not sum(len(c.ids) for c in chunks):
        empty = {name: np.zeros(0, dtype) for name, dtype in _EMPTY_DTYPES.items()}
        return History(customer_ids=np.zeros(0, "U1"), zones=tuple(zones.names), **empty)
    if all(c.keys is not None for c in chunks):
        distinct, which = _distinct(pa.array(np.concatenate([c.keys for c in chunks])))
        names = distinct.to_numpy().view("S8")  # the keys' bytes again, less the zeros they were padded with
    else:
        ids = pa.concat_arrays([p for c in chunks for p in (c.ids.chunks if isinstance(c.ids, pa.ChunkedArray) else [c.ids])])
        distinct, which = _distinct(ids)
        del ids
        names = np.array(distinct.to_pylist(), dtype=f"S{max(pc.max(pc.binary_length(distinct)).as_py(), 1)}")
    for c in chunks:
        c.ids, c.keys = pa.array([], pa.binary()), None  # let go of each block's copy
    # Customers are numbered in the order of their ids, so that lookups can bisect.
    order = np.argsort(names, kind="stable")
    rank = np.empty(order.shape[0], np.int32)
    rank[order] = np.arange(order.shape[0], dtype=np.int32)
    customer = rank[which]
    del which
    # One column at a time, dropping each block's copy as it goes, so the peak stays near one history.
    columns = {}
    for name in _ROW_FIELDS[1:]:
        columns[name] = np.concatenate([c.columns.pop(name) for c in chunks])
    names = names[order]
    if (names.view(np.uint8) < 0x80).all():  # ASCII, the usual case: no need to decode
        customer_ids = names.astype(f"U{max(int(np.strings.str_len(names).max()), 1)}")
    else:
        customer_ids = np.strings.decode(names, "utf-8", "replace")
    return History(customer_ids=customer_ids, zones=tuple(zones.names), customer=customer, **columns)


_EMPTY_DTYPES = {
    "customer": np.int32,
    "zone": np.int16,
    "sent_minute": np.int16,
    "open_minute": np.int16,
    "open_delay": np.float32,
    "click_minute": np.int16,
    "click_delay": np.float32,
    "machine_open": np.int8,
}


def history_from_rows(
    rows: Iterable[Mapping[str, object]],
    *,
    default_timezone: str | None = None,
    report: Report | None = None,
) -> History:
    """A history from dictionaries keyed like the file's columns.

    Times may be ISO 8601 strings or timezone-aware :class:`datetime`;
    ``None`` or ``""`` when absent.  Bad rows (numbered from 1) go to
    ``report`` and are skipped.

    >>> h = history_from_rows([
    ...     {"customer_id": "ann", "timezone": "Australia/Sydney", "sent_at": "2024-04-06T15:00:00Z",
    ...      "opened_at": "2024-04-07T03:00:00+10:00", "clicked_at": None},
    ... ])
    >>> h.sent_minute.tolist(), h.open_minute.tolist(), h.open_delay.tolist()  # DST ends in between
    ([120], [180], [120.0])
    """
    report = report if report is not None else Report()
    keep: dict[str, list[object]] = {c: [] for c in REQUIRED + OPTIONAL}
    for number, row in enumerate(rows, start=1):
        try:
            values = _row_values(row, default_timezone)
        except CustomerError as err:
            err.line = number
            err.args = (err._describe(),)
            report.add(err)
            continue
        for column, value in values.items():
            keep[column].append(value)
    n = len(keep["customer_id"])

    def times(column: str) -> np.ndarray:
        return np.array([np.datetime64("NaT") if v is None else v for v in keep[column]], dtype="datetime64[s]")

    if n == 0:
        return _assemble([], Zones())
    return History.from_arrays(
        np.array(keep["customer_id"], dtype=str),
        times("sent_at"),
        times("opened_at"),
        times("clicked_at"),
        timezones=np.array(keep["timezone"], dtype=object),
        machine_open=np.array(keep["machine_open"], dtype=object),
    )


def _row_values(row: Mapping[str, object], default_timezone: str | None) -> dict[str, object]:
    customer = row.get("customer_id")
    if not customer:
        raise CustomerError("empty customer_id", field="customer_id")
    tz = row.get("timezone") or default_timezone
    if not tz:
        raise CustomerError("no time zone and no default time zone", field="timezone")
    try:
        Zones().code(str(tz))
    except LocaleError:
        raise CustomerError(f"unknown time zone {tz!r}", field="timezone") from None
    values: dict[str, object] = {"customer_id": str(customer), "timezone": str(tz)}
    for column in _TIMES:
        values[column] = _utc_instant(row.get(column), column)
    if all(values[c] is None for c in _TIMES):
        raise CustomerError(_PROBLEMS[0][1], field="sent_at")
    sent = values["sent_at"]
    for column in ("opened_at", "clicked_at"):
        value = values[column]
        if sent is not None and value is not None and value < sent - np.timedelta64(_SKEW, "s"):  # type: ignore[operator]
            raise CustomerError(f"{column} is before sent_at", field=column)
    flag = row.get("machine_open")
    if isinstance(flag, str) and flag.strip():
        token = flag.strip().lower().encode()
        if token not in _TRUE + _FALSE:
            raise CustomerError(f"expected true or false, found {flag!r}", field="machine_open")
        values["machine_open"] = token in _TRUE
    else:
        values["machine_open"] = None if flag in (None, "") else bool(flag)
    return values


def _utc_instant(value: object, column: str) -> np.datetime64 | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        secs, status = parse_instants([value])
        if status[0] != 0:
            raise CustomerError(f"expected an ISO 8601 time with an offset or Z, found {value!r}", field=column)
        return np.datetime64(int(secs[0]), "s")
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise CustomerError(f"naive datetime {value.isoformat()!r}; give a timezone", field=column)
        return np.datetime64(int(value.timestamp()), "s")
    raise CustomerError(f"expected a time, found {value!r}", field=column)
