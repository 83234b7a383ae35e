"""Engagement histories: one row per message sent, read into plain arrays.

A history says, per message, who received it, when it was sent and when (if
ever) it was opened and clicked.  Send-time learning only needs local clock
times and delays, so a :class:`History` keeps exactly that, about 21 bytes a
row: twenty million rows fit in well under half a gigabyte.

:func:`read_history` streams a CSV file in large blocks and parses each block
with numpy (no Python loop per row); :meth:`History.from_arrays` and
:func:`history_from_rows` build the same thing from arrays or dictionaries.
Bad rows are reported to a :class:`~mailer.report.Report` and skipped.

The file's columns (others are ignored): ``customer_id``, ``timezone``
(IANA, optional), ``sent_at``, ``opened_at``, ``clicked_at`` (ISO 8601 with an
offset or ``Z``; empty when it did not happen) and optional ``machine_open``
(true/false).  A row with an empty ``sent_at`` is an engagement whose send
time is unknown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mailer.errors import ConfigError, CustomerError, LocaleError
from mailer.report import Report
from mailer.sto.timestamps import EMPTY, INVALID, byte_words, parse_instants
from mailer.sto.zones import Zones

REQUIRED = ("customer_id", "sent_at", "opened_at", "clicked_at")
OPTIONAL = ("timezone", "machine_open")
_TIMES = ("sent_at", "opened_at", "clicked_at")
_MAX_ID = 256
_SKEW = 60  # seconds an open may precede its send (clock skew) before it is an error
_TRUE = (b"true", b"t", b"1", b"yes", b"y")
_FALSE = (b"false", b"f", b"0", b"no", b"n")
_TOKEN_KEYS = {
    tokens: np.array([int.from_bytes(t, "little") | int.from_bytes(b"\x20" * len(t), "little") for t in tokens], np.uint64)
    for tokens in (_TRUE, _FALSE)
}


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
        known = present & has_sent
        delay = (secs - sent) / 60.0
        problem[known & (delay < -_SKEW / 60.0) & (problem < 0)] = code
        out[f"{name}_delay"] = np.where(known, np.maximum(delay, 0.0), np.nan).astype(np.float32)
    return out, problem


class _Problems:
    """Turns per-row problem codes into reported errors, building at most what the report keeps."""

    def __init__(self, report: Report, path: str | None) -> None:
        self.report = report
        self.path = path

    def add(self, lines: np.ndarray, field: str | None, reason: str | list[str]) -> None:
        if lines.size == 0:
            return
        room = max(self.report.limit - len(self.report.problems), 0)
        for i in range(min(room, lines.size)):
            text = reason if isinstance(reason, str) else reason[i]
            self.report.add(CustomerError(text, path=self.path, line=int(lines[i]), field=field))
        rest = lines.size - min(room, lines.size)
        if rest:
            self.report.count += rest
            self.report.reasons[CustomerError.__name__] += rest


def _field_bytes(buf: np.ndarray, start: np.ndarray, stop: np.ndarray, width: int) -> np.ndarray:
    """Fields ``buf[start:stop]`` as a fixed-width bytes array (zero padded)."""
    width = max(width, 1)
    index = start[:, None] + np.arange(width)
    inside = index < stop[:, None]
    raw = np.where(inside, buf[np.minimum(index, max(buf.shape[0] - 1, 0))], 0).astype(np.uint8)
    return np.ascontiguousarray(raw).view(f"S{width}").ravel()


_MIX = np.uint64(0x9E3779B97F4A7C15)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def _packed(words: np.ndarray, start: np.ndarray, length: np.ndarray, offset: int) -> np.ndarray:
    """The up-to-8 bytes of each field from ``offset`` on, packed in a word (zeros past the end)."""
    left = np.clip(length - offset, 0, 8).astype(np.uint64)
    mask = np.where(left >= 8, _ONES, (np.uint64(1) << (left * np.uint64(8))) - np.uint64(1))
    return words[np.minimum(start + offset, words.shape[0] - 1)] & mask


def _same(words: np.ndarray, start: np.ndarray, stop: np.ndarray, other: np.ndarray) -> bool:
    """Whether every field ``i`` has the same bytes as field ``other[i]`` (compared a word at a time)."""
    length = stop - start
    if not (length == length[other]).all():
        return False
    for offset in range(0, int(length.max(initial=0)), 8):
        if not (_packed(words, start, length, offset) == _packed(words, start[other], length[other], offset)).all():
            return False
    return True


def _keys(words: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, bool]:
    """A 64-bit key per field: the bytes themselves up to 8 bytes (exact), else a hash of them."""
    length = stop - start
    width = int(length.max(initial=0))
    if width <= 8:
        return _packed(words, start, length, 0), True
    key = length.astype(np.uint64) * _MIX
    for offset in range(0, width, 8):
        key = (key ^ _packed(words, start, length, offset)) * _MIX
        key ^= key >> np.uint64(29)
    return key, False


@dataclass
class _Chunk:
    keys: np.ndarray  # chunk-local unique customer keys
    ids: np.ndarray  # their bytes
    exact: bool  # keys are the bytes themselves (ids of at most 8 bytes)
    customer: np.ndarray  # per row, index into keys
    columns: dict[str, np.ndarray]


class _Reader:
    """Parses CSV blocks into per-row columns, sharing zones and problems across blocks."""

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

    def _zone_codes(
        self, buf: np.ndarray, words: np.ndarray, start: np.ndarray, stop: np.ndarray, lines: np.ndarray, ok: np.ndarray
    ) -> np.ndarray:
        keys, exact = _keys(words, start, stop)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        names = _field_bytes(buf, start[first], stop[first], int((stop - start).max(initial=1)))
        if not exact and not _same(words, start, stop, first[inverse]):
            names, inverse = np.unique(_field_bytes(buf, start, stop, names.itemsize), return_inverse=True)
        codes = np.empty(names.shape[0], np.int64)
        for i, name in enumerate(names.tolist()):
            if name not in self._zone_of:
                if not name:
                    self._zone_of[name] = self.default_zone
                else:
                    try:
                        self._zone_of[name] = self.zones.code(name.decode("utf-8", "replace").strip())
                    except LocaleError:
                        self._zone_of[name] = -2
            codes[i] = self._zone_of[name]
        zone = codes[inverse]
        missing = ok & (zone == -1)
        self.problems.add(lines[missing], "timezone", "no time zone and no default time zone")
        unknown = ok & (zone == -2)
        shown = [v.decode("utf-8", "replace") for v in names[inverse[unknown]].tolist()]
        self.problems.add(lines[unknown], "timezone", [f"unknown time zone {n!r}" for n in shown])
        ok &= zone >= 0
        return np.maximum(zone, 0).astype(np.int16)

    def parse(self, buf: np.ndarray, line_numbers: np.ndarray | None, first_line: int) -> _Chunk | None:
        """Parse a block of complete, unquoted lines (each ending in ``\\n``)."""
        newline = np.flatnonzero(buf == 10)
        line_start = np.concatenate(([0], newline[:-1] + 1))
        line_end = newline.copy()
        cr = (line_end > line_start) & (buf[np.maximum(line_end - 1, 0)] == 13)
        line_end[cr] -= 1
        lines = first_line + np.arange(newline.shape[0]) if line_numbers is None else line_numbers
        nonblank = line_end > line_start
        line_start, line_end, lines = line_start[nonblank], line_end[nonblank], lines[nonblank]
        comma = np.flatnonzero(buf == 44)
        first_comma = np.searchsorted(comma, line_start)
        count = np.searchsorted(comma, line_end) - first_comma
        shaped = count == self.ncols - 1
        for n in np.unique(count[~shaped]).tolist():
            self.problems.add(lines[~shaped & (count == n)], None, f"expected {self.ncols} fields, found {n + 1}")
        line_start, line_end, lines, first_comma = line_start[shaped], line_end[shaped], lines[shaped], first_comma[shaped]
        n = line_start.shape[0]
        if n == 0:
            return None

        def bounds(column: str) -> tuple[np.ndarray, np.ndarray]:
            j = self.index[column]
            start = line_start if j == 0 else comma[first_comma + j - 1] + 1
            stop = line_end if j == self.ncols - 1 else comma[first_comma + j]
            return start, stop

        ok = np.ones(n, bool)
        words = byte_words(buf)
        id_start, id_stop = bounds("customer_id")
        id_len = id_stop - id_start
        self.problems.add(lines[id_len == 0], "customer_id", "empty customer_id")
        self.problems.add(lines[id_len > _MAX_ID], "customer_id", f"customer_id longer than {_MAX_ID} bytes")
        ok &= (id_len > 0) & (id_len <= _MAX_ID)

        if "timezone" in self.index:
            tz_start, tz_stop = bounds("timezone")
            zone = self._zone_codes(buf, words, tz_start, tz_stop, lines, ok)
        else:
            zone = np.full(n, self.default_zone, np.int16)

        parsed = {}
        for column in _TIMES:
            start, stop = bounds(column)
            secs = np.zeros(n, np.int64)
            status = np.full(n, EMPTY, np.int8)
            filled = np.flatnonzero(stop > start)  # most opens and clicks are empty: parse only the rest
            secs[filled], status[filled] = parse_instants(buf, start[filled], stop[filled], words)
            invalid = ok & (status == INVALID)
            if invalid.any():
                shown = [bytes(buf[a:b]).decode("utf-8", "replace") for a, b in zip(start[invalid], stop[invalid])]
                self.problems.add(
                    lines[invalid],
                    column,
                    [f"expected an ISO 8601 time with an offset or Z, found {s!r}" for s in shown],
                )
            ok &= status != INVALID
            parsed[column] = (secs, status != EMPTY)

        if "machine_open" in self.index:
            start, stop = bounds("machine_open")
            length = stop - start
            spaces = np.where(length >= 8, _ONES, (np.uint64(1) << (np.clip(length, 0, 8).astype(np.uint64) * np.uint64(8))) - np.uint64(1))
            lower = _packed(words, start, length, 0) | (spaces & np.uint64(0x2020202020202020))  # ASCII lower case
            flag = np.full(n, -1, np.int8)
            flag[np.isin(lower, _TOKEN_KEYS[_TRUE]) & (length <= 8)] = 1
            flag[np.isin(lower, _TOKEN_KEYS[_FALSE]) & (length <= 8)] = 0
            bad = ok & (flag < 0) & (length > 0)
            self.problems.add(lines[bad], "machine_open", "expected true or false")
            ok &= ~bad
        else:
            flag = np.full(n, -1, np.int8)

        (sent, has_sent), (opened, has_open), (clicked, has_click) = (parsed[c] for c in _TIMES)
        columns, problem = _local_columns(self.zones, zone, sent, has_sent, opened, has_open, clicked, has_click)
        for code, (field, reason) in enumerate(_PROBLEMS):
            self.problems.add(lines[ok & (problem == code)], field, reason)
        ok &= problem < 0

        id_start, id_stop = id_start[ok], id_stop[ok]
        keys, exact = _keys(words, id_start, id_stop)
        uniq, first, customer = np.unique(keys, return_index=True, return_inverse=True)
        width = int((id_stop - id_start).max(initial=1))
        ids = _field_bytes(buf, id_start[first], id_stop[first], width)
        if not exact and not _same(words, id_start, id_stop, first[customer]):
            # A hash collision (never seen in practice): fall back to comparing the bytes.
            ids, customer = np.unique(_field_bytes(buf, id_start, id_stop, width), return_inverse=True)
            uniq = np.arange(ids.shape[0], dtype=np.uint64)
            exact = False
        columns = {k: v[ok] for k, v in columns.items()}
        columns["zone"] = zone[ok]
        columns["machine_open"] = flag[ok]
        return _Chunk(uniq, ids, exact, customer.astype(np.int32), columns)


def _quoted_block(text: bytes, reader: _Reader, first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite a block that uses CSV quoting as plain lines of the needed columns."""
    rows = csv.reader(io.StringIO(text.decode("utf-8", "replace"), newline=""))
    out, lines = [], []
    wanted = sorted(reader.index.items(), key=lambda item: item[1])
    for row in rows:
        line = first_line + rows.line_num - 1
        if not row:
            continue
        if len(row) != reader.ncols:
            reader.problems.add(np.array([line]), None, f"expected {reader.ncols} fields, found {len(row)}")
            continue
        values = [row[j] for _, j in wanted]
        if any(("," in v or "\n" in v or "\r" in v) for v in values):
            reader.problems.add(np.array([line]), None, "a comma or line break inside a needed field")
            continue
        out.append(",".join(values))
        lines.append(line)
    data = ("\n".join(out) + "\n").encode() if out else b""
    return np.frombuffer(data, np.uint8), np.array(lines, dtype=np.int64)


