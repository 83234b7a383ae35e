"""Profiles and send plans as CSV, formatted in bulk.

A million profiles are 25 million numbers; formatting them one by one would
cost more than fitting them.  Numbers are turned into digits with integer
arithmetic on whole arrays, and each row of a profile is rounded so that it
still sums to exactly 1 at the printed precision (largest remainders).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mailer.sto.profiles import SOURCES, Profiles
from mailer.sto.schedule import REASONS, SendPlan

_DIGITS = 6
_UNIT = 10**_DIGITS
_ROWS = 1 << 18


def rounded_units(distribution: np.ndarray, unit: int = _UNIT) -> np.ndarray:
    """Integer parts per ``unit`` of each row, summing to exactly ``unit`` (largest remainders).

    >>> rounded_units(np.array([[1 / 3, 1 / 3, 1 / 3]]), 100).tolist()
    [[34, 33, 33]]
    """
    scaled = distribution * unit
    whole = np.floor(scaled).astype(np.int64)
    short = unit - whole.sum(axis=1)
    order = np.argsort(-(scaled - whole), axis=1, kind="stable")
    bump = np.arange(distribution.shape[1])[None, :] < short[:, None]
    np.put_along_axis(whole, order, np.take_along_axis(whole, order, axis=1) + bump, axis=1)
    return whole


def fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative numbers as fixed-point bytes.

    >>> fixed(np.array([0.5, 12.3456, 0.0]), 3).tolist()
    [b'0.500', b'12.346', b'0.000']
    """
    scaled = np.round(np.asarray(values, dtype=np.float64) * 10**decimals).astype(np.int64)
    whole = (scaled // 10**decimals).astype("S")
    part = np.strings.zfill((scaled % 10**decimals).astype("S"), decimals)
    return np.strings.add(np.strings.add(whole, b"."), part)


def _open(target: str | PathLike[str] | BinaryIO) -> tuple[BinaryIO, bool]:
    if isinstance(target, (str, PathLike)):
        return open(Path(target), "wb"), True  # noqa: SIM115 - closed by the caller
    return target, False


def _join(columns: list[np.ndarray]) -> bytes:
    line = columns[0]
    for column in columns[1:]:
        line = np.strings.add(np.strings.add(line, b","), column)
    return b"\n".join(line.tolist()) + b"\n" if line.size else b""


def write_profiles(target: str | PathLike[str] | BinaryIO, profiles: Profiles) -> int:
    """Write ``customer_id,h00,…,h23``: each row the probability of the next engagement by local hour.

    Returns the number of rows written.
    """
    stream, close = _open(target)
    try:
        stream.write(b"customer_id," + ",".join(f"h{h:02d}" for h in range(24)).encode() + b"\n")
        ids = np.strings.encode(profiles.customer_ids.astype(str), "utf-8")
        for lo in range(0, len(profiles), _ROWS):
            units = rounded_units(_chunk(profiles, lo))
            n = units.shape[0]
            cells = np.empty((n, 24, 9), dtype=np.uint8)
            cells[:, :, 0] = units // _UNIT + 48
            cells[:, :, 1] = ord(".")
            rest = units % _UNIT
            for d in range(_DIGITS):
                cells[:, :, 2 + d] = (rest // 10 ** (_DIGITS - 1 - d)) % 10 + 48
            cells[:, :, 8] = ord(",")
            numbers = np.ascontiguousarray(cells.reshape(n, 24 * 9)[:, :-1]).view(f"S{24 * 9 - 1}").ravel()
            stream.write(_join([ids[lo : lo + n], numbers]))
    finally:
        if close:
            stream.close()
    return len(profiles)


def _chunk(profiles: Profiles, lo: int) -> np.ndarray:
    rates = profiles.rates[lo : lo + _ROWS].astype(np.float64)
    return rates / rates.sum(axis=1, keepdims=True)


PLAN_COLUMNS = (
    "customer_id",
    "send_at",
    "local_time",
    "timezone",
    "reason",
    "source",
    "confidence",
    "expected_engagement",
    "explored",
    "propensity",
)


def write_plan(target: str | PathLike[str] | BinaryIO, plan: SendPlan) -> int:
    """Write one row per customer: :data:`PLAN_COLUMNS`; ``send_at`` is ISO 8601 UTC (empty if unscheduled)."""
    stream, close = _open(target)
    try:
        stream.write(",".join(PLAN_COLUMNS).encode() + b"\n")
        scheduled = ~np.isnat(plan.send_at)
        send = np.where(scheduled, np.strings.add(np.datetime_as_string(plan.send_at, unit="s").astype("S"), b"Z"), b"")
        minute = np.maximum(plan.local_minute.astype(np.int64), 0)
        clock = np.strings.add(
            np.strings.add(np.strings.zfill((minute // 60).astype("S"), 2), b":"),
            np.strings.zfill((minute % 60).astype("S"), 2),
        )
        clock = np.where(scheduled, clock, b"")
        zones = np.array([z.encode() for z in plan.zones] or [b""], dtype="S")
        columns = [
            np.strings.encode(plan.customer_ids.astype(str), "utf-8"),
            send,
            clock,
            zones[plan.zone] if len(plan) else np.zeros(0, "S1"),
            np.array([r.encode() for r in REASONS])[plan.reason],
            np.array([s.encode() for s in SOURCES])[plan.source],
            fixed(plan.confidence, 3),
            fixed(plan.expected, 4),
            np.where(plan.explored, b"true", b"false"),
            fixed(plan.propensity, 4),
        ]
        stream.write(_join(columns))
    finally:
        if close:
            stream.close()
    return len(plan)
