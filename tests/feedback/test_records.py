"""The Feedback record: what a store asks of it."""

from __future__ import annotations

import dataclasses

import pytest

from mailer.feedback.records import Feedback, RecipientReport
from mailer.feedback.verp import VerpSigner, verp_address

FEEDBACK = Feedback(
    kind="hard",
    reason="a delivery status report (RFC 3464): 1 of 3 recipient(s) have a bad address",
    recipients=(
        RecipientReport("ann@example.com", "suppress", "bad-mailbox", "5.1.1", "550 5.1.1 User unknown"),
        RecipientReport("bob@example.com", "count-soft", "mailbox-full", "5.2.2", "552 5.2.2 Mailbox full"),
        RecipientReport("eve@example.com", "ignore", "policy", "5.7.1", "550 5.7.1 blocked"),
    ),
    envelope_to=("bounces@shop.test",),
)


def test_each_recipient_has_its_action_whatever_the_case_asked() -> None:
    assert [FEEDBACK.action(a) for a in ("ANN@example.com", "bob@example.com", "eve@example.com")] == ["suppress", "count-soft", "ignore"]


def test_an_address_the_report_does_not_name_is_ignored() -> None:
    assert FEEDBACK.action("carol@example.com") == "ignore"
    assert not FEEDBACK.suppresses("carol@example.com")


def test_only_hard_bounces_and_complaints_suppress() -> None:
    assert FEEDBACK.to_suppress == ("ann@example.com",)
    complaint = Feedback("complaint", "", (RecipientReport("dan@example.com", "complaint", "complaint"),))
    assert complaint.suppresses("dan@example.com")


def test_the_verp_token_is_found_in_the_envelope_or_the_original_return_path() -> None:
    token = VerpSigner(b"k" * 32).token("<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>")
    address = verp_address("bounces@shop.test", token)
    assert dataclasses.replace(FEEDBACK, envelope_to=("bounces@shop.test", address)).verp_token("bounces@shop.test") == token
    assert dataclasses.replace(FEEDBACK, original_return_path=address).verp_token("bounces@shop.test") == token
    assert FEEDBACK.verp_token("bounces@shop.test") is None


def test_the_record_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FEEDBACK.kind = "soft"  # type: ignore[misc]
