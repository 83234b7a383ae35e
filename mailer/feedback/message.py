"""A returned message taken apart: the headers, texts, report parts and
returned original a feedback reader looks at, decoded once.

:func:`read_message` parses raw bytes with the stdlib ``email`` package
under the ``compat32`` policy. That policy never raises on the broken
headers real bounces have (the ``default`` policy's header objects raise
or register defects when read, and cost several times as much), so header
values are decoded here, leniently, where they are needed. Texts are
transfer- and charset-decoded with replacement characters for what cannot
be decoded, and capped: a report is short, the rest is the returned message
or an attack on the reader.

>>> message = read_message(b'''From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
... To: bounces+abc@shop.test
... Subject: =?utf-8?q?Undelivered_Mail?=
... Content-Type: multipart/report; report-type=delivery-status; boundary=B
...
... --B
... Content-Type: text/plain
...
... Sorry.
... --B
... Content-Type: message/delivery-status
...
... Final-Recipient: rfc822; ann@example.com
... Action: failed
... --B
... Content-Type: text/rfc822-headers
...
... Message-ID: <42@shop.test>
... To: Ann <ann@example.com>
... --B--
... ''')
>>> message.sender, message.subject, message.report_type, message.envelope_to
('mailer-daemon@mx.example.com', 'Undelivered Mail', 'delivery-status', ('bounces+abc@shop.test',))
>>> message.delivery_status, message.original_message_id(), message.original_recipients()
(['Final-Recipient: rfc822; ann@example.com\\nAction: failed'], '<42@shop.test>', ('ann@example.com',))
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message

from mailer.feedback.addresses import field_address, find_addresses
from mailer.feedback.fields import read_fields
from mailer.feedback.freetext import addresses_of, quoted_message_id, report_region

MAX_TEXT = 256 * 1024
"""Characters of text read per part."""
MAX_PARTS = 200
"""MIME parts looked at per message."""

_DELIVERY_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers", "message/global-headers"})
_ORIGINAL_TYPES = frozenset({"message/rfc822", "message/global"})
_ENVELOPE_HEADERS = ("x-original-to", "delivered-to", "envelope-to", "x-envelope-to", "original-recipient")
_TAGS = re.compile(r"<[^<>]{0,2000}>")
_BREAKS = re.compile(r"(?i)<br\s*/?>|</p>|</div>|</tr>")
_ANGLED_ID = re.compile(r"<[^<>\s]{1,250}>")


@dataclass
class FeedbackMessage:
    """One message, taken apart.

    ``headers`` maps lower-cased names to the first value, decoded;
    ``envelope_to`` are the addresses the message was delivered to
    (``X-Original-To``, ``Delivered-To``, ``Envelope-To``, ``X-Envelope-To``,
    ``Original-Recipient``, then ``To``), normalised; ``texts`` the plain
    text parts (``html`` the HTML ones, as text); ``delivery_status`` and
    ``feedback_reports`` the text of report parts; ``originals`` the header
    fields (lower-cased names, every value) of each returned original.
    """

    headers: dict[str, str]
    subject: str
    sender: str | None
    sender_name: str
    return_path: str | None
    envelope_to: tuple[str, ...]
    report_type: str
    texts: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    delivery_status: list[str] = field(default_factory=list)
    feedback_reports: list[str] = field(default_factory=list)
    originals: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The plain text parts, else the HTML ones as text."""
        return "\n".join(self.texts or self.html)

    def original_message_id(self) -> str | None:
        """The returned original's ``Message-ID``: from an attached message
        or header part, else from a header block quoted in the text."""
        for fields in self.originals:
            value = _header_text(fields.get("message-id", [""])[0]).strip()
            if value:
                return _message_id(value)
        text = self.text
        found = quoted_message_id(text[len(report_region(text)) :]) or quoted_message_id(text)
        return _message_id(found) if found else None

    def original_return_path(self) -> str | None:
        """The returned original's ``Return-Path``, when it was kept."""
        for fields in self.originals:
            if fields.get("return-path"):
                return field_address(_header_text(fields["return-path"][0]))
        return None

    def original_recipients(self) -> tuple[str, ...]:
        """Who the returned original was addressed to (Hotmail's
        ``X-HmXmrOriginalRecipient``, else ``To``)."""
        for fields in self.originals:
            values = fields.get("x-hmxmroriginalrecipient") or fields.get("to") or []
            found = addresses_of(_header_text(value) for value in values)
            if found:
                return found
        return ()


