"""A worker tells operators what goes wrong with a real SMTP server (aiosmtpd
on 127.0.0.1) and with a closed port: the first failure of each kind logged
with its reason, later ones summed up, the reason kept with each message.
Processes started here are stopped by their pid."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import NewDelivery, Store, open_store
from mailer.transports.smtp import SMTPTransport
from mailer.sending.worker import Worker, WorkerOptions
from tests.conftest import ROOT
from tests.integration.smtp_server import SMTPServer
from tests.test_cli_run import run_args
from tests.sending.test_worker import render


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_command_reports_a_closed_port_on_stderr_and_in_the_queue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run_args(tmp_path, "--no-quiet-hours", "--queue-only")) == 0
    url = f"sqlite:{tmp_path / 'queue.sqlite3'}"
    port = closed_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MAILER_LOG_LEVEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailer", "worker", "--store", url, "--transport", f"smtp://127.0.0.1:{port}",
         "--until-idle", "--concurrency", "4"],
        cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    reason = f"connection refused to 127.0.0.1:{port}"
    assert proc.returncode == 1, err  # it ran, and nothing could be sent
    lines = err.splitlines()
    assert [line for line in lines if line.endswith(f"WARNING mailer.sending.worker: smtp://127.0.0.1:{port}: {reason}")], err
    assert len([line for line in lines if reason in line]) <= 2, err  # the first, then a summary: never one per message
    assert "more connection refused failure(s)" in err
    assert out.startswith("worker: 30 deferred")
    capsys.readouterr()
    assert main(["queue", "list", "--store", url, "--state", "deferred", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 30 and {r["reason"] for r in rows} == {reason}
    assert all(r["attempts"] == 1 and r["next_attempt"] for r in rows)


def queue(store: Store, n: int) -> None:
    store.enqueue(NewDelivery("autumn", f"C{i}", f"c{i}@shop.test", not_before=time.time() - 1) for i in range(n))


def deliver(store: Store, transport: SMTPTransport, caplog: pytest.LogCaptureFixture) -> tuple[Worker, list[str]]:
    worker = Worker(store, transport, render, options=WorkerOptions(concurrency=2, lease_seconds=5, poll_interval=0.05))

    async def go() -> None:
        try:
            await worker.run("until-idle")
        finally:
            await transport.aclose()

    with caplog.at_level(logging.INFO, logger="mailer.sending.worker"):
        asyncio.run(go())
    return worker, [r.getMessage() for r in caplog.records if r.name == "mailer.sending.worker" and r.levelno >= logging.WARNING]


def test_each_reply_class_is_logged_once_then_summed_up(smtp: SMTPServer, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    def script(stage: str, address: str) -> str | None:
        if stage != "rcpt":
            return None
        number = int(address[1:].split("@")[0])
        return "451 4.3.0 mailbox busy" if number < 3 else ("554 5.6.0 content rejected" if number < 5 else None)

    smtp.handler.script = script
    store = open_store(tmp_path / "q.sqlite3", caps=None)
    queue(store, 8)
    where = f"smtp://127.0.0.1:{smtp.port}"
    worker, messages = deliver(store, SMTPTransport(host="127.0.0.1", port=smtp.port, pool_size=2), caplog)
    assert worker.stats.outcomes == {"sent": 3, "deferred": 3, "failed": 2}
    firsts = [m for m in messages if " more " not in m]
    summaries = [m.split(" in the last")[0] for m in messages if " more " in m]
    assert sorted(firsts) == [f"{where}: 451 4.3.0 mailbox busy", f"{where}: 554 5.6.0 content rejected"]
    assert sorted(summaries) == [f"{where}: 1 more 5xx failure(s)", f"{where}: 2 more 4xx failure(s)"]
    assert {d.reason for d in store.deliveries() if d.state == "deferred"} == {"451 4.3.0 mailbox busy"}
    assert worker.stats.undelivered  # two failed for good
    store.close()


def test_starttls_the_server_does_not_offer_is_logged_as_tls(smtp: SMTPServer, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    store = open_store(tmp_path / "q.sqlite3", caps=None)
    queue(store, 3)
    transport = SMTPTransport(host="127.0.0.1", port=smtp.port, start_tls=True)
    worker, messages = deliver(store, transport, caplog)
    assert worker.stats.outcomes == {"deferred": 3} and worker.stats.undelivered
    assert messages[0].startswith(f"smtp://127.0.0.1:{smtp.port}: TLS/STARTTLS failed with 127.0.0.1:{smtp.port}: ")
    assert "STARTTLS" in messages[0] and "2 more tls failure(s)" in messages[1] and len(messages) == 2
    assert all(d.reason.startswith("TLS/STARTTLS failed") for d in store.deliveries())  # type: ignore[union-attr]
    store.close()


def test_a_login_the_server_cannot_take_is_logged_as_auth(smtp: SMTPServer, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    store = open_store(tmp_path / "q.sqlite3", caps=None)
    queue(store, 2)
    transport = SMTPTransport(host="127.0.0.1", port=smtp.port, username="shop", password="secret")
    worker, messages = deliver(store, transport, caplog)
    assert worker.stats.outcomes == {"deferred": 2}
    assert messages[0].startswith(f"smtp://127.0.0.1:{smtp.port}: cannot log in to 127.0.0.1:{smtp.port}: ")
    assert "1 more auth failure(s)" in messages[1]
    store.close()
