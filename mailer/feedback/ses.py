"""Amazon SES notifications delivered by mail (through an SNS topic).

SES reports bounces, complaints and deliveries as JSON, which an SNS email
subscription mails either bare or wrapped in an SNS envelope (the
notification as a JSON string in ``Message``). :func:`ses_feedback` reads
either form: ``notificationType`` ``Bounce`` (``bounceType`` ``Permanent``
or ``Transient``; each recipient judged like any bounce), ``Complaint``
(``complaintFeedbackType`` as in an abuse report) or ``Delivery`` (not
feedback).

>>> feedback = ses_feedback('''{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
...   "bouncedRecipients": [{"emailAddress": "ann@example.com", "status": "5.1.1",
...   "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}, "mail": {"messageId": "0101-abc"}}''')
>>> feedback.kind, feedback.to_suppress, feedback.original_message_id
('hard', ('ann@example.com',), '<0101-abc@email.amazonses.com>')
>>> ses_feedback("Dear customer, {not json}") is None
True
"""

from __future__ import annotations

import json
import re
from typing import Any

from mailer.feedback.addresses import find_addresses, unique
from mailer.feedback.arf import ArfReport, is_complaint
from mailer.feedback.records import Feedback, Kind, RecipientReport
from mailer.feedback.status import best_status, find_status, judge

_FOLD = re.compile(r"!?\r?\n ")
"""SNS folds long lines of the mail it sends with "!" + line break + space."""


def ses_feedback(text: str, **context: Any) -> Feedback | None:
    """The feedback in an SES notification mail's ``text``, or ``None`` when
    the text holds none. ``context`` are further :class:`Feedback` fields
    (``subject``, ``envelope_to``...); the notification's ``messageId`` is
    the ``original_message_id`` unless ``context`` gives one."""
    notice = _notification(text)
    if notice is None:
        return None
    kind = str(notice.get("notificationType", "")).lower()
    mail = _object(notice, "mail")
    if mail.get("messageId") and not context.get("original_message_id"):
        context["original_message_id"] = f"<{mail['messageId']}@email.amazonses.com>"
    if kind == "complaint":
        return _complaint(_object(notice, "complaint"), context)
    if kind == "bounce":
        return _bounce(_object(notice, "bounce"), context)
    return Feedback("not-feedback", f"an Amazon SES notification of type {kind!r}", **context)


def _notification(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        notice, _ = json.JSONDecoder().raw_decode(_FOLD.sub("", text[start:]))
        if isinstance(notice, dict) and isinstance(notice.get("Message"), str):
            notice = json.loads(notice["Message"])
    except (ValueError, RecursionError):
        return None
    return notice if isinstance(notice, dict) and "notificationType" in notice else None


def _complaint(complaint: dict[str, Any], context: dict[str, Any]) -> Feedback:
    report = ArfReport(str(complaint.get("complaintFeedbackType") or "abuse").lower(), user_agent=_str(complaint.get("userAgent")))
    if not is_complaint(report.feedback_type):
        return Feedback("not-feedback", f"an Amazon SES notification of feedback type {report.feedback_type!r}", arf=report, **context)
    addresses = unique(a for entry in _objects(complaint, "complainedRecipients") for a in find_addresses(str(entry.get("emailAddress", ""))))
    recipients = tuple(RecipientReport(a, "complaint", "complaint") for a in addresses)
    return Feedback("complaint", "an Amazon SES complaint notification", recipients, arf=report, **context)


def _bounce(bounce: dict[str, Any], context: dict[str, Any]) -> Feedback:
    bounce_type = str(bounce.get("bounceType", "unknown"))
    reports: dict[str, RecipientReport] = {}
    for entry in _objects(bounce, "bouncedRecipients"):
        address = next(find_addresses(str(entry.get("emailAddress", ""))), None)
        if address is None or address in reports:
            continue
        diagnostic = " ".join(str(entry.get("diagnosticCode") or "").split())
        status = best_status(find_status(str(entry.get("status") or "")), find_status(diagnostic, classes="45"))
        action, cause = judge(status, diagnostic, temporary=bounce_type.lower() != "permanent")
        reports[address] = RecipientReport(address, action, cause, status, diagnostic)
    recipients = tuple(reports.values())
    kind: Kind = "hard" if any(r.action == "suppress" for r in recipients) else "soft"
    return Feedback(kind, f"an Amazon SES bounce notification ({bounce_type})", recipients, **context)


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