def read_message(data: bytes) -> FeedbackMessage:
    """``data`` taken apart (see above)."""
    message = message_from_bytes(data, policy=policy.compat32)
    headers = {name.lower(): _header_text(value) for name, value in reversed(message.items())}
    from_value = headers.get("from", "")
    envelope = [_header_text(value) for name, value in message.items() if name.lower() in _ENVELOPE_HEADERS]
    result = FeedbackMessage(
        headers=headers,
        subject=" ".join(headers.get("subject", "").split()),
        sender=next(find_addresses(from_value), None) or field_address(from_value),
        sender_name=from_value,
        return_path=headers.get("return-path"),
        envelope_to=addresses_of([*envelope, headers.get("to", "")]),
        report_type=str(message.get_param("report-type") or "").lower(),
    )
    for part in _parts(message):
        _take(result, part)
    return result


def _parts(message: Message) -> Iterator[Message]:
    """Leaf parts and attached messages, depth first, without looking inside
    an attached message (that is the original, not the report)."""
    stack = [message]
    seen = 0
    while stack and seen < MAX_PARTS:
        part = stack.pop()
        seen += 1
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        else:
            yield part


def _take(message: FeedbackMessage, part: Message) -> None:
    kind = part.get_content_type()
    if kind in _DELIVERY_STATUS_TYPES:
        message.delivery_status.append(_block_text(part))
    elif kind == "message/feedback-report":
        message.feedback_reports.append(_block_text(part))
    elif kind in _ORIGINAL_TYPES:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            message.originals.append(_original_fields(inner[0]))
        elif isinstance(inner, str):
            message.originals.append(_header_block(inner[:MAX_TEXT]))
    elif kind in _HEADER_TYPES:
        message.originals.append(_header_block(_text(part)))
    elif kind == "text/html":
        message.html.append(_strip_html(_text(part)))
    elif part.get_content_maintype() in ("text", "multipart"):
        # A multipart whose boundary is missing arrives as one text.
        message.texts.append(_text(part))


def _original_fields(message: Message) -> dict[str, list[str]]:
    """The header fields of an attached original. A broken header line (a
    folded line without its leading white space) ends the parser's header
    block early and leaves the rest of the headers at the top of the body:
    those are read too."""
    lines = [f"{name}: {_header_text(value)}" for name, value in message.items()]
    payload = message.get_payload()
    if isinstance(payload, str) and message.get("message-id") is None:
        lines.append(payload[:MAX_TEXT])
    return _header_block("\n".join(lines))


def _header_block(text: str) -> dict[str, list[str]]:
    """The fields of ``text`` up to its first blank line."""
    fields: dict[str, list[str]] = {}
    for found in read_fields(text.split("\n\n", 1)[0]):
        fields.setdefault(found.name, []).append(found.value)
    return fields


def _message_id(value: str) -> str:
    """``<left@right>`` out of a header value; a bare ``left@right`` gets
    its angle brackets, so ids compare as the sender wrote them."""
    match = _ANGLED_ID.search(value)
    if match:
        return match.group(0)
    bare = (value.split() or [""])[0][:250]
    return f"<{bare}>" if "@" in bare else bare


def _header_text(value: object) -> str:
    """A header value decoded (RFC 2047) to text; never raises."""
    text = str(value)
    if isinstance(value, str) and "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # a header that cannot be decoded is read as it is
        return text


def _text(part: Message) -> str:
    """A leaf part's text, transfer- and charset-decoded, capped."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: read the raw text
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw[:MAX_TEXT] if isinstance(raw, str) else ""
    payload = payload[: MAX_TEXT * 4]
    try:
        text = payload.decode(part.get_content_charset() or "utf-8", "replace")
    except (LookupError, ValueError):
        text = payload.decode("utf-8", "replace")
    return text[:MAX_TEXT]


def _block_text(part: Message) -> str:
    """The text of a report part (``message/delivery-status``,
    ``message/feedback-report``), which ``email`` parses into one header
    block per group of fields."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _text(part)
    groups = ["\n".join(f"{name}: {_header_text(value)}" for name, value in block.items()) for block in payload if isinstance(block, Message)]
    return "\n\n".join(groups)[:MAX_TEXT]


def _strip_html(text: str) -> str:
    return html.unescape(_TAGS.sub(" ", _BREAKS.sub("\n", text)))
