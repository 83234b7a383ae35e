"""Worker processes on PostgreSQL whose database connections are killed
mid-campaign (``pg_terminate_backend``, as a database restart or a failover
does): they reconnect and finish, nothing is lost and nothing is sent twice.
Processes are stopped by their own pid."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from mailer.inputs.customers import iter_customers
from mailer.report import Report
from mailer.sending.delivery import queue_campaign
from mailer.sending.plan import At
from tests.conftest import FIXTURES, ROOT, prepared_sample
from tests.integration.smtp_server import SMTPServer


def terminate_other_backends(store) -> int:  # type: ignore[no-untyped-def]
    """Kill every other connection to the test database (the workers'), as a restart would."""
    rows = store._db.execute(  # type: ignore[attr-defined]
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return sum(1 for (killed,) in rows if killed)


def test_workers_reconnect_after_their_connections_are_killed(tmp_path: Path, smtp: SMTPServer) -> None:
    from tests.test_store import POSTGRES_DSN, drop, postgres_store

    store = postgres_store(caps=None)
    url = f"{POSTGRES_DSN}?options={quote(f'-c search_path={store.schema}')}"  # type: ignore[attr-defined]
    customers = list(iter_customers(FIXTURES / "customers.csv", report=Report()))
    with prepared_sample(tmp_path / "state") as prepared:
        total = queue_campaign(store, prepared, customers, rule=At(datetime.now(timezone.utc)), quiet=None).added
    smtp.handler.script = lambda stage, address: "STALL 0.15" if stage == "rcpt" else None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen(
        [sys.executable, "-m", "mailer", "worker", "--store", url, "--transport", f"smtp://127.0.0.1:{smtp.port}",
         "--until-idle", "--concurrency", "2", "--lease", "5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) for _ in range(2)]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(smtp.handler.received) < total // 3:
            assert time.monotonic() < deadline, "the workers sent nothing"
            time.sleep(0.02)
        killed = terminate_other_backends(store)
        assert killed >= 2
        errors = []
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            errors.append(err.decode())
            assert worker.returncode == 0, err.decode()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(10)
    assert all("reconnected to" in err for err in errors), errors  # each worker lost its connection and came back
    received = Counter(r.message_id for r in smtp.handler.received)
    assert set(received.values()) == {1}, "a message was sent twice"
    counts = store.counts()
    assert sum(counts.values()) == total and set(counts) <= {"sent", "unknown"}, counts
    sent = {d.message_id for d in store.deliveries() if d.state == "sent"}
    assert sent <= set(received) and len(received) >= counts["sent"]
    drop(store)