def _plain_reader(reader: _Reader) -> _Reader:
    """A reader for blocks rewritten by :func:`_quoted_block` (needed columns only, in file order)."""
    plain = object.__new__(_Reader)
    plain.__dict__.update(reader.__dict__)
    order = sorted(reader.index.items(), key=lambda item: item[1])
    plain.index = {name: j for j, (name, _) in enumerate(order)}
    plain.ncols = len(order)
    return plain


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
        plain = _plain_reader(reader)
        chunks: list[_Chunk] = []
        carry = b""
        line = 2
        while True:
            block = stream.read(block_bytes)
            data = carry + block
            if not block:
                if not data:
                    break
                if not data.endswith(b"\n"):
                    data += b"\n"
                cut = len(data)
            else:
                cut = _last_row_end(data)
                if cut == 0:
                    carry = data
                    continue
            body, carry = data[:cut], data[cut:]
            if b'"' in body:
                buf, lines = _quoted_block(body, reader, line)
                chunk = plain.parse(buf, lines, line) if buf.size else None
            else:
                chunk = reader.parse(np.frombuffer(body, np.uint8), None, line)
            if chunk is not None:
                chunks.append(chunk)
            line += body.count(b"\n")
            if not block:
                break
    finally:
        if path is not None:
            stream.close()
    return _assemble(chunks, reader.zones)


