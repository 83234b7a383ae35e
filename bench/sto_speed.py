"""Speed of ``mailer sto profile`` on a large history, against the naive way, in one run.

Generates (streaming, to a temporary file) a history of ``--rows`` messages
for ``--customers`` customers in nine time zones — ``Z`` and ``±HH:MM``
timestamps, an extra column, a partial ``machine_open`` flag, sends around a
DST change — then runs ``python -m mailer sto profile`` on it as a separate
process and reports wall time, rows per second and the process's peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)``).

The naive way runs on the first ``--naive-rows`` rows, and its time for the
whole file is *extrapolated* and labelled as such: ``csv.DictReader``,
``datetime.fromisoformat`` and ``zoneinfo`` per timestamp, a ``Counter`` of
send hours and one of engagement hours per customer — only the extraction the
model starts from, with no model at all.  The even thinner loop that parses
opened rows only, for a modal open hour, is timed too.

    python bench/sto_speed.py [--rows 20000000] [--customers 1000000] [--naive-rows 200000]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.simulate import ZONES  # noqa: E402

START = date(2024, 2, 12)  # sixteen weeks across the March DST changes
DAYS = 16 * 7
CHUNK = 1_000_000


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def digits(values: np.ndarray, width: int) -> np.ndarray:
    out = np.empty((values.shape[0], width), dtype=np.uint8)
    for i in range(width):
        out[:, width - 1 - i] = (values // 10**i) % 10 + 48
    return out


def stamps(utc: np.ndarray, offset_minutes: np.ndarray, with_offset: np.ndarray) -> np.ndarray:
    """ISO 8601 text: ``Z`` where ``with_offset`` is False, else local time with ``±HH:MM``."""
    shift = np.where(with_offset, offset_minutes, 0)
    local = utc + shift * 60
    days, secs = np.divmod(local, 86400)
    y, mo, d = civil_from_days(days)
    m = np.empty((utc.shape[0], 25), dtype=np.uint8)
    m[:, 0:4] = digits(y, 4)
    m[:, 4] = ord("-")
    m[:, 5:7] = digits(mo, 2)
    m[:, 7] = ord("-")
    m[:, 8:10] = digits(d, 2)
    m[:, 10] = ord("T")
    m[:, 11:13] = digits(secs // 3600, 2)
    m[:, 13] = ord(":")
    m[:, 14:16] = digits(secs // 60 % 60, 2)
    m[:, 16] = ord(":")
    m[:, 17:19] = digits(secs % 60, 2)
    m[:, 19] = np.where(shift < 0, ord("-"), ord("+"))
    m[:, 20:22] = digits(np.abs(shift) // 60, 2)
    m[:, 22] = ord(":")
    m[:, 23:25] = digits(np.abs(shift) % 60, 2)
    text = m.view("S25").ravel()
    zulu = np.strings.add(np.strings.slice(text, 0, 19), b"Z")
    return np.where(with_offset, text, zulu)


def generate(path: Path, rows: int, customers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [z for z, _, _ in ZONES]
    shares = np.array([s for _, s, _ in ZONES])
    zone_of = rng.choice(len(names), size=customers, p=shares / shares.sum())
    offsets = np.zeros((len(names), DAYS), dtype=np.int64)  # minutes, at local noon
    for z, name in enumerate(names):
        tz = ZoneInfo(name)
        for day in range(DAYS):
            when = START + timedelta(days=day)
            offset = datetime(when.year, when.month, when.day, 12, tzinfo=tz).utcoffset()
            offsets[z, day] = int(offset.total_seconds()) // 60 if offset else 0
    zone_names = np.array([n.encode() for n in names])
    epoch_day = (START - date(1970, 1, 1)).days
    with open(path, "wb") as out:
        out.write(b"customer_id,timezone,campaign,sent_at,opened_at,clicked_at,machine_open\n")
        for lo in range(0, rows, CHUNK):
            n = min(CHUNK, rows - lo)
            customer = rng.integers(0, customers, size=n)
            zone = zone_of[customer]
            day = rng.integers(0, DAYS, size=n)
            minute = np.where(rng.random(n) < 0.5, 540, 1080) + rng.integers(0, 5, size=n) * 10
            offset = offsets[zone, day]
            sent = (epoch_day + day) * 86400 + minute * 60 - offset * 60
            opened = rng.random(n) < 0.28
            fast = rng.random(n) < 0.4
            delay = np.where(fast, rng.exponential(180, n), rng.exponential(6 * 3600, n)).astype(np.int64)
            clicked = opened & (rng.random(n) < 0.15)
            click_delay = delay + rng.exponential(120, n).astype(np.int64)
            local = rng.random(n) < 0.25
            flagged = opened & (rng.random(n) < 0.3)
            ids = np.strings.add(b"C", np.strings.zfill(customer.astype("S"), 7))
            columns = [
                ids,
                zone_names[zone],
                np.strings.add(b"cmp", day.astype("S")),
                stamps(sent, offset, local),
                np.where(opened, stamps(sent + delay, offset, local), b""),
                np.where(clicked, stamps(sent + click_delay, offset, local), b""),
                np.where(flagged, np.where(fast, b"true", b"false"), b""),
            ]
            line = columns[0]
            for column in columns[1:]:
                line = np.strings.add(np.strings.add(line, b","), column)
            out.write(b"\n".join(line.tolist()))
            out.write(b"\n")


def naive_counts(path: Path, limit: int) -> tuple[int, float, int]:
    """The same extraction the profile needs, the usual way: DictReader, fromisoformat and
    zoneinfo per timestamp, per-customer Counters of send hours and engagement hours."""
    started = time.perf_counter()
    sends: dict[str, Counter[int]] = defaultdict(Counter)
    engagements: dict[str, Counter[int]] = defaultdict(Counter)
    zones: dict[str, ZoneInfo] = {}
    count = 0
    with open(path, newline="") as handle:
        for row in islice(csv.DictReader(handle), limit):
            count += 1
            tz = zones.get(row["timezone"]) or zones.setdefault(row["timezone"], ZoneInfo(row["timezone"]))
            customer = row["customer_id"]
            if row["sent_at"]:
                sends[customer][datetime.fromisoformat(row["sent_at"]).astimezone(tz).hour] += 1
            human_open = row["opened_at"] and row["machine_open"] != "true"
            first = row["opened_at"] if human_open else row["clicked_at"]
            if first:
                engagements[customer][datetime.fromisoformat(first).astimezone(tz).hour] += 1
    return count, time.perf_counter() - started, len(sends)


def naive_modal(path: Path, limit: int) -> tuple[int, float, int]:
    """Less than the same job: only opened rows are parsed, for a modal open hour per customer."""
    started = time.perf_counter()
    hours: dict[str, Counter[int]] = defaultdict(Counter)
    zones: dict[str, ZoneInfo] = {}
    count = 0
    with open(path, newline="") as handle:
        for row in islice(csv.DictReader(handle), limit):
            count += 1
            if not row["opened_at"] or row["machine_open"] == "true":
                continue
            tz = zones.get(row["timezone"]) or zones.setdefault(row["timezone"], ZoneInfo(row["timezone"]))
            hours[row["customer_id"]][datetime.fromisoformat(row["opened_at"]).astimezone(tz).hour] += 1
    modal = {customer: counter.most_common(1)[0][0] for customer, counter in hours.items()}
    return count, time.perf_counter() - started, len(modal)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep the generated history here instead of a temporary file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sto-speed-") as tmp:
        history = args.keep or Path(tmp) / "history.csv"
        started = time.perf_counter()
        if not (args.keep and history.exists()):
            generate(history, args.rows, args.customers, args.seed)
        size = history.stat().st_size
        print(f"history: {args.rows:,} rows, {args.customers:,} customers, {size / 1e9:.2f} GB "
              f"(generated in {time.perf_counter() - started:.0f}s)")

        out = Path(tmp) / "profiles.csv"
        command = [sys.executable, "-m", "mailer", "sto", "profile", "--history", str(history), "--out", str(out)]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        if done.returncode != 0:
            print(done.stderr)
            return 1
        written = sum(1 for _ in open(out, "rb")) - 1
        print(f"\nmailer sto profile (one process, end to end: read, fit with held-out tuning, write)")
        print(f"  wall time   {wall:8.1f} s")
        print(f"  rows/s      {args.rows / wall:12,.0f}")
        print(f"  peak RSS    {peak / 2**30:8.2f} GiB")
        print(f"  profiles    {written:,} rows written ({out.stat().st_size / 1e6:.0f} MB)")
        print(f"  {done.stderr.strip().splitlines()[0]}")

        print(f"\nnaive, measured on the first {args.naive_rows:,} rows and EXTRAPOLATED to {args.rows:,}:")
        estimates = []
        for label, function in (
            ("same extraction (every timestamp parsed, Counters of send and engagement hours)", naive_counts),
            ("modal open hour only (only opened rows parsed; no exposure, machine or shrinkage)", naive_modal),
        ):
            count, seconds, customers = function(history, args.naive_rows)
            rate = count / seconds
            estimates.append(args.rows / rate)
            print(f"  {label}")
            print(f"    {seconds:.1f} s for {count:,} rows = {rate:,.0f} rows/s -> EXTRAPOLATED {args.rows / rate:,.0f} s")
        print(f"\nratio: mailer.sto profile (whole model, measured) is {estimates[0] / wall:.1f}x faster than the naive "
              f"extraction alone (extrapolated), {estimates[1] / wall:.1f}x the modal-hour-only loop")
        print(f"targets: under 120 s -> {'met' if wall < 120 else 'NOT met'}; "
              f"well under 4 GB -> {'met' if peak < 3 * 2**30 else 'NOT met'} ({peak / 2**30:.2f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
