"""The worker against the in-memory transport: every reply class, leases,
fencing, draining, rate limits and per-domain caps."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from mailer.errors import MailerError
from mailer.store import Delivery, NewDelivery, Outcome, Store, open_store
from mailer.sending.throttle import RateLimit
from mailer.transports import Envelope
from mailer.transports.memory import MemoryTransport
from mailer.transports.replies import Reply
from mailer.sending.worker import Worker, WorkerOptions
from tests.test_store import another_handle, drop, postgres_store


def render(delivery: Delivery) -> Envelope:
    mid = f"<{delivery.campaign}.{delivery.recipient}@shop.test>"
    data = f"Message-ID: {mid}\r\nTo: {delivery.address}\r\n\r\nHello\r\n".encode()
    return Envelope("bounces@shop.test", (delivery.address,), data, mid)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        s = open_store(tmp_path / "queue.sqlite3", caps=None)
    else:
        s = postgres_store(caps=None)
    yield s
    drop(s)


def queue(store: Store, n: int, *, campaign: str = "autumn", domain: str = "shop.test", **kw: object) -> None:
    now = time.time()
    kw.setdefault("not_before", now - 1)
    store.enqueue(
        [NewDelivery(campaign, f"C{i}", f"c{i}@{domain}", **kw) for i in range(n)],  # type: ignore[arg-type]
    )


def run(worker: Worker, mode: str = "until-idle") -> dict[str, int]:
    asyncio.run(worker.run(mode))  # type: ignore[arg-type]
    return dict(worker.stats.outcomes)


OPTIONS = WorkerOptions(concurrency=4, lease_seconds=5, poll_interval=0.05, retry_base=60)


def test_sends_every_due_message_once(store: Store) -> None:
    queue(store, 10)
    transport = MemoryTransport()
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"sent": 10}
    assert store.counts() == {"sent": 10}
    assert sorted(Counter(e.message_id for e in transport.sent).values()) == [1] * 10


def test_message_not_yet_due_is_left(store: Store) -> None:
    queue(store, 1, not_before=time.time() + 3600)
    assert run(Worker(store, MemoryTransport(), render, options=OPTIONS)) == {}
    assert store.counts() == {"queued": 1}


def test_temporary_failure_defers_with_backoff(store: Store) -> None:
    queue(store, 1)
    transport = MemoryTransport(lambda e, r: Reply(451, "4.3.0", "try later", "data"))
    before = time.time()
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"deferred": 1}
    row = store.get("autumn", "C0")
    assert row is not None and row.state == "deferred" and row.attempts == 1
    assert before + 30 <= row.not_before <= time.time() + 60
    assert (row.reply_code, row.reply_enhanced) == (451, "4.3.0")
    assert not store.is_suppressed(address="c0@shop.test")


def test_retry_hint_is_honoured(store: Store) -> None:
    queue(store, 1)
    transport = MemoryTransport(lambda e, r: Reply.parse(450, "4.2.0 mailbox busy, retry in 600 seconds", stage="rcpt"))
    run(Worker(store, transport, render, options=OPTIONS))
    row = store.get("autumn", "C0")
    assert row is not None and row.not_before >= time.time() + 590


def test_421_backs_off_the_whole_pool(store: Store) -> None:
    queue(store, 5)
    transport = MemoryTransport(lambda e, r: Reply(421, "4.7.0", "too busy", "mail"))
    options = WorkerOptions(concurrency=1, lease_seconds=5, poll_interval=0.05)
    outcomes = run(Worker(store, transport, render, options=options))
    assert len(transport.attempts) == 1
    assert outcomes == {"deferred": 5}
    assert store.paused(transport.name) is not None


def test_hard_bounce_suppresses(store: Store) -> None:
    queue(store, 1)
    transport = MemoryTransport(lambda e, r: Reply.parse(550, "5.1.1 user unknown", stage="rcpt"))
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"bounced": 1}
    assert store.is_suppressed(address="c0@shop.test")
    queue(store, 1, campaign="winter")
    assert run(Worker(store, MemoryTransport(), render, options=OPTIONS)) == {"suppressed": 1}


def test_policy_rejection_pauses_and_does_not_suppress(store: Store) -> None:
    queue(store, 3)
    transport = MemoryTransport(lambda e, r: Reply.parse(550, "5.7.1 rejected by policy", stage="data"))
    options = WorkerOptions(concurrency=1, lease_seconds=5, poll_interval=0.05, policy_pause=600)
    worker = Worker(store, transport, render, options=options)
    assert run(worker) == {"deferred": 3}
    assert len(transport.attempts) == 1
    assert not store.is_suppressed(address="c0@shop.test")
    assert worker.stats.policy_rejections == ["c0@shop.test: 550 5.7.1 rejected by policy"]
    until, code, _ = store.paused(f"{transport.name} to shop.test")  # type: ignore[misc]
    assert code == 550 and until >= time.time() + 590
    assert store.paused(transport.name) is None  # only the recipient's domain waits


def test_552_at_rcpt_is_temporary(store: Store) -> None:
    queue(store, 1)
    transport = MemoryTransport(lambda e, r: Reply.parse(552, "5.2.2 mailbox full", stage="rcpt"))
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"deferred": 1}


def test_other_permanent_failure_fails_without_suppressing(store: Store) -> None:
    queue(store, 1)
    transport = MemoryTransport(lambda e, r: Reply.parse(554, "5.6.0 bad content", stage="data"))
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"failed": 1}
    assert not store.is_suppressed(address="c0@shop.test")


def test_dropped_connection_past_expiry_expires(store: Store) -> None:
    queue(store, 1, expires_at=time.time() + 10)
    transport = MemoryTransport(lambda e, r: Reply.dropped("connection refused"))
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"expired": 1}
    row = store.get("autumn", "C0")
    assert row is not None and "expired" in (row.reason or "")


def test_render_failure_fails_the_row_only(store: Store) -> None:
    queue(store, 2)

    def picky(delivery: Delivery) -> Envelope:
        if delivery.recipient == "C0":
            raise MailerError("missing slot")
        return render(delivery)

    assert run(Worker(store, MemoryTransport(), picky, options=OPTIONS)) == {"failed": 1, "sent": 1}
    row = store.get("autumn", "C0")
    assert row is not None and row.reason == "cannot render: missing slot"


def test_unsubscribe_after_queueing_is_honoured(store: Store) -> None:
    queue(store, 2)
    store.suppress(recipient="C1", reason="unsubscribed")
    transport = MemoryTransport()
    assert run(Worker(store, transport, render, options=OPTIONS)) == {"sent": 1, "suppressed": 1}
    assert [e.recipients for e in transport.sent] == [("c0@shop.test",)]


def test_unsubscribe_while_leased_is_honoured(store: Store) -> None:
    queue(store, 1)
    worker = Worker(store, MemoryTransport(), render, options=OPTIONS)
    (delivery,) = store.claim(worker.owner, limit=1).deliveries
    store.suppress(address="c0@shop.test")
    assert asyncio.run(worker.deliver(delivery)) == "suppressed"
    assert worker.transport.sent == []  # type: ignore[attr-defined]


def test_zombie_reply_is_not_recorded(store: Store) -> None:
    queue(store, 1)

    async def slow(envelope: Envelope, rcpt: str) -> Reply:
        store.recover(now=time.time() + 60)  # the lease runs out meanwhile: the row becomes unknown
        return Reply(250, "2.0.0", "ok", "data")

    worker = Worker(store, MemoryTransport(slow), render, options=OPTIONS)
    (delivery,) = store.claim(worker.owner, limit=1, lease_seconds=5).deliveries
    assert asyncio.run(worker.deliver(delivery)) == "lost"
    assert worker.stats.refused_commits == 1
    assert store.counts() == {"unknown": 1}


def test_stop_releases_unsent_rows(store: Store) -> None:
    queue(store, 4)
    worker = Worker(store, MemoryTransport(), render, options=OPTIONS)
    claimed = store.claim(worker.owner, limit=4).deliveries
    worker.stop()
    for d in claimed:
        assert asyncio.run(worker.deliver(d)) == "released"
    assert store.counts() == {"queued": 4}


def test_stop_during_run_drains(store: Store) -> None:
    queue(store, 20)

    async def scenario() -> Worker:
        async def handler(envelope: Envelope, rcpt: str) -> Reply:
            await asyncio.sleep(0.01)
            worker.stop()
            return Reply(250, "2.0.0", "ok", "data")

        worker = Worker(store, MemoryTransport(handler), render,
                        options=WorkerOptions(concurrency=2, batch=20, lease_seconds=5))
        await worker.run("forever")
        return worker

    worker = asyncio.run(scenario())
    counts = store.counts()
    assert counts.get("sent", 0) >= 1 and counts.get("sent", 0) + counts.get("queued", 0) == 20
    assert "leased" not in counts and "sending" not in counts


def test_rate_limit_is_never_exceeded_across_a_restart(store: Store) -> None:
    queue(store, 12)
    stamps: list[float] = []

    def handler(envelope: Envelope, rcpt: str) -> Reply:
        stamps.append(time.monotonic())
        return Reply(250, "2.0.0", "ok", "data")

    options = WorkerOptions(concurrency=4, lease_seconds=5, rate=RateLimit(40.0, burst=1))
    run(Worker(store, MemoryTransport(handler), render, options=options), "once")
    run(Worker(store, MemoryTransport(handler), render, options=options))
    assert len(stamps) == 12
    # Sends are spaced by reservation; a late wake-up may bunch two, never add a third.
    for start in stamps:
        assert sum(1 for t in stamps if start <= t < start + 0.1) <= 1 + 40 * 0.1 + 1
    assert stamps[-1] - stamps[0] >= 11 / 40 - 0.01


def peak_per_domain() -> tuple[Counter[str], Callable[[Envelope, str], Awaitable[Reply]]]:
    """A slow accepting handler, and the most sends it saw in flight at once per domain."""
    active = Counter[str]()
    peak = Counter[str]()

    async def handler(envelope: Envelope, rcpt: str) -> Reply:
        active[envelope.domain] += 1
        peak[envelope.domain] = max(peak[envelope.domain], active[envelope.domain])
        await asyncio.sleep(0.01)
        active[envelope.domain] -= 1
        return Reply(250, "2.0.0", "ok", "data")

    return peak, handler


def test_per_domain_cap_limits_concurrent_sends(store: Store) -> None:
    queue(store, 12, domain="big.test")
    peak, handler = peak_per_domain()

    options = WorkerOptions(concurrency=8, per_domain=2, lease_seconds=5)
    assert run(Worker(store, MemoryTransport(handler), render, options=options)) == {"sent": 12}
    assert peak["big.test"] == 2


def test_per_domain_cap_holds_across_workers(store: Store) -> None:
    """Two workers, each allowed 3 in flight to a domain, share a cap of 3."""
    queue(store, 24, domain="big.test")
    queue(store, 4, campaign="other", domain="small.test")
    peak, handler = peak_per_domain()

    options = WorkerOptions(concurrency=8, per_domain=3, lease_seconds=5, poll_interval=0.05)
    other = another_handle(store)
    transport = MemoryTransport(handler)
    first = Worker(store, transport, render, options=options)
    second = Worker(other, transport, render, options=options)

    async def both() -> None:
        await asyncio.gather(first.run("until-idle"), second.run("until-idle"))

    try:
        asyncio.run(both())
    finally:
        other.close()
    assert store.counts() == {"sent": 28}
    assert peak["big.test"] == 3  # not 6: the cap is counted in the store
    assert first.stats.outcomes["sent"] and second.stats.outcomes["sent"]


def test_a_dead_workers_sends_do_not_hold_the_domain(store: Store) -> None:
    queue(store, 2, domain="big.test")
    (dead,) = store.claim("dead", limit=1, lease_seconds=1).deliveries
    assert store.mark_sending(dead.id, "dead") == "sending"  # then the worker dies
    (live,) = store.claim("live", limit=1, lease_seconds=60).deliveries
    assert store.mark_sending_many([(live.id, None)], "live", per_domain=1) == ["busy"]
    later = time.time() + 2  # the dead worker's lease has run out; its row is not yet recovered
    assert store.mark_sending_many([(live.id, None)], "live", now=later, per_domain=1) == ["sending"]


def test_a_message_waits_for_a_full_domain_only_so_long(store: Store) -> None:
    queue(store, 2, domain="big.test")
    (other,) = store.claim("other", limit=1, lease_seconds=600).deliveries
    store.mark_sending(other.id, "other")  # another worker's long send holds the only slot
    options = WorkerOptions(per_domain=1, lease_seconds=5, poll_interval=0.05, domain_wait=0.2)
    outcomes = run(Worker(store, MemoryTransport(), render, options=options), "once")
    assert outcomes == {"deferred": 1}
    row = store.get("autumn", "C1") or store.get("autumn", "C0")
    assert row is not None and "busy" in (row.reason or "")


def test_replies_are_recorded_when_a_run_is_cancelled(store: Store) -> None:
    queue(store, 3)
    options = WorkerOptions(concurrency=1, lease_seconds=5, poll_interval=0.05, group_commit=30.0)
    worker = Worker(store, MemoryTransport(), render, options=options)

    async def cancelled() -> None:
        task = asyncio.ensure_future(worker.run("until-idle"))
        await asyncio.sleep(0.3)  # the first reply waits for its (long) group commit
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert store.counts().get("sent") == 1
    # The same worker runs again on a new event loop: nothing from the old one is in the way.
    worker._finishes.delay = 0.005
    asyncio.run(asyncio.wait_for(worker.run("until-idle"), timeout=10))
    assert store.counts() == {"sent": 3}


def test_store_counts_sends_per_domain(store: Store) -> None:
    queue(store, 4, domain="big.test")
    queue(store, 1, campaign="other", domain="Small.TEST")
    rows = store.claim("w", limit=10).deliveries
    by_domain = sorted(rows, key=lambda d: d.address.rpartition("@")[2].lower())
    results = store.mark_sending_many([(d.id, None) for d in by_domain], "w", per_domain=2)
    assert results == ["sending", "sending", "busy", "busy", "sending"]
    busy = [d for d, r in zip(by_domain, results) if r == "busy"]
    store.finish(by_domain[0].id, "w", Outcome("sent", code=250))
    assert store.mark_sending_many([(d.id, None) for d in busy], "w", per_domain=2) == ["sending", "busy"]


def test_4xx_storm_never_bounces(store: Store) -> None:
    queue(store, 30)
    rng = random.Random(7)
    transport = MemoryTransport(lambda e, r: Reply(rng.choice([421, 450, 451, 452]), None, "busy", "rcpt"))
    run(Worker(store, transport, render, options=OPTIONS))
    assert set(store.counts()) == {"deferred"}
    assert store.suppressions() == []


def test_heartbeat_keeps_a_slow_send_leased(store: Store) -> None:
    queue(store, 1)
    stolen: list[int] = []

    async def slow(envelope: Envelope, rcpt: str) -> Reply:
        for _ in range(4):
            await asyncio.sleep(0.2)
            store.recover()  # another worker looking for expired leases
            stolen.extend(d.id for d in store.claim("other", limit=1).deliveries)
        return Reply(250, "2.0.0", "ok", "data")

    worker = Worker(store, MemoryTransport(slow), render, options=WorkerOptions(lease_seconds=0.3, poll_interval=0.05))
    asyncio.run(worker.run("until-idle"))
    assert stolen == [] and worker.stats.refused_commits == 0
    assert store.counts() == {"sent": 1}


def test_a_worker_that_stalls_past_its_lease_sends_the_row_and_stops(store: Store) -> None:
    """The event loop blocks longer than the lease (no heartbeat); nobody else claims: the row is sent."""
    queue(store, 1)

    def stalling(delivery: Delivery) -> Envelope:
        time.sleep(0.6)  # blocks the loop: the 0.3 s lease runs out before mark_sending
        return render(delivery)

    options = WorkerOptions(lease_seconds=0.3, poll_interval=0.05)
    worker = Worker(store, MemoryTransport(), stalling, options=options)
    asyncio.run(asyncio.wait_for(worker.run("until-idle"), timeout=10))
    assert dict(worker.stats.outcomes) == {"sent": 1}
    assert store.counts() == {"sent": 1}


def test_a_row_the_worker_let_go_of_is_not_kept_alive(store: Store) -> None:
    """A row the worker is no longer working on runs out and returns to the queue."""
    queue(store, 2)
    transport = MemoryTransport()
    worker = Worker(store, transport, render, options=WorkerOptions(lease_seconds=0.3, poll_interval=0.05))
    kept, dropped = store.claim(worker.owner, limit=2, lease_seconds=0.3).deliveries

    async def scenario() -> None:
        beat = asyncio.create_task(worker._heartbeat())
        worker._holding.add(kept.id)  # working on one; the other was dropped
        await asyncio.sleep(0.6)
        beat.cancel()

    asyncio.run(scenario())
    other = store.claim("other", limit=2).deliveries
    assert [d.id for d in other] == [dropped.id]
    assert store.mark_sending(kept.id, worker.owner) == "sending"


@pytest.fixture(params=["sqlite", "postgresql"])
def capped_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store with the default caps (1 promotional a day)."""
    s = open_store(tmp_path / "queue.sqlite3") if request.param == "sqlite" else postgres_store()
    yield s
    drop(s)


