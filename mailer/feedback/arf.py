"""RFC 5965 abuse reports (ARF): a mailbox provider tells us a recipient
marked our message as spam.

A ``multipart/report; report-type=feedback-report`` message carries a
``message/feedback-report`` part of fields read by :func:`read_report`.
:func:`is_complaint` says which feedback types count against the recipient:
``abuse``, ``fraud``, ``virus``, ``other`` and the unsubscribe requests some
providers send (``opt-out``, ``unsubscribe``) do; ``not-spam`` (the
recipient rescued the message from their spam folder) and ``auth-failure``
(RFC 6591: a DKIM/SPF/DMARC failure report about the sending domain) do not.

>>> report = read_report('''Feedback-Type: abuse
... User-Agent: SomeGenerator/1.0
... Version: 1
... Original-Rcpt-To: <Ann@Example.com>
... Source-IP: 192.0.2.1''')
>>> report.feedback_type, report.original_rcpt_to, is_complaint(report.feedback_type)
('abuse', ('ann@example.com',), True)
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.feedback.addresses import field_address, unique
from mailer.feedback.fields import read_fields

NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})
"""Feedback types that are reports, but not about an unwanted message."""


@dataclass(frozen=True, slots=True)
class ArfReport:
    """The fields of one feedback report; ``feedback_type`` is lower-cased
    (``""`` when missing), addresses are normalised."""

    feedback_type: str
    user_agent: str | None = None
    version: str | None = None
    original_mail_from: str | None = None
    original_rcpt_to: tuple[str, ...] = ()
    arrival_date: str | None = None
    reported_domain: str | None = None
    source_ip: str | None = None
    reported_uri: str | None = None


def read_report(text: str) -> ArfReport:
    """The feedback-report fields in ``text``.

    ``Received-Date`` (an early draft's name) stands in for ``Arrival-Date``;
    ``Removal-Recipient`` (an early draft's) adds to ``Original-Rcpt-To``.

    >>> read_report("Feedback-Type: Not-Spam\\nReceived-Date: Thu, 29 Apr 2009").arrival_date
    'Thu, 29 Apr 2009'
    """
    first: dict[str, str] = {}
    recipients: list[str] = []
    for field in read_fields(text):
        first.setdefault(field.name, field.value)
        if field.name in ("original-rcpt-to", "removal-recipient"):
            address = field_address(field.value)
            if address:
                recipients.append(address)
    mail_from = first.get("original-mail-from")
    return ArfReport(
        feedback_type=first.get("feedback-type", "").strip().lower(),
        user_agent=first.get("user-agent"),
        version=first.get("version"),
        original_mail_from=field_address(mail_from) if mail_from else None,
        original_rcpt_to=unique(recipients),
        arrival_date=first.get("arrival-date") or first.get("received-date"),
        reported_domain=first.get("reported-domain"),
        source_ip=first.get("source-ip"),
        reported_uri=first.get("reported-uri"),
    )


def is_complaint(feedback_type: str) -> bool:
    """Whether a report of this type means "stop mailing this recipient".

    >>> is_complaint("abuse"), is_complaint("not-spam"), is_complaint("auth-failure"), is_complaint("")
    (True, False, False, True)
    """
    return feedback_type.strip().lower() not in NOT_COMPLAINTS
