"""The send queue: one durable row per (campaign, recipient), and the
suppression list, send log and transport state that go with it.

:class:`Store` is the one interface the planner and the workers use; every
backend keeps its SQL in one ``queries_<backend>.sql`` file of named blocks.
:class:`~mailer.store.sqlite.SQLiteStore` is the embedded default.

A row's life::

    planned ─► queued ─► leased ─► sending ─► sent | bounced | failed
                 ▲  ▲      │          │       deferred ─► (queued again when due)
                 │  └──────┘          └─────► unknown   (its worker died mid-send)
                 │  lease expired
    suppressed / expired / capped are set aside at claim time (capped: a
    frequency cap dropped the row, or would only allow it after its expiry).

Operators act on whole campaigns and on what needs a person: a paused
campaign's waiting rows are ``paused`` (no worker claims them) until it
resumes; a cancelled one's unsent rows are ``cancelled``; ``failed`` rows can
be put back in the queue (:meth:`Store.retry_failed`), ``unknown`` ones settled
(:meth:`Store.settle_unknown`). Rows already being sent always finish.

Bounces, complaints and auto-replies that come back later as mail are
applied by :meth:`Store.apply_feedback` under the rules of
:mod:`mailer.feedback.rules` and kept as :class:`FeedbackEvent` rows; a
campaign whose complaint rate is too high is paused with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from mailer.sending.caps import Caps, Sent
from mailer.errors import StoreBusy, StoreError
from mailer.store.records import (
    CAPPED,
    DEFAULT_EXPIRY,
    FINAL_STATES,
    LISTED_STATES,
    STATES,
    CampaignSummary,
    Claimed,
    Delivery,
    FeedbackEvent,
    FeedbackOutcome,
    Hold,
    NewDelivery,
    Outcome,
    ReasonCount,
    State,
    Suppression,
    SuppressionReason,
)

if TYPE_CHECKING:
    from mailer.feedback.records import Feedback
    from mailer.feedback.rules import ComplaintCount, FeedbackPolicy, Lookup

__all__ = [
    "CAPPED",
    "DEFAULT_EXPIRY",
    "FINAL_STATES",
    "LISTED_STATES",
    "STATES",
    "CampaignSummary",
    "Claimed",
    "Delivery",
    "FeedbackEvent",
    "FeedbackOutcome",
    "Hold",
    "NewDelivery",
    "Outcome",
    "ReasonCount",
    "State",
    "Store",
    "StoreBusy",
    "StoreError",
    "Suppression",
    "SuppressionReason",
    "open_store",
]


@runtime_checkable
class Store(Protocol):
    """What the planner, the workers and the web endpoints need of a queue."""

    backend: str
    url: str

    def close(self) -> None: ...
    def enqueue(self, deliveries: Iterable[NewDelivery], *, now: float | None = None, batch: int = 1000) -> int: ...
    def discard_planned(self, campaign: str) -> int: ...
    def release_planned(self, campaign: str, *, now: float | None = None) -> int: ...
    def recover(self, *, now: float | None = None) -> int: ...
    def claim(self, owner: str, *, now: float | None = None, limit: int = 10, lease_seconds: float = 60.0) -> Claimed: ...
    def heartbeat(
        self, owner: str, *, now: float | None = None, lease_seconds: float = 60.0, ids: Iterable[int] | None = None
    ) -> int: ...
    def release(self, owner: str, ids: Iterable[int], *, now: float | None = None) -> int: ...
    def put_back(
        self,
        delivery_id: int,
        owner: str,
        *,
        state: Literal["deferred", "failed", "expired"],
        not_before: float | None = None,
        reason: str | None = None,
        now: float | None = None,
    ) -> bool: ...
    def mark_sending(
        self,
        delivery_id: int,
        owner: str,
        *,
        now: float | None = None,
        message_id: str | None = None,
        lease_seconds: float = 60.0,
    ) -> Literal["sending", "suppressed", "lost"]: ...
    def finish(self, delivery_id: int, owner: str, outcome: Outcome, *, now: float | None = None) -> bool: ...
    def mark_sending_many(
        self,
        rows: Iterable[tuple[int, str | None]],
        owner: str,
        *,
        now: float | None = None,
        per_domain: int | None = None,
        lease_seconds: float = 60.0,
    ) -> list[Literal["sending", "suppressed", "lost", "busy"]]: ...
    def finish_many(self, rows: Iterable[tuple[int, Outcome]], owner: str, *, now: float | None = None) -> list[bool]: ...
    def suppress(
        self,
        *,
        address: str | None = None,
        recipient: str | None = None,
        reason: SuppressionReason = "unsubscribed",
        detail: str | None = None,
        now: float | None = None,
    ) -> int: ...
    def is_suppressed(self, *, address: str = "", recipient: str = "") -> bool: ...
    def suppressions(self) -> list[Suppression]: ...
    def set_volume(self, recipient: str, volume: str) -> None: ...
    def set_volumes(self, volumes: Iterable[tuple[str, str]]) -> int: ...
    def volume(self, recipient: str) -> str: ...
    def send_log(self, recipient: str) -> list[Sent]: ...
    def shown(
        self, recipients: Iterable[str], *, emails: int = 3, campaign: str | None = None
    ) -> list[tuple[str, str]]: ...
    def reserve_token(self, name: str, *, rate: float, burst: float = 1.0, now: float | None = None) -> float: ...
    def hold_token(self, name: str, *, until: float, rate: float, burst: float = 1.0, now: float | None = None) -> None: ...
    def pause(self, pool: str, *, until: float, code: int | None = None, reason: str | None = None) -> None: ...
    def paused(self, pool: str, *, now: float | None = None) -> tuple[float, int | None, str | None] | None: ...
    def settle_unknown(
        self,
        outcome: Literal["queued", "sent"],
        *,
        campaign: str | None = None,
        recipients: Iterable[str] | None = None,
        now: float | None = None,
    ) -> int: ...
    def put_campaign(self, campaign_id: str, spec: str, *, now: float | None = None) -> str: ...
    def get_campaign(self, campaign_id: str) -> str | None: ...
    def get(self, campaign: str, recipient: str) -> Delivery | None: ...
    def deliveries(self, campaign: str | None = None) -> list[Delivery]: ...
    def counts(self, campaign: str | None = None) -> dict[str, int]: ...
    def reply_classes(self, campaign: str | None = None) -> dict[str, int]: ...
    def pending(self, *, now: float | None = None) -> tuple[int, int, float | None]: ...
    def iter_deliveries(
        self, *, state: str | None = None, campaign: str | None = None, limit: int | None = None, page: int = 500
    ) -> Iterator[Delivery]: ...
    def campaign_counts(self, campaign: str | None = None) -> dict[str, dict[str, int]]: ...
    def reasons(self, campaign: str | None = None, *, top: int | None = 10) -> list[ReasonCount]: ...
    def campaigns(self, campaign: str | None = None) -> list[CampaignSummary]: ...
    def pause_campaign(self, campaign: str, *, reason: str | None = None, now: float | None = None) -> int: ...
    def resume_campaign(self, campaign: str, *, now: float | None = None) -> int: ...
    def cancel_campaign(self, campaign: str, *, now: float | None = None) -> int: ...
    def retry_failed(
        self,
        *,
        campaign: str | None = None,
        recipients: Iterable[str] | None = None,
        expiry: float = DEFAULT_EXPIRY,
        now: float | None = None,
    ) -> int: ...
    def apply_feedback(
        self,
        feedback: Feedback,
        lookup: Lookup,
        *,
        policy: FeedbackPolicy = ...,
        source: str | None = None,
        dry_run: bool = False,
        now: float | None = None,
    ) -> FeedbackEvent: ...
    def feedback_events(
        self, *, kind: str | None = None, since: float | None = None, campaign: str | None = None,
        limit: int | None = None,
    ) -> list[FeedbackEvent]: ...  # fmt: skip
    def complaint_counts(self) -> list[ComplaintCount]: ...


DEFAULT_STORE = "sqlite:.mailer/queue.sqlite3"


def open_store(url: str | os.PathLike[str] = DEFAULT_STORE, *, caps: Caps | None = Caps(), **options: object) -> Store:
    """Open the store a URL names: ``sqlite:PATH`` (or a bare path) or
    ``postgresql://user@host/db`` (needs psycopg).

    >>> store = open_store("sqlite::memory:")
    >>> store.backend, store.counts()
    ('sqlite', {})
    """
    from mailer.store.sqlite import SQLiteStore

    text = os.fspath(url)
    if text.startswith(("postgresql:", "postgres:")):
        from mailer.store.postgres import PostgresStore

        return PostgresStore(text, caps=caps, **options)  # type: ignore[arg-type]
    path = text[len("sqlite:"):] if text.startswith("sqlite:") else text
    if path.startswith("//"):
        path = path[2:]
    return SQLiteStore(path or ":memory:", caps=caps, **options)  # type: ignore[arg-type]
