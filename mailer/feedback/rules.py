"""What a feedback message does to the mail we send: pure rules.

A bounce, complaint or auto-reply (a :class:`~mailer.feedback.records.Feedback`)
acts on one message we sent, and so on one recipient, only once it is
matched to that message:

1. by the signed VERP token in the address it came back to
   (:func:`find_message`; :class:`~mailer.feedback.verp.VerpSigner` proves
   the token was made by us, for that message);
2. failing that, a complaint only, by the ``Message-ID`` its report quotes,
   and only if that message was sent to the very address that complains.

Nothing else suppresses anyone: anybody can write a bounce naming any
address or any Message-ID, so a message that names no message of ours, or
one sent to somebody else, is recorded and otherwise ignored.

Once matched, :func:`judge` says what the feedback means for the message's
recipient (an :data:`~mailer.feedback.status.Action`): ``suppress`` (a hard
bounce: suppressed, reason ``hard-bounce``), ``complaint`` (suppressed,
reason ``complaint``, and counted towards the complaint rate),
``count-soft`` (one more soft bounce: :func:`soft_bounce_run` suppresses,
reason ``soft-bounce``, after a run of them with no delivery in between) or
``ignore``. Complaint rates (:class:`ComplaintRate`), per campaign and per
sending domain, warn above 0.1% and pause the campaign above 0.3% (the
limits Gmail and Yahoo set bulk senders), once enough mail was delivered to
judge. :class:`FeedbackPolicy` holds the numbers.

The store (:meth:`mailer.store.Store.apply_feedback`) runs these rules in
the transaction that records the feedback; :mod:`mailer.feedback.apply` is
the edge that feeds it.

>>> from mailer.feedback.records import Feedback, RecipientReport
>>> signer = VerpSigner(b"k" * 32)
>>> sent = SentMessage(7, "autumn", "C1", "ann@example.com", "<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>", "sent", 0.0)
>>> bounce = Feedback("hard", "a bounce", (RecipientReport("ann@example.com", "suppress", "bad-mailbox", "5.1.1"),),
...                   envelope_to=(verp_sender("bounces@shop.test", sent.message_id or "", signer),))
>>> lookup = find_message(bounce, signer)
>>> lookup.by, lookup.key
('verp', '884e51a6ad6d1d65aa71577b898f9ffd')
>>> judge(bounce, lookup, sent).action
'suppress'
>>> forged = Feedback("hard", "a bounce", bounce.recipients, original_message_id=sent.message_id)
>>> judge(forged, find_message(forged, signer), sent).action
'ignore'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mailer.errors import ConfigError
from mailer.feedback.addresses import normalise
from mailer.feedback.records import Feedback, RecipientReport
from mailer.feedback.status import Action
from mailer.feedback.verp import VerpSigner, parse_verp, verp_address
from mailer.tokens import InvalidToken

__all__ = [
    "DAY",
    "ComplaintCount",
    "ComplaintRate",
    "FeedbackPolicy",
    "Level",
    "Lookup",
    "Sent",
    "SentMessage",
    "Verdict",
    "complaint_rates",
    "find_message",
    "judge",
    "message_key",
    "pause_reason",
    "sending_domain",
    "soft_bounce_run",
    "unreadable",
    "verp_sender",
    "with_soft_bounce",
]

DAY = 86400.0

Level = Literal["not-judged", "ok", "warning", "pause"]
"""What a complaint rate calls for: nothing yet (too little mail delivered to
judge), nothing, a warning, or pausing the campaign."""

_MESSAGE_ID = re.compile(r"\s*<([^<>@\s]+)@([^<>@\s]+)>\s*")
_UNREADABLE = ("the message file could not be read", "the message could not be parsed", "the message could not be read")


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedbackPolicy:
    """The numbers the rules go by.

    ``soft_bounces`` soft bounces of distinct messages to one address, the
    first and last sent at least ``soft_bounce_days`` apart, with no message
    delivered to it in between, suppress it. A complaint rate above
    ``warn_rate`` warns, above ``pause_rate`` pauses the campaign; no rate is
    judged before ``min_delivered`` messages were delivered.

    >>> FeedbackPolicy(soft_bounces=5).soft_bounce_days
    7.0
    >>> FeedbackPolicy(warn_rate=0.004)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: the warning complaint rate (0.4%) must not be above the pausing one (0.3%)
    """

    soft_bounces: int = 3
    soft_bounce_days: float = 7.0
    warn_rate: float = 0.001
    pause_rate: float = 0.003
    min_delivered: int = 1000

    def __post_init__(self) -> None:
        if self.soft_bounces < 1:
            raise ConfigError(f"soft_bounces must be 1 or more, got {self.soft_bounces}")
        if self.soft_bounce_days < 0:
            raise ConfigError(f"soft_bounce_days must not be negative, got {self.soft_bounce_days:g}")
        if not (0 <= self.warn_rate <= 1 and 0 <= self.pause_rate <= 1):
            raise ConfigError("complaint rates are fractions between 0 and 1 (0.001 is 0.1%)")
        if self.warn_rate > self.pause_rate:
            raise ConfigError(f"the warning complaint rate ({percent(self.warn_rate)}) must not be above "
                              f"the pausing one ({percent(self.pause_rate)})")  # fmt: skip
        if self.min_delivered < 1:
            raise ConfigError(f"min_delivered must be 1 or more, got {self.min_delivered}")


# -- matching --------------------------------------------------------------------------------------


def message_key(message_id: str | None) -> str | None:
    """The key a message is found by: the left part of its ``Message-ID``,
    lower-cased (the hex :func:`mailer.content.mime.message_id` makes, and
    a VERP token carries); ``None`` for anything not ``<left@right>``.

    >>> message_key("<884E51A6AD6D1D65AA71577B898F9FFD@shop.test>")
    '884e51a6ad6d1d65aa71577b898f9ffd'
    >>> message_key("no angle brackets") is None
    True
    """
    match = _MESSAGE_ID.fullmatch(message_id or "")
    return match.group(1).lower() if match else None


def sending_domain(message_id: str | None) -> str | None:
    """The domain a message was sent from: the right part of its
    ``Message-ID`` (made on the From domain), lower-cased.

    >>> sending_domain("<884e51a6@Shop.Test>")
    'shop.test'
    """
    match = _MESSAGE_ID.fullmatch(message_id or "")
    return match.group(2).lower() if match else None


def verp_sender(return_path: str, message_id: str, signer: VerpSigner) -> str:
    """The envelope sender a message leaves with: ``return_path`` with the
    signed token of ``message_id`` in its local part, so that whatever comes
    back names the message (:func:`find_message`). Raises
    :class:`~mailer.errors.MessageError` when the return path's local part
    leaves no room for the token.

    >>> verp_sender("bounces@shop.test", "<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>", VerpSigner(b"k" * 32))
    'bounces+rbhfdjvnnuowlktrk55ytd477u-pybbtpvsaziit23x@shop.test'
    """
    return verp_address(return_path, signer.token(message_id))


@dataclass(frozen=True, slots=True)
class Lookup:
    """How a feedback message names the message it is about.

    ``by`` is ``verp`` (a token that verifies: ``key`` is the message's),
    ``message-id`` (no such token, but a complaint quoting ``message_id``:
    it still has to be the complainant's own message) or ``None`` (it names
    none; ``note`` says why).
    """

    by: Literal["verp", "message-id"] | None
    key: str | None = None
    message_id: str | None = None
    note: str = ""


def find_message(feedback: Feedback, signer: VerpSigner) -> Lookup:
    """The message ``feedback`` is about, as its return path names it.

    Every address it came back to (most reliable first, then the quoted
    original's ``Return-Path``) of the form ``local+token@domain`` is tried:
    the first token that ``signer`` verifies names the message. Without
    one, a complaint is looked up by its quoted ``Message-ID``.

    >>> find_message(Feedback("hard", "", envelope_to=("bounces+abc-def@shop.test",)), VerpSigner(b"k" * 32)).note
    'the VERP token it came back with does not verify (forged, or signed with another key)'
    """
    tokens = 0
    for address in (*feedback.envelope_to, feedback.original_return_path or ""):
        local, _, domain = address.strip().strip("<>").rpartition("@")
        # The return path's own local part may hold a '+': try each place the token may start.
        for base in (local[:i] for i, c in enumerate(local) if c == "+" and i > 0):
            token = feedback.verp_token(f"{base}@{domain}") if domain else None
            if token is None:
                continue
            tokens += 1
            try:
                return Lookup("verp", signer.verify(token))
            except InvalidToken:
                continue
    note = ("the VERP token it came back with does not verify (forged, or signed with another key)" if tokens
            else "it came back to no VERP address")  # fmt: skip
    key = message_key(feedback.original_message_id)
    if feedback.kind == "complaint" and key is not None:
        return Lookup("message-id", key, feedback.original_message_id, note)
    return Lookup(None, note=note)


# -- judging ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentMessage:
    """The store's row of the message a feedback names: its id, campaign,
    customer id, address, ``Message-ID``, state and when it was sent."""

    delivery: int
    campaign: str
    recipient: str
    address: str
    message_id: str | None
    state: str
    sent_at: float

    @property
    def sending_domain(self) -> str | None:
        return sending_domain(self.message_id)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one feedback message means: ``action`` for the recipient at
    ``address`` (the message's, when ``matched``; else the first the report
    names, for the record), the RFC 3463 ``status``, and ``detail``: why,
    in a sentence."""

    action: Action
    address: str | None
    matched: Literal["verp", "message-id"] | None
    status: str | None
    detail: str


_SENT_STATES = frozenset({"sent", "unknown"})
"""States of a message that may have reached its recipient (a complaint
about any other is about a message that never left)."""


def judge(feedback: Feedback, lookup: Lookup, sent: SentMessage | None) -> Verdict:
    """What ``feedback`` means for the recipient of ``sent``, the message
    ``lookup`` found (``None``: none).

    Matched by its VERP token, the report's line for the message's address
    decides. A report that withholds the address still counts: a complaint
    as a complaint (abuse reports often redact it), a bounce as a soft
    bounce only (it may be about an address the message was forwarded to).
    Matched by ``Message-ID``, only a complaint by the message's own
    address counts.
    """
    named = feedback.addresses[0] if feedback.addresses else None
    if sent is None or lookup.by is None:
        why = lookup.note if lookup.by is None else "it names a message this store did not send"
        return Verdict("ignore", named, None, _first_status(feedback.recipients), f"{feedback.reason}; {why}")
    address = normalise(sent.address)
    report = next((r for r in feedback.recipients if r.address == address), None)
    if lookup.by == "message-id":
        same_message = (sent.message_id or "").strip().lower() == (lookup.message_id or "").strip().lower()
        if not same_message or sent.state not in _SENT_STATES:
            why = "its Message-ID names no message this store sent"
            return Verdict("ignore", named, None, _first_status(feedback.recipients), f"{feedback.reason}; {why}")
        if report is None or report.action != "complaint":
            why = "its Message-ID names a message sent to another address: nobody is suppressed"
            return Verdict("ignore", named, None, _first_status(feedback.recipients), f"{feedback.reason}; {why}")
        return Verdict("complaint", address, "message-id", report.status, _detail(feedback, report, "matched by Message-ID"))
    if report is not None:
        return Verdict(report.action, address, "verp", report.status, _detail(feedback, report, None))
    if feedback.kind == "complaint":
        return Verdict("complaint", address, "verp", None, _detail(feedback, None, "the report withholds the address"))
    if feedback.kind in ("hard", "soft"):
        failed = [r for r in feedback.recipients if r.action in ("suppress", "count-soft")]
        if failed or not feedback.recipients:
            why = ("the report names another address (a forward?): counted as a soft bounce" if failed
                   else "the report names no address: counted as a soft bounce")  # fmt: skip
            return Verdict("count-soft", address, "verp", _first_status(failed), _detail(feedback, None, why))
    return Verdict("ignore", address, "verp", _first_status(feedback.recipients), _detail(feedback, None, None))


def _first_status(reports: Iterable[RecipientReport]) -> str | None:
    return next((r.status for r in reports if r.status), None)


def _detail(feedback: Feedback, report: RecipientReport | None, note: str | None) -> str:
    parts = [feedback.reason]
    said = " ".join(part for part in (report.status, report.diagnostic) if part) if report is not None else ""
    if report is not None and said:
        parts.append(f"{report.cause}: {said}")
    if note:
        parts.append(note)
    return "; ".join(parts)[:500]


def unreadable(feedback: Feedback) -> bool:
    """Whether ``feedback`` stands for a message that could not be read at
    all (a file gone or unreadable), rather than one read and found to be
    no feedback.

    >>> unreadable(Feedback("not-feedback", "the message file could not be read: OSError: gone"))
    True
    >>> unreadable(Feedback("not-feedback", "no report part"))
    False
    """
    return feedback.kind == "not-feedback" and feedback.reason.startswith(_UNREADABLE)


# -- soft bounces ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """One message sent to an address, as the soft-bounce rule sees it:
    when it was sent and what became of it (``delivered``: nothing came
    back, or something that was no bounce)."""

    delivery: int
    at: float
    outcome: Literal["delivered", "soft", "hard"]


def with_soft_bounce(history: Sequence[Sent], delivery: int, at: float) -> list[Sent]:
    """``history`` (in send order) with message ``delivery``, sent at
    ``at``, soft-bounced.

    >>> [s.outcome for s in with_soft_bounce([Sent(1, 0.0, "delivered"), Sent(2, 9.0, "delivered")], 2, 9.0)]
    ['delivered', 'soft']
    """
    if not any(s.delivery == delivery for s in history):
        return sorted([*history, Sent(delivery, at, "soft")], key=lambda s: (s.at, s.delivery))
    return [Sent(s.delivery, s.at, "soft") if s.delivery == delivery and s.outcome == "delivered" else s
            for s in history]  # fmt: skip


def soft_bounce_run(history: Sequence[Sent], policy: FeedbackPolicy = FeedbackPolicy()) -> str | None:
    """Why the address whose messages ``history`` lists (in send order)
    must be suppressed for soft bounces, or ``None``.

    The run is the soft-bounced messages up to the latest one, back to the
    last message delivered before it: at least ``policy.soft_bounces`` of
    them, the first and last sent at least ``policy.soft_bounce_days``
    apart. Several reports about one message (delay warnings, then the
    failure) count once; a message sent after the latest bounce is not "in
    between" (its own bounce may still be on its way).

    >>> days = lambda *outcomes: [Sent(i, 4 * DAY * i, o) for i, o in enumerate(outcomes)]
    >>> soft_bounce_run(days("soft", "soft", "soft"))
    '3 soft bounces over 8 days with no delivery in between'
    >>> soft_bounce_run(days("soft", "delivered", "soft", "soft")) is None
    True
    """
    last = max((i for i, s in enumerate(history) if s.outcome == "soft"), default=None)
    if last is None:
        return None
    run = []
    for sent in reversed(history[: last + 1]):
        if sent.outcome == "delivered":
            break
        if sent.outcome == "soft":
            run.append(sent)
    span = run[0].at - run[-1].at
    if len(run) < policy.soft_bounces or span < policy.soft_bounce_days * DAY:
        return None
    return f"{len(run)} soft bounces over {span / DAY:.3g} days with no delivery in between"


# -- complaint rates -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComplaintCount:
    """Messages of one campaign from one sending domain the receiving
    servers accepted (``delivered``) and how many of them drew a complaint."""

    campaign: str
    domain: str | None
    delivered: int
    complaints: int


@dataclass(frozen=True, slots=True)
class ComplaintRate:
    """Complaints over messages delivered, for a campaign or a sending domain.

    >>> rate = ComplaintRate("campaign", "autumn", complaints=4, delivered=1000)
    >>> rate.level(FeedbackPolicy()), rate.describe(FeedbackPolicy())
    ('pause', 'complaint rate 0.4% (4 of 1,000 delivered): above 0.3%, the rate at which Gmail and Yahoo refuse bulk mail')
    >>> ComplaintRate("domain", "shop.test", complaints=1, delivered=10).describe(FeedbackPolicy())
    'complaint rate not judged: 1 complaint(s), 10 delivered, fewer than the 1,000 a rate is judged on'
    """

    scope: Literal["campaign", "domain"]
    name: str
    complaints: int
    delivered: int

    @property
    def rate(self) -> float | None:
        return self.complaints / self.delivered if self.delivered else None

    def level(self, policy: FeedbackPolicy) -> Level:
        if self.delivered < policy.min_delivered or self.rate is None:
            return "not-judged"
        if self.rate > policy.pause_rate:
            return "pause"
        return "warning" if self.rate > policy.warn_rate else "ok"

    def describe(self, policy: FeedbackPolicy) -> str:
        level = self.level(policy)
        if level == "not-judged":
            return (f"complaint rate not judged: {self.complaints} complaint(s), {self.delivered:,} delivered, "
                    f"fewer than the {policy.min_delivered:,} a rate is judged on")  # fmt: skip
        text = f"complaint rate {percent(self.rate or 0.0)} ({self.complaints:,} of {self.delivered:,} delivered)"
        if level == "pause":
            return f"{text}: above {percent(policy.pause_rate)}, the rate at which Gmail and Yahoo refuse bulk mail"
        if level == "warning":
            return f"{text}: above {percent(policy.warn_rate)}, the most Gmail and Yahoo allow bulk senders"
        return text


def percent(fraction: float) -> str:
    """A rate as a percentage, to two significant figures.

    >>> percent(0.001), percent(0.0035), percent(0.0)
    ('0.1%', '0.35%', '0%')
    """
    return f"{fraction * 100:.2g}%"


def complaint_rates(counts: Iterable[ComplaintCount]) -> list[ComplaintRate]:
    """The rate of each campaign, then of each sending domain (all its
    campaigns together), each sorted by name.

    >>> rates = complaint_rates([ComplaintCount("a", "shop.test", 900, 1), ComplaintCount("b", "shop.test", 300, 2)])
    >>> [(r.scope, r.name, r.complaints, r.delivered) for r in rates]
    [('campaign', 'a', 1, 900), ('campaign', 'b', 2, 300), ('domain', 'shop.test', 3, 1200)]
    """
    campaigns: dict[str, list[int]] = {}
    domains: dict[str, list[int]] = {}
    for count in counts:
        for table, name in ((campaigns, count.campaign), (domains, count.domain)):
            if name is None:
                continue
            totals = table.setdefault(name, [0, 0])
            totals[0] += count.complaints
            totals[1] += count.delivered
    return [
        *(ComplaintRate("campaign", name, c, d) for name, (c, d) in sorted(campaigns.items())),
        *(ComplaintRate("domain", name, c, d) for name, (c, d) in sorted(domains.items())),
    ]


def pause_reason(
    campaign: str, counts: Sequence[ComplaintCount], policy: FeedbackPolicy = FeedbackPolicy()
) -> str | None:
    """Why ``campaign`` must be paused for its complaints, or ``None``: its
    own complaint rate, or that of a domain it sends from, is above
    ``policy.pause_rate`` (``counts`` covers every campaign, so a domain's
    rate counts all of its mail).

    >>> counts = [ComplaintCount("a", "shop.test", 1000, 1), ComplaintCount("b", "shop.test", 1000, 7),
    ...           ComplaintCount("c", "news.test", 1000, 0)]
    >>> pause_reason("b", counts)
    'paused automatically: complaint rate 0.7% (7 of 1,000 delivered): above 0.3%, the rate at which Gmail and Yahoo refuse bulk mail'
    >>> pause_reason("a", counts)[:77]
    'paused automatically: sending domain shop.test: complaint rate 0.4% (8 of 2,0'
    >>> print(pause_reason("c", counts))
    None
    """
    domains = {c.domain for c in counts if c.campaign == campaign and c.domain is not None}
    for rate in complaint_rates(counts):
        if (rate.scope, rate.name) == ("campaign", campaign) or (rate.scope == "domain" and rate.name in domains):
            if rate.level(policy) == "pause":
                whose = "" if rate.scope == "campaign" else f"sending domain {rate.name}: "
                return f"paused automatically: {whose}{rate.describe(policy)}"
    return None
