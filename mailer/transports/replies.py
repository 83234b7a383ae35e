"""What an SMTP reply means for a message: pure rules, no sockets.

A :class:`Reply` is what one recipient got back (or ``code=None`` when the
connection dropped, timed out or was refused). :func:`classify` turns it into
a :class:`Verdict` the worker acts on:

======================================  =========================================
reply                                   verdict
======================================  =========================================
2xx                                     ``sent``
no reply (dropped, refused, timeout)    ``retry``
421                                     ``retry``, and back off the whole pool
4xx (any other)                         ``retry``, honouring "retry in N seconds"
552 at RCPT                             ``retry`` (RFC 5321 §4.5.3.1.10: temporary)
5.1.x, 5.2.1 (bad/disabled mailbox)     ``bounce`` and suppress the address
550/551/553 at RCPT, no enhanced code   ``bounce`` and suppress the address
5.7.x (policy: blocked, spam, auth)     ``policy``: do not suppress; pause the pool
other 5xx                               ``fail`` this message, suppress nothing
======================================  =========================================

>>> classify(Reply(550, "5.1.1", "no such user", stage="rcpt")).action
'bounce'
>>> classify(Reply(451, "4.7.1", "greylisted, retry in 300 seconds")).retry_after
300.0
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

Stage = Literal["connect", "mail", "rcpt", "data"]
Action = Literal["sent", "retry", "bounce", "policy", "fail"]

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_RETRY_IN = re.compile(
    r"(?:retry|try again|try later)\D{0,20}?(?:in|after)\s+(\d+(?:\.\d+)?)\s*"
    r"(s|secs?|seconds?|m|mins?|minutes?|h|hours?)?\b",
    re.I,
)
_UNIT = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class Reply:
    """One recipient's SMTP reply: ``code`` (None: no reply), the enhanced
    status code (RFC 3463) if any, the text, and the stage it came at.

    >>> Reply.parse(550, "5.1.1 <ann@shop.test>: user unknown", stage="rcpt")
    Reply(code=550, enhanced='5.1.1', text='5.1.1 <ann@shop.test>: user unknown', stage='rcpt')
    """

    code: int | None
    enhanced: str | None
    text: str
    stage: Stage = "data"

    @classmethod
    def parse(cls, code: int | None, text: str, *, stage: Stage = "data") -> Reply:
        match = _ENHANCED.match(text)
        enhanced = ".".join(match.groups()) if match else None
        return cls(code, enhanced, text.strip(), stage)

    @classmethod
    def dropped(cls, reason: str, *, stage: Stage = "connect") -> Reply:
        """No reply: the connection failed or dropped."""
        return cls(None, None, reason, stage)

    @property
    def accepted(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with the message; ``retry_after`` is the server's own hint."""

    action: Action
    reason: str
    suppress: bool = False
    pause_pool: bool = False
    backoff_pool: bool = False
    retry_after: float | None = None


def retry_hint(text: str) -> float | None:
    """Seconds a server asked us to wait ("retry in 5 minutes"), if it did.

    >>> retry_hint("4.7.0 Too many messages, try again in 5 minutes"), retry_hint("busy")
    (300.0, None)
    """
    match = _RETRY_IN.search(text)
    if not match:
        return None
    unit = (match.group(2) or "s")[0].lower()
    return float(match.group(1)) * _UNIT[unit]


def classify(reply: Reply) -> Verdict:
    """The verdict for one recipient's reply (see the table above).

    >>> classify(Reply(421, None, "closing", stage="mail")).backoff_pool
    True
    >>> v = classify(Reply(550, "5.7.1", "blocked by policy", stage="rcpt"))
    >>> v.action, v.suppress, v.pause_pool
    ('policy', False, True)
    >>> classify(Reply(552, "5.2.2", "mailbox full", stage="rcpt")).action
    'retry'
    """
    code, enhanced, text = reply.code, reply.enhanced, reply.text
    if code is None:
        return Verdict("retry", f"no reply: {text}")
    if 200 <= code < 300:
        return Verdict("sent", "accepted")
    hint = retry_hint(text)
    if code == 421:
        return Verdict("retry", f"{code} {text}", backoff_pool=True, retry_after=hint)
    if 400 <= code < 500:
        return Verdict("retry", f"{code} {text}", retry_after=hint)
    if code == 552 and reply.stage == "rcpt":
        return Verdict("retry", f"{code} {text} (temporary at RCPT)", retry_after=hint)
    subject = enhanced.split(".")[1:] if enhanced else None
    if subject and subject[0] == "7":
        return Verdict("policy", f"{code} {text}", pause_pool=True, retry_after=hint)
    if subject and (subject[0] == "1" or subject == ["2", "1"]):
        return Verdict("bounce", f"{code} {text}", suppress=True)
    if not enhanced and reply.stage == "rcpt" and code in (550, 551, 553):
        return Verdict("bounce", f"{code} {text}", suppress=True)
    return Verdict("fail", f"{code} {text}")


def backoff(attempt: int, *, base: float = 60.0, cap: float = 4 * 3600.0, hint: float | None = None,
            rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first).

    Exponential (``base · 2^(attempt-1)``, at most ``cap``) with jitter (a
    random 50–100 % of it) so that retries from a storm do not arrive together.
    A server's own hint is honoured: never wait less than it asked.

    >>> r = random.Random(1)
    >>> [round(backoff(n, rng=r)) for n in (1, 2, 3)]
    [34, 111, 212]
    >>> backoff(1, hint=600.0, rng=random.Random(1)) >= 600.0
    True
    """
    rng = rng or random.Random()
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    delay *= 0.5 + rng.random() / 2
    if hint is not None:
        delay = max(delay, hint * (1 + rng.random() / 10))
    return float(delay)