def test_workers_whose_clocks_disagree_send_one_promotion_a_day(capped_store: Store, tmp_path: Path) -> None:
    """Two workers, clocks 5 s ahead and 5 s behind, two campaigns for the same customers."""
    store = capped_store
    queue(store, 20, campaign="a", not_before=time.time() - 60)  # due by either clock
    queue(store, 20, campaign="b", not_before=time.time() - 60)
    if store.backend == "sqlite":
        other = open_store(store.url)
    else:
        from mailer.store.postgres import PostgresStore
        from tests.test_store import POSTGRES_DSN

        other = PostgresStore(POSTGRES_DSN, schema=store.schema)  # type: ignore[arg-type,attr-defined]
    options = WorkerOptions(concurrency=4, lease_seconds=30, poll_interval=0.05)  # leases outlast the skew
    ahead = Worker(store, MemoryTransport(), render, options=options, clock=lambda: time.time() + 5)
    behind = Worker(other, MemoryTransport(), render, options=options, clock=lambda: time.time() - 5)

    async def both() -> None:
        # The one behind claims first, so it meets the campaign b rows whose a rows the one ahead took.
        await asyncio.gather(behind.run("until-idle"), ahead.run("until-idle"))

    try:
        asyncio.run(asyncio.wait_for(both(), timeout=30))
    finally:
        other.close()
    per_customer = Counter(d.recipient for d in store.deliveries() if d.state == "sent")
    assert sorted(per_customer.values()) == [1] * 20
    assert store.counts() == {"sent": 20, "capped": 20}
    for worker in (ahead, behind):
        assert not worker.stats.undelivered


