"""Reading one feedback message: a bounce, a complaint or an auto-reply.

:func:`parse_feedback` takes the raw bytes of one message that came back to
a return path or an abuse address and says what it is (a :class:`Feedback`):

1. an RFC 5965 abuse report (``message/feedback-report``), or a complaint in
   a provider's own form (a forwarded original from a feedback loop, Apple
   Mail's unsubscribe request, an Amazon SES notification) → ``complaint``;
2. a bounce: an RFC 3464 report (``message/delivery-status``), or a
   server's prose (Postfix, Sendmail, Exim, qmail, OpenSMTPD, Gmail, Yahoo,
   Office 365...) → ``hard`` when a recipient's address is proved bad, else
   ``soft`` (each recipient judged by :func:`mailer.feedback.status.judge`);
   a delivery report that only says "delivered" → ``not-feedback``;
3. an RFC 3834 automatic reply → ``auto-reply``;
4. anything else → ``not-feedback``.

A message is a bounce when its structure says so (a delivery-status part,
``X-Failed-Recipients``) or when it comes from a mailer daemon (sender,
empty return path) *and* reads like one (subject, or a report in its
text). A person's mail with an attachment, or an out-of-office reply from
an empty return path, is not.

Messages are taken apart by :mod:`~mailer.feedback.message` (the stdlib
``email`` package, leniently). Nothing in a message can make
:func:`parse_feedback` raise: what cannot be read is ``not-feedback``, with
the reason.

>>> raw = b'''From: MAILER-DAEMON@mx.example.com
... To: bounces+abc@shop.test
... Subject: failure notice
...
... Hi. This is the qmail-send program at mx.example.com.
... I'm afraid I wasn't able to deliver your message to the following addresses.
... This is a permanent error; I've given up. Sorry it didn't work out.
...
... <ann@example.com>:
... Sorry, no mailbox here by that name. (#5.1.1)
...
... --- Below this line is a copy of the message.
...
... Message-ID: <884e51a6ad6d1d65aa71577b898f9ffd@shop.test>
... To: ann@example.com
... '''
>>> feedback = parse_feedback(raw)
>>> feedback.kind, feedback.addresses, feedback.recipients[0].status
('hard', ('ann@example.com',), '5.1.1')
>>> feedback.original_message_id, feedback.verp_token("bounces@shop.test")
('<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>', 'abc')
>>> parse_feedback(b"\\xff\\x00 not mail").kind
'not-feedback'
"""

from __future__ import annotations

import re
from typing import Any

from mailer.feedback.arf import ArfReport, is_complaint, read_report
from mailer.feedback.autoreply import auto_reply_reason
from mailer.feedback.dsn import DeliveryStatusRecipient, read_delivery_status
from mailer.feedback.freetext import (
    MAX_RECIPIENTS,
    addresses_of,
    context_for,
    found_recipients,
    is_delay_notice,
    report_region,
    unquote,
)
from mailer.feedback.message import FeedbackMessage, read_message
from mailer.feedback.records import Feedback, Kind, RecipientReport
from mailer.feedback.ses import ses_feedback
from mailer.feedback.status import best_status, find_status, judge

__all__ = ["Feedback", "RecipientReport", "parse_feedback"]

MAX_REPORT = 64 * 1024
"""Characters of a report's prose read for recipients: more is a returned
message that was not recognised as one, or an attack on the reader."""
_PREAMBLE = 4000
"""Characters of a report read for a reason it gives once for all recipients."""
_EXCERPT = 300
"""Characters of prose kept as a recipient's diagnostic when there is no Diagnostic-Code."""

