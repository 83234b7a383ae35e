"""What one feedback message says: the :class:`Feedback` record and its
per-recipient :class:`RecipientReport`.

Plain frozen data, so a Maildir reader, an IMAP reader and the store can pass
it around and act on it without knowing how it was read. The store acts on
each recipient's :attr:`~RecipientReport.action`; :attr:`Feedback.kind` sums
the message up for logs and counts.

>>> feedback = Feedback(
...     kind="hard",
...     reason="a delivery status report: 1 recipient failed permanently",
...     recipients=(RecipientReport("ann@example.com", "suppress", "bad-mailbox", "5.1.1", "550 5.1.1 User unknown"),),
...     original_message_id="<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>",
... )
>>> feedback.suppresses("Ann@Example.com"), feedback.action("bob@example.com")
(True, 'ignore')
>>> feedback.to_suppress
('ann@example.com',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailer.feedback.addresses import normalise
from mailer.feedback.arf import ArfReport
from mailer.feedback.status import Action, Cause
from mailer.feedback.verp import parse_verp

Kind = Literal["hard", "soft", "complaint", "auto-reply", "not-feedback"]
"""What a message is, summed up: ``hard`` (a bounce that proves at least one
address dead), ``soft`` (a bounce that does not: mailbox full, delayed,
blocked by policy...), ``complaint``, ``auto-reply`` or ``not-feedback``
(anything else: a person's reply, a delivery receipt, unreadable bytes)."""


@dataclass(frozen=True, slots=True)
class RecipientReport:
    """One recipient a report is about: the address (lower-cased), what to
    do (:data:`~mailer.feedback.status.Action`), why in a word, the RFC 3463
    status (``"5.1.1"``, ``None`` when the report gives none) and the
    diagnostic text as the report gave it (white space collapsed)."""

    address: str
    action: Action
    cause: Cause
    status: str | None = None
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class Feedback:
    """One feedback message, read.

    ``recipients`` are the addresses the report is about (failed, complained,
    or the one who auto-replied); ``original_message_id`` is the
    ``Message-ID`` of the message that caused it, from the attached or quoted
    original; ``envelope_to`` are the addresses this message was delivered to
    (``X-Original-To``, ``Delivered-To``, ``Envelope-To``, ``To``: where a
    VERP return path shows up), most reliable first; ``original_return_path``
    is the quoted original's ``Return-Path``; ``arf`` the fields of an abuse
    report; ``auto_submitted`` the ``Auto-Submitted`` header; ``reason`` says
    in a sentence why the message was classified so.
    """

    kind: Kind
    reason: str
    recipients: tuple[RecipientReport, ...] = ()
    original_message_id: str | None = None
    envelope_to: tuple[str, ...] = ()
    original_return_path: str | None = None
    arf: ArfReport | None = None
    auto_submitted: str | None = None
    subject: str = ""
    sender: str | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        """The recipients' addresses, in report order."""
        return tuple(report.address for report in self.recipients)

    @property
    def to_suppress(self) -> tuple[str, ...]:
        """The addresses this message says never to mail again (hard bounces
        and complaints)."""
        return tuple(r.address for r in self.recipients if r.action in ("suppress", "complaint"))

    def action(self, address: str) -> Action:
        """What this message means for ``address`` (``ignore`` when it does
        not name it)."""
        wanted = normalise(address)
        return next((r.action for r in self.recipients if r.address == wanted), "ignore")

    def suppresses(self, address: str) -> bool:
        """Whether this message says never to mail ``address`` again."""
        return self.action(address) in ("suppress", "complaint")

    def verp_token(self, return_path: str) -> str | None:
        """The VERP token this message came back with, if it was addressed to
        a VERP form of ``return_path`` (see :mod:`mailer.feedback.verp`).

        >>> Feedback("hard", "", envelope_to=("bounces+abc@shop.test",)).verp_token("bounces@shop.test")
        'abc'
        """
        candidates = (*self.envelope_to, self.original_return_path or "")
        return next((t for t in (parse_verp(a, return_path) for a in candidates if a) if t), None)
