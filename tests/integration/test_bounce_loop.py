"""The loop closed: a message leaves with a signed VERP return path, its bounce
comes back later as mail, `mailer bounces read` suppresses that recipient and
no other, and a campaign without a return path of its own leaves with its From."""

from __future__ import annotations

import asyncio
import mailbox
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.errors import ConfigError
from mailer.inputs.customers import iter_customers
from mailer.report import Report
from mailer.sending.delivery import CampaignRenderer, queue_campaign
from mailer.sending.plan import At
from mailer.sending.worker import Worker, WorkerOptions
from mailer.store import open_store
from mailer.transports.memory import MemoryTransport
from tests.conftest import FIXTURES, prepared_sample
from tests.support.bounce_mail import dsn


def send_all(store, transport: MemoryTransport, key_file: Path) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(store, transport, CampaignRenderer(store, key_file=key_file),
                    options=WorkerOptions(poll_interval=0.05))  # fmt: skip
    asyncio.run(worker.run("until-idle"))


def test_a_bounce_that_comes_back_later_suppresses_its_recipient(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("MAILER_NO_PROGRESS", "1")
    monkeypatch.delenv("MAILER_SECRET", raising=False)
    state = tmp_path / "state"
    store = open_store(tmp_path / "queue.sqlite3", caps=None)
    customers = [c for _, c in zip(range(3), iter_customers(FIXTURES / "customers.csv", report=Report()))]
    with prepared_sample(state, return_path="bounces@example-shop.test") as prepared:
        queue_campaign(store, prepared, customers, rule=At(datetime.now(timezone.utc)), quiet=None)
    transport = MemoryTransport()
    send_all(store, transport, state / "secret")
    assert len(transport.sent) == 3
    senders = {envelope.sender for envelope in transport.sent}
    assert len(senders) == 3 and all(s.startswith("bounces+") and s.endswith("@example-shop.test") for s in senders)
    bounced = transport.sent[0]
    box = mailbox.Maildir(tmp_path / "bounces")
    box.add(dsn(bounced.recipients[0], bounced.message_id, to=bounced.sender))
    code = main(["bounces", "read", str(tmp_path / "bounces"), "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}",
                 "--state-dir", str(state)])  # fmt: skip
    assert code == 0
    assert store.is_suppressed(address=bounced.recipients[0])
    assert not any(store.is_suppressed(address=e.recipients[0]) for e in transport.sent[1:])
    store.close()


def test_without_a_return_path_of_its_own_a_message_leaves_with_its_from(tmp_path: Path) -> None:
    store = open_store(tmp_path / "queue.sqlite3", caps=None)
    customers = [c for _, c in zip(range(1), iter_customers(FIXTURES / "customers.csv", report=Report()))]
    with prepared_sample(tmp_path / "state") as prepared:
        queue_campaign(store, prepared, customers, rule=At(datetime.now(timezone.utc)), quiet=None)
    transport = MemoryTransport()
    send_all(store, transport, tmp_path / "state" / "secret")
    assert [e.sender for e in transport.sent] == ["news@example-shop.test"]
    store.close()


def test_a_return_path_with_no_room_for_the_token_is_refused_before_queueing(tmp_path: Path) -> None:
    store = open_store(tmp_path / "queue.sqlite3", caps=None)
    customers = list(iter_customers(FIXTURES / "customers.csv", report=Report()))[:1]
    with prepared_sample(tmp_path / "state", return_path="a-very-long-bounce-mailbox-name@example-shop.test") as prepared:
        with pytest.raises(ConfigError, match="return path"):
            queue_campaign(store, prepared, customers, rule=At(datetime.now(timezone.utc)), quiet=None)
    assert store.counts() == {}
    store.close()