# -- telling operators what goes wrong ----------------------------------------------------------------

REFUSED = "SMTPConnectError: Error connecting to 127.0.0.1 on port 9: [Errno 111] Connect call failed ('127.0.0.1', 9)"


@pytest.mark.parametrize(
    ("reply", "kind", "reason"),
    [
        (Reply.dropped(REFUSED), "connection refused", "connection refused to 127.0.0.1:9"),
        (Reply.dropped("OSError: [Errno 111] Connection refused"), "connection refused", "connection refused to 127.0.0.1:9"),
        (Reply.dropped("SMTPConnectTimeoutError: Timed out connecting to 127.0.0.1 on port 9"), "timeout", None),
        (Reply.dropped("SMTPException: SMTP STARTTLS extension not supported by server."), "tls", None),
        (Reply.dropped("SMTPException: The SMTP AUTH extension is not supported by this server."), "auth", None),
        (Reply.dropped("SMTPConnectError: Error connecting to nowhere.test on port 25: [Errno -2] Name or service "
                       "not known"), "unknown host", None),
        (Reply.parse(535, "5.7.8 Authentication credentials invalid", stage="connect"), "auth", None),
        (Reply.parse(530, "5.7.0 Must issue a STARTTLS command first", stage="connect"), "tls", None),
        (Reply.parse(451, "4.3.0 busy", stage="rcpt"), "4xx", "451 4.3.0 busy"),
        (Reply.parse(554, "5.6.0 bad content", stage="data"), "5xx", "554 5.6.0 bad content"),
        (Reply.parse(550, "5.7.1 blocked", stage="rcpt"), "policy", "550 5.7.1 blocked"),
        (Reply.dropped("ConnectionResetError: reset by peer", stage="data"), "no reply", "no reply: ConnectionResetError: reset by peer"),
    ],
)
def test_each_kind_of_trouble_is_told_apart(reply: Reply, kind: str, reason: str | None) -> None:
    from mailer.transports.replies import classify
    from mailer.sending.worker import trouble

    found, recorded, _level = trouble(reply, classify(reply), "127.0.0.1:9")
    assert found == kind
    if reason is not None:
        assert recorded == reason
    else:
        assert reply.text in recorded and "127.0.0.1:9" in recorded


