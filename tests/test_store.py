"""The store protocol, run against every backend (SQLite here; PostgreSQL
when MAILER_TEST_POSTGRES_DSN names a server and the backend exists)."""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from pathlib import Path

import pytest

from mailer.content.mime import message_id
from mailer.feedback import parse_feedback
from mailer.feedback.rules import find_message, message_key
from mailer.sending.caps import DAY, Caps, Window
from mailer.store import FeedbackEvent, NewDelivery, Outcome, ReasonCount, Store, StoreBusy, StoreError, open_store
from mailer.store.queries import load_queries
from mailer.store.sqlite import SQLiteStore
from tests.conftest import shared_path
from tests.support.bounce_mail import SIGNER, arf, delay, delivered_to, dsn, out_of_office, soft, verp


POSTGRES_DSN = os.environ.get("MAILER_TEST_POSTGRES_DSN")


def postgres_store(**options: object) -> Store:
    """A PostgreSQL store in a fresh schema, or skip saying why."""
    if not POSTGRES_DSN:
        pytest.skip("MAILER_TEST_POSTGRES_DSN is not set: the PostgreSQL store tests need a server")
    pytest.importorskip("psycopg", reason="the PostgreSQL store needs psycopg")
    from mailer.store.postgres import PostgresStore

    if _UNUSABLE:
        pytest.skip(_UNUSABLE[0])
    try:
        return PostgresStore(POSTGRES_DSN, schema=f"test_{uuid.uuid4().hex[:12]}", connect_timeout=3, **options)  # type: ignore[arg-type]
    except StoreError as err:
        _UNUSABLE.append(f"MAILER_TEST_POSTGRES_DSN is set but the server cannot be used: {err}")
        pytest.skip(_UNUSABLE[0])


_UNUSABLE: list[str] = []  # tried once per run: an absent server is not retried for every test


def another_handle(store: Store) -> Store:
    """A second connection to the same store, as another worker process would open."""
    if store.backend == "sqlite":
        return open_store(store.url, caps=None)
    from mailer.store.postgres import PostgresStore

    return PostgresStore(POSTGRES_DSN, schema=store.schema, caps=None)  # type: ignore[attr-defined,arg-type]


def drop(store: Store) -> None:
    if store.backend == "postgresql":
        schema = store.schema  # type: ignore[attr-defined]
        store._db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[attr-defined]
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        s = open_store(f"sqlite:{tmp_path / 'queue.sqlite3'}")
    else:
        s = postgres_store()
    yield s
    drop(s)


def new(recipient: str = "C1", campaign: str = "autumn", **kw: object) -> NewDelivery:
    kw.setdefault("not_before", 0.0)
    return NewDelivery(campaign, recipient, f"{recipient.lower()}@shop.test", **kw)  # type: ignore[arg-type]


def test_store_satisfies_protocol(store: Store) -> None:
    assert isinstance(store, Store)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_query_is_documented(backend: str) -> None:
    for query in load_queries(backend).values():
        assert query.doc, f"query {query.name} has no comment"
        assert query.sql


def test_backends_implement_the_same_queries() -> None:
    def names(backend: str) -> set[str]:
        return {n for n in load_queries(backend) if not n.startswith(("lock_", "migrate_"))}

    assert names("sqlite") == names("postgresql")


def test_enqueue_is_unique_per_campaign_and_recipient(store: Store) -> None:
    assert store.enqueue([new("C1"), new("C2")], now=0) == 2
    assert store.enqueue([new("C1"), new("C1", campaign="winter")], now=0) == 1
    assert store.counts() == {"queued": 3}


def test_row_carries_the_issue_fields(store: Store) -> None:
    store.enqueue([new("C1", message_id="<x@shop.test>", priority=3, not_before=5.0)], now=0)
    row = store.get("autumn", "C1")
    assert row is not None
    assert (row.state, row.not_before, row.expires_at, row.priority, row.attempts) == ("queued", 5.0, 5.0 + DAY, 3, 0)
    assert row.message_id == "<x@shop.test>"


def test_claim_takes_only_due_rows(store: Store) -> None:
    store.enqueue([new("C1", not_before=0.0), new("C2", not_before=100.0)], now=0)
    claimed = store.claim("w1", now=10, limit=10, lease_seconds=30)
    assert [d.recipient for d in claimed.deliveries] == ["C1"]
    assert claimed.deliveries[0].lease_owner == "w1"
    assert claimed.deliveries[0].lease_deadline == 40


def test_claim_never_gives_one_row_to_two_workers(store: Store) -> None:
    store.enqueue([new(f"C{i}") for i in range(50)], now=0)
    first = store.claim("w1", now=1, limit=30)
    second = store.claim("w2", now=1, limit=30)
    ids1 = {d.id for d in first.deliveries}
    ids2 = {d.id for d in second.deliveries}
    assert len(ids1) == 30 and len(ids2) == 20 and not ids1 & ids2


def test_claim_orders_transactional_then_lifecycle_then_promotional(store: Store) -> None:
    store.enqueue(
        [new("A", message_class="promotional"), new("B", message_class="lifecycle"), new("C", message_class="transactional")],
        now=0,
    )
    assert [d.recipient for d in store.claim("w", now=1, limit=3).deliveries] == ["C", "B", "A"]


def test_expired_lease_returns_to_queue(store: Store) -> None:
    store.enqueue([new()], now=0)
    store.claim("w1", now=1, lease_seconds=10)
    assert store.claim("w2", now=5).deliveries == []
    again = store.claim("w2", now=12).deliveries
    assert [d.lease_owner for d in again] == ["w2"]


