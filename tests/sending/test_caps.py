"""Frequency-cap arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.sending.caps import DAY, WEEK, Caps, Sent, Window, check
from mailer.errors import ConfigError


def test_daily_cap_and_its_retry_time() -> None:
    verdict = check([Sent(100.0, "promotional")], now=200.0, message_class="promotional")
    assert not verdict.allowed and verdict.retry_at == 100.0 + DAY


def test_weekly_cap() -> None:
    history = [Sent(d * DAY, "promotional") for d in range(3)]
    assert not check(history, now=3.5 * DAY, message_class="promotional").allowed
    assert check(history, now=7 * DAY + 1, message_class="promotional").allowed


def test_lifecycle_is_not_crowded_out_by_promotional() -> None:
    history = [Sent(0.0, "promotional")]
    assert check(history, now=60.0, message_class="lifecycle").allowed


def test_lifecycle_counts_against_promotional() -> None:
    history = [Sent(0.0, "lifecycle")]
    assert not check(history, now=60.0, message_class="promotional").allowed


def test_transactional_neither_capped_nor_counted() -> None:
    history = [Sent(float(i), "transactional") for i in range(10)]
    assert check(history, now=60.0, message_class="transactional").allowed
    assert check(history, now=60.0, message_class="promotional").allowed


@pytest.mark.parametrize(("volume", "allowed_after"), [("weekly", WEEK), ("monthly", 30 * DAY)])
def test_volume_dial(volume: str, allowed_after: float) -> None:
    history = [Sent(0.0, "promotional")]
    caps = Caps(windows=())
    assert not check(history, now=allowed_after - 1, message_class="promotional", volume=volume, caps=caps).allowed
    assert check(history, now=allowed_after + 1, message_class="promotional", volume=volume, caps=caps).allowed


def test_only_important_keeps_lifecycle() -> None:
    assert check([], now=0.0, message_class="lifecycle", volume="only-important").allowed
    verdict = check([], now=0.0, message_class="promotional", volume="only-important")
    assert not verdict.allowed and verdict.retry_at is None


@pytest.mark.parametrize("bad", [{"message_class": "spam"}, {"volume": "loud"}])
def test_unknown_names_are_config_errors(bad: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        check([], now=0.0, **{"message_class": "promotional", **bad})  # type: ignore[arg-type]


def test_window_validation() -> None:
    with pytest.raises(ConfigError):
        Window(0, 1)


@settings(max_examples=60, deadline=None)
@given(
    attempts=st.lists(st.floats(min_value=0, max_value=30 * DAY, allow_nan=False), max_size=60),
    limit_day=st.integers(1, 3),
    limit_week=st.integers(1, 8),
)
def test_greedy_sender_never_exceeds_any_window(attempts: list[float], limit_day: int, limit_week: int) -> None:
    caps = Caps(windows=(Window(DAY, limit_day), Window(WEEK, limit_week)))
    sent: list[Sent] = []
    for at in sorted(attempts):
        if check(sent, now=at, message_class="promotional", caps=caps).allowed:
            sent.append(Sent(at, "promotional"))
    times = [s.at for s in sent]
    for window in caps.windows:
        for t in times:
            assert sum(1 for u in times if t - window.seconds < u <= t) <= window.limit


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(st.integers(min_value=0, max_value=10 * 86400), max_size=20),
    now=st.integers(min_value=0, max_value=10 * 86400),
)
def test_retry_at_is_when_the_cap_allows(history: list[int], now: int) -> None:
    sent = [Sent(float(at), "promotional") for at in history if at <= now]
    verdict = check(sent, now=float(now), message_class="promotional")
    if not verdict.allowed:
        assert verdict.retry_at is not None and verdict.retry_at > now
        assert check(sent, now=verdict.retry_at, message_class="promotional").allowed


def test_a_message_stamped_after_now_counts() -> None:
    """A claim whose clock is behind (skew, or it waited for the customer's lock) still sees it."""
    verdict = check([Sent(1.0, "promotional")], now=0.5, message_class="promotional")
    assert not verdict.allowed and verdict.retry_at == 1.0 + DAY


@settings(max_examples=80, deadline=None)
@given(
    checks=st.lists(st.floats(min_value=0, max_value=10 * DAY, allow_nan=False), max_size=40),
    limit_day=st.integers(1, 3),
    limit_week=st.integers(1, 8),
)
def test_checks_out_of_time_order_never_exceed_any_window(checks: list[float], limit_day: int, limit_week: int) -> None:
    """Claimers whose clocks disagree check in any order; what they let through still fits every window."""
    caps = Caps(windows=(Window(DAY, limit_day), Window(WEEK, limit_week)))
    sent: list[Sent] = []
    for at in checks:  # not sorted: each check reads its own clock
        if check(sent, now=at, message_class="promotional", caps=caps).allowed:
            sent.append(Sent(at, "promotional"))
    times = [s.at for s in sent]
    for window in caps.windows:
        for t in times:
            assert sum(1 for u in times if t - window.seconds < u <= t) <= window.limit
