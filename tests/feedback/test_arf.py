"""RFC 5965 abuse reports: which feedback types are complaints."""

from __future__ import annotations

import pytest

from mailer.feedback.arf import is_complaint, read_report

REPORT = """Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces+abc@shop.test>
Original-Rcpt-To: <Ann@Example.com>
Original-Rcpt-To: bob@example.com
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Reported-Domain: shop.test
Source-IP: 192.0.2.1
"""


def test_the_fields_a_store_needs_are_read() -> None:
    report = read_report(REPORT)
    assert report.feedback_type == "abuse"
    assert report.user_agent == "SomeGenerator/1.0"
    assert report.original_mail_from == "bounces+abc@shop.test"
    assert report.arrival_date == "Thu, 8 Mar 2005 14:00:00 EDT"
    assert (report.reported_domain, report.source_ip) == ("shop.test", "192.0.2.1")


def test_every_original_recipient_is_kept_normalised() -> None:
    assert read_report(REPORT).original_rcpt_to == ("ann@example.com", "bob@example.com")


def test_the_early_draft_s_field_names_are_understood() -> None:
    report = read_report("Feedback-Type: abuse\nReceived-Date: Thu, 29 Apr 2009\nRemoval-Recipient: ann@example.com\n")
    assert (report.arrival_date, report.original_rcpt_to) == ("Thu, 29 Apr 2009", ("ann@example.com",))


@pytest.mark.parametrize("kind", ["abuse", "fraud", "virus", "other", "opt-out", "Abuse ", ""])
def test_these_feedback_types_are_complaints(kind: str) -> None:
    assert is_complaint(kind)


@pytest.mark.parametrize("kind", ["not-spam", "auth-failure", "Not-Spam"])
def test_these_feedback_types_are_not_complaints(kind: str) -> None:
    assert not is_complaint(kind)