def test_dead_sending_becomes_unknown(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("w1", now=1, lease_seconds=10).deliveries
    assert store.mark_sending(d.id, "w1", now=2) == "sending"
    assert store.claim("w2", now=20).deliveries == []
    assert store.counts() == {"unknown": 1}


def test_dead_sending_requeued_when_at_least_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.sqlite3", dead_sending="queued")
    store.enqueue([new()], now=0)
    (d,) = store.claim("w1", now=1, lease_seconds=10).deliveries
    store.mark_sending(d.id, "w1", now=2)
    assert [x.id for x in store.claim("w2", now=20).deliveries] == [d.id]


def test_zombie_commit_is_refused(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("zombie", now=1, lease_seconds=10).deliveries
    (again,) = store.claim("fresh", now=12, lease_seconds=10).deliveries
    assert store.mark_sending(d.id, "zombie", now=13) == "lost"
    assert store.mark_sending(again.id, "fresh", now=13) == "sending"
    assert store.finish(d.id, "zombie", Outcome("bounced", code=550), now=14) is False
    assert store.finish(again.id, "fresh", Outcome("sent", code=250), now=14) is True
    row = store.get("autumn", "C1")
    assert row is not None and (row.state, row.reply_code) == ("sent", 250)


def test_operator_settles_unknown_rows(store: Store) -> None:
    store.enqueue([new(f"C{i}", expires_at=1e9, payload={"shown": [f"P{i}"]}) for i in range(3)]
                  + [new("C9", campaign="other", expires_at=1e9)], now=0)  # fmt: skip
    for d in store.claim("w", now=1, limit=10, lease_seconds=5).deliveries:
        store.mark_sending(d.id, "w", now=1)
    store.recover(now=100)
    assert store.counts() == {"unknown": 4}
    assert store.settle_unknown("queued", campaign="autumn", recipients=["C0"], now=200) == 1
    assert store.settle_unknown("sent", campaign="autumn", now=200) == 2
    assert store.settle_unknown("sent", campaign="autumn", now=300) == 0  # settled rows stay settled
    states = {(d.campaign, d.recipient): d.state for d in store.deliveries()}
    assert states == {("autumn", "C0"): "queued", ("autumn", "C1"): "sent", ("autumn", "C2"): "sent",
                      ("other", "C9"): "unknown"}  # fmt: skip
    assert store.get("autumn", "C0").not_before == 200  # type: ignore[union-attr]
    assert [s.message_class for s in store.send_log("C1")] == ["promotional"] and store.send_log("C0") == []
    assert sorted(store.shown(["C1", "C2"])) == [("C1", "P1"), ("C2", "P2")]
    assert store.settle_unknown("queued", now=400) == 1  # every campaign


def test_zombie_commit_after_recovery_to_unknown_is_refused(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("zombie", now=1, lease_seconds=10).deliveries
    store.mark_sending(d.id, "zombie", now=2)
    store.recover(now=30)
    assert store.finish(d.id, "zombie", Outcome("sent", code=250), now=31) is False
    assert store.counts() == {"unknown": 1}


def test_mark_sending_refuses_a_lease_that_ran_out_and_went_back_to_the_queue(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("w1", now=1, lease_seconds=10).deliveries
    store.recover(now=11.5)  # another worker's claim looks for expired leases
    assert store.mark_sending(d.id, "w1", now=11.5) == "lost"
    assert store.counts() == {"queued": 1}


def test_a_lease_that_ran_out_with_nobody_taking_it_over_is_still_ours(store: Store) -> None:
    """A worker that stalled past its lease sends the row (its lease renewed) rather than orphan it."""
    store.enqueue([new()], now=0)
    (d,) = store.claim("w1", now=1, lease_seconds=10).deliveries
    assert store.mark_sending(d.id, "w1", now=30, lease_seconds=10) == "sending"
    row = store.get("autumn", "C1")
    assert row is not None and (row.state, row.lease_owner, row.lease_deadline) == ("sending", "w1", 40)
    assert store.claim("w2", now=35).deliveries == [] and store.counts() == {"sending": 1}  # not recovered as dead
    assert store.finish(d.id, "w1", Outcome("sent", code=250), now=36)
    assert store.counts() == {"sent": 1}


def test_a_heartbeat_extends_only_the_rows_it_names(store: Store) -> None:
    store.enqueue([new("C1"), new("C2")], now=0)
    kept, dropped = store.claim("w1", now=1, limit=2, lease_seconds=10).deliveries
    assert store.heartbeat("w1", now=9, lease_seconds=10, ids=[kept.id]) == 1
    assert store.heartbeat("w1", now=9, lease_seconds=10, ids=[]) == 0
    assert [d.id for d in store.claim("w2", now=15, limit=2).deliveries] == [dropped.id]
    assert store.mark_sending(kept.id, "w1", now=15) == "sending"


def test_heartbeat_extends_lease(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("w1", now=1, lease_seconds=10).deliveries
    assert store.heartbeat("w1", now=9, lease_seconds=10) == 1
    assert store.claim("w2", now=15).deliveries == []
    assert store.mark_sending(d.id, "w1", now=15) == "sending"


def test_deferred_row_is_claimed_again_when_due(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("w1", now=1).deliveries
    store.mark_sending(d.id, "w1", now=1)
    store.finish(d.id, "w1", Outcome("deferred", not_before=100.0, code=451, enhanced="4.3.0", text="later"), now=2)
    assert store.claim("w1", now=50).deliveries == []
    (again,) = store.claim("w1", now=100).deliveries
    assert (again.attempts, again.reply_code, again.reply_enhanced) == (1, 451, "4.3.0")


def test_waiting_row_past_expiry_expires(store: Store) -> None:
    store.enqueue([new(expires_at=50.0)], now=0)
    claimed = store.claim("w1", now=60)
    assert claimed.deliveries == [] and claimed.expired == 1
    assert store.counts() == {"expired": 1}


def test_suppressed_recipient_is_set_aside_at_claim(store: Store) -> None:
    store.enqueue([new("C1"), new("C2")], now=0)
    store.suppress(address="C1@Shop.test", reason="unsubscribed", now=1)
    claimed = store.claim("w1", now=2)
    assert [d.recipient for d in claimed.deliveries] == ["C2"] and claimed.suppressed == 1
    assert store.get("autumn", "C1").state == "suppressed"  # type: ignore[union-attr]


def test_unsubscribe_between_claim_and_send_is_honoured(store: Store) -> None:
    store.enqueue([new("C1")], now=0)
    (d,) = store.claim("w1", now=1).deliveries
    store.suppress(recipient="C1", now=2)
    assert store.mark_sending(d.id, "w1", now=3) == "suppressed"
    assert store.counts() == {"suppressed": 1}


def test_bounce_outcome_suppresses_address(store: Store) -> None:
    store.enqueue([new("C1"), new("C1", campaign="winter", not_before=5 * DAY)], now=0)
    (d,) = store.claim("w1", now=1).deliveries
    store.mark_sending(d.id, "w1", now=1)
    store.finish(d.id, "w1", Outcome("bounced", code=550, enhanced="5.1.1", suppress="hard-bounce"), now=2)
    assert store.is_suppressed(address="c1@shop.test")
    assert [s.reason for s in store.suppressions()] == ["hard-bounce"]
    assert store.claim("w1", now=5 * DAY + 1).suppressed == 1


def test_two_campaigns_racing_under_a_daily_cap_send_one(store: Store) -> None:
    store.enqueue([new("C1", campaign="a"), new("C1", campaign="b", expires_at=3 * DAY)], now=0)
    first = store.claim("w1", now=1, limit=1)
    second = store.claim("w2", now=1, limit=1)
    assert len(first.deliveries) + len(second.deliveries) == 1
    assert second.capped == 1
    deferred = [d for d in store.deliveries() if d.state == "deferred"]
    assert deferred[0].reason == "capped: frequency cap: at most 1 in 1 day"
    assert deferred[0].not_before == pytest.approx(1 + DAY)


def test_a_claim_stamped_earlier_than_anothers_lease_still_sees_it(store: Store) -> None:
    """W2 read its clock before waiting for the customer's lock (or its clock is behind): W1's lease counts."""
    store.enqueue([new("C1", campaign="a"), new("C1", campaign="b", expires_at=3 * DAY)], now=0)
    first = store.claim("w1", now=1.0, limit=1)
    second = store.claim("w2", now=0.5, limit=1)
    assert [d.campaign for d in first.deliveries] == ["a"]
    assert second.deliveries == [] and second.capped == 1
    deferred = store.get("b", "C1")
    assert deferred is not None and deferred.state == "deferred" and deferred.not_before >= 1.0 + DAY


@pytest.mark.parametrize("skew", [-5.0, 5.0])
@pytest.mark.parametrize("stage", ["leased", "sending", "sent"])
def test_claimers_whose_clocks_disagree_send_one_a_day(store: Store, skew: float, stage: str) -> None:
    """W1 takes campaign a (and maybe sends it) by its clock; W2's clock is 5 s off either way."""
    t = 1000.0
    store.enqueue([new("C1", campaign="a"), new("C1", campaign="b", expires_at=3 * DAY)], now=0)
    (a,) = store.claim("w1", now=t, limit=1).deliveries
    if stage != "leased":
        assert store.mark_sending(a.id, "w1", now=t + 0.1) == "sending"
    if stage == "sent":
        assert store.finish(a.id, "w1", Outcome("sent", code=250), now=t + 0.2)
    second = store.claim("w2", now=t + 0.3 + skew, limit=1)
    assert second.deliveries == [] and second.capped == 1
    assert store.get("b", "C1").state == "deferred"  # type: ignore[union-attr]


def test_rows_are_stamped_by_the_stores_clock_when_no_time_is_given(store: Store) -> None:
    import time

    store.enqueue([new("C1", not_before=time.time() - 1)])
    before = time.time()
    (d,) = store.claim("w", limit=1, lease_seconds=30).deliveries
    after = time.time()
    assert d.lease_deadline is not None and before + 29 <= d.lease_deadline <= after + 31


def test_cap_counts_the_send_log_across_campaigns(store: Store) -> None:
    store.enqueue([new("C1", campaign="a")], now=0)
    (d,) = store.claim("w", now=1).deliveries
    store.mark_sending(d.id, "w", now=1)
    store.finish(d.id, "w", Outcome("sent", code=250), now=2)
    store.enqueue([new("C1", campaign="b", not_before=3600.0)], now=0)
    assert store.claim("w", now=3600).capped == 1
    assert [s.message_class for s in store.send_log("C1")] == ["promotional"]


def test_send_log_keeps_the_products_each_email_showed(store: Store) -> None:
    """The last ``emails`` logged emails per customer count, with products or without."""
    shown = {"a": ["P1", "P2"], "b": [], "c": ["P3"], "d": None}
    for at, campaign in enumerate("abcd", start=1):
        payload = {"customer": {}} if shown[campaign] is None else {"customer": {}, "shown": shown[campaign]}
        store.enqueue([new("C1", campaign=campaign, payload=payload, not_before=at * 8 * DAY, expires_at=1e12),
                       new("C2", campaign=campaign, not_before=at * 8 * DAY, expires_at=1e12)], now=0)
        when = at * 8 * DAY  # weeks apart: the caps let every one through
        for d in store.claim("w", now=when, limit=5).deliveries:
            store.mark_sending(d.id, "w", now=when)
            store.finish(d.id, "w", Outcome("sent", code=250), now=when + 1)
    assert sorted(store.shown(["C1", "C2", "C9"], emails=4)) == [("C1", "P1"), ("C1", "P2"), ("C1", "P3")]
    assert store.shown(["C1"], emails=2) == [("C1", "P3")]  # d (none) and c are the last two
    assert store.shown(["C1"], emails=1) == [] and store.shown([], emails=3) == []


def test_products_of_emails_queued_and_not_yet_sent_count_as_shown(store: Store) -> None:
    """A later campaign choosing products sees what earlier ones will show, not only what they showed."""
    import numpy as np

    from mailer.personalise.exclusions import SendLogShown

    far = 5 * DAY
    store.enqueue([new("C1", campaign="a", payload={"shown": ["P1"]}, expires_at=1e12)], now=0)
    (a,) = store.claim("w", now=1).deliveries
    store.mark_sending(a.id, "w", now=1)
    store.finish(a.id, "w", Outcome("sent", code=250), now=1)
    store.enqueue([new("C1", campaign="b", payload={"shown": ["P2"]}, not_before=far, expires_at=1e12),
                   new("C1", campaign="c", payload={"shown": ["P3"]}, message_class="transactional", expires_at=1e12),
                   new("C1", campaign="d", payload={"shown": ["P9"]}, not_before=far, expires_at=1e12),
                   new("C2", campaign="d", payload={"shown": ["P9"]}, not_before=far, expires_at=1e12)], now=2)  # fmt: skip
    assert [d.campaign for d in store.claim("w", now=2, limit=5).deliveries] == ["c"]  # leased, not sent
    assert sorted(store.shown(["C1", "C2"], emails=3, campaign="d")) == [("C1", "P1"), ("C1", "P2"), ("C1", "P3")]
    assert sorted(store.shown(["C1"], emails=2, campaign="d")) == [("C1", "P2"), ("C1", "P3")]  # queued ones are the latest
    assert ("C2", "P9") in store.shown(["C2"], emails=3)  # another campaign choosing sees d's rows too
    position, products = SendLogShown(store, emails=3, campaign="d").shown(np.array(["C2", "C1"]))
    assert sorted(zip(position.tolist(), products.tolist())) == [(1, "P1"), (1, "P2"), (1, "P3")]


def test_capped_row_with_drop_policy_is_capped_with_reason(store: Store) -> None:
    store.enqueue([new("C1", campaign="a"), new("C1", campaign="b", on_cap="drop")], now=0)
    store.claim("w", now=1, limit=5)
    row = store.get("b", "C1")
    assert row is not None and row.state == "capped" and row.reason == "capped: frequency cap: at most 1 in 1 day"


def test_capped_row_whose_retry_falls_after_its_expiry_is_capped_not_failed(store: Store) -> None:
    """on_cap = "defer", but the cap allows it only after it expires: capped, and nothing to retry."""
    store.enqueue([new("C1", campaign="a"), new("C1", campaign="b")], now=0)  # b expires after a day
    claimed = store.claim("w", now=1, limit=5)
    assert claimed.capped == 1
    row = store.get("b", "C1")
    assert row is not None and row.state == "capped" and row.reason == "capped: frequency cap: at most 1 in 1 day"
    assert store.counts() == {"capped": 1, "leased": 1}
    assert store.retry_failed(now=2) == 0
    assert [(d.campaign, d.state) for d in store.iter_deliveries(state="capped")] == [("b", "capped")]


def test_volume_preference_only_important_drops_promotional(store: Store) -> None:
    store.set_volume("C1", "only-important")
    store.enqueue([new("C1"), new("C1", campaign="welcome", message_class="lifecycle")], now=0)
    assert [d.campaign for d in store.claim("w", now=1, limit=5).deliveries] == ["welcome"]
    row = store.get("autumn", "C1")
    assert row is not None and (row.state, row.reason) == ("capped", "capped: the customer asked for only important mail")


def test_transactional_is_exempt_from_caps(store: Store) -> None:
    store.enqueue([new("C1", campaign=f"receipt{i}", message_class="transactional") for i in range(3)], now=0)
    assert len(store.claim("w", now=1, limit=5).deliveries) == 3


def test_custom_caps(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.sqlite3", caps=Caps(windows=(Window(DAY, 2),)))
    store.enqueue([new("C1", campaign=c) for c in "abc"], now=0)
    assert len(store.claim("w", now=1, limit=5).deliveries) == 2


def test_no_caps(tmp_path: Path) -> None:
    store = open_store(tmp_path / "q.sqlite3", caps=None)
    store.enqueue([new("C1", campaign=c) for c in "abc"], now=0)
    assert len(store.claim("w", now=1, limit=5).deliveries) == 3


def test_planned_rows_wait_for_release(store: Store) -> None:
    store.enqueue([new(state="planned")], now=0)
    assert store.claim("w", now=1).deliveries == []
    assert store.release_planned("autumn", now=1) == 1
    assert len(store.claim("w", now=1).deliveries) == 1


def test_release_requeues_leased_rows(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("w", now=1).deliveries
    assert store.release("w", [d.id], now=2) == 1
    assert store.counts() == {"queued": 1}


def test_token_bucket_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    with SQLiteStore(path) as s:
        assert s.reserve_token("smtp", rate=2.0, burst=1.0, now=0.0) == 0.0
        assert s.reserve_token("smtp", rate=2.0, burst=1.0, now=0.0) == 0.5
    with SQLiteStore(path) as s:
        assert s.reserve_token("smtp", rate=2.0, burst=1.0, now=0.0) == 1.0


def test_pause_is_shared_and_the_later_wins(store: Store) -> None:
    store.pause("smtp", until=100.0, code=421, reason="busy")
    store.pause("smtp", until=50.0, code=421, reason="shorter")
    assert store.paused("smtp", now=10.0) == (100.0, 421, "busy")
    assert store.paused("smtp", now=100.0) is None


def test_counts_and_reply_classes(store: Store) -> None:
    store.enqueue([new("C1"), new("C2")], now=0)
    (d, _) = store.claim("w", now=1, limit=2).deliveries
    store.mark_sending(d.id, "w", now=1)
    store.finish(d.id, "w", Outcome("sent", code=250), now=1)
    assert store.counts() == {"leased": 1, "sent": 1}
    assert store.reply_classes() == {"2xx": 1, "none": 1}
    assert store.pending(now=1) == (1, 0, None)


def test_put_back_defers_a_leased_row(store: Store) -> None:
    store.enqueue([new()], now=0)
    (d,) = store.claim("w", now=1).deliveries
    assert store.put_back(d.id, "other", state="deferred", not_before=50.0, now=2) is False
    assert store.put_back(d.id, "w", state="deferred", not_before=50.0, reason="pool paused", now=2) is True
    assert store.pending(now=2) == (0, 0, 50.0)


def test_locked_database_raises_store_busy_not_sqlite_error(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = SQLiteStore(path, busy_timeout=0.3)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy):
            store.enqueue([new()], now=0)
    finally:
        other.execute("ROLLBACK")
    assert store.enqueue([new()], now=0) == 1


def test_lock_held_briefly_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = SQLiteStore(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    timer.start()
    assert store.enqueue([new()], now=0) == 1
    timer.join()


def test_concurrent_claimers_on_separate_connections_never_share_a_row(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    SQLiteStore(path, caps=None).enqueue([new(f"C{i}") for i in range(200)], now=0)
    got: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        s = SQLiteStore(path, caps=None)
        mine: list[int] = []
        while batch := s.claim(name, now=1, limit=7).deliveries:
            mine += [d.id for d in batch]
        got[name] = mine
        s.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in got.values() for i in ids]
    assert len(every) == len(set(every)) == 200


def test_concurrent_postgres_claimers_respect_a_daily_cap() -> None:
    first = postgres_store()
    try:
        first.enqueue([new("C1", campaign=c, expires_at=3 * DAY) for c in "abcdef"], now=0)
        schema = first.schema  # type: ignore[attr-defined]
        from mailer.store.postgres import PostgresStore

        got: list[int] = []

        def worker(name: str) -> None:
            s = PostgresStore(POSTGRES_DSN, schema=schema)  # type: ignore[arg-type]
            got.extend(d.id for d in s.claim(name, now=1, limit=6).deliveries)
            s.close()

        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 1
    finally:
        drop(first)


def test_claim_reads_a_long_queue_in_order_from_its_index(tmp_path: Path) -> None:
    """With many rows due, a claim reads them from the claim index (no sort of the queue)."""
    store = SQLiteStore(tmp_path / "q.sqlite3", caps=None)
    plan = store._db.execute("EXPLAIN QUERY PLAN " + store.query("due_many").sql, {"now": 0, "limit": 10}).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "deliveries_claim" in details and "TEMP B-TREE" not in details, details
    store.close()


@pytest.mark.parametrize("sort_at_most", [1, 20_000])
def test_claim_order_is_the_same_by_either_path(
    store: Store, monkeypatch: pytest.MonkeyPatch, sort_at_most: int
) -> None:
    import mailer.store.sql as sql_store

    monkeypatch.setattr(sql_store, "_SORT_AT_MOST", sort_at_most)
    rows = [new(f"P{i}", not_before=float(i), expires_at=1e12) for i in range(6)]
    rows += [new("L1", campaign="life", not_before=5.0, message_class="lifecycle", expires_at=1e12),
             new("T1", campaign="receipt", not_before=9.0, message_class="transactional", expires_at=1e12),
             new("P9", campaign="vip", not_before=4.0, priority=5, expires_at=1e12),
             new("F1", campaign="later", not_before=1e6, message_class="transactional", expires_at=1e12)]  # fmt: skip
    store.enqueue(rows, now=0)
    claimed = store.claim("w", now=100, limit=20).deliveries
    assert [d.recipient for d in claimed] == ["T1", "L1", "P9", "P0", "P1", "P2", "P3", "P4", "P5"]


def test_a_store_from_before_domains_and_shown_products_is_migrated(store: Store) -> None:
    """Opening an older store adds the columns, fills each row's domain, and then works as usual."""
    store.enqueue([new("C1", expires_at=1e12)], now=0)
    db = store._db  # type: ignore[attr-defined]
    if store.backend == "sqlite":
        db.execute("DROP INDEX deliveries_domain")
    db.execute("ALTER TABLE deliveries DROP COLUMN domain")
    db.execute("ALTER TABLE send_log DROP COLUMN products")
    if store.backend == "sqlite":
        db.commit()
    again = another_handle(store)
    try:
        row = again._db.execute("SELECT domain FROM deliveries").fetchone()  # type: ignore[attr-defined]
        assert row["domain"] == "shop.test"
        (d,) = again.claim("w", now=1).deliveries
        assert again.mark_sending_many([(d.id, None)], "w", now=1, per_domain=1) == ["sending"]
        assert again.finish(d.id, "w", Outcome("sent", code=250), now=2)
        assert again.shown(["C1"]) == []
    finally:
        again.close()


# -- what operators see and do ---------------------------------------------------------------------


def fail(store: Store, *recipients: str, campaign: str = "autumn", code: int = 550, text: str = "no such user",
         now: float = 1.0) -> None:
    """Claim, send and fail some queued rows."""
    for d in store.claim("w", now=now, limit=100).deliveries:
        store.mark_sending(d.id, "w", now=now)
        if d.recipient in recipients and d.campaign == campaign:
            store.finish(d.id, "w", Outcome("failed", code=code, text=text, reason=f"{code} {text}"), now=now)
        else:
            store.finish(d.id, "w", Outcome("sent", code=250, reason="accepted"), now=now)


def test_iter_deliveries_pages_through_one_state_in_next_attempt_order(store: Store) -> None:
    # Equal next-attempt times across page boundaries: the page key is (time, id).
    store.enqueue([new(f"C{i}", not_before=float(i // 3), expires_at=1e12) for i in range(7)]
                  + [new("X1", campaign="winter", expires_at=1e12)], now=0)  # fmt: skip
    listed = list(store.iter_deliveries(state="queued", campaign="autumn", page=2))
    assert [d.recipient for d in listed] == [f"C{i}" for i in range(7)]
    assert all(d.state == "queued" and d.campaign == "autumn" for d in listed)
    assert [d.recipient for d in store.iter_deliveries(state="queued", limit=3, page=2)] == ["C0", "C1", "C2"]
    assert len(list(store.iter_deliveries(page=3))) == 8
    assert list(store.iter_deliveries(state="failed")) == []


def test_iter_deliveries_lists_each_state_with_its_reason(store: Store) -> None:
    store.enqueue([new("C1"), new("C2"), new("C3", not_before=1e9, expires_at=2e9)], now=0)
    fail(store, "C1")
    (failed,) = store.iter_deliveries(state="failed")
    assert (failed.recipient, failed.reason, failed.reply_code, failed.attempts) == ("C1", "550 no such user", 550, 1)
    assert [(d.state, d.recipient) for d in store.iter_deliveries()] == [
        ("queued", "C3"), ("sent", "C2"), ("failed", "C1")]  # fmt: skip


def test_iter_deliveries_capped_lists_the_rows_a_cap_set_aside(store: Store) -> None:
    store.enqueue([new("C1", campaign="a"), new("C1", campaign="b", expires_at=3 * DAY),
                   new("C1", campaign="c", on_cap="drop"), new("C2", campaign="a")], now=0)  # fmt: skip
    store.claim("w", now=1, limit=10)
    (c2,) = [d for d in store.deliveries() if d.recipient == "C2"]
    store.mark_sending(c2.id, "w", now=1)
    store.finish(c2.id, "w", Outcome("failed", code=554, reason="554 rejected"), now=1)
    capped = {(d.campaign, d.state) for d in store.iter_deliveries(state="capped")}
    assert capped == {("b", "deferred"), ("c", "capped")}
    assert all(d.reason.startswith("capped: ") for d in store.iter_deliveries(state="capped"))  # type: ignore[union-attr]


def test_iter_deliveries_refuses_an_unknown_state(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown state 'stuck'"):
        store.iter_deliveries(state="stuck")


def test_counts_and_reasons_per_campaign(store: Store) -> None:
    store.enqueue([new(f"C{i}") for i in range(5)] + [new("C9", campaign="winter")], now=0)
    fail(store, "C0", "C1")
    assert store.campaign_counts() == {"autumn": {"failed": 2, "sent": 3}, "winter": {"sent": 1}}
    assert store.campaign_counts("winter") == {"winter": {"sent": 1}}
    assert store.reasons() == [ReasonCount("autumn", "failed", "550 no such user", 2)]
    store.enqueue([new("C7", campaign="winter", expires_at=5.0)], now=0)
    store.claim("w", now=10)
    assert store.reasons("winter") == [ReasonCount("winter", "expired", "expired before delivery", 1)]
    assert store.reasons(top=0) == []


def test_reasons_keep_the_most_common_of_each_campaign(store: Store) -> None:
    store.enqueue([new(f"C{i}") for i in range(6)], now=0)
    for i, d in enumerate(store.claim("w", now=1, limit=10).deliveries):
        store.mark_sending(d.id, "w", now=1)
        reason = "451 busy" if i < 3 else ("452 full" if i < 5 else "421 closing")
        store.finish(d.id, "w", Outcome("deferred", not_before=100.0, reason=reason), now=1)
    assert [(r.reason, r.count) for r in store.reasons(top=2)] == [("451 busy", 3), ("452 full", 2)]


def test_campaigns_lists_specs_rows_and_holds(store: Store) -> None:
    store.put_campaign("spring", "{}", now=5.0)
    store.enqueue([new("C1"), new("C2", campaign="spring")], now=0)
    store.pause_campaign("summer", now=6.0)  # known only by its hold
    listed = {c.id: c for c in store.campaigns()}
    assert set(listed) == {"autumn", "spring", "summer"}
    assert (listed["spring"].created_at, listed["spring"].status, dict(listed["spring"].counts)) == (5.0, "active", {"queued": 1})
    assert (listed["autumn"].created_at, dict(listed["autumn"].counts)) == (None, {"queued": 1})
    assert listed["summer"].status == "paused" and listed["summer"].total == 0
    assert [c.id for c in store.campaigns("autumn")] == ["autumn"] and store.campaigns("nope") == []


def test_paused_campaign_is_not_claimed_until_resumed(store: Store) -> None:
    store.enqueue([new("C1"), new("C2"), new("C3", campaign="winter")], now=0)
    (d,) = store.claim("w", now=1, limit=1).deliveries
    store.mark_sending(d.id, "w", now=1)
    store.finish(d.id, "w", Outcome("deferred", not_before=2.0, reason="451 busy"), now=1)
    assert store.pause_campaign("autumn", now=3) == 2
    assert store.counts("autumn") == {"paused": 2}
    assert [c.campaign for c in store.claim("w", now=4, limit=10).deliveries] == ["winter"]
    assert store.pending(now=4) == (1, 0, None)
    assert store.resume_campaign("autumn", now=5) == 2
    assert {r.recipient: r.state for r in store.deliveries("autumn")} == {d.recipient: "deferred", "C2": "queued"}
    assert store.get("autumn", d.recipient).reason == "451 busy"  # type: ignore[union-attr]
    assert sorted(c.recipient for c in store.claim("w", now=6, limit=10).deliveries) == ["C1", "C2"]
    assert store.campaigns("autumn")[0].status == "active"


def test_rows_back_from_a_worker_after_a_pause_are_not_claimed(store: Store) -> None:
    store.enqueue([new("C1"), new("C2", campaign="winter", not_before=50.0)], now=0)
    (d,) = store.claim("w", now=1).deliveries
    assert store.pause_campaign("autumn", now=2) == 0  # the leased row is not waiting
    store.release("w", [d.id], now=3)  # a worker stopping gives it back: queued, in a paused campaign
    assert store.claim("w2", now=4).deliveries == []
    assert store.pending(now=4) == (0, 0, 50.0)  # nothing due: an idle worker may stop
    store.resume_campaign("autumn", now=5)
    assert [c.recipient for c in store.claim("w2", now=6).deliveries] == ["C1"]


def test_paused_rows_still_expire_when_resumed(store: Store) -> None:
    store.enqueue([new("C1", expires_at=10.0)], now=0)
    store.pause_campaign("autumn", now=1)
    assert store.claim("w", now=20).expired == 0 and store.counts() == {"paused": 1}
    store.resume_campaign("autumn", now=21)
    assert store.claim("w", now=22).expired == 1


def test_rows_queued_into_a_held_campaign_start_held(store: Store) -> None:
    store.pause_campaign("autumn", now=0)
    store.cancel_campaign("winter", now=0)
    store.enqueue([new("C1"), new("C2", campaign="winter"), new("C3", state="planned")], now=0)
    assert store.campaign_counts() == {"autumn": {"paused": 1, "planned": 1}, "winter": {"cancelled": 1}}
    store.release_planned("autumn", now=1)
    assert store.counts("autumn") == {"paused": 2}
    assert store.claim("w", now=2).deliveries == []


def test_cancel_sets_unsent_rows_aside_and_lets_sends_in_flight_finish(store: Store) -> None:
    store.enqueue([new(f"C{i}") for i in range(4)] + [new("C9", campaign="winter")], now=0)
    a, b = [d for d in store.claim("w", now=1, limit=2).deliveries]
    store.mark_sending(a.id, "w", now=1)
    store.mark_sending(b.id, "w", now=1)
    assert store.cancel_campaign("autumn", now=2) == 2
    assert store.finish(a.id, "w", Outcome("sent", code=250), now=3)
    # b comes back deferred after the cancel: the next claim sets it aside.
    assert store.finish(b.id, "w", Outcome("deferred", not_before=3.0, code=451, reason="451 busy"), now=3)
    claimed = store.claim("w", now=4, limit=10)
    assert [d.recipient for d in claimed.deliveries] == ["C9"] and claimed.cancelled == 1
    assert store.counts("autumn") == {"cancelled": 3, "sent": 1}
    assert {r.reason for r in store.iter_deliveries(state="cancelled")} == {"campaign cancelled by an operator"}
    assert store.campaigns("autumn")[0].status == "cancelled"


def test_a_cancelled_campaign_cannot_be_paused_or_resumed(store: Store) -> None:
    store.enqueue([new("C1")], now=0)
    store.pause_campaign("autumn", now=1)
    assert store.cancel_campaign("autumn", now=2) == 1  # a paused campaign can be cancelled
    for change in (store.pause_campaign, store.resume_campaign):
        with pytest.raises(StoreError, match="was cancelled"):
            change("autumn", now=3)
    assert store.counts() == {"cancelled": 1}


def test_retry_failed_requeues_with_a_fresh_expiry_and_keeps_attempts(store: Store) -> None:
    store.enqueue([new("C1", expires_at=100.0), new("C2", expires_at=100.0)], now=0)
    fail(store, "C1", "C2")
    store.enqueue([new("C3", campaign="winter")], now=0)
    fail(store, "C3", campaign="winter")
    assert store.retry_failed(campaign="autumn", recipients=["C1"], expiry=3600, now=500) == 1
    row = store.get("autumn", "C1")
    assert row is not None and (row.state, row.attempts, row.not_before, row.expires_at) == ("queued", 1, 500, 4100)
    assert row.reason == "requeued by an operator; failed with: 550 no such user" and row.reply_code == 550
    assert store.get("autumn", "C2").state == "failed"  # type: ignore[union-attr]
    (again,) = store.claim("w", now=501).deliveries
    assert again.recipient == "C1"
    store.cancel_campaign("winter", now=502)
    assert store.retry_failed(now=503) == 1  # C2; the cancelled campaign's row stays failed
    assert store.get("winter", "C3").state == "failed"  # type: ignore[union-attr]


def test_retried_rows_of_a_paused_campaign_wait_for_its_resume(store: Store) -> None:
    store.enqueue([new("C1")], now=0)
    fail(store, "C1")
    store.pause_campaign("autumn", now=2)
    assert store.retry_failed(now=3) == 1
    assert store.counts() == {"paused": 1}


def test_a_store_from_before_campaign_holds_is_migrated(store: Store) -> None:
    """Opening a store whose rows cannot be paused or cancelled widens its state check, keeping every row."""
    store.enqueue([new("C1", expires_at=1e12), new("C2", expires_at=1e12)], now=0)
    old_states = "'planned', 'queued', 'leased', 'sending', 'sent', 'deferred', 'bounced', 'suppressed', 'expired', 'failed', 'unknown'"
    db = store._db  # type: ignore[attr-defined]
    if store.backend == "sqlite":
        schema = load_queries("sqlite")["schema"].sql
        table = schema[schema.index("CREATE TABLE IF NOT EXISTS deliveries"):schema.index(");") + 2]
        start, end = table.index("CHECK (state IN ("), table.index(")),") + 2
        table = table[:start] + f"CHECK (state IN ({old_states}))" + table[end:]
        db.executescript(f"""
            DROP TABLE campaign_holds;
            ALTER TABLE deliveries RENAME TO kept;
            {table.replace("IF NOT EXISTS deliveries", "deliveries")}
            INSERT INTO deliveries SELECT * FROM kept;
            DROP TABLE kept;
            CREATE INDEX deliveries_claim ON deliveries (priority);
        """)
    else:
        db.execute("DROP TABLE campaign_holds")
        db.execute("ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check")
        db.execute(f"ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN ({old_states}))")
    with pytest.raises(Exception):
        db.execute("UPDATE deliveries SET state = 'cancelled'")
    again = another_handle(store)
    try:
        assert again.counts() == {"queued": 2}
        assert again.cancel_campaign("autumn", now=1) == 2
        assert again.campaigns()[0].status == "cancelled"
        if store.backend == "sqlite":
            names = {r["name"] for r in again._db.execute("SELECT name FROM sqlite_schema")}  # type: ignore[attr-defined]
            assert {"deliveries_claim", "deliveries_due", "deliveries_domain", "campaign_holds"} <= names
            assert "kept" not in names and "deliveries_before_holds" not in names
            plan = again._db.execute("EXPLAIN QUERY PLAN " + again.query("due_many").sql,  # type: ignore[attr-defined]
                                     {"now": 0, "limit": 1}).fetchall()
            assert "TEMP B-TREE" not in " ".join(str(r[-1]) for r in plan)  # the real claim index again
    finally:
        again.close()


def test_a_store_from_before_the_capped_state_is_migrated(store: Store) -> None:
    """Opening a store whose rows cannot be capped widens its state check; rows a cap failed become capped."""
    store.enqueue([new("C1", campaign="a", expires_at=1e12), new("C1", campaign="b", expires_at=1e12),
                   new("C2", campaign="a", expires_at=1e12)], now=0)  # fmt: skip
    old_states = ("'planned', 'queued', 'paused', 'leased', 'sending', 'sent', 'deferred', 'bounced', "
                  "'suppressed', 'expired', 'failed', 'unknown', 'cancelled'")  # fmt: skip
    db = store._db  # type: ignore[attr-defined]
    capped_then = "UPDATE deliveries SET state = 'failed', reason = 'capped: frequency cap: at most 1 in 1 day' WHERE campaign = 'b'"
    failed_then = "UPDATE deliveries SET state = 'failed', reason = '554 rejected' WHERE recipient = 'C2'"
    if store.backend == "sqlite":
        schema = load_queries("sqlite")["schema"].sql
        table = schema[schema.index("CREATE TABLE IF NOT EXISTS deliveries"):schema.index(");") + 2]
        start, end = table.index("CHECK (state IN ("), table.index(")),") + 2
        table = table[:start] + f"CHECK (state IN ({old_states}))" + table[end:]
        db.executescript(f"""
            ALTER TABLE deliveries RENAME TO kept;
            {table.replace("IF NOT EXISTS deliveries", "deliveries")}
            INSERT INTO deliveries SELECT * FROM kept;
            DROP TABLE kept;
            {capped_then};
            {failed_then};
        """)
    else:
        db.execute("ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check")
        db.execute(f"ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN ({old_states}))")
        db.execute(capped_then)
        db.execute(failed_then)
    with pytest.raises(Exception):
        db.execute("UPDATE deliveries SET state = 'capped'")
    again = another_handle(store)
    try:
        assert {(d.campaign, d.recipient): d.state for d in again.deliveries()} == {
            ("a", "C1"): "queued", ("b", "C1"): "capped", ("a", "C2"): "failed"}  # fmt: skip
        assert [d.campaign for d in again.iter_deliveries(state="capped")] == ["b"]
        again._db.execute("UPDATE deliveries SET state = 'capped' WHERE campaign = 'a' AND recipient = 'C1'")  # type: ignore[attr-defined]
        assert again.counts() == {"capped": 2, "failed": 1}
    finally:
        again.close()


def test_discarding_planned_rows_leaves_queued_ones_and_forgets_an_empty_campaign(store: Store) -> None:
    store.put_campaign("autumn", "snapshot", now=0.0)
    store.enqueue([NewDelivery("autumn", "C1", "c1@shop.test", not_before=0.0)], now=0)
    store.enqueue([NewDelivery("autumn", f"P{i}", f"p{i}@shop.test", not_before=0.0, state="planned") for i in range(3)],
                  now=0)  # fmt: skip
    assert store.discard_planned("autumn") == 3
    assert store.counts("autumn") == {"queued": 1} and store.get_campaign("autumn") == "snapshot"
    store.put_campaign("winter", "snapshot", now=0.0)
    store.enqueue([NewDelivery("winter", "W1", "w1@shop.test", not_before=0.0, state="planned")], now=0)
    assert store.discard_planned("winter") == 1
    assert store.get_campaign("winter") is None  # nothing of it is queued: it keeps no snapshot


# -- bounces, complaints and auto-replies that arrive later ------------------------------------------


def send(store: Store, recipient: str, *, campaign: str = "autumn", day: float = 0.0, address: str | None = None) -> str:
    """Queue one message and have the server accept it on ``day``; returns its Message-ID."""
    at = day * DAY
    mid = message_id(campaign, recipient, "shop.test")
    store.enqueue([NewDelivery(campaign, recipient, address or f"{recipient.lower()}@example.com", not_before=at,
                               expires_at=at + DAY, message_id=mid)], now=at)  # fmt: skip
    (d,) = store.claim("w", now=at, limit=1).deliveries
    assert store.mark_sending(d.id, "w", now=at, message_id=mid) == "sending"
    assert store.finish(d.id, "w", Outcome("sent", code=250, reason="accepted"), now=at)
    return mid


def read(store: Store, data: bytes, *, day: float = 0.0, dry_run: bool = False) -> FeedbackEvent:
    """Apply one feedback message as it came back on ``day``."""
    feedback = parse_feedback(data)
    return store.apply_feedback(feedback, find_message(feedback, SIGNER), now=day * DAY + 3600, dry_run=dry_run,
                                source="test")  # fmt: skip


def suppressed(store: Store) -> dict[str, str]:
    return {s.value: s.reason for s in store.suppressions()}


def test_rows_are_found_by_the_key_of_their_message_id(store: Store) -> None:
    mid = message_id("autumn", "C1", "shop.test")
    store.enqueue([new("C1", message_id=mid), new("C2")], now=0)
    rows = {r["recipient"]: r["message_key"] for r in store._db.execute("SELECT recipient, message_key FROM deliveries")}  # type: ignore[attr-defined]
    assert rows == {"C1": message_key(mid), "C2": None}
    later = message_id("autumn", "C2", "shop.test")
    (d,) = [d for d in store.claim("w", now=1, limit=5).deliveries if d.recipient == "C2"]
    store.mark_sending(d.id, "w", now=1, message_id=later)
    found = store._db.execute(store.query("message_by_key").sql, {"key": message_key(later)})  # type: ignore[attr-defined]
    assert found.fetchone()["recipient"] == "C2"


def test_a_hard_bounce_suppresses_the_messages_address_as_a_reply_at_send_time_would(store: Store) -> None:
    mid = send(store, "C1")
    send(store, "C2")
    event = read(store, dsn("c1@example.com", mid, to=verp(mid)))
    assert (event.outcome, event.suppression, event.campaign, event.recipient, event.status) == (
        "suppressed", "hard-bounce", "autumn", "C1", "5.1.1")
    assert suppressed(store) == {"c1@example.com": "hard-bounce"}
    assert store.is_suppressed(address="C1@Example.com") and not store.is_suppressed(address="c2@example.com")
    assert store.get("autumn", "C1").state == "sent"  # type: ignore[union-attr]  # it was accepted; the bounce came later


def test_a_complaint_suppresses_and_counts_towards_the_complaint_rate(store: Store) -> None:
    mid = send(store, "C1")
    send(store, "C2")
    event = read(store, arf("c1@example.com", mid, return_path=verp(mid)))
    assert (event.kind, event.outcome, event.suppression) == ("complaint", "suppressed", "complaint")
    assert suppressed(store) == {"c1@example.com": "complaint"}
    read(store, arf("c1@example.com", mid, return_path=verp(mid)))  # the same complaint twice counts once
    (count,) = store.complaint_counts()
    assert (count.campaign, count.domain, count.delivered, count.complaints) == ("autumn", "shop.test", 2, 1)


def test_a_complaint_whose_report_withholds_the_address_suppresses_the_messages(store: Store) -> None:
    mid = send(store, "C1")
    assert read(store, arf("c1@example.com", mid, return_path=verp(mid), rcpt_to=False)).suppression == "complaint"
    assert suppressed(store) == {"c1@example.com": "complaint"}


def test_three_soft_bounces_over_eight_days_suppress(store: Store) -> None:
    events = []
    for day in (0, 4, 8):
        mid = send(store, "C1", campaign=f"c{day}", day=day)
        events.append(read(store, soft("c1@example.com", mid, to=verp(mid)), day=day))
    assert [e.outcome for e in events] == ["counted", "counted", "suppressed"]
    assert events[-1].suppression == "soft-bounce" and "3 soft bounces over 8 days" in events[-1].reason
    assert suppressed(store) == {"c1@example.com": "soft-bounce"}


def test_two_soft_bounces_do_not_suppress(store: Store) -> None:
    for day in (0, 8):
        mid = send(store, "C1", campaign=f"c{day}", day=day)
        assert read(store, soft("c1@example.com", mid, to=verp(mid)), day=day).outcome == "counted"
    assert suppressed(store) == {}


def test_a_delivery_between_soft_bounces_starts_the_count_again(store: Store) -> None:
    for day in (0, 3, 5, 8):
        mid = send(store, "C1", campaign=f"c{day}", day=day)
        if day != 5:  # the message of day 5 was delivered: nothing came back
            read(store, soft("c1@example.com", mid, to=verp(mid)), day=day)
    assert suppressed(store) == {}


def test_several_reports_about_one_message_count_as_one_soft_bounce(store: Store) -> None:
    first = send(store, "C1", campaign="c0", day=0)
    for _ in range(3):
        read(store, delay("c1@example.com", first, to=verp(first)), day=0)
    later = send(store, "C1", campaign="c8", day=8)
    assert read(store, soft("c1@example.com", later, to=verp(later)), day=8).outcome == "counted"
    assert suppressed(store) == {}


def test_a_bounce_with_a_forged_token_suppresses_nobody(store: Store) -> None:
    from mailer.feedback import VerpSigner

    mid = send(store, "C1")
    forged = verp(mid, VerpSigner(b"not-the-shops-key-0123456789abcdef"))
    event = read(store, dsn("c1@example.com", mid, to=forged))
    assert (event.outcome, event.matched, event.campaign) == ("unmatched", None, None)
    assert "does not verify" in event.reason and suppressed(store) == {}


def test_a_bounce_naming_our_message_id_alone_suppresses_nobody(store: Store) -> None:
    mid = send(store, "C1")
    assert read(store, dsn("c1@example.com", mid, to=None)).outcome == "unmatched"
    assert suppressed(store) == {}


def test_a_bounce_to_one_customers_verp_address_naming_another_suppresses_neither(store: Store) -> None:
    eve = send(store, "E1")
    send(store, "C1")
    event = read(store, dsn("c1@example.com", eve, to=verp(eve)))
    assert (event.recipient, event.outcome) == ("E1", "counted")  # at most a soft bounce for the sender's own
    assert suppressed(store) == {}


def test_a_complaint_by_message_id_alone_suppresses_only_that_messages_recipient(store: Store) -> None:
    ann, bob = send(store, "C1"), send(store, "C2")
    assert read(store, arf("c2@example.com", ann, return_path=None)).outcome == "unmatched"  # Bob named on Ann's message
    assert read(store, arf("c1@example.com", message_id("autumn", "C9", "shop.test"), return_path=None)).outcome == "unmatched"
    assert suppressed(store) == {}
    event = read(store, arf("c2@example.com", bob, return_path=None))
    assert (event.outcome, event.matched, event.recipient) == ("suppressed", "message-id", "C2")
    assert suppressed(store) == {"c2@example.com": "complaint"}


def test_a_complaint_by_message_id_about_a_message_not_sent_suppresses_nobody(store: Store) -> None:
    mid = message_id("autumn", "C1", "shop.test")
    store.enqueue([new("C1", message_id=mid)], now=0)
    assert read(store, arf("c1@shop.test", mid, return_path=None)).outcome == "unmatched"
    assert suppressed(store) == {}


def test_an_auto_reply_to_the_verp_address_changes_nothing(store: Store) -> None:
    mid = send(store, "C1")
    event = read(store, out_of_office("c1@example.com", to=verp(mid)))
    assert (event.kind, event.outcome, event.recipient) == ("auto-reply", "ignored", "C1")
    assert suppressed(store) == {}


@pytest.mark.parametrize("folder", ["dsn/rfc3834-", "not-bounces/"])
def test_real_auto_replies_and_not_bounces_never_suppress(store: Store, folder: str) -> None:
    """Each is delivered to the VERP address of a message sent to the very address it names."""
    files = sorted(p for p in shared_path("bounces").glob("*/*.eml") if f"{p.parent.name}/{p.name}".startswith(folder))
    assert files
    for i, path in enumerate(files):
        data = path.read_bytes()
        named = parse_feedback(data)
        address = (named.addresses or (named.sender,) or ("x@example.com",))[0] or "x@example.com"
        mid = send(store, f"R{i}", campaign=f"real{i}", address=address)
        event = read(store, delivered_to(data, verp(mid)))
        # An auto-reply means the message arrived; a look-alike at most counts one soft bounce.
        assert event.outcome == ("ignored" if folder.startswith("dsn/") else event.outcome), path.name
        assert event.outcome != "suppressed", path.name
    assert suppressed(store) == {}


def test_real_hard_bounces_suppress_the_address_they_report(store: Store) -> None:
    """Real bounces (the corpus' RFC 3464 and servers' own forms), each
    delivered to the VERP address of a message sent to the address it
    reports bad: that address, and nobody else, is suppressed."""
    checked = 0
    for i, path in enumerate(sorted(shared_path("bounces/dsn").glob("*.eml"))):
        if not path.name.startswith(("rfc3464-", "lhost-")):
            continue
        data = path.read_bytes()
        feedback = parse_feedback(data)
        bad = [r.address for r in feedback.recipients if r.action == "suppress"]
        if feedback.kind != "hard" or not bad:
            continue
        mid = send(store, f"R{i}", campaign=f"real{i}", address=bad[0])
        event = read(store, delivered_to(data, verp(mid)))
        assert (event.outcome, event.suppression, event.recipient) == ("suppressed", "hard-bounce", f"R{i}"), path.name
        assert suppressed(store) == {bad[0]: "hard-bounce"}, path.name
        store.unsuppress(address=bad[0])  # type: ignore[attr-defined]  # the corpus reuses addresses
        checked += 1
    assert checked > 50


def test_real_complaints_suppress_the_complainant(store: Store) -> None:
    checked = 0
    for i, path in enumerate(sorted(shared_path("bounces/dsn").glob("arf-*.eml"))):
        data = path.read_bytes()
        feedback = parse_feedback(data)
        if feedback.kind != "complaint":
            continue
        address = feedback.addresses[0] if feedback.addresses else f"r{i}@example.com"
        mid = send(store, f"R{i}", campaign=f"real{i}", address=address)
        event = read(store, delivered_to(data, verp(mid)))
        assert (event.outcome, event.suppression) == ("suppressed", "complaint"), path.name
        assert suppressed(store) == {address.lower(): "complaint"}, path.name
        store.unsuppress(address=address)  # type: ignore[attr-defined]  # the corpus reuses addresses
        checked += 1
    assert checked > 5


def test_a_dry_run_says_what_would_be_done_and_writes_nothing(store: Store) -> None:
    mid = send(store, "C1")
    event = read(store, dsn("c1@example.com", mid, to=verp(mid)), dry_run=True)
    assert (event.outcome, event.suppression) == ("suppressed", "hard-bounce")
    assert suppressed(store) == {} and store.feedback_events() == []


def test_every_feedback_read_is_kept_as_an_event(store: Store) -> None:
    ann, bob = send(store, "C1"), send(store, "C2", campaign="winter", day=1)
    read(store, dsn("c1@example.com", ann, to=verp(ann)), day=2)
    read(store, soft("c2@example.com", bob, to=verp(bob)), day=3)
    read(store, out_of_office("c2@example.com", to=verp(bob)), day=4)
    read(store, b"Subject: hello\n\nnot a bounce\n", day=5)
    events = store.feedback_events()
    assert [(e.kind, e.outcome, e.campaign, e.address) for e in events] == [
        ("hard", "suppressed", "autumn", "c1@example.com"), ("soft", "counted", "winter", "c2@example.com"),
        ("auto-reply", "ignored", "winter", "c2@example.com"), ("not-feedback", "unmatched", None, None)]  # fmt: skip
    assert all(e.source == "test" and e.reason for e in events)
    assert [e.kind for e in store.feedback_events(kind="soft")] == ["soft"]
    assert [e.kind for e in store.feedback_events(since=4 * DAY)] == ["auto-reply", "not-feedback"]
    assert [e.kind for e in store.feedback_events(campaign="winter", limit=1)] == ["soft"]


def test_a_campaign_paused_with_a_reason_shows_it_until_resumed(store: Store) -> None:
    store.enqueue([new("C1", expires_at=1e12)], now=0)
    assert store.pause_campaign("autumn", reason="complaint rate too high", now=1) == 1
    (summary,) = store.campaigns("autumn")
    assert (summary.status, summary.hold_reason) == ("paused", "complaint rate too high")
    assert store.claim("w", now=2).deliveries == []
    store.resume_campaign("autumn", now=3)
    store.pause_campaign("autumn", now=4)  # an operator's pause gives no reason
    assert store.campaigns("autumn")[0].hold_reason is None


def test_soft_bounce_is_a_suppression_reason(store: Store) -> None:
    assert store.suppress(address="ann@example.com", reason="soft-bounce", detail="3 soft bounces") == 1
    assert suppressed(store) == {"ann@example.com": "soft-bounce"}


def test_a_store_from_before_feedback_is_migrated(store: Store) -> None:
    """Opening a store whose rows have no message key, whose holds have no
    reason, whose suppressions know no soft bounces and which keeps no
    feedback adds them all, each row's key filled in from its Message-ID."""
    mid = message_id("autumn", "C1", "shop.test")
    store.enqueue([new("C1", message_id=mid, expires_at=1e12)], now=0)
    store.suppress(address="old@example.com", reason="hard-bounce", now=0)
    store.pause_campaign("autumn", now=0)
    old_reasons = "'unsubscribed', 'hard-bounce', 'complaint', 'manual'"
    db = store._db  # type: ignore[attr-defined]
    if store.backend == "sqlite":
        db.executescript(f"""
            DROP TABLE feedback_events;
            DROP INDEX deliveries_message_key;
            ALTER TABLE deliveries DROP COLUMN message_key;
            ALTER TABLE campaign_holds DROP COLUMN reason;
            ALTER TABLE suppressions RENAME TO kept;
            CREATE TABLE suppressions (
                kind   TEXT NOT NULL CHECK (kind IN ('address', 'recipient')),
                value  TEXT NOT NULL,
                reason TEXT NOT NULL CHECK (reason IN ({old_reasons})),
                detail TEXT,
                at     REAL NOT NULL,
                PRIMARY KEY (kind, value)
            );
            INSERT INTO suppressions SELECT * FROM kept;
            DROP TABLE kept;
        """)
    else:
        db.execute("DROP TABLE feedback_events")
        db.execute("ALTER TABLE deliveries DROP COLUMN message_key")
        db.execute("ALTER TABLE campaign_holds DROP COLUMN reason")
        db.execute("ALTER TABLE suppressions DROP CONSTRAINT suppressions_reason_check")
        db.execute(f"ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check CHECK (reason IN ({old_reasons}))")
    with pytest.raises(Exception):
        db.execute("INSERT INTO suppressions (kind, value, reason, at) VALUES ('address', 'x@y.test', 'soft-bounce', 0)")
    again = another_handle(store)
    try:
        assert again.counts() == {"paused": 1} and again.campaigns()[0].hold_reason is None
        row = again._db.execute("SELECT message_key FROM deliveries").fetchone()  # type: ignore[attr-defined]
        assert row["message_key"] == message_key(mid)
        assert again.suppress(address="ann@example.com", reason="soft-bounce", now=1) == 1
        assert {s.value: s.reason for s in again.suppressions()} == {"old@example.com": "hard-bounce",
                                                                      "ann@example.com": "soft-bounce"}  # fmt: skip
        assert again.feedback_events() == []
        if store.backend == "sqlite":
            names = {r["name"] for r in again._db.execute("SELECT name FROM sqlite_schema")}  # type: ignore[attr-defined]
            assert {"deliveries_message_key", "feedback_events_delivery"} <= names and "kept" not in names
            assert "suppressions_before_soft_bounces" not in names
    finally:
        again.close()

