"""Bounces, complaints and auto-replies built with the standard library's
``email`` package, sent back to a VERP return path as a receiving server
would, and real ones from the shared corpus readdressed the same way."""

from __future__ import annotations

from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid

from mailer.feedback import VerpSigner, verp_sender

SIGNER = VerpSigner(b"feedback-test-key-0123456789abcdef")
RETURN_PATH = "bounces@shop.test"


def verp(message_id: str, signer: VerpSigner = SIGNER) -> str:
    """The return path the message with ``message_id`` left with."""
    return verp_sender(RETURN_PATH, message_id, signer)


def _original(message_id: str, recipient: str, return_path: str | None) -> Message:
    original = Message()
    if return_path:
        original["Return-Path"] = f"<{return_path}>"
    original["From"] = "Example Shop <news@shop.test>"
    original["To"] = recipient
    original["Subject"] = "Autumn picks for you"
    original["Message-ID"] = message_id
    original.set_payload("Hello\n")
    return original


def dsn(
    recipient: str,
    message_id: str,
    *,
    to: str | None,
    status: str = "5.1.1",
    diagnostic: str = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    action: str = "failed",
) -> bytes:
    """An RFC 3464 delivery status report about ``recipient``, delivered to
    ``to`` (the VERP address; ``None``: the plain return path), quoting the
    original's headers."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.com (Mail Delivery System)"
    report["To"] = to or RETURN_PATH
    report["Subject"] = "Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail (still being retried)"
    report["Message-ID"] = make_msgid(domain="mx.example.com")
    report["Auto-Submitted"] = "auto-replied"
    if to:
        report["Delivered-To"] = to
    text = diagnostic.format(rcpt=recipient)
    report.attach(MIMEText(f"This is the mail system at host mx.example.com.\n\n<{recipient}>: {text}\n"))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.com"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = action
    per_recipient["Status"] = status
    per_recipient["Diagnostic-Code"] = f"smtp; {text}"
    status_part = MIMEBase("message", "delivery-status")
    status_part.set_payload([per_message, per_recipient])
    report.attach(status_part)
    headers = MIMEText(_original(message_id, recipient, to).as_string().split("\n\n")[0] + "\n", "rfc822-headers")
    report.attach(headers)
    return report.as_bytes()


def soft(recipient: str, message_id: str, *, to: str | None) -> bytes:
    """A bounce for a full mailbox: a soft bounce."""
    return dsn(recipient, message_id, to=to, status="5.2.2", diagnostic="552 5.2.2 <{rcpt}>: Mailbox full")


def delay(recipient: str, message_id: str, *, to: str | None) -> bytes:
    """A delay warning: the server is still trying (a soft bounce too)."""
    return dsn(recipient, message_id, to=to, status="4.4.1", action="delayed",
               diagnostic="451 4.4.1 connection timed out")  # fmt: skip


def arf(complainant: str, message_id: str, *, return_path: str | None, rcpt_to: bool = True) -> bytes:
    """An RFC 5965 abuse report from a feedback loop, the original attached
    with the ``Return-Path`` it left with (``rcpt_to=False``: the
    complainant's address withheld, as many providers do)."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "feedbackloop@mail.example.com"
    report["To"] = "fbl@shop.test"
    report["Subject"] = "FW: Autumn picks for you"
    report["Message-ID"] = make_msgid(domain="mail.example.com")
    report.attach(MIMEText("This is an email abuse report for an email message received.\n"))
    fields = Message()
    fields["Feedback-Type"] = "abuse"
    fields["User-Agent"] = "ExampleFBL/1.0"
    fields["Version"] = "1"
    if rcpt_to:
        fields["Original-Rcpt-To"] = complainant
    fields["Original-Mail-From"] = return_path or RETURN_PATH
    part = MIMEBase("message", "feedback-report")
    part.set_payload(fields.as_string())
    report.attach(part)
    original = MIMEBase("message", "rfc822")
    original.set_payload([_original(message_id, complainant if rcpt_to else "redacted@mail.example.com", return_path)])
    report.attach(original)
    return report.as_bytes()


def out_of_office(sender: str, *, to: str) -> bytes:
    """An RFC 3834 automatic reply from ``sender`` to ``to``."""
    reply = MIMEText("I am away until Monday.\n")
    reply["From"] = sender
    reply["To"] = to
    reply["Subject"] = "Out of office: Autumn picks for you"
    reply["Auto-Submitted"] = "auto-replied"
    reply["Message-ID"] = make_msgid(domain="example.com")
    return reply.as_bytes()


def delivered_to(data: bytes, address: str) -> bytes:
    """``data`` (a real message from the corpus) as delivered to
    ``address``: a ``Delivered-To`` header on top, as the local delivery agent adds it."""
    return f"Delivered-To: {address}\n".encode() + data
