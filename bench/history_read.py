"""Speed of reading an engagement history (``read_history``), against the hand parser and the naive way, in one run.

Generates, in a temporary directory, a history of ``--rows`` messages for
``--customers`` customers in nine time zones (about 28 % opened, some
clicked, ``Z`` and ``±HH:MM`` times, an extra column, a partial
``machine_open``; ``bench/sto_speed.py``'s generator), then reads it, each
reader in a process of its own, one after the other:

* ``read_history``: this tree's reader (pyarrow's CSV reader, times parsed by
  ``pyarrow.compute``);
* the hand-written numpy CSV and ISO 8601 parser it replaced, as it stood at
  commit ``--old`` (loaded from git into a temporary package);
* the naive way, ``tests.support.history_reference``: :mod:`csv`,
  ``datetime.fromisoformat`` and ``zoneinfo`` a row at a time, with the same
  results.  It runs on the first ``--naive-rows`` rows only, and its time for
  the whole file is EXTRAPOLATED, and labelled so.

Each prints wall seconds, rows per second, CPU seconds (all threads) and the
process's peak RSS; the two whole-file readers' ``History`` arrays are then compared, every
array, zone codes included.  The machine's load average is printed too: on
a shared machine, wall time follows it and CPU time does not.

    python bench/history_read.py [--rows 20000000] [--customers 1000000] [--naive-rows 200000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OLD = "e044dfd854545402072fdcf21b26f056d6604165"  # the last commit with the hand parser

# Run in a child process: read the file, time it, save the arrays, print one JSON line.
CHILD = """
import json, resource, sys, time
import numpy as np
sys.path[:0] = {paths!r}
from {module} import {function} as read
started, cpu = time.perf_counter(), time.process_time()
history = read({path!r})
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
use = resource.getrusage(resource.RUSAGE_SELF)
if {save!r}:
    np.savez({save!r}, zones=np.array(history.zones), **{{name: getattr(history, name) for name in {fields!r}}})
print(json.dumps({{"rows": len(history), "seconds": seconds, "cpu": cpu,
                  "rss": use.ru_maxrss * 1024, "customers": history.n_customers}}))
"""
FIELDS = (
    "customer_ids", "customer", "zone", "sent_minute", "open_minute", "open_delay",
    "click_minute", "click_delay", "machine_open",
)


def old_package(where: Path, commit: str) -> Path:
    """The hand parser at ``commit`` as package ``handparser`` under ``where`` (zones, errors, report: this tree's)."""
    package = where / "handparser"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("history", "timestamps"):
        text = subprocess.run(
            ["git", "show", f"{commit}:mailer/sto/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (package / f"{name}.py").write_text(text.replace("from mailer.sto.timestamps import", "from handparser.timestamps import"))
    return where


def run(module: str, function: str, path: Path, paths: list[str], save: Path | None) -> dict[str, float]:
    code = CHILD.format(paths=paths, module=module, function=function, path=str(path), save=str(save) if save else "",
                        fields=FIELDS)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{module}.{function} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_rows(path: Path, rows: int, out: Path) -> int:
    with open(path, "rb") as source, open(out, "wb") as sink:
        sink.write(source.readline())
        n = 0
        for n, line in enumerate(source, start=1):  # noqa: B007
            sink.write(line)
            if n == rows:
                break
    return n


def same(a: Path, b: Path) -> list[str]:
    import numpy as np

    x, y = np.load(a), np.load(b)
    return [k for k in x.files if not (x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--old", default=OLD, help="commit whose mailer/sto/history.py is the hand parser")
    parser.add_argument("--keep", type=Path, help="keep the generated history here (and reuse it if it exists)")
    args = parser.parse_args()

    from bench.sto_speed import generate

    with tempfile.TemporaryDirectory(prefix="history-read-") as tmp:
        work = Path(tmp)
        history = args.keep or work / "history.csv"
        started = time.perf_counter()
        if not (args.keep and history.exists()):
            generate(history, args.rows, args.customers, args.seed)
        rows = args.rows if not args.keep else sum(1 for _ in open(history, "rb")) - 1
        print(f"history: {rows:,} rows, {args.customers:,} customers, {history.stat().st_size / 1e9:.2f} GB "
              f"(ready in {time.perf_counter() - started:.0f}s); load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")

        here = [str(ROOT)]
        results = {
            "read_history (pyarrow)": run("mailer.sto.history", "read_history", history, here, work / "new.npz"),
            f"hand parser ({args.old[:7]})": run(
                "handparser.history", "read_history", history, [str(old_package(work, args.old))] + here, work / "old.npz"
            ),
        }
        sample = work / "sample.csv"
        taken = first_rows(history, args.naive_rows, sample)
        naive = run("tests.support.history_reference", "read_history_reference", sample, here, None)
        results["naive: csv + fromisoformat"] = {**naive, "seconds": naive["seconds"] * rows / taken, "cpu": naive["cpu"] * rows / taken}

        print(f"\n{'reader':32s} {'seconds':>9s} {'rows/s':>12s} {'CPU s':>8s} {'peak RSS':>10s}")
        for name, r in results.items():
            note = f"   EXTRAPOLATED from {taken:,} rows ({naive['seconds']:.1f} s)" if name.startswith("naive") else ""
            print(f"{name:32s} {r['seconds']:9.1f} {rows / r['seconds']:12,.0f} {r['cpu']:8.1f} "
                  f"{r['rss'] / 2**30:8.2f} GiB{note}")
        new, old, slow = results.values()
        differ = same(work / "new.npz", work / "old.npz")
        print(f"\nsame History as the hand parser (every array, zone codes included): {'yes' if not differ else 'NO: ' + ', '.join(differ)}")
        print(f"ratio: {old['seconds'] / new['seconds']:.1f}x faster than the hand parser "
              f"({old['cpu'] / new['cpu']:.1f}x less CPU), {slow['seconds'] / new['seconds']:.0f}x the naive way (extrapolated)")
        if rows >= 20_000_000:
            met = new["seconds"] < 15 and new["rss"] < 4 * 2**30
            print(f"target, 20M rows in under 15 s and under 4 GB: {'met' if met else 'NOT met'} "
                  f"({new['seconds']:.1f} s, {new['rss'] / 2**30:.2f} GiB; load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
