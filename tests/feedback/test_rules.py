"""What feedback does to the mail we send: matching, judging, runs of soft
bounces and complaint rates, as pure rules (no store)."""

from __future__ import annotations

import pytest

from mailer.content.mime import message_id
from mailer.errors import ConfigError
from mailer.feedback import Feedback, RecipientReport, VerpSigner, parse_feedback
from mailer.feedback.rules import (
    DAY,
    ComplaintCount,
    ComplaintRate,
    FeedbackPolicy,
    Lookup,
    Sent,
    SentMessage,
    complaint_rates,
    find_message,
    judge,
    message_key,
    pause_reason,
    soft_bounce_run,
    unreadable,
    verp_sender,
    with_soft_bounce,
)
from tests.support.bounce_mail import SIGNER, arf, delay, dsn, out_of_office, soft, verp

MID = message_id("autumn", "C1", "shop.test")
ANN = SentMessage(7, "autumn", "C1", "Ann@Example.com", MID, "sent", 1000.0)


def report(address: str, action: str = "suppress", cause: str = "bad-mailbox", status: str | None = "5.1.1") -> RecipientReport:
    return RecipientReport(address, action, cause, status)  # type: ignore[arg-type]


# -- matching ----------------------------------------------------------------------------------------


def test_a_bounce_to_the_verp_address_names_the_message_it_is_about() -> None:
    lookup = find_message(parse_feedback(dsn("ann@example.com", MID, to=verp(MID))), SIGNER)
    assert (lookup.by, lookup.key) == ("verp", message_key(MID))


def test_a_complaint_is_matched_by_the_return_path_of_the_original_it_attaches() -> None:
    lookup = find_message(parse_feedback(arf("ann@example.com", MID, return_path=verp(MID))), SIGNER)
    assert (lookup.by, lookup.key) == ("verp", message_key(MID))


def test_a_token_signed_with_another_key_names_no_message() -> None:
    forged = verp(MID, VerpSigner(b"someone-elses-key-0123456789abcdef"))
    lookup = find_message(parse_feedback(dsn("ann@example.com", MID, to=forged)), SIGNER)
    assert lookup.by is None and "does not verify" in lookup.note


def test_a_bounce_without_a_verp_address_is_not_matched_by_its_message_id() -> None:
    lookup = find_message(parse_feedback(dsn("ann@example.com", MID, to=None)), SIGNER)
    assert lookup.by is None and lookup.key is None


def test_a_complaint_without_a_verp_address_is_looked_up_by_its_message_id() -> None:
    lookup = find_message(parse_feedback(arf("ann@example.com", MID, return_path=None)), SIGNER)
    assert (lookup.by, lookup.key, lookup.message_id) == ("message-id", message_key(MID), MID)


def test_a_return_path_whose_own_local_part_has_a_plus_still_matches() -> None:
    address = verp_sender("shop+bounces@shop.test", MID, SIGNER)
    lookup = find_message(Feedback("hard", "", envelope_to=(address,)), SIGNER)
    assert (lookup.by, lookup.key) == ("verp", message_key(MID))


def test_message_key_is_the_lower_cased_left_part() -> None:
    assert message_key(MID.upper()) == message_key(MID) == MID[1:].partition("@")[0]
    assert message_key("<>") is None and message_key(None) is None


# -- judging -----------------------------------------------------------------------------------------


def test_a_hard_bounce_for_the_messages_address_suppresses() -> None:
    feedback = Feedback("hard", "a bounce", (report("ann@example.com"),))
    verdict = judge(feedback, Lookup("verp", message_key(MID)), ANN)
    assert (verdict.action, verdict.address, verdict.matched, verdict.status) == ("suppress", "ann@example.com", "verp", "5.1.1")


def test_a_hard_bounce_about_another_address_counts_as_soft_only() -> None:
    """A forward's bounce: the message's own address was not proved bad."""
    feedback = Feedback("hard", "a bounce", (report("ann@forwarded.example"),))
    assert judge(feedback, Lookup("verp", message_key(MID)), ANN).action == "count-soft"


