"""Recipients and errors in the prose of non-standard bounces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailer.feedback.freetext import (
    MAX_RECIPIENTS,
    found_recipients,
    is_delay_notice,
    quoted_message_id,
    report_region,
    sender_mentions,
    unquote,
)

POSTFIX = """This is the mail system at host mx.shop.test.

<ann@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1
    <ann@example.com>: Recipient address rejected: User unknown (in reply to
    RCPT TO command)
<bob@example.com> (expanded from <Bob.Alias@example.com>): mailbox full
"""

EXIM = """The following address(es) failed:

  ann@example.com
    SMTP error from remote mail server after RCPT TO:<ann@example.com>:
    host mx.example.com [192.0.2.1]: 550 5.1.1 User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <news@shop.test>
Message-Id: <42@shop.test>
To: carol@example.com
"""


def test_postfix_lines_give_each_recipient_its_own_diagnostic() -> None:
    found = dict(found_recipients(POSTFIX))
    assert "550 5.1.1" in found["ann@example.com"] and "mailbox full" not in found["ann@example.com"]


def test_an_expanded_alias_is_reported_as_the_address_we_sent_to() -> None:
    assert [address for address, _ in found_recipients(POSTFIX)] == ["ann@example.com", "bob.alias@example.com"]


def test_exim_s_indented_address_and_error_lines_are_read() -> None:
    assert found_recipients(report_region(EXIM)) == (
        ("ann@example.com", "SMTP error from remote mail server after RCPT TO:<ann@example.com>: host mx.example.com [192.0.2.1]: 550 5.1.1 User unknown"),
    )


def test_the_copy_of_the_original_is_not_read_for_recipients() -> None:
    assert "carol@example.com" not in report_region(EXIM)


def test_the_quoted_original_gives_the_message_id() -> None:
    assert quoted_message_id(EXIM) == "<42@shop.test>"


def test_the_sender_named_in_a_transcript_is_never_a_recipient() -> None:
    text = "  news@shop.test\n  ann@example.com\n    SMTP error after MAIL FROM:<news@shop.test>: 550 denied\n"
    assert [a for a, _ in found_recipients(text)] == ["ann@example.com"]
    assert sender_mentions(text) == {"news@shop.test"}


def test_without_recipient_lines_an_address_after_rcpt_to_is_taken() -> None:
    text = " In:  RCPT TO:<ann@example.com> ORCPT=rfc822;ann@example.com\n Out: 451 4.3.0 Error\n"
    assert [a for a, _ in found_recipients(text)] == ["ann@example.com"]


def test_without_any_structure_any_address_but_the_ignored_ones_is_taken() -> None:
    text = "Mail to bounces@shop.test could not be delivered: mailbox full for ann@example.com."
    assert [a for a, _ in found_recipients(text, ignore={"Bounces@shop.test"})] == ["ann@example.com"]


def test_mailer_daemon_addresses_are_never_recipients() -> None:
    assert found_recipients("MAILER-DAEMON@mx.example.com\npostmaster@example.com:\n") == ()


def test_a_long_list_of_addresses_is_cut() -> None:
    text = "\n".join(f"<user{i}@example.com>: 550 user unknown" for i in range(MAX_RECIPIENTS * 3))
    assert len(found_recipients(text)) == MAX_RECIPIENTS


def test_delay_warnings_are_recognised_by_subject_or_text() -> None:
    assert is_delay_notice("Warning: message 1abc delayed 24 hours", "")
    assert is_delay_notice("Undelivered Mail", "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #")
    assert not is_delay_notice("failure notice", "This is a permanent error; I've given up.")


def test_one_level_of_quoting_is_removed() -> None:
    assert unquote("> <ann@example.com>\n> > deeper\n") == "<ann@example.com>\n> deeper\n"


@given(st.text(max_size=3000))
def test_any_text_is_read_without_error(text: str) -> None:
    region = report_region(text)
    for address, context in found_recipients(region, ignore={"a@b.c"}):
        assert "@" in address and address == address.lower()
    quoted_message_id(text)