def test_the_first_trouble_of_a_kind_is_logged_and_later_ones_counted() -> None:
    from mailer.transports.replies import classify
    from mailer.sending.worker import TroubleLog

    records: list[logging.LogRecord] = []
    logger = logging.getLogger("tests.troubles")
    logger.addHandler(Collect(records))
    logger.propagate = False
    clock = [0.0]
    troubles = TroubleLog("smtp://127.0.0.1:9", logger=logger, every=30.0, clock=lambda: clock[0])
    refused, busy = Reply.dropped(REFUSED), Reply.parse(451, "4.3.0 busy", stage="rcpt")
    for _ in range(5):
        assert troubles.note(refused, classify(refused)) == "connection refused to 127.0.0.1:9"
    troubles.note(busy, classify(busy))
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "smtp://127.0.0.1:9: connection refused to 127.0.0.1:9"),
        (logging.WARNING, "smtp://127.0.0.1:9: 451 4.3.0 busy"),
    ]
    clock[0] = 29.0
    troubles.tick()
    assert len(records) == 2  # not yet
    clock[0] = 31.0
    troubles.note(refused, classify(refused))  # the summary is due
    assert records[2].getMessage() == ("smtp://127.0.0.1:9: 5 more connection refused failure(s) in the last 31 s; "
                                       "latest: connection refused to 127.0.0.1:9")
    assert (records[2].kind, records[2].count) == ("connection refused", 5)  # type: ignore[attr-defined]
    troubles.flush()
    assert len(records) == 3  # nothing came since
    troubles.note(busy, classify(busy))
    troubles.flush()
    assert records[3].getMessage().startswith("smtp://127.0.0.1:9: 1 more 4xx failure(s)")


class Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_worker_logs_a_failing_relay_once_and_sums_up_the_rest_at_stop(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    queue(store, 6)
    transport = MemoryTransport(lambda e, r: Reply.dropped(REFUSED), name="smtp://127.0.0.1:9")
    worker = Worker(store, transport, render, options=OPTIONS)
    with caplog.at_level(logging.WARNING, logger="mailer.sending.worker"):
        assert run(worker) == {"deferred": 6}
    messages = [r.getMessage() for r in caplog.records if r.name == "mailer.sending.worker"]
    assert messages == ["smtp://127.0.0.1:9: connection refused to 127.0.0.1:9",
                        messages[1]]  # fmt: skip
    assert messages[1].startswith("smtp://127.0.0.1:9: 5 more connection refused failure(s)")
    assert {d.reason for d in store.deliveries()} == {"connection refused to 127.0.0.1:9"}
    assert {d.reply_text for d in store.deliveries()} == {REFUSED}  # the transport's own words are kept
    assert worker.stats.undelivered


def test_worker_logs_a_message_that_cannot_be_rendered(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    queue(store, 3)

    def broken(delivery: Delivery) -> Envelope:
        raise MailerError("slot 'picks' is empty")

    worker = Worker(store, MemoryTransport(), broken, options=OPTIONS)
    with caplog.at_level(logging.WARNING, logger="mailer.sending.worker"):
        assert run(worker) == {"failed": 3}
    (first, summary) = [r for r in caplog.records if r.name == "mailer.sending.worker"]
    assert first.levelno == logging.ERROR and "cannot render: slot 'picks' is empty" in first.getMessage()
    assert "2 more render failure(s)" in summary.getMessage()
    assert worker.stats.undelivered


def test_a_worker_that_sent_everything_logs_nothing(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    queue(store, 3)
    worker = Worker(store, MemoryTransport(), render, options=OPTIONS)
    with caplog.at_level(logging.WARNING, logger="mailer.sending.worker"):
        assert run(worker) == {"sent": 3}
    assert [r for r in caplog.records if r.name == "mailer.sending.worker"] == []
    assert not worker.stats.undelivered


def test_a_stopped_worker_says_what_stopped_it(store: Store) -> None:
    worker = Worker(store, MemoryTransport(), render, options=OPTIONS)
    worker.stop("SIGINT")
    worker.stop("SIGTERM")
    assert run(worker, "forever") == {} and worker.stats.stopped_by == "SIGINT"


class SlowStore:
    """The store behind a slow network: every call waits ``delay`` seconds first."""

    def __init__(self, store: Store, delay: float) -> None:
        self._store, self._delay = store, delay

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def slow(*args: object, **kwargs: object) -> object:
            time.sleep(self._delay)
            return attribute(*args, **kwargs)

        return slow


def test_store_round_trips_do_not_stall_the_event_loop(store: Store) -> None:
    """While the store answers slowly, the loop goes on (SMTP sessions, heartbeat)."""
    queue(store, 6)
    worker = Worker(SlowStore(store, 0.05), MemoryTransport(), render, options=OPTIONS)  # type: ignore[arg-type]
    gaps: list[float] = []

    async def go() -> None:
        async def ticker() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        try:
            await worker.run("until-idle")
        finally:
            task.cancel()

    asyncio.run(go())
    assert worker.stats.outcomes["sent"] == 6
    # Each store call takes 50 ms and a run makes a dozen or more: on the loop, each would
    # hold it that long. Off the loop, at most a rare scheduling hiccup of a busy machine does.
    held = [gap for gap in gaps if gap >= 0.045]
    assert len(gaps) > 20 and len(held) <= 1, held