def test_a_complaint_that_withholds_the_address_still_counts() -> None:
    feedback = Feedback("complaint", "an abuse report", (report("redacted@isp.example", "complaint", "complaint", None),))
    assert judge(feedback, Lookup("verp", message_key(MID)), ANN).action == "complaint"


@pytest.mark.parametrize("kind", ["auto-reply", "not-feedback"])
def test_auto_replies_and_other_mail_change_nothing(kind: str) -> None:
    feedback = Feedback(kind, "not a bounce", (report("ann@example.com", "ignore", "auto-reply", None),))  # type: ignore[arg-type]
    assert judge(feedback, Lookup("verp", message_key(MID)), ANN).action == "ignore"


def test_an_auto_reply_to_the_verp_address_is_ignored() -> None:
    feedback = parse_feedback(out_of_office("ann@example.com", to=verp(MID)))
    assert judge(feedback, find_message(feedback, SIGNER), ANN).action == "ignore"


def test_nothing_is_done_when_the_store_has_no_such_message() -> None:
    feedback = Feedback("hard", "a bounce", (report("ann@example.com"),))
    verdict = judge(feedback, Lookup("verp", "00"), None)
    assert (verdict.action, verdict.matched, verdict.address) == ("ignore", None, "ann@example.com")


def test_a_complaint_by_message_id_counts_only_from_the_messages_own_address() -> None:
    lookup = Lookup("message-id", message_key(MID), MID)
    own = Feedback("complaint", "abuse", (report("ann@example.com", "complaint", "complaint", None),), original_message_id=MID)
    other = Feedback("complaint", "abuse", (report("bob@example.com", "complaint", "complaint", None),), original_message_id=MID)
    assert (judge(own, lookup, ANN).action, judge(own, lookup, ANN).matched) == ("complaint", "message-id")
    assert (judge(other, lookup, ANN).action, judge(other, lookup, ANN).matched) == ("ignore", None)


def test_a_complaint_by_message_id_about_a_message_never_sent_counts_for_nothing() -> None:
    lookup = Lookup("message-id", message_key(MID), MID)
    own = Feedback("complaint", "abuse", (report("ann@example.com", "complaint", "complaint", None),), original_message_id=MID)
    queued = SentMessage(7, "autumn", "C1", "ann@example.com", MID, "queued", 0.0)
    assert judge(own, lookup, queued).action == "ignore"


def test_a_bounce_with_a_message_id_alone_suppresses_nobody() -> None:
    feedback = parse_feedback(dsn("ann@example.com", MID, to=None))
    assert judge(feedback, find_message(feedback, SIGNER), ANN).action == "ignore"


def test_unreadable_files_are_told_apart_from_mail_that_is_no_feedback() -> None:
    assert unreadable(Feedback("not-feedback", "the message could not be parsed: ValueError: x"))
    assert not unreadable(parse_feedback(b"Subject: hello\n\nhi\n"))


# -- soft bounces ------------------------------------------------------------------------------------


def history(*outcomes: tuple[float, str]) -> list[Sent]:
    return [Sent(i, day * DAY, outcome) for i, (day, outcome) in enumerate(outcomes)]  # type: ignore[arg-type]


def test_three_soft_bounces_over_eight_days_make_a_run() -> None:
    assert soft_bounce_run(history((0, "soft"), (4, "soft"), (8, "soft"))) == (
        "3 soft bounces over 8 days with no delivery in between")


def test_two_soft_bounces_do_not() -> None:
    assert soft_bounce_run(history((0, "soft"), (8, "soft"))) is None


def test_three_soft_bounces_within_a_few_days_do_not() -> None:
    assert soft_bounce_run(history((0, "soft"), (1, "soft"), (2, "soft"))) is None