_DAEMON_LOCAL = re.compile(r"^(?:mailer[-_]?daemon|postmaster|poostmaster|mail[-_.]?delivery[\w.-]*|mdaemon)$", re.I)
_DAEMON_NAME = re.compile(r"mail\s+delivery|mailer[-_ ]?daemon|postmaster|delivery\s+subsystem|mail\s+system", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned\s+mail|return(?:ed|ing)?\s+(?:\w+\s+)?to\s+sender|delivery\s+status\s+notification"
    r"|deliver(?:y|ies)\s+(?:status\s+)?(?:failure|failed|notification|report|problem|has\s+failed)"
    r"|mail\s+delivery\s+(?:failed|failure|system)|failure\s+notice|could\s+not\s+be\s+delivered|non[-\s]?deliver"
    r"|not\s+delivered|mail\s+system\s+error|delayed\s+mail|could\s+not\s+send\s+message|message\s+\S+\s+delayed"
    r"|mail\s+failure|bounce|delivery\s+warning|unzustellbar|nicht\s+zustellbar|non\s+remis|no\s+entregado"
    r"|postmaster\s+notify|see\s+transcript|errors?\s+from",
    re.I,
)
_BOUNCE_TEXT = re.compile(
    r"could\s+not\s+be\s+delivered|wasn't\s+able\s+to\s+deliver|was\s+not\s+delivered|delivery\s+(?:has\s+)?failed"
    r"|permanent\s+(?:error|failure|fatal)|failed\s+permanently|undeliverable|unable\s+to\s+deliver|following\s+address"
    r"|did\s+not\s+reach|delivery\s+to\s+the\s+following|message\s+could\s+not|returned\s+to\s+(?:the\s+)?sender"
    r"|transcript\s+of\s+session|rejected|has\s+not\s+(?:yet\s+)?been\s+delivered|delivery\s+attempts|failed\s+address",
    re.I,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|tr|wg|rv|i)\s*:", re.I)
_FORWARD_START = re.compile(r"^[ \t]*(?:-+\s*)?(?:begin\s+forwarded\s+message|forwarded\s+message)\b.*$", re.I | re.M)
_QUOTED_DAEMON = re.compile(r"^[ \t>]*From:[^\n]*(?:mailer-daemon|postmaster|mail\s+delivery)", re.I | re.M)
_NOTHING_FOUND = "no report part, no mailer daemon's wording, no responder header: not a bounce, complaint or automatic reply"
_COMPLAINT_SUBJECT = re.compile(r"\bcomplaint\b|\babuse\s+report\b", re.I)
_SES_SENDER = re.compile(r"@(?:[\w-]+\.)*(?:sns\.amazonaws\.com|amazonses\.com)$", re.I)


def parse_feedback(data: bytes) -> Feedback:
    """What the raw message ``data`` is and whom it is about (see above)."""
    try:
        message = read_message(data)
    except Exception as err:  # mail anyone can send must never stop the reader
        return Feedback("not-feedback", f"the message could not be parsed: {type(err).__name__}: {err}")
    try:
        return _classify(message)
    except Exception as err:  # as above: report it, never raise
        return Feedback(
            "not-feedback",
            f"the message could not be read: {type(err).__name__}: {err}",
            subject=message.subject,
            sender=message.sender,
            envelope_to=message.envelope_to,
        )


def _classify(mail: FeedbackMessage) -> Feedback:
    common: dict[str, Any] = {
        "subject": mail.subject,
        "sender": mail.sender,
        "envelope_to": mail.envelope_to,
        "auto_submitted": mail.headers.get("auto-submitted") or None,
        "original_message_id": mail.original_message_id(),
        "original_return_path": mail.original_return_path(),
    }
    if mail.feedback_reports or mail.report_type == "feedback-report":
        return _abuse_report(mail, common)
    complaint = _provider_complaint(mail, common)
    if complaint is not None:
        return complaint
    bounce = _bounce(mail, common)
    if bounce is not None:
        return bounce
    reason = auto_reply_reason(mail.headers, mail.subject)
    if reason is not None:
        who = (RecipientReport(mail.sender, "ignore", "auto-reply"),) if mail.sender else ()
        return Feedback("auto-reply", f"an automatic reply: {reason}", recipients=who, **common)
    return Feedback("not-feedback", _NOTHING_FOUND, **common)


