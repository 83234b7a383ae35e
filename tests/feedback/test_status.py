"""What a failed recipient's status and diagnostic mean: one row of the table per case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.feedback.status import best_status, find_reply_code, find_status, judge
from mailer.transports.replies import Reply, classify


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        ("5.1.1", "550 5.1.1 <ann@example.com>... User unknown", ("suppress", "bad-mailbox")),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", ("suppress", "bad-mailbox")),
        ("5.1.6", "550 5.1.6 recipient no longer on server", ("suppress", "bad-mailbox")),
        ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", ("suppress", "bad-mailbox")),
        ("5.0.0", "550 Unknown user ann@example.com", ("suppress", "bad-mailbox")),
        (None, "Sorry, no mailbox here by that name. (#5.1.1)", ("suppress", "bad-mailbox")),
        (None, "550 Requested action not taken: mailbox unavailable", ("suppress", "bad-mailbox")),
        ("5.0.0", "The email account that you tried to reach does not exist.", ("suppress", "bad-mailbox")),
        (None, "host mx.example.com said: 550 no (in reply to RCPT TO command)", ("suppress", "bad-mailbox")),
    ],
)
def test_a_bad_address_is_suppressed(status: str | None, text: str, expected: tuple[str, str]) -> None:
    assert judge(status, text) == expected


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("5.7.1", "550 5.7.1 Message rejected as spam"),
        ("5.7.1", "550 5.7.1 <ann@example.com>: Recipient address rejected: User unknown"),
        ("5.7.26", "550-5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy"),
        ("5.0.0", "554 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=192.0.2.225"),
        ("5.1.0", "550 5.1.0 192.0.2.222 is not allowed to send from <example.net> per it's SPF Record"),
        ("5.1.0", "5.1.0 - Unknown address error 550-'5.7.1 <x@bounces.example>... Access denied'"),
        ("4.7.0", "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred"),
        ("5.2.1", "550-5.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages"),
    ],
)
def test_a_policy_rejection_never_suppresses_nor_counts(status: str, text: str) -> None:
    assert judge(status, text) == ("ignore", "policy")


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("5.2.2", "552 5.2.2 Mailbox full"),
        ("4.2.2", "452 4.2.2 over quota"),
        ("5.0.0", "552 Error: disk quota exceeded"),
        ("5.1.1", "550 5.1.1 mailbox is full"),
        (None, "User's mailbox is full: <ann@example.com>"),
    ],
)
def test_a_full_mailbox_is_soft_whatever_its_code(status: str | None, text: str) -> None:
    assert judge(status, text) == ("count-soft", "mailbox-full")


@pytest.mark.parametrize(
    ("status", "text", "cause"),
    [
        ("5.6.0", "554 5.6.0 Headers too large", "content"),
        ("5.2.3", "552 5.2.3 Message size exceeds fixed maximum message size", "content"),
        ("5.1.8", "553 5.1.8 Domain of sender address does not exist", "sender"),
        ("5.1.0", "SMTP error after MAIL FROM:<news@shop.test>: 553 5.1.0 shop.test does not exist", "sender"),
    ],
)
def test_a_failure_about_our_message_or_sender_is_ignored(status: str, text: str, cause: str) -> None:
    assert judge(status, text) == ("ignore", cause)


@pytest.mark.parametrize(
    ("status", "text", "cause"),
    [
        ("4.4.1", "connect to mx.example.com[192.0.2.2]:25: No route to host", "temporary"),
        ("4.1.1", "450 4.1.1 <ann@example.com>: Recipient address rejected: User unknown", "temporary"),
        ("5.3.0", "554 5.3.0 Other mail system problem", "system"),
        ("5.4.4", "Host or domain name not found", "network"),
        (None, "Domain does not exist", "network"),
        ("5.5.0", "554 Transaction failed", "unknown"),
        (None, "retry timeout exceeded", "unknown"),
    ],
)
def test_other_failures_count_as_soft(status: str | None, text: str, cause: str) -> None:
    assert judge(status, text) == ("count-soft", cause)


def test_a_delay_warning_never_suppresses() -> None:
    assert judge("5.1.1", "550 5.1.1 user unknown", temporary=True) == ("count-soft", "temporary")


@pytest.mark.parametrize(
    ("code", "enhanced", "text"),
    [
        (550, "5.1.1", "5.1.1 no such user"),
        (550, "5.2.1", "5.2.1 mailbox disabled"),
        (550, "5.7.1", "5.7.1 blocked"),
        (452, "4.2.2", "4.2.2 mailbox full"),
        (554, "5.3.0", "5.3.0 system problem"),
    ],
)
def test_a_bounce_by_mail_suppresses_exactly_when_the_live_reply_would(code: int, enhanced: str, text: str) -> None:
    live = classify(Reply(code, enhanced, text, stage="rcpt"))
    assert (judge(enhanced, f"{code} {text}")[0] == "suppress") == live.suppress


def test_ip_addresses_and_versions_are_not_status_codes() -> None:
    assert find_status("host mx.example.com[192.0.2.153] (Exim 4.72) 4.4.4.4") is None


def test_a_status_code_is_found_in_qmail_notation() -> None:
    assert find_status("Sorry, no mailbox here by that name. (#5.1.1)") == "5.1.1"


def test_a_successful_status_is_skipped_when_failures_are_asked_for() -> None:
    assert find_status("250 2.1.5 Ok 550 5.1.1 no", classes="45") == "5.1.1"


def test_reply_codes_in_multiline_replies_are_found() -> None:
    assert find_reply_code("550-5.7.1 [192.0.2.1] blocked") == 550


def test_a_specific_status_wins_over_a_generic_one_of_the_same_class() -> None:
    assert best_status("5.0.0", "5.1.1") == "5.1.1"
    assert best_status("5.0.0", "4.4.1") == "5.0.0"


@given(st.one_of(st.none(), st.from_regex(r"[245]\.\d{1,3}\.\d{1,3}", fullmatch=True)), st.text(max_size=300), st.booleans())
def test_judge_answers_for_any_input(status: str | None, text: str, temporary: bool) -> None:
    action, cause = judge(status, text, temporary=temporary)
    assert action in ("suppress", "count-soft", "ignore")
    assert not (temporary and action == "suppress")
