"""Reading real bounces, complaints and auto-replies, and hostile mail.

The corpus (``bounces/`` of the shared test material, read through
``shared_path``) holds messages as real servers and providers write them:
``dsn/rfc3464-*`` (standard delivery status reports), ``dsn/lhost-<server>-*``
(each server's own form), ``dsn/arf-*`` (abuse reports), ``dsn/rfc3834-*``
(automatic replies), and ``not-bounces/`` (mail that looks like a bounce).
"""

from __future__ import annotations

import json
import time
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.feedback.parse import parse_feedback
from mailer.feedback.records import Feedback
from tests.conftest import SHARED, shared_path

KINDS = ("hard", "soft", "complaint", "auto-reply", "not-feedback")


def _corpus(*prefixes: str) -> list[str]:
    """The corpus files whose ``folder/name`` starts with one of ``prefixes``
    (listed when tests are collected; without the shared material, one
    placeholder, so that each test runs and ``shared_path`` skips it with
    its reason)."""
    names = sorted(f"{p.parent.name}/{p.name}" for p in (SHARED / "bounces").glob("*/*.eml"))
    return [name for name in names if name.startswith(prefixes)] or [f"{prefixes[0]}(absent)"]


FILES = _corpus("dsn/", "not-bounces/")
NOT_BOUNCES = _corpus("not-bounces/")
BOUNCES = _corpus("dsn/rfc3464-", "dsn/lhost-")
ABUSE_REPORTS = _corpus("dsn/arf-")
AUTO_REPLIES = _corpus("dsn/rfc3834-")

NOT_A_FAILURE = {
    # Action "deliverable", Status 2.1.5 for both recipients: a success report.
    "dsn/rfc3464-28.eml": "not-feedback",
    # Amazon SES notifications by mail: a complaint ("notificationType":
    # "Complaint", feedback type abuse) and two delivery notices ("Delivery").
    "dsn/lhost-amazonses-11.eml": "complaint",
    "dsn/lhost-amazonses-12.eml": "not-feedback",
    "dsn/lhost-amazonses-13.eml": "not-feedback",
}
NOT_A_COMPLAINT = {
    # Feedback-Type: auth-failure (RFC 6591 DMARC/DKIM failure reports about the
    # sending domain): nobody asked to stop receiving mail.
    "dsn/arf-18.eml": "not-feedback",
    "dsn/arf-19.eml": "not-feedback",
    "dsn/arf-20.eml": "not-feedback",
}


@cache
def parsed(name: str) -> Feedback:
    return parse_feedback((shared_path("bounces") / name).read_bytes())


def test_the_corpus_is_there() -> None:
    root = shared_path("bounces")
    assert len(list(root.glob("dsn/*.eml"))) == 337 and NOT_BOUNCES


@pytest.mark.parametrize("name", FILES)
def test_every_message_is_read(name: str) -> None:
    feedback = parsed(name)
    assert feedback.kind in KINDS and feedback.reason


@pytest.mark.parametrize("name", NOT_BOUNCES)
def test_mail_that_looks_like_a_bounce_suppresses_nobody(name: str) -> None:
    assert parsed(name).to_suppress == ()


@pytest.mark.parametrize("name", [name for name in BOUNCES if name not in NOT_A_FAILURE])
def test_a_bounce_is_hard_or_soft_and_names_who_failed(name: str) -> None:
    feedback = parsed(name)
    assert feedback.kind in ("hard", "soft") and feedback.recipients


@pytest.mark.parametrize(("name", "kind"), sorted({**NOT_A_FAILURE, **NOT_A_COMPLAINT}.items()))
def test_the_listed_exceptions_are_what_they_are(name: str, kind: str) -> None:
    assert parsed(name).kind == kind


@pytest.mark.parametrize("name", [name for name in ABUSE_REPORTS if name not in NOT_A_COMPLAINT])
def test_an_abuse_report_is_a_complaint(name: str) -> None:
    assert parsed(name).kind == "complaint"


@pytest.mark.parametrize("name", AUTO_REPLIES)
def test_an_automatic_reply_is_one_and_suppresses_nobody(name: str) -> None:
    feedback = parsed(name)
    assert feedback.kind == "auto-reply" and feedback.to_suppress == ()


@pytest.mark.parametrize("name", BOUNCES)
def test_a_bounce_is_hard_exactly_when_it_suppresses_someone(name: str) -> None:
    feedback = parsed(name)
    assert (feedback.kind == "hard") == any(r.action == "suppress" for r in feedback.recipients)