def test_a_delivery_in_between_starts_the_run_again() -> None:
    assert soft_bounce_run(history((0, "soft"), (4, "soft"), (6, "delivered"), (8, "soft"))) is None
    assert soft_bounce_run(history((0, "delivered"), (1, "soft"), (5, "soft"), (9, "soft"))) is not None


def test_a_message_sent_after_the_latest_bounce_is_not_in_between() -> None:
    assert soft_bounce_run(history((0, "soft"), (4, "soft"), (8, "soft"), (9, "delivered"))) is not None


def test_the_run_is_configurable() -> None:
    runs = history((0, "soft"), (1, "soft"))
    assert soft_bounce_run(runs, FeedbackPolicy(soft_bounces=2, soft_bounce_days=1)) is not None
    assert soft_bounce_run(runs, FeedbackPolicy(soft_bounces=2, soft_bounce_days=2)) is None


def test_with_soft_bounce_marks_the_message_once_and_adds_one_not_yet_listed() -> None:
    listed = history((0, "delivered"), (4, "hard"))
    assert [s.outcome for s in with_soft_bounce(listed, 0, 0.0)] == ["soft", "hard"]
    assert [s.outcome for s in with_soft_bounce(listed, 1, 4 * DAY)] == ["delivered", "hard"]
    assert [(s.delivery, s.outcome) for s in with_soft_bounce(listed, 9, DAY)] == [(0, "delivered"), (9, "soft"), (1, "hard")]


# -- complaint rates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("complaints", "level"), [(0, "ok"), (1, "ok"), (2, "warning"), (3, "warning"), (4, "pause")])
def test_complaint_rate_levels_at_1000_delivered(complaints: int, level: str) -> None:
    assert ComplaintRate("campaign", "autumn", complaints, 1000).level(FeedbackPolicy()) == level


def test_a_rate_is_not_judged_before_enough_mail_was_delivered_and_says_so() -> None:
    rate = ComplaintRate("campaign", "autumn", 50, 999)
    assert rate.level(FeedbackPolicy()) == "not-judged"
    assert "fewer than the 1,000 a rate is judged on" in rate.describe(FeedbackPolicy())
    assert rate.level(FeedbackPolicy(min_delivered=500)) == "pause"


def test_rates_per_campaign_and_per_sending_domain() -> None:
    rates = complaint_rates([ComplaintCount("a", "shop.test", 600, 1), ComplaintCount("b", "shop.test", 600, 2),
                             ComplaintCount("c", "news.test", 50, 0)])  # fmt: skip
    assert [(r.scope, r.name, r.complaints, r.delivered) for r in rates] == [
        ("campaign", "a", 1, 600), ("campaign", "b", 2, 600), ("campaign", "c", 0, 50),
        ("domain", "news.test", 0, 50), ("domain", "shop.test", 3, 1200)]  # fmt: skip


def test_a_campaign_is_paused_for_its_own_rate_or_its_domains() -> None:
    counts = [ComplaintCount("a", "shop.test", 1000, 2), ComplaintCount("b", "shop.test", 1000, 5),
              ComplaintCount("c", "news.test", 5000, 3)]  # fmt: skip
    assert "complaint rate 0.5%" in (pause_reason("b", counts) or "")
    assert "sending domain shop.test" in (pause_reason("a", counts) or "")
    assert pause_reason("c", counts) is None


@pytest.mark.parametrize("options", [{"soft_bounces": 0}, {"soft_bounce_days": -1}, {"warn_rate": 2.0},
                                     {"warn_rate": 0.01}, {"min_delivered": 0}])  # fmt: skip
def test_a_policy_out_of_range_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        FeedbackPolicy(**options)  # type: ignore[arg-type]


def test_a_delay_warning_and_a_full_mailbox_are_soft() -> None:
    for data in (delay("ann@example.com", MID, to=verp(MID)), soft("ann@example.com", MID, to=verp(MID))):
        feedback = parse_feedback(data)
        assert judge(feedback, find_message(feedback, SIGNER), ANN).action == "count-soft"
