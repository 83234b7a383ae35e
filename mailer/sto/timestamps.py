"""ISO 8601 instants, a whole column at a time.

A history file holds tens of millions of timestamps; parsing them one by one
with :mod:`datetime` costs most of the run.  Here a column is matched against
the accepted grammar by one regular expression and converted by Arrow's
ISO 8601 cast, both in :mod:`pyarrow.compute`.  Accepted:
``YYYY-MM-DD[T ]HH:MM[:SS][.f]`` (``T`` in either case, a fraction of one to
nine digits, dropped) followed by ``Z`` (either case) or an offset
``±HH:MM``, ``±HHMM`` or ``±HH``, naming a real instant: a day its month has,
hours below 24, minutes and seconds below 60, an offset below 24 hours.  A
time with no offset is rejected: it would silently be read in the wrong zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

#: Status codes returned next to the parsed seconds.
OK, EMPTY, INVALID = 0, 1, 2

GRAMMAR = (
    r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2}))?(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?P<offset_hours>[0-9]{2})(?::?(?P<offset_minutes>[0-9]{2}))?)$"
)
"""The accepted text (RE2 syntax), with the parts :func:`real_instants` checks named."""

_UTC = pa.timestamp("s", "UTC")
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def parse_instants(values: pa.Array | pa.ChunkedArray | Sequence[bytes | str]) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the Unix epoch (UTC) of ISO 8601 times, and a status for each.

    ``values`` is a pyarrow binary or string array without nulls, chunked or
    not (or a list of bytes or str).  Returns ``(seconds, status)``:
    ``status`` is :data:`OK`, :data:`EMPTY` or :data:`INVALID`, ``seconds``
    is 0 unless OK.  Fractions of a second are dropped.

    >>> texts = ["2024-03-31T01:30:00Z", "2024-03-31t02:30:00.5+01:00", "", "2024-03-31 01:30", "2024-02-30T07:00+0530"]
    >>> seconds, status = parse_instants(texts)
    >>> seconds.astype("datetime64[s]").tolist()[:2], status.tolist()
    ([datetime.datetime(2024, 3, 31, 1, 30), datetime.datetime(2024, 3, 31, 1, 30)], [0, 0, 1, 2, 2])
    """
    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = pa.array([v.encode() if isinstance(v, str) else v for v in values], pa.binary())
    elif values.type != pa.binary():
        values = values.cast(pa.binary())
    length = pc.binary_length(values).to_numpy(zero_copy_only=False)
    seconds = np.zeros(length.shape[0], np.int64)
    status = np.where(length == 0, EMPTY, INVALID).astype(np.int8)
    rows = np.flatnonzero(length)
    text = values if rows.size == length.shape[0] else values.filter(pa.array(length > 0))
    stamps = _plain(text, length[rows])
    if stamps is None:  # some time is not plain: match each against the grammar first
        well_formed = pc.match_substring_regex(text, GRAMMAR).to_numpy(zero_copy_only=False)
        rows, text = rows[well_formed], pc.ascii_upper(text.filter(pa.array(well_formed)).cast(pa.string()))
        try:
            stamps = pc.cast(text, _UTC)
        except pa.ArrowInvalid:  # a fraction (Arrow reads none into whole seconds), or no such day, hour or offset
            text = pc.replace_substring_regex(text, r"\.[0-9]+", "")
            real = real_instants(text)
            rows, stamps = rows[real], pc.cast(text.filter(pa.array(real)), _UTC)
    seconds[rows] = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
    status[rows] = OK
    return seconds, status


def _plain(text: pa.Array | pa.ChunkedArray, length: np.ndarray) -> pa.Array | pa.ChunkedArray | None:
    """The instants, if Arrow's ISO 8601 cast reads every time of ``text`` (none empty) and each matches :data:`GRAMMAR`.

    The usual case, and the fast one: no regular expression.  Arrow reads a
    few shapes the grammar does not: no offset, or a time as ``HH``,
    ``HHMM`` or ``HHMMSS``.  A ``:`` as 14th byte rules out the last three,
    and with it, a time without offset is 16 bytes (too short for the
    grammar) or 19 with a ``:`` as 17th byte (``HH:MM:SS``).  Arrow reads no
    fraction into whole seconds, nor a lower-case ``t`` or ``z`` (made
    capitals here), nor anything else the grammar rejects.
    """
    if (length < 17).any() or not pc.all(pc.equal(pc.binary_slice(text, 13, 14), b":")).as_py():
        return None
    nineteen = length == 19
    if nineteen.any() and (nineteen & pc.equal(pc.binary_slice(text, 16, 17), b":").to_numpy(zero_copy_only=False)).any():
        return None
    try:
        return pc.cast(pc.ascii_upper(text.cast(pa.string())), _UTC)
    except pa.ArrowInvalid:
        return None


def real_instants(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Whether each time matching :data:`GRAMMAR` names a real instant (see the module's rules).

    >>> real_instants(pa.array(["2024-02-29T23:59:59Z", "2023-02-29T10:00Z", "2024-05-01T24:00Z", "2024-05-01T09:00+24"])).tolist()
    [True, False, False, False]
    """
    parts = pc.extract_regex(text, GRAMMAR)

    def number(name: str) -> np.ndarray:  # an absent part reads as 0
        return pc.cast(pc.binary_join_element_wise("0", pc.struct_field(parts, name), ""), pa.int64()).to_numpy(zero_copy_only=False)

    year, month, day, hour, minute, second, offset_hours, offset_minutes = map(
        number, ("year", "month", "day", "hour", "minute", "second", "offset_hours", "offset_minutes")
    )
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = np.where((month == 2) & ~leap, 28, _DAYS_IN_MONTH[np.clip(month, 0, 12)])
    return (
        (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)
        & (hour < 24) & (minute < 60) & (second < 60) & (offset_hours < 24) & (offset_minutes < 60)
    )
