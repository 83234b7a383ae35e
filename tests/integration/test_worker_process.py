"""Worker processes killed and stopped for real, on SQLite and on PostgreSQL:
SIGKILL mid-DATA and before DATA, and SIGTERM draining. Processes are stopped
by their own pid."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mailer.inputs.customers import iter_customers
from mailer.sending.delivery import CampaignRenderer, queue_campaign
from mailer.sending.plan import At
from mailer.store import Store, open_store
from mailer.transports.smtp import SMTPTransport
from mailer.sending.worker import Worker, WorkerOptions
from tests.conftest import FIXTURES, ROOT, prepared_sample
from tests.integration.smtp_server import SMTPServer

M = 6
LEASE = 1.5


@pytest.fixture(params=["sqlite", "postgresql"])
def queued(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Store, str]:
    """The sample campaign queued for M customers, on each store; yields the
    store and the URL worker processes open it with."""
    from datetime import datetime, timezone
    from urllib.parse import quote

    from tests.test_store import POSTGRES_DSN, drop, postgres_store

    if request.param == "sqlite":
        store, url = open_store(tmp_path / "queue.sqlite3", caps=None), f"sqlite:{tmp_path / 'queue.sqlite3'}"
    else:
        store = postgres_store(caps=None)
        schema = store.schema  # type: ignore[attr-defined]
        url = f"{POSTGRES_DSN}?options={quote(f'-c search_path={schema}')}"
    customers = [c for _, c in zip(range(M), iter_customers(FIXTURES / "customers.csv"))]
    with prepared_sample(tmp_path / "state") as prepared:
        added = queue_campaign(store, prepared, customers, rule=At(datetime.now(timezone.utc)), quiet=None).added
    assert added == M
    yield store, url
    drop(store)
    store.close()


def start_worker(url: str, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mailer", "worker", "--store", url,
         "--transport", f"smtp://127.0.0.1:{port}", "--lease", str(LEASE), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def finish_in_process(store: Store, port: int) -> None:
    transport = SMTPTransport(host="127.0.0.1", port=port)
    worker = Worker(store, transport, CampaignRenderer(store),
                    options=WorkerOptions(lease_seconds=LEASE, poll_interval=0.1))

    async def go() -> None:
        try:
            await worker.run("until-idle")
        finally:
            await transport.aclose()

    asyncio.run(go())


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_sigkill_during_data_sends_nothing_twice(queued: tuple[Store, str], smtp: SMTPServer) -> None:
    store, url = queued
    n = 3
    holder: dict[str, subprocess.Popen[bytes]] = {}

    def kill_on_data(item):  # type: ignore[no-untyped-def]
        if len(smtp.handler.received) == n + 1:
            os.kill(holder["proc"].pid, signal.SIGKILL)  # before the 250 for message n+1 is read

    smtp.handler.on_data = kill_on_data
    holder["proc"] = proc = start_worker(url, smtp.port, "--until-idle", "--concurrency", "1")
    assert proc.wait(timeout=30) == -signal.SIGKILL
    smtp.handler.on_data = None
    finish_in_process(store, smtp.port)

    received = Counter(r.message_id for r in smtp.handler.received)
    assert set(received.values()) == {1}, "a message was sent twice"
    counts = store.counts()
    assert counts == {"sent": M - 1, "unknown": 1}
    rows = store.deliveries()
    (unknown,) = [d for d in rows if d.state == "unknown"]
    assert unknown.message_id in received  # the server had it; we cannot know, so we never resend
    assert {d.message_id for d in rows if d.state == "sent"} | {unknown.message_id} == set(received)


def test_sigkill_before_data_sends_exactly_once_after_the_lease(queued: tuple[Store, str], smtp: SMTPServer) -> None:
    store, url = queued
    proc = start_worker(url, smtp.port, "--until-idle", "--concurrency", "4", "--rate", "0.5")
    wait_for(lambda: store.counts().get("sent", 0) >= 1)
    os.kill(proc.pid, signal.SIGKILL)  # the others are leased, waiting 2 s for their rate tokens
    proc.wait(timeout=10)
    assert "sending" not in store.counts() and "unknown" not in store.counts()
    finish_in_process(store, smtp.port)
    assert store.counts() == {"sent": M}
    received = Counter(r.message_id for r in smtp.handler.received)
    assert len(received) == M and set(received.values()) == {1}


def test_sigterm_drains_cleanly(queued: tuple[Store, str], smtp: SMTPServer) -> None:
    store, url = queued
    proc = start_worker(url, smtp.port, "--concurrency", "4", "--rate", "2")
    wait_for(lambda: store.counts().get("sent", 0) >= 1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    counts = store.counts()
    assert set(counts) <= {"sent", "queued"} and sum(counts.values()) == M
    received = Counter(r.message_id for r in smtp.handler.received)
    assert sum(received.values()) == counts["sent"] and set(received.values()) == {1}


def test_retry_sends_identical_bytes(queued: tuple[Store, str], smtp: SMTPServer) -> None:
    store, _ = queued
    renderer = CampaignRenderer(store)
    row = store.deliveries()[0]
    first = renderer(row)
    again = CampaignRenderer(store)(row)  # as another worker would
    assert first.data == again.data and first.message_id == row.message_id