# Read by hand: the recipients, status codes and Message-ID each file holds.
SPOT_CHECKS = [
    ("dsn/lhost-qmail-01.eml", "hard", {"kijitora@example.ne.jp": ("5.5.0", "suppress")}, "<000000000.9999999999999.JavaMail.postmaster@mailhub>"),
    ("dsn/lhost-gmail-01.eml", "hard", {"userunknown@example.jp": ("5.1.1", "suppress")}, "<D992C2C3-F175-4C4D-97E2-53A90E4E5BF5@gmail.com>"),
    ("dsn/lhost-exim-01.eml", "soft", {"kijitora@example.ed.jp": ("5.7.0", "ignore")}, "<E1P1ce6-000Egt-GZ@e1.example.org>"),
    ("dsn/lhost-yahoo-01.eml", "hard", {"kijitora@example.org": ("5.1.1", "suppress")}, "<6AE6249A-E7A8-4980-862C-F499F6B8E7C5@y.example.co.jp>"),
    (
        "dsn/lhost-opensmtpd-17.eml",
        "hard",
        {"userunknown@libsisimai.net": ("5.1.1", "suppress"), "mailboxfull@libsisimai.net": ("5.2.2", "count-soft")},
        "<74f4ebf4e64e4266@df.example.jp>",
    ),
    ("dsn/rfc3464-01.eml", "hard", {"userunknown@bouncehammer.jp": ("5.1.1", "suppress")}, "<E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org>"),
    ("dsn/rfc3464-34.eml", "soft", {"kijitora@example.com": ("4.4.1", "count-soft")}, "<20170429233445.FFFFFFFF02@smtp.neko.example.org>"),
    (
        "dsn/lhost-office365-02.eml",
        "hard",
        {"kijitora@example.onmicrosoft.com": ("5.1.1", "suppress")},
        "<c302b7e8-9b97-40ef-90eb-313cc6c25133@NYAAAAN.example.org>",
    ),
    ("dsn/lhost-exim-38.eml", "soft", {"kijitora@example.co.jp": (None, "ignore")}, None),
    (
        "dsn/lhost-postfix-13.eml",
        "hard",
        {"kijitora@example.jp": ("5.2.1", "suppress"), "noraneko@example.jp": ("5.2.2", "count-soft")},
        "<20150213024748.CEEDB20C16@2jo.example.jp>",
    ),
    (
        "dsn/lhost-amazonses-09.eml",
        "hard",
        {"bounce@simulator.amazonses.com": ("5.1.1", "suppress")},
        "<01010157e48f9b9b-891e9a0e-9c9d-4773-9bfe-608f2ef4756d-000000@email.amazonses.com>",
    ),
    ("dsn/lhost-sendmail-14.eml", "hard", {"kijitora@example.com": ("5.1.1", "suppress")}, "<200904290210.00000000000000@mx.example.jp>"),
    ("dsn/lhost-qmail-08.eml", "soft", {"shironeko@example.ad.jp": (None, "count-soft")}, None),
    ("dsn/lhost-postfix-01.eml", "hard", {"kijitora@example.org": ("5.1.1", "suppress")}, None),
    ("dsn/arf-22.eml", "complaint", {"kijitora@example.com": (None, "complaint")}, "<0000000000fffffffff0000000000000@example.com>"),
    ("not-bounces/rb-issue-368-bug.eml", "soft", {"xxxx@yyyyyy.net": (None, "count-soft")}, "<68e0b7e3615cd_1dc7010592ed@7cf4d87f87-9r5w2.mail>"),
]


@pytest.mark.parametrize(("name", "kind", "recipients", "message_id"), SPOT_CHECKS, ids=[c[0] for c in SPOT_CHECKS])
def test_a_hand_read_message_gives_what_it_says(
    name: str, kind: str, recipients: dict[str, tuple[str | None, str]], message_id: str | None
) -> None:
    feedback = parsed(name)
    assert feedback.kind == kind
    assert {r.address: (r.status, r.action) for r in feedback.recipients} == recipients
    assert feedback.original_message_id == message_id


def test_a_qmail_bounce_names_the_address_it_was_delivered_to() -> None:
    assert parsed("dsn/lhost-qmail-01.eml").envelope_to == ("nekochan@example.jp",)


def test_a_delivery_report_saying_delivered_is_not_feedback() -> None:
    assert "delivered" in parsed("dsn/rfc3464-28.eml").reason


def test_an_abuse_report_carries_its_fields() -> None:
    arf = parsed("dsn/arf-01.eml").arf
    assert arf is not None
    assert (arf.feedback_type, arf.user_agent, arf.source_ip, arf.reported_domain) == ("abuse", "SMP-FBL", "192.0.2.89", "example.ed.jp")


def test_an_authentication_failure_report_is_not_a_complaint() -> None:
    feedback = parsed("dsn/arf-18.eml")
    assert feedback.arf is not None and feedback.arf.feedback_type == "auth-failure"


def test_an_amazon_ses_complaint_names_the_complainant() -> None:
    feedback = parsed("dsn/lhost-amazonses-11.eml")
    assert feedback.to_suppress == ("complaint@simulator.amazonses.com",)


def test_an_apple_mail_unsubscribe_request_is_an_opt_out_complaint() -> None:
    feedback = parsed("dsn/arf-26.eml")
    assert feedback.arf is not None and feedback.arf.feedback_type == "opt-out"
    assert feedback.to_suppress == ("example@icloud.com",)


def test_an_out_of_office_reply_says_why() -> None:
    assert "Automatic reply" in parsed("dsn/rfc3834-02.eml").reason


def test_exim_s_auto_submitted_bounce_is_a_bounce_not_an_auto_reply() -> None:
    assert parsed("dsn/lhost-exim-01.eml").auto_submitted == "auto-replied"


