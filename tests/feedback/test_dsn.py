"""RFC 3464 delivery status fields, including the ways real reports break them."""

from __future__ import annotations

from mailer.feedback.dsn import read_delivery_status

REPORT = """Reporting-MTA: dns; mx.shop.test
Original-Envelope-Id: 884e51a6
Arrival-Date: Wed, 16 Oct 2013 14:15:34 +0900

Original-Recipient: rfc822;Ann@Example.com
Final-Recipient: rfc822; ann@mail.example.com
Action: failed
Status: 5.0.0 (permanent failure)
Diagnostic-Code: smtp; 550 5.1.1 <ann@mail.example.com>... User
    unknown

Final-Recipient: rfc822; bob@example.com
Action: delayed
Status: 4.4.1
"""


def test_per_message_fields_are_read() -> None:
    report = read_delivery_status(REPORT)
    assert (report.reporting_mta, report.original_envelope_id) == ("dns; mx.shop.test", "884e51a6")


def test_each_recipient_group_is_one_recipient() -> None:
    assert [r.final_recipient for r in read_delivery_status(REPORT).recipients] == ["ann@mail.example.com", "bob@example.com"]


def test_the_original_recipient_is_the_address_we_sent_to() -> None:
    assert read_delivery_status(REPORT).recipients[0].address == "ann@example.com"


def test_a_generic_status_gives_way_to_the_diagnostic_s_specific_one() -> None:
    assert read_delivery_status(REPORT).recipients[0].status == "5.1.1"


def test_a_folded_diagnostic_is_unfolded() -> None:
    assert read_delivery_status(REPORT).recipients[0].diagnostic == "smtp; 550 5.1.1 <ann@mail.example.com>... User unknown"


def test_recipients_without_a_blank_line_between_them_are_split() -> None:
    text = "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.0.0\nFinal-Recipient: rfc822; b@example.com\nAction: failed\nStatus: 5.2.2\n"
    assert [(r.address, r.status) for r in read_delivery_status(text).recipients] == [("a@example.com", "5.0.0"), ("b@example.com", "5.2.2")]


def test_final_before_original_recipient_stays_one_recipient() -> None:
    text = "Final-Recipient: rfc822; a@mail.example.com\nOriginal-Recipient: rfc822;a@example.com\nAction: delayed\nStatus: 4.4.1\n"
    assert [r.address for r in read_delivery_status(text).recipients] == ["a@example.com"]


def test_a_made_up_success_action_with_a_2xx_status_is_a_success() -> None:
    text = "Final-Recipient: rfc822; a@example.com\nAction: deliverable\nStatus: 2.1.5\n"
    recipient = read_delivery_status(text).recipients[0]
    assert recipient.action is None and recipient.succeeded


def test_fields_pasted_among_prose_are_found() -> None:
    text = "----- Transcript of session follows -----\n554 <a@example.com>... Service unavailable\nReporting-MTA: dns; mx\n\nFinal-Recipient: RFC822; <a@example.com>\nAction: failed\nStatus: 5.5.0\n"
    assert [(r.address, r.action, r.status) for r in read_delivery_status(text).recipients] == [("a@example.com", "failed", "5.5.0")]


def test_text_without_fields_has_no_recipients() -> None:
    assert read_delivery_status("Dear customer,\nthanks: we got it.\n").recipients == ()
