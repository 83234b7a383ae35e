"""Ctrl-C while a campaign is being checked and queued: exit 130, no
traceback, no row a worker could take before the check ended, and the same
command run again queues everyone exactly once."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailer.store import open_store
from tests.conftest import FIXTURES, ROOT

N = 60_000


def many_customers(path: Path) -> int:
    """The sample's valid customers, repeated under new ids and addresses."""
    rows = list(csv.DictReader((FIXTURES / "customers.csv").open(encoding="utf-8")))
    rows = [r for r in rows if r["id"] not in ("C0031", "C0032")]  # the sample's two broken rows
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(N):
            row = dict(rows[i % len(rows)])
            local, domain = row["email"].split("@")
            row.update(id=f"K{i:06d}", email=f"{local}+{i}@{domain}")
            writer.writerow(row)
    return N


def queued(tmp_path: Path) -> int:
    """Rows committed so far (read without waiting on the writer)."""
    import sqlite3

    path = tmp_path / "queue.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as db:
            return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])
    except sqlite3.Error:  # the schema is still being made
        return 0


def command(tmp_path: Path, customers: Path) -> list[str]:
    return [sys.executable, "-m", "mailer", "run", str(FIXTURES / "campaign.toml"),
            "--customers", str(customers), "--feed", str(FIXTURES / "products.xml"),
            "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--state-dir", str(tmp_path / "state"),
            "--transport", f"outbox:{tmp_path / 'outbox'}", "--no-quiet-hours", "--queue-only"]  # fmt: skip


def test_ctrl_c_while_queueing_exits_130_and_a_second_run_queues_the_rest_once(tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    expected = many_customers(customers)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    # A shell without job control starts background jobs with SIGINT ignored, and children
    # inherit that (Python then installs no Ctrl-C handler): give the command a real Ctrl-C.
    process = subprocess.Popen(command(tmp_path, customers), cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        # Interrupt once the first rows are in the queue: queueing is under way.
        deadline = time.monotonic() + 300
        while queued(tmp_path) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    store = open_store(tmp_path / "queue.sqlite3")
    partly = store.counts()
    store.close()
    # Stopped while checking and queueing: what it had planned waits unclaimable for the check's end.
    assert set(partly) == {"planned"} and 0 < partly["planned"] < expected
    again = subprocess.run(command(tmp_path, customers), cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"queued {expected} message(s)" in again.stdout  # planned again, this time checked to the end
    store = open_store(tmp_path / "queue.sqlite3")
    assert store.counts() == {"queued": expected}
    store.close()
