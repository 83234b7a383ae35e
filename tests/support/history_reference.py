"""The straightforward way to read a history file: :mod:`csv`, :mod:`re` and :mod:`datetime`, a row at a time.

:func:`read_history_reference` applies the rules of
:func:`mailer.sto.history.read_history` one row after another, with the
standard library only: which rows are read and which are skipped, each
skipped row's line, field and reason, and the order the report lists them
in.  It is the specification the columnar reader is tested against and the
naive way ``bench/history_read.py`` measures it against.  It numbers time
zones in the order it meets them, so compare zones by name.

The rules, as the file reader has them:

* The file is read in blocks of ``block_bytes`` (each cut after its last line
  end outside quotes).  A block with a ``"`` anywhere is read by
  :func:`csv.reader` (text decoded as UTF-8, bad bytes replaced), and a row
  whose needed field holds a comma or a line break is skipped; any other
  block is split at ``\\n`` (one ``\\r`` before it dropped) and at commas.
* Problems of a block are reported a kind at a time, in the order of
  :data:`STAGES` (rows with the wrong number of fields by that number, in
  unquoted blocks), each kind in line order; a row is reported once, for its
  first problem.
* Times: ``YYYY-MM-DD[Tt ]HH:MM[:SS][.f{1,9}]`` then ``Z``/``z``, ``±HH:MM``,
  ``±HHMM`` or ``±HH``, naming a real instant; fractions are dropped.
* ``machine_open``: ``true t 1 yes y`` or ``false f 0 no n``, at most eight
  bytes, compared with the ``0x20`` bit of every byte set (ASCII case).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mailer.errors import ConfigError, CustomerError, LocaleError
from mailer.report import Report
from mailer.sto.history import History
from mailer.sto.zones import zone as check_zone

__all__ = ["STAGES", "read_history_reference"]

REQUIRED = ("customer_id", "sent_at", "opened_at", "clicked_at")
OPTIONAL = ("timezone", "machine_open")
TIMES = ("sent_at", "opened_at", "clicked_at")
STAGES = (
    "fields",
    "empty customer_id",
    "long customer_id",
    "no time zone",
    "unknown time zone",
    "sent_at",
    "opened_at",
    "clicked_at",
    "machine_open",
    "no times",
    "opened_at before sent_at",
    "clicked_at before sent_at",
)
INSTANT = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2})(:[0-9]{2})?(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|([+-][0-9]{2})(?::?([0-9]{2}))?)"
)
TRUE = {b"true", b"t", b"1", b"yes", b"y"}
FALSE = {b"false", b"f", b"0", b"no", b"n"}

Row = tuple[int, dict[str, bytes]]  # line, needed values
Problem = tuple[int, int, int, str | None, str]  # stage, rank within it, line, field, reason
Kept = tuple[bytes, str, list[int | None], int]  # customer id, zone, sent/opened/clicked, machine flag


def instant(text: bytes) -> int | None:
    """Epoch seconds of an ISO 8601 time with an offset, or None if the reader would reject it."""
    match = INSTANT.fullmatch(text.decode("ascii", "replace"))
    if match is None:
        return None
    day, clock, seconds, hours, minutes = match.groups()
    if minutes and int(minutes) > 59:  # datetime would carry them into the hours
        return None
    offset = f"{hours}:{minutes or '00'}" if hours else "+00:00"
    try:
        return int(datetime.fromisoformat(f"{day}T{clock}{seconds or ':00'}{offset}").timestamp())
    except ValueError:  # no such day, hour, minute or offset
        return None


def flag(token: bytes) -> int:
    lower = bytes(b | 0x20 for b in token)
    if len(token) <= 8 and lower in TRUE:
        return 1
    if len(token) <= 8 and lower in FALSE:
        return 0
    return -1


def _row_end(data: bytes) -> int:
    end = data.rfind(b"\n") + 1
    if end == 0 or b'"' not in data[:end]:
        return end
    inside = False
    last = 0
    for i, byte in enumerate(data[:end]):
        if byte == 34:
            inside = not inside
        elif byte == 10 and not inside:
            last = i + 1
    return last


def _blocks(stream: BinaryIO, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    carry = b""
    line = 2
    while True:
        block = stream.read(block_bytes)
        data = carry + block
        if not block:
            if not data:
                return
            if not data.endswith(b"\n"):
                data += b"\n"
            cut = len(data)
        else:
            cut = _row_end(data)
            if cut == 0:
                carry = data
                continue
        body, carry = data[:cut], data[cut:]
        yield body, line
        line += body.count(b"\n")
        if not block:
            return


def read_history_reference(
    source: str | Path | BinaryIO,
    *,
    default_timezone: str | None = None,
    report: Report | None = None,
    block_bytes: int = 32 << 20,
) -> History:
    """What :func:`~mailer.sto.history.read_history` reads from ``source``, found one row at a time."""
    report = report if report is not None else Report()
    path = str(source) if isinstance(source, (str, Path)) else None
    stream: BinaryIO = open(source, "rb") if isinstance(source, (str, Path)) else source  # noqa: SIM115
    try:
        header = stream.readline()
        header = header[3:] if header.startswith(b"\xef\xbb\xbf") else header
        names = [h.strip().lstrip("\ufeff") for h in next(csv.reader([header.decode("utf-8", "replace")]), [])]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise CustomerError(
                f"missing column(s) {', '.join(missing)}; found {', '.join(names)}", path=path, line=1, field=missing[0]
            )
        index = {c: names.index(c) for c in REQUIRED + OPTIONAL if c in names}
        zone_names: list[str] = []
        if default_timezone is not None:
            try:
                check_zone(default_timezone)
            except LocaleError as err:
                raise ConfigError(f"--default-timezone: {err}") from None
            zone_names.append(default_timezone)
        if "timezone" not in index and default_timezone is None:
            raise ConfigError(f"{path or 'history'} has no timezone column; give a default time zone")
        kept: list[Kept] = []
        for body, first_line in _blocks(stream, block_bytes):
            problems: list[Problem] = []
            rows = _quoted_rows(body, first_line, names, index, problems) if b'"' in body else _plain_rows(
                body, first_line, names, index, problems
            )
            for line, values in rows:
                _check(line, values, default_timezone, zone_names, problems, kept)
            for _, _, line, field, reason in sorted(problems, key=lambda p: (p[0], p[1], p[2])):
                report.add(CustomerError(reason, path=path, line=line, field=field))
    finally:
        if path is not None:
            stream.close()
    return _history(kept, zone_names)


def _quoted_rows(body: bytes, first_line: int, names: list[str], index: dict[str, int], problems: list[Problem]) -> list[Row]:
    rows = csv.reader(io.StringIO(body.decode("utf-8", "replace"), newline=""))
    out: list[Row] = []
    for row in rows:
        line = first_line + rows.line_num - 1
        if not row:
            continue
        if len(row) != len(names):
            problems.append((0, 0, line, None, f"expected {len(names)} fields, found {len(row)}"))
            continue
        values = {c: row[j] for c, j in index.items()}
        if any("," in v or "\n" in v or "\r" in v for v in values.values()):
            problems.append((0, 0, line, None, "a comma or line break inside a needed field"))
            continue
        out.append((line, {c: v.encode() for c, v in values.items()}))
    return out


def _plain_rows(body: bytes, first_line: int, names: list[str], index: dict[str, int], problems: list[Problem]) -> list[Row]:
    out: list[Row] = []
    for number, text in enumerate(body.split(b"\n")[:-1]):
        line = first_line + number
        text = text[:-1] if text.endswith(b"\r") else text
        if not text:
            continue
        fields = text.split(b",")
        if len(fields) != len(names):
            problems.append((0, len(fields), line, None, f"expected {len(names)} fields, found {len(fields)}"))
            continue
        out.append((line, {c: fields[j] for c, j in index.items()}))
    return out


def _check(
    line: int,
    values: dict[str, bytes],
    default_timezone: str | None,
    zone_names: list[str],
    problems: list[Problem],
    kept: list[Kept],
) -> None:
    def problem(stage: str, field: str | None, reason: str) -> None:
        problems.append((STAGES.index(stage), 0, line, field, reason))

    customer = values["customer_id"]
    tz = values.get("timezone", b"")
    name = tz.decode("utf-8", "replace").strip() if tz else default_timezone
    known = False
    if name is not None:
        try:
            check_zone(name)
            known = True
            if name not in zone_names:
                zone_names.append(name)
        except LocaleError:
            pass
    if not customer:
        return problem("empty customer_id", "customer_id", "empty customer_id")
    if len(customer) > 256:
        return problem("long customer_id", "customer_id", "customer_id longer than 256 bytes")
    if name is None:
        return problem("no time zone", "timezone", "no time zone and no default time zone")
    if not known:
        return problem("unknown time zone", "timezone", f"unknown time zone {tz.decode('utf-8', 'replace')!r}")
    times: list[int | None] = []
    for column in TIMES:
        text = values[column]
        times.append(instant(text) if text else None)
        if text and times[-1] is None:
            shown = text.decode("utf-8", "replace")
            return problem(column, column, f"expected an ISO 8601 time with an offset or Z, found {shown!r}")
    machine = flag(values["machine_open"]) if "machine_open" in values else -1
    if "machine_open" in values and machine < 0 and values["machine_open"]:
        return problem("machine_open", "machine_open", "expected true or false")
    sent, opened, clicked = times
    if sent is None and opened is None and clicked is None:
        return problem("no times", "sent_at", "row has no sent_at, opened_at or clicked_at")
    for column, at in (("opened_at", opened), ("clicked_at", clicked)):
        if sent is not None and at is not None and at - sent < -60:
            return problem(f"{column} before sent_at", column, f"{column} is before sent_at")
    kept.append((customer, name, times, machine))


def _history(kept: list[Kept], zone_names: list[str]) -> History:
    ids = sorted({customer for customer, _, _, _ in kept})
    number = {customer: i for i, customer in enumerate(ids)}
    columns: dict[str, list[object]] = defaultdict(list)
    for customer, name, (sent, opened, clicked), machine in kept:
        tz = check_zone(name)
        columns["customer"].append(number[customer])
        columns["zone"].append(zone_names.index(name))
        for label, at in (("sent", sent), ("open", opened), ("click", clicked)):
            wall = datetime.fromtimestamp(at, timezone.utc).astimezone(tz) if at is not None else None
            columns[f"{label}_minute"].append(wall.hour * 60 + wall.minute if wall else -1)
            if label != "sent":
                late = (at - sent) / 60.0 if at is not None and sent is not None else float("nan")
                columns[f"{label}_delay"].append(max(late, 0.0) if late == late else late)
        columns["machine_open"].append(machine)
    width = max([1] + [len(i) for i in ids])
    dtypes = {"customer": np.int32, "zone": np.int16, "open_delay": np.float32, "click_delay": np.float32}
    return History(
        customer_ids=np.strings.decode(np.array(ids, dtype=f"S{width}"), "utf-8", "replace") if ids else np.zeros(0, "U1"),
        zones=tuple(zone_names),
        **{
            name: np.array(columns[name], dtype=dtypes.get(name, np.int8 if name == "machine_open" else np.int16))
            for name in ("customer", "zone", "sent_minute", "open_minute", "open_delay", "click_minute", "click_delay", "machine_open")
        },
    )
