"""Bounces written for people: finding recipients and errors in free text.

Many servers explain a failure in prose rather than (or besides) an RFC 3464
report. The shapes differ but rhyme::

    <ann@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1       Postfix
        <ann@example.com>: Recipient address rejected: User unknown
    <ann@example.com>:                                                     qmail, Yahoo
    Sorry, no mailbox here by that name. (#5.1.1)
      ann@example.com                                                      Exim
        SMTP error from remote mail server after RCPT TO:<ann@example.com>:
        550 5.1.1 User unknown
    ann@example.com: 550 5.1.1 ...                                         OpenSMTPD
    <ann@example.com>                                                      Sendmail
        (reason: 550 5.1.1 <ann@example.com>... User unknown)

so a recipient is an address that starts a line (bare, in angle brackets,
or followed by ``:`` or ``...``), and its diagnostic is the text after it up
to the next such line. Only the report is read, never the copy of the
original message that follows it (:func:`report_region`), whose ``To:``
would otherwise pass for a recipient.

>>> text = '''I'm afraid I wasn't able to deliver your message to the following addresses.
...
... <Ann@Example.com>:
... Sorry, no mailbox here by that name. (#5.1.1)
...
... --- Below this line is a copy of the message.
...
... To: ann@example.com
... Message-ID: <42@shop.test>
... '''
>>> found_recipients(report_region(text))
(('ann@example.com', 'Sorry, no mailbox here by that name. (#5.1.1)'),)
>>> quoted_message_id(text)
'<42@shop.test>'
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from mailer.feedback.addresses import ADDRESS_PATTERN, find_addresses, normalise, unique

MAX_RECIPIENTS = 100
"""Recipients taken from one report at most: a longer list is noise, or hostile."""
_CONTEXT = 2000
"""Characters of diagnostic kept per recipient."""

_ADDR = ADDRESS_PATTERN
_RECIPIENT_LINE = re.compile(
    rf"^[ \t>]*(?:(?:original|final)[ -]recipient[ \t]*:[ \t]*(?:rfc822[ \t]*;)?[ \t]*)?"
    rf"<?(?P<address>{_ADDR})>?(?:[ \t]*<mailto:[^>\s]*>)?[ \t]*"
    rf"(?:\((?:expanded|generated)[ \t]+from:?[ \t]*<?(?P<alias>{_ADDR})?>?\)[ \t]*)?"
    r"(?P<rest>$|(?::|\.\.\.)[^\n]*$|\([^\n]*$)",
    re.I | re.M,
)
_CUT = re.compile(
    r"^[ \t|>]*(?:"
    r"-{2,}+[^\n]*?(?:original\s+message|copy\s+of|below\s+this\s+line|message\s+(?:text|headers?)\s+follows?|returned\s+message"
    r"|undelivered\s+message|header\s+of\s+the\s+original|unsent\s+message|original\s+headers)"
    r"|original\s+message\s+headers?\s*:?|below\s+is\s+a\s+copy\s+of\s+the\s+original\s+message"
    r"|the\s+original\s+message\s+(?:headers?\s+)?(?:is|are|was|were)\s+(?:attached|below|included|as\s+follows)"
    r"|(?:bounced|returned|original)\s+e-?mail\s*:|begin\s+(?:forwarded|original)\s+message"
    r"|(?:return-path|received|message-id|dkim-signature|authentication-results|mime-version|delivered-to)[ \t]*:"
    r")",
    re.I | re.M,
)
_SENDER_MENTION = re.compile(
    rf"(?:mail\s+from:?|envelope-from|x-postfix-sender:\s*rfc822;|return-path:|sender:)[ \t]*<?({_ADDR})",
    re.I,
)
_RCPT_TO = re.compile(rf"rcpt\s+to:?[ \t]*<?({_ADDR})", re.I)
_MESSAGE_ID = re.compile(
    r"^[ \t>]*Message-I[dD][ \t]*:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,250}>|[^<>\s@]{1,200}@[^<>\s@]{1,200})", re.M
)
_QUOTED = re.compile(r"^> ?", re.M)
_DELAY = re.compile(
    r"warning\s+only|not\s+yet\s+been\s+delivered"
    r"|will\s+(?:continue|keep)\s+(?:trying|to\s+try|retrying)|will\s+be\s+retried|still\s+being\s+retried"
    r"|delivery\s+attempts\s+will\s+continue|no\s+action\s+is\s+required\s+on\s+your\s+part"
    r"|could\s+not\s+be\s+delivered\s+for\s+more\s+than|is\s+delayed|been\s+delayed|delivery\s+delayed",
    re.I,
)
_DELAY_SUBJECT = re.compile(r"\bdelay(?:ed)?\b|\bwarning\b|could\s+not\s+send\s+message\s+for\s+past", re.I)


def report_region(text: str) -> str:
    """``text`` up to the copy of the original message (all of it when no
    copy is found).

    >>> report_region("Sorry.\\n\\n------ This is a copy of the message ------\\nTo: x@y.z\\n")
    'Sorry.\\n\\n'
    """
    match = _CUT.search(text)
    return text[: match.start()] if match else text


def quoted_message_id(text: str) -> str | None:
    """The first ``Message-ID`` header line's id in ``text`` (a quoted
    original's), as written (angle brackets are sometimes left out).

    >>> quoted_message_id("Original message:\\n> Message-Id:\\n <A1@b.example>\\n")
    '<A1@b.example>'
    """
    match = _MESSAGE_ID.search(text)
    return match.group(1) if match else None


def sender_mentions(text: str) -> set[str]:
    """Addresses ``text`` names as the sender (``MAIL FROM:<...>``,
    ``Return-Path:``...): ours, never a failed recipient.

    >>> sorted(sender_mentions("after MAIL FROM:<News@shop.test> SIZE=1543: 550 no"))
    ['news@shop.test']
    """
    return {match.group(1).lower() for match in _SENDER_MENTION.finditer(text)}


def is_delay_notice(subject: str, region: str) -> bool:
    """Whether a report only warns that delivery is late.

    >>> is_delay_notice("Delivery Status Notification (Delay)", "")
    True
    >>> is_delay_notice("Undelivered Mail Returned to Sender", "This is a permanent error.")
    False
    """
    return bool(_DELAY_SUBJECT.search(subject) or _DELAY.search(region))


def unquote(text: str) -> str:
    """``text`` with one level of ``>`` quoting removed from every line.

    >>> unquote("> a\\n>> b\\nc")
    'a\\n> b\\nc'
    """
    return _QUOTED.sub("", text)


def found_recipients(region: str, *, ignore: Collection[str] = ()) -> tuple[tuple[str, str], ...]:
    """``(address, diagnostic)`` for each recipient line of ``region``, first
    occurrence of each address first. Addresses the report names as the
    sender (``MAIL FROM:<...>``) are never taken; ``ignore`` (the bounce's
    own addresses) are not taken from the fallbacks below.

    Where the report names no recipient at the start of a line, an address
    after ``RCPT TO:`` is taken, and failing that any address in the report
    (with the whole report as its diagnostic).

    >>> found_recipients("  ann@example.com\\n    SMTP error after RCPT TO:<ann@example.com>: 550 no")
    (('ann@example.com', 'SMTP error after RCPT TO:<ann@example.com>: 550 no'),)
    >>> found_recipients("User's mailbox is full: <ann@example.com>")
    (('ann@example.com', "User's mailbox is full: <ann@example.com>"),)
    """
    senders = sender_mentions(region)
    skip = {normalise(address) for address in ignore} | senders
    lines = list(_RECIPIENT_LINE.finditer(region))
    found: dict[str, str] = {}
    for index, match in enumerate(lines):
        address = (match.group("alias") or match.group("address")).lower()
        if address in senders or _is_daemon(address):
            continue
        end = lines[index + 1].start() if index + 1 < len(lines) else len(region)
        rest = match.group("rest").lstrip(":.").strip()
        context = _collapse(rest + "\n" + region[match.end() : end])
        # An address named twice (a summary, then a transcript) gets both texts.
        found[address] = f"{found[address]} {context}".strip() if address in found else context
        if len(found) >= MAX_RECIPIENTS:
            break
    if found:
        return tuple(found.items())
    candidates = [match.group(1).lower() for match in _RCPT_TO.finditer(region)]
    candidates = candidates or list(find_addresses(region))
    context = _collapse(region)
    return tuple(
        (address, context)
        for address in unique(candidates)[:MAX_RECIPIENTS]
        if address not in skip and not _is_daemon(address)
    )


def context_for(address: str, region: str) -> str:
    """The diagnostic for ``address`` when a header (``X-Failed-Recipients``)
    named it: the report from the address's first mention on, else all of it.

    >>> context_for("ann@example.com", "Failed: Ann@example.com 550 no such user")
    'Ann@example.com 550 no such user'
    """
    at = region.lower().find(address.lower())
    return _collapse(region[at:] if at >= 0 else region)


def _is_daemon(address: str) -> bool:
    local = address.partition("@")[0]
    return local in ("mailer-daemon", "postmaster", "poostmaster", "mailer_daemon")


def _collapse(text: str) -> str:
    return " ".join(text[: _CONTEXT * 2].split())[:_CONTEXT]


def addresses_of(values: Iterable[str]) -> tuple[str, ...]:
    """Every address in header ``values``, normalised, without repeats.

    >>> addresses_of(["Ann <ann@example.com>, bob@example.com", "ann@example.com"])
    ('ann@example.com', 'bob@example.com')
    """
    return unique(address for value in values for address in find_addresses(value))