def _abuse_report(mail: FeedbackMessage, common: dict[str, Any]) -> Feedback:
    report = read_report("\n\n".join(mail.feedback_reports)) if mail.feedback_reports else ArfReport("")
    addresses = report.original_rcpt_to or mail.original_recipients()
    if not is_complaint(report.feedback_type):
        recipients = tuple(RecipientReport(a, "ignore", "policy") for a in addresses)
        return Feedback(
            "not-feedback",
            f"an abuse-report-format message of type {report.feedback_type!r}, which is not a complaint",
            recipients=recipients,
            arf=report,
            **common,
        )
    recipients = tuple(RecipientReport(a, "complaint", "complaint") for a in addresses)
    kind = report.feedback_type or "unspecified"
    return Feedback("complaint", f"an abuse report (RFC 5965), feedback type {kind!r}", recipients, arf=report, **common)


def _provider_complaint(mail: FeedbackMessage, common: dict[str, Any]) -> Feedback | None:
    """A complaint in a provider's own form: Apple Mail's unsubscribe
    request, an Amazon SES notification, or a feedback loop that forwards
    the original with "complaint" in the subject (Hotmail's JMRP)."""
    if mail.headers.get("x-apple-unsubscribe", "").strip().lower() == "true" and mail.sender:
        unsubscribe = (RecipientReport(mail.sender, "complaint", "complaint"),)
        report = ArfReport("opt-out", user_agent="Apple Mail")
        return Feedback("complaint", "an unsubscribe request sent by Apple Mail (X-Apple-Unsubscribe)", unsubscribe, arf=report, **common)
    if mail.sender and _SES_SENDER.search(mail.sender):
        notification = ses_feedback(mail.text, **common)
        if notification is not None:
            return notification
    if mail.originals and _COMPLAINT_SUBJECT.search(mail.subject):
        complainants = tuple(RecipientReport(a, "complaint", "complaint") for a in mail.original_recipients())
        if complainants:
            reason = f"a feedback-loop complaint ({mail.subject!r}) with the original attached"
            return Feedback("complaint", reason, complainants, arf=ArfReport("abuse"), **common)
    return None


def _bounce(mail: FeedbackMessage, common: dict[str, Any]) -> Feedback | None:
    forwarded = _forwarded_bounce(mail)
    text = mail.text if forwarded is None else forwarded
    entries = [e for part in mail.delivery_status for e in read_delivery_status(part).recipients if e.address]
    failed_header = addresses_of([mail.headers.get("x-failed-recipients", "")])
    region = report_region(text)[:MAX_REPORT]
    if not (entries or failed_header or forwarded is not None or _looks_like_bounce(mail, region)):
        return None
    if not entries:
        # Report fields pasted into the text (a bounce whose MIME structure
        # broke, or a forwarded one) count once the message is known to be one.
        entries = [e for e in read_delivery_status(text).recipients if e.address]
    delay = is_delay_notice(mail.subject, region)
    lines = found_recipients(region, ignore={*mail.envelope_to, *(a for a in (mail.sender, mail.return_path) if a)})
    failed = [e for e in entries if not e.succeeded]
    reports = _from_report_fields(failed, dict(lines), region, delay)
    if not entries:
        reports = _from_prose(lines, failed_header, region, delay)
    guessed = not reports and not entries
    if guessed:
        reports = _assumed(mail.original_recipients(), region)
    if not reports and entries and not failed:
        return Feedback("not-feedback", f"a delivery report: {len(entries)} recipient(s) delivered, none failed", **common)
    kind: Kind = "hard" if any(r.action == "suppress" for r in reports) else "soft"
    source = "a delivery status report (RFC 3464)" if entries else "a bounce in free text"
    if forwarded is not None:
        source = f"a forwarded bounce ({source})"
    return Feedback(kind, _bounce_reason(kind, reports, source, delay, guessed and bool(reports)), reports, **common)


