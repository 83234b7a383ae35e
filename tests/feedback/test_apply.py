"""Feedback applied to a store in batches, and campaigns paused for their
complaint rate, on every backend (as tests/test_store.py runs them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.content.mime import message_id
from mailer.feedback import FeedbackBatch, FeedbackPolicy, parse_feedback
from mailer.store import NewDelivery, Outcome, Store, open_store
from tests.support.bounce_mail import SIGNER, arf, dsn, out_of_office, verp
from tests.test_store import drop, postgres_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:{tmp_path / 'queue.sqlite3'}") if request.param == "sqlite" else postgres_store()
    yield s
    drop(s)


def deliver(store: Store, campaign: str, n: int, *, domain: str = "shop.test", waiting: int = 0) -> list[str]:
    """``n`` messages of ``campaign`` from ``domain`` accepted by the receiving
    servers (and ``waiting`` more still queued); returns their Message-IDs."""
    ids = [message_id(campaign, f"{campaign}-{i}", domain) for i in range(n + waiting)]
    store.enqueue((NewDelivery(campaign, f"{campaign}-{i}", f"{campaign}-{i}@example.com", not_before=0.0 if i < n else 9e9,
                               expires_at=1e12, message_id=mid) for i, mid in enumerate(ids)), now=0.0)  # fmt: skip
    leased = store.claim("w", now=1.0, limit=n).deliveries
    assert len(leased) == n
    assert set(store.mark_sending_many([(d.id, d.message_id) for d in leased], "w", now=1.0)) == {"sending"}
    assert all(store.finish_many([(d.id, Outcome("sent", code=250)) for d in leased], "w", now=1.0))
    return ids[:n]


def complain(batch: FeedbackBatch, campaign: str, ids: list[str]) -> None:
    for i, mid in enumerate(ids):
        event = batch.add(parse_feedback(arf(f"{campaign}-{i}@example.com", mid, return_path=verp(mid))))
        assert event.suppression == "complaint"


def test_a_complaint_rate_above_0_3_percent_pauses_the_campaign_with_the_reason(store: Store) -> None:
    ids = deliver(store, "autumn", 1000, waiting=5)
    batch = FeedbackBatch(store, SIGNER)
    complain(batch, "autumn", ids[:4])
    (paused,) = batch.close()
    assert (paused.campaign, paused.held) == ("autumn", 5)
    assert paused.reason.startswith("paused automatically: complaint rate 0.4% (4 of 1,000 delivered): above 0.3%")
    (summary,) = store.campaigns("autumn")
    assert (summary.status, summary.hold_reason) == ("paused", paused.reason)
    assert store.counts("autumn")["paused"] == 5


def test_a_complaint_rate_above_0_1_percent_warns_without_pausing(store: Store) -> None:
    from mailer.feedback.rules import complaint_rates

    ids = deliver(store, "autumn", 1000)
    batch = FeedbackBatch(store, SIGNER)
    complain(batch, "autumn", ids[:3])  # 0.3%: not above it
    assert batch.close() == []
    assert store.campaigns("autumn")[0].status == "active"
    levels = {(r.scope, r.name): r.level(FeedbackPolicy()) for r in complaint_rates(store.complaint_counts())}
    assert levels == {("campaign", "autumn"): "warning", ("domain", "shop.test"): "warning"}


def test_no_rate_is_judged_before_1000_messages_were_delivered(store: Store) -> None:
    ids = deliver(store, "autumn", 200)
    batch = FeedbackBatch(store, SIGNER)
    complain(batch, "autumn", ids[:50])
    assert batch.close() == [] and store.campaigns("autumn")[0].status == "active"
    batch = FeedbackBatch(store, SIGNER, policy=FeedbackPolicy(min_delivered=100))
    complain(batch, "autumn", ids[50:51])
    assert [p.campaign for p in batch.close()] == ["autumn"]


def test_the_sending_domains_rate_pauses_a_campaign_whose_own_is_low(store: Store) -> None:
    quiet = deliver(store, "quiet", 1000)
    loud = deliver(store, "loud", 500)
    deliver(store, "other", 1000, domain="news.test")
    batch = FeedbackBatch(store, SIGNER, policy=FeedbackPolicy(min_delivered=1000))
    complain(batch, "loud", loud[:5])  # loud alone is not judged (500 delivered); shop.test: 5 of 1,500
    complain(batch, "quiet", quiet[:1])
    paused = {p.campaign: p.reason for p in batch.close()}
    assert set(paused) == {"loud", "quiet"}
    assert "sending domain shop.test: complaint rate 0.4% (6 of 1,500 delivered)" in paused["quiet"]
    assert store.campaigns("other")[0].status == "active"


def test_a_campaign_already_held_is_left_as_it_is(store: Store) -> None:
    ids = deliver(store, "autumn", 1000, waiting=1)
    store.cancel_campaign("autumn")
    batch = FeedbackBatch(store, SIGNER)
    complain(batch, "autumn", ids[:5])
    assert batch.close() == []
    assert (store.campaigns("autumn")[0].status, store.campaigns("autumn")[0].hold_reason) == ("cancelled", None)


def test_a_dry_run_says_it_would_pause_and_changes_nothing(store: Store) -> None:
    ids = deliver(store, "autumn", 1000)
    batch = FeedbackBatch(store, SIGNER, dry_run=True)
    complain(batch, "autumn", ids[:4])
    (paused,) = batch.close()
    assert (paused.campaign, paused.held) == ("autumn", 0)
    assert store.campaigns("autumn")[0].status == "active"
    assert store.suppressions() == [] and store.feedback_events() == []


def test_a_batch_counts_kinds_and_outcomes(store: Store) -> None:
    ann, bob = deliver(store, "autumn", 2)
    batch = FeedbackBatch(store, SIGNER)
    batch.add(parse_feedback(dsn("autumn-0@example.com", ann, to=verp(ann))), source="maildir:1")
    batch.add(parse_feedback(out_of_office("autumn-1@example.com", to=verp(bob))))
    batch.add(parse_feedback(dsn("autumn-1@example.com", bob, to=None)))
    assert dict(batch.kinds) == {"hard": 2, "auto-reply": 1}
    assert dict(batch.outcomes) == {"hard-bounce": 1, "ignored": 1, "unmatched": 1}
    assert [e.source for e in store.feedback_events()] == ["maildir:1", None, None]