def test_a_returned_message_without_a_report_is_soft_at_most() -> None:
    feedback = parsed("dsn/lhost-postfix-64.eml")
    assert [(r.address, r.action) for r in feedback.recipients] == [("xxxx@wanadoo.fr", "count-soft")]


BOUNCE = b"""From: MAILER-DAEMON@mx.example.com
To: bounces+tok@shop.test
Subject: failure notice

Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.

<ann@example.com>:
Sorry, no mailbox here by that name. (#5.1.1)
"""


def test_a_person_quoting_report_fields_is_not_a_bounce() -> None:
    raw = (
        b"From: Ann <ann@example.com>\nTo: shop@shop.test\nSubject: Re: your mail\n\n"
        b"Your server said:\nFinal-Recipient: rfc822; bob@example.com\nAction: failed\nStatus: 5.1.1\n"
    )
    assert parse_feedback(raw).kind == "not-feedback"


def test_unparseable_bytes_are_not_feedback_with_a_reason() -> None:
    feedback = parse_feedback(b"\x00\xff" * 100)
    assert feedback.kind == "not-feedback" and feedback.reason


@pytest.fixture(scope="module")
def hostile() -> list[str]:
    return json.loads(shared_path("hostile/blns.json").read_text(encoding="utf-8"))


def _mails(text: str) -> list[bytes]:
    """``text`` in every place a bounce reader looks."""
    value = text.encode("utf-8", "surrogateescape")
    return [
        b"Subject: " + value + b"\nFrom: " + value + b"\nTo: " + value + b"\nX-Failed-Recipients: " + value + b"\n\n" + value,
        b"From: MAILER-DAEMON@mx.example.com\nSubject: Undelivered Mail Returned to Sender\nAuto-Submitted: " + value + b"\n\n<" + value + b">:\n" + value + b"\n",
        BOUNCE + value + b"\n--- Below this line is a copy of the message.\n\nMessage-ID: " + value + b"\nTo: " + value + b"\n",
        (
            b"From: MAILER-DAEMON@mx.example.com\nContent-Type: multipart/report; report-type=delivery-status; boundary=XX\n\n"
            b"--XX\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; " + value + b"\n\nFinal-Recipient: rfc822; " + value
            + b"\nAction: " + value + b"\nStatus: " + value + b"\nDiagnostic-Code: smtp; " + value + b"\n\n--XX\nContent-Type: message/rfc822\n\n"
            b"Message-ID: " + value + b"\nReturn-Path: " + value + b"\n\n" + value + b"\n--XX--\n"
        ),
        (
            b"From: fbl@example.net\nContent-Type: multipart/report; report-type=feedback-report; boundary=XX\n\n"
            b"--XX\nContent-Type: message/feedback-report\n\nFeedback-Type: " + value + b"\nOriginal-Rcpt-To: " + value
            + b"\nSource-IP: " + value + b"\n\n--XX\nContent-Type: text/rfc822-headers\n\nTo: " + value + b"\nMessage-ID: " + value + b"\n--XX--\n"
        ),
        b"From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n{\"notificationType\":\"Bounce\",\"bounce\":" + json.dumps({"bouncedRecipients": [{"emailAddress": text, "status": text, "diagnosticCode": text}], "bounceType": text}).encode() + b"}\n",
    ]


def test_hostile_strings_anywhere_never_make_the_reader_raise(hostile: list[str]) -> None:
    for text in hostile:
        for raw in _mails(text):
            feedback = parse_feedback(raw)
            assert feedback.kind in KINDS, (text, feedback.reason)
            assert all(r.address == r.address.lower() for r in feedback.recipients)


@pytest.mark.parametrize("name", FILES[::17])
def test_a_truncated_message_never_makes_the_reader_raise(name: str) -> None:
    data = (shared_path("bounces") / name).read_bytes()
    for end in range(0, len(data), max(1, len(data) // 40)):
        assert parse_feedback(data[:end]).kind in KINDS


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_are_read_without_error(data: bytes) -> None:
    assert parse_feedback(data).kind in KINDS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_in_a_bounce_is_read_without_error(text: str) -> None:
    feedback = parse_feedback(BOUNCE + text.encode("utf-8", "surrogatepass"))
    assert feedback.kind in ("hard", "soft")


PATHOLOGICAL = {
    "a line of dashes": b"-" * 200_000,
    "lines of dashes": (b"-" * 80 + b"\n") * 3_000,
    "one long word": b"a" * 200_000,
    "address fragments": b"a@b." * 60_000,
    "repeated report fields": b"Final-Recipient: rfc822; a@b.cd\nAction: failed\n" * 5_000,
    "repeated aliases": b"a@b.cd (expanded from " * 10_000,
    "white space": b" \t" * 100_000,
}


@pytest.mark.parametrize("body", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_text_is_read_in_bounded_time(body: bytes) -> None:
    started = time.perf_counter()
    parse_feedback(b"From: MAILER-DAEMON@mx.example.com\nSubject: Undelivered Mail Returned to Sender\n\n" + body)
    assert time.perf_counter() - started < 5.0