def _from_report_fields(
    failed: list[DeliveryStatusRecipient], line_context: dict[str, str], region: str, delay: bool
) -> tuple[RecipientReport, ...]:
    """One report per failed recipient of RFC 3464 fields, first one kept."""
    reports: dict[str, RecipientReport] = {}
    for entry in failed:
        address = entry.address or ""
        if address in reports or len(reports) >= MAX_RECIPIENTS:
            continue
        diagnostic = " ".join(entry.diagnostic.split())
        # Without a Diagnostic-Code, the prose next to the same address says why.
        context = (
            diagnostic
            or line_context.get(address)
            or line_context.get(entry.final_recipient or "")
            or context_for(address, region)
        )
        status = best_status(entry.status, find_status(context, classes="45"))
        temporary = entry.action == "delayed" or (entry.action is None and delay)
        action, cause = judge(status, context, temporary=temporary)
        reports[address] = RecipientReport(address, action, cause, status, diagnostic or context[:_EXCERPT])
    return tuple(reports.values())


def _from_prose(
    lines: tuple[tuple[str, str], ...], failed_header: tuple[str, ...], region: str, delay: bool
) -> tuple[RecipientReport, ...]:
    """One report per recipient the prose names; ``X-Failed-Recipients``,
    when given, says which."""
    if failed_header:
        by_address = dict(lines)
        lines = tuple((a, by_address.get(a) or context_for(a, region)) for a in failed_header)
    reports = []
    for address, context in lines:
        status = find_status(context, classes="45")
        action, cause = judge(status, context, temporary=delay)
        if cause == "unknown" and context != region:
            # Some reports say why once, above the list of addresses.
            action, cause = judge(status, f"{context}\n{region[:_PREAMBLE]}", temporary=delay)
        reports.append(RecipientReport(address, action, cause, status, context[:_EXCERPT]))
    return tuple(reports)


def _assumed(addresses: tuple[str, ...], region: str) -> tuple[RecipientReport, ...]:
    """A report that names nobody: the returned message's own recipients are
    the best guess, counted as soft at most, never suppressed on a guess."""
    context = " ".join(region[:_PREAMBLE].split())
    status = find_status(context, classes="45")
    return tuple(RecipientReport(a, "count-soft", "unknown", status, context[:_EXCERPT]) for a in addresses)


def _bounce_reason(kind: Kind, recipients: tuple[RecipientReport, ...], source: str, delay: bool, guessed: bool) -> str:
    if not recipients:
        return f"{source} naming no recipient"
    if guessed:
        return f"{source} naming no recipient; the returned message's recipient is assumed, as a soft bounce"
    if kind == "hard":
        bad = sum(r.action == "suppress" for r in recipients)
        return f"{source}: {bad} of {len(recipients)} recipient(s) have a bad address"
    causes = ", ".join(dict.fromkeys(r.cause for r in recipients))
    return f"{'a delay warning' if delay else source}: no address proved bad ({causes})"


def _looks_like_bounce(mail: FeedbackMessage, region: str) -> bool:
    local = (mail.sender or "").partition("@")[0]
    daemon = bool(_DAEMON_LOCAL.match(local)) or bool(_DAEMON_NAME.search(mail.sender_name))
    null_sender = (mail.return_path or "").strip() in ("<>", "") and mail.return_path is not None
    subject = bool(_BOUNCE_SUBJECT.search(mail.subject))
    report = mail.report_type == "delivery-status" or bool(_BOUNCE_TEXT.search(region))
    if daemon:
        return subject or report
    return subject and report and (null_sender or bool(mail.headers.get("auto-submitted")))


def _forwarded_bounce(mail: FeedbackMessage) -> str | None:
    """The text of a bounce a person forwarded (quoted with ``>`` or
    below a "Forwarded message" line), its forwarded header block dropped."""
    if not _FORWARD_SUBJECT.match(mail.subject) or not _BOUNCE_SUBJECT.search(mail.subject):
        return None
    text = mail.text
    start = _FORWARD_START.search(text)
    body = unquote(text[start.end() :] if start else text)
    if not _QUOTED_DAEMON.search(body[:5000]):
        return None
    lines = body.lstrip("\n").splitlines()
    index = 0
    while index < len(lines) and re.match(r"^[\w-]+:|^\s+\S", lines[index]):
        index += 1
    return "\n".join(lines[index:])