def _last_row_end(data: bytes) -> int:
    """Offset just past the last newline that is not inside a quoted field (0 if none)."""
    end = data.rfind(b"\n") + 1
    if end == 0 or b'"' not in data[:end]:
        return end
    buf = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(buf == 34)
    newlines = np.flatnonzero(buf == 10)
    outside = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    return int(outside[-1]) + 1 if outside.size else 0


def _assemble(chunks: list[_Chunk], zones: Zones) -> History:
    if not chunks:
        empty = {name: np.zeros(0, dtype) for name, dtype in _EMPTY_DTYPES.items()}
        return History(customer_ids=np.zeros(0, "U1"), zones=tuple(zones.names), **empty)
    names = np.concatenate([c.ids for c in chunks])
    if all(c.exact for c in chunks):
        _, first, inverse = np.unique(np.concatenate([c.keys for c in chunks]), return_index=True, return_inverse=True)
        ids = names[first]
    else:
        ids, inverse = np.unique(names, return_inverse=True)
    # Customers are numbered in the order of their ids, so that lookups can bisect.
    order = np.argsort(ids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    customer = rank[inverse]
    offsets = np.cumsum([0] + [c.keys.shape[0] for c in chunks])
    rows = np.concatenate([customer[offsets[i] + c.customer] for i, c in enumerate(chunks)]).astype(np.int32)
    for c in chunks:
        c.customer = np.zeros(0, np.int32)  # let go of what is already copied
    # One column at a time, dropping each block's copy as it goes, so the peak stays near one history.
    columns = {}
    for name in _ROW_FIELDS[1:]:
        columns[name] = np.concatenate([c.columns.pop(name) for c in chunks])
    return History(
        customer_ids=np.strings.decode(ids[order], "utf-8", "replace"),
        zones=tuple(zones.names),
        customer=rows,
        **columns,
    )


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
        buf = np.frombuffer(value.encode(), np.uint8)
        secs, status = parse_instants(buf, np.array([0]), np.array([buf.shape[0]]))
        if status[0] != 0:
            raise CustomerError(f"expected an ISO 8601 time with an offset or Z, found {value!r}", field=column)
        return np.datetime64(int(secs[0]), "s")
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise CustomerError(f"naive datetime {value.isoformat()!r}; give a timezone", field=column)
        return np.datetime64(int(value.timestamp()), "s")
    raise CustomerError(f"expected a time, found {value!r}", field=column)
