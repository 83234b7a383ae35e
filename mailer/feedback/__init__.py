"""Feedback that comes back as mail: bounces, complaints and auto-replies.

Messages leave with a VERP return path (:mod:`~mailer.feedback.verp`), so
whatever comes back names the message it is about. :func:`parse_feedback`
reads one returned message into a :class:`Feedback` (pure: bytes in, record
out); :func:`read_maildir` reads a whole Maildir of them. What each
recipient's report means is decided by :mod:`~mailer.feedback.status`, in
step with how :mod:`mailer.transports.replies` judges live SMTP replies.

``parse`` ties together one module per kind of report: ``dsn`` (RFC 3464),
``arf`` (RFC 5965), ``autoreply`` (RFC 3834), ``freetext`` (servers' prose)
and ``ses`` (Amazon SES notifications), over ``message`` (a message taken
apart), ``fields`` (report field blocks) and ``addresses``. ``records``
holds the :class:`Feedback` record, ``maildir`` the one edge that reads
files.

What feedback then does to the mail we send is decided by ``rules`` (pure:
matching by VERP token, suppressing, runs of soft bounces, complaint rates)
and applied to a store by ``apply`` (:class:`FeedbackBatch`).
"""

from __future__ import annotations

from mailer.feedback.apply import CampaignPaused, FeedbackBatch
from mailer.feedback.arf import ArfReport
from mailer.feedback.maildir import mark_processed, read_maildir
from mailer.feedback.parse import parse_feedback
from mailer.feedback.records import Feedback, Kind, RecipientReport
from mailer.feedback.rules import FeedbackPolicy, verp_sender
from mailer.feedback.status import Action, Cause
from mailer.feedback.verp import VerpSigner, parse_verp, verp_address

__all__ = [
    "Action",
    "ArfReport",
    "CampaignPaused",
    "Cause",
    "Feedback",
    "FeedbackBatch",
    "FeedbackPolicy",
    "Kind",
    "RecipientReport",
    "VerpSigner",
    "mark_processed",
    "parse_feedback",
    "parse_verp",
    "read_maildir",
    "verp_address",
    "verp_sender",
]
