"""Amazon SES notifications by mail, bare or in an SNS envelope."""

from __future__ import annotations

import json
from typing import Any

from mailer.feedback.ses import ses_feedback

BOUNCE: dict[str, Any] = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bouncedRecipients": [
            {"emailAddress": "Ann <ann@example.com>", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
            {"emailAddress": "bob@example.com", "status": "5.2.2", "diagnosticCode": "smtp; 552 5.2.2 mailbox full"},
        ],
    },
    "mail": {"messageId": "0101-abc"},
}


def test_a_permanent_bounce_suppresses_only_the_bad_address() -> None:
    feedback = ses_feedback(json.dumps(BOUNCE))
    assert feedback is not None and feedback.kind == "hard"
    assert [(r.address, r.status, r.action) for r in feedback.recipients] == [
        ("ann@example.com", "5.1.1", "suppress"),
        ("bob@example.com", "5.2.2", "count-soft"),
    ]


def test_a_transient_bounce_suppresses_nobody() -> None:
    transient = {**BOUNCE, "bounce": {**BOUNCE["bounce"], "bounceType": "Transient"}}
    feedback = ses_feedback(json.dumps(transient))
    assert feedback is not None and feedback.kind == "soft" and feedback.to_suppress == ()


def test_a_notification_in_an_sns_envelope_folded_by_sns_is_read() -> None:
    envelope = json.dumps({"Type": "Notification", "Message": json.dumps(BOUNCE)})
    folded = envelope[:40] + "!\n " + envelope[40:]
    feedback = ses_feedback("\n" + folded + "\n--\nIf you wish to stop receiving notifications...")
    assert feedback is not None and feedback.to_suppress == ("ann@example.com",)


def test_a_complaint_names_the_complainant() -> None:
    notice = {"notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "ann@example.com"}], "complaintFeedbackType": "abuse"}}
    feedback = ses_feedback(json.dumps(notice))
    assert feedback is not None and feedback.kind == "complaint" and feedback.to_suppress == ("ann@example.com",)


def test_a_delivery_notification_is_not_feedback() -> None:
    feedback = ses_feedback(json.dumps({"notificationType": "Delivery", "delivery": {"recipients": ["ann@example.com"]}}))
    assert feedback is not None and feedback.kind == "not-feedback"


def test_the_caller_s_message_id_wins_over_the_ses_one() -> None:
    feedback = ses_feedback(json.dumps(BOUNCE), original_message_id="<42@shop.test>")
    assert feedback is not None and feedback.original_message_id == "<42@shop.test>"


def test_text_that_is_not_a_notification_gives_none() -> None:
    for text in ("", "{", "{}", '{"Type": "Notification", "Message": "not json"}', "[1, 2]", "{" * 100_000):
        assert ses_feedback(text) is None


def test_wrongly_typed_fields_are_skipped() -> None:
    notice = {"notificationType": "Bounce", "bounce": {"bouncedRecipients": [1, None, {"emailAddress": 5}], "bounceType": []}, "mail": []}
    feedback = ses_feedback(json.dumps(notice))
    assert feedback is not None and feedback.recipients == ()
