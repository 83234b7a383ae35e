"""The plain data the store takes and gives: deliveries, outcomes,
suppressions, and the feedback (bounces, complaints) read since.

Times are UTC seconds since the epoch (``float``), as :func:`time.time`
returns them; conversion to and from ``datetime`` happens at the edges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

State = Literal[
    "planned",
    "queued",
    "paused",
    "leased",
    "sending",
    "sent",
    "deferred",
    "bounced",
    "suppressed",
    "capped",
    "expired",
    "failed",
    "unknown",
    "cancelled",
]
STATES: tuple[str, ...] = get_args(State)
FINAL_STATES = frozenset({"sent", "bounced", "suppressed", "capped", "expired", "failed", "unknown", "cancelled"})
"""States a delivery never leaves on its own (``unknown`` and ``failed`` wait for a person)."""

CAPPED = "capped"
"""The state of a row a frequency cap (or the customer's volume dial) set
aside for good: dropped (``on_cap = "drop"``), or deferred past its expiry.
Not a failure: nothing went wrong, the customer had mail enough. Its reason
starts ``capped:``; listing by it (:meth:`Store.iter_deliveries`) also shows
the rows a cap deferred to when it allows."""

LISTED_STATES: tuple[str, ...] = STATES
"""What :meth:`Store.iter_deliveries` can list by."""

Hold = Literal["paused", "cancelled"]
"""What an operator did to a campaign: workers claim none of its rows."""

OnCap = Literal["defer", "drop"]
SuppressionReason = Literal["unsubscribed", "hard-bounce", "soft-bounce", "complaint", "manual"]
"""Why an address or customer is suppressed: they unsubscribed, a server
said the address is bad (at once, or in a bounce that came back later), a
run of soft bounces with no delivery in between, a complaint, or an
operator's say-so."""
DeadSending = Literal["unknown", "queued"]
"""What a ``sending`` row whose worker died becomes: ``unknown`` (at most
once, the default) or ``queued`` (at least once: it may be sent twice)."""

DEFAULT_EXPIRY = 24 * 3600.0
"""Marketing mail that could not be delivered within a day is not sent."""


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One message to queue: a (campaign, recipient) pair and when to send it.

    >>> NewDelivery("autumn", "C1", "ann@shop.test", not_before=0.0).expires_at
    86400.0
    """

    campaign: str
    recipient: str
    address: str
    not_before: float
    expires_at: float | None = None
    priority: int = 0
    message_class: str = "promotional"
    message_id: str | None = None
    on_cap: OnCap = "defer"
    payload: Mapping[str, Any] = field(default_factory=dict)
    state: Literal["planned", "queued"] = "queued"

    def __post_init__(self) -> None:
        if self.expires_at is None:
            object.__setattr__(self, "expires_at", self.not_before + DEFAULT_EXPIRY)

    def payload_json(self) -> str:
        return json.dumps(dict(self.payload), sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One durable row of the send queue, as the store holds it."""

    id: int
    campaign: str
    recipient: str
    address: str
    message_class: str
    state: str
    not_before: float
    expires_at: float
    priority: int
    attempts: int
    lease_owner: str | None
    lease_deadline: float | None
    message_id: str | None
    reply_code: int | None
    reply_enhanced: str | None
    reply_text: str | None
    reason: str | None
    on_cap: str
    payload: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Delivery:
        values = {name: row[name] for name in cls.__slots__}
        values["payload"] = json.loads(values["payload"] or "{}")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one send attempt, to record with :meth:`Store.finish`.

    ``state`` is ``sent``, ``deferred`` (retry at ``not_before``), ``bounced``,
    ``expired``, ``failed`` or ``suppressed``; ``suppress`` adds the address to
    the suppression list in the same transaction.

    >>> Outcome("deferred", not_before=60.0, code=451, enhanced="4.7.1", text="try later")
    Outcome(state='deferred', not_before=60.0, code=451, enhanced='4.7.1', text='try later', reason=None, suppress=None)
    """

    state: Literal["sent", "deferred", "bounced", "expired", "failed", "suppressed"]
    not_before: float | None = None
    code: int | None = None
    enhanced: str | None = None
    text: str | None = None
    reason: str | None = None
    suppress: SuppressionReason | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address or customer id that must never be sent marketing mail again."""

    kind: Literal["address", "recipient"]
    value: str
    reason: str
    detail: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim did: the leased rows and how many it set aside, and why."""

    deliveries: list[Delivery]
    suppressed: int = 0
    capped: int = 0
    expired: int = 0
    recovered: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How many of a campaign's rows in one state give one reason.

    >>> ReasonCount("autumn", "deferred", "451 4.3.0 try later", 12).count
    12
    """

    campaign: str
    state: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """A campaign the store knows: when its spec was stored (None: rows
    only), whether it is held (and why, when no operator held it), and its
    rows per state.

    >>> CampaignSummary("autumn", None, "paused", {"paused": 3}).status
    'paused'
    """

    id: str
    created_at: float | None
    hold: Hold | None
    counts: Mapping[str, int]
    hold_reason: str | None = None

    @property
    def status(self) -> str:
        """``active``, ``paused`` or ``cancelled``."""
        return self.hold or "active"

    @property
    def total(self) -> int:
        return sum(self.counts.values())


FeedbackOutcome = Literal["suppressed", "counted", "ignored", "unmatched"]
"""What reading one feedback message did: suppressed the recipient of the
message it names, counted a soft bounce (not yet a run), nothing (an
auto-reply, a report that is no bounce), or nothing because it names no
message this store sent (or its VERP token does not verify)."""


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One bounce, complaint or auto-reply read, as the store keeps it.

    ``kind`` is what the message was (:data:`mailer.feedback.Kind`),
    ``action`` what it meant for the recipient of the message it names
    (:data:`mailer.feedback.Action`), ``outcome`` what was done, and
    ``suppression`` the suppression reason when it suppressed. ``matched``
    says how the message was found (``verp``, ``message-id``; ``None``: it
    was not); ``delivery``, ``campaign``, ``recipient`` (the customer id)
    and ``sending_domain`` are that message's. ``address`` is the
    recipient's address (when nothing matched, the first the report names),
    ``status`` the RFC 3463 status, ``reason`` why, in a sentence;
    ``source`` where it was read (a Maildir file, the webhook).

    >>> FeedbackEvent(0, 0.0, "hard", "suppress", "suppressed", "hard-bounce", "verp", 1, "autumn", "C1",
    ...               "ann@shop.test", "5.1.1", "shop.test", "bad mailbox", "maildir:1").suppressed
    True
    """

    id: int
    at: float
    kind: str
    action: str
    outcome: str
    suppression: str | None
    matched: str | None
    delivery: int | None
    campaign: str | None
    recipient: str | None
    address: str | None
    status: str | None
    sending_domain: str | None
    reason: str
    source: str | None

    @property
    def suppressed(self) -> bool:
        return self.outcome == "suppressed"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FeedbackEvent:
        return cls(**{name: row[name] for name in cls.__slots__})
