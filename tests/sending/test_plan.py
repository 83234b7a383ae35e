"""Send-time planning: rules, quiet hours across DST changes, caps at plan time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.sending.caps import Sent
from mailer.errors import ConfigError, LocaleError
from mailer.sending.plan import At, BestHour, LocalWindow, QuietHours, plan, send_time

UTC = timezone.utc
ZONES = ["Europe/London", "Europe/Copenhagen", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata"]


def person(rid: str, tz: str) -> SimpleNamespace:
    return SimpleNamespace(id=rid, timezone=tz)


@pytest.mark.parametrize("tz", ZONES)
def test_window_lands_inside_the_local_window(tz: str) -> None:
    rule = LocalWindow(date(2026, 11, 24), time(9), time(11))
    for i in range(50):
        local = send_time(rule, recipient=f"C{i}", timezone=tz).astimezone(ZoneInfo(tz))
        assert time(9) <= local.time() < time(11) and local.date() == date(2026, 11, 24)


def test_window_spread_is_deterministic() -> None:
    rule = LocalWindow(date(2026, 11, 24), time(9), time(11))
    assert send_time(rule, recipient="C1", timezone="UTC") == send_time(rule, recipient="C1", timezone="UTC")


@pytest.mark.parametrize("tz", ZONES)
@given(when=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)))
def test_never_planned_in_quiet_hours(tz: str, when: datetime) -> None:
    planned = send_time(At(when), recipient="C1", timezone=tz)
    assert not QuietHours().contains(planned.astimezone(ZoneInfo(tz)).time())
    assert planned >= when
    assert planned - when < timedelta(hours=12)


def test_quiet_hours_end_respects_spring_forward() -> None:
    # 2026-03-29: Europe/London goes from GMT to BST at 01:00 UTC.
    planned = send_time(At(datetime(2026, 3, 28, 23, 0, tzinfo=UTC)), recipient="C1", timezone="Europe/London")
    assert planned == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 BST


def test_quiet_hours_end_respects_fall_back() -> None:
    planned = send_time(At(datetime(2026, 10, 24, 23, 0, tzinfo=UTC)), recipient="C1", timezone="Europe/London")
    assert planned == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 08:00 GMT


def test_best_hour_with_fallback() -> None:
    rule = BestHour(date(2026, 11, 24), {"C1": 19})
    assert send_time(rule, recipient="C1", timezone="Asia/Tokyo") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert send_time(rule, recipient="C2", timezone="Asia/Tokyo") == datetime(2026, 11, 24, 1, tzinfo=UTC)


def test_no_quiet_hours() -> None:
    when = datetime(2026, 11, 24, 23, tzinfo=UTC)
    assert send_time(At(when), recipient="C1", timezone="UTC", quiet=None) == when


def test_unknown_zone_is_a_locale_error() -> None:
    with pytest.raises(LocaleError):
        send_time(At(datetime(2026, 1, 1, tzinfo=UTC)), recipient="C1", timezone="Mars/Olympus")


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ConfigError):
        At(datetime(2026, 1, 1))


def test_plan_drops_capped_when_asked() -> None:
    when = datetime(2026, 11, 24, 10, tzinfo=UTC)
    history = {"C1": [Sent(when.timestamp() - 60, "promotional")]}
    (planned,) = plan([person("C1", "UTC")], At(when), history=lambda r: history.get(r, []), on_cap="drop")
    assert planned.dropped == "frequency cap: at most 1 in 1 day"


def test_plan_respects_volume_preference() -> None:
    when = datetime(2026, 11, 24, 10, tzinfo=UTC)
    (planned,) = plan([person("C1", "UTC")], At(when), history=lambda r: [], volume=lambda r: "only-important")
    assert planned.dropped == "the customer asked for only important mail"


def test_plan_streams() -> None:
    def endless():  # type: ignore[no-untyped-def]
        i = 0
        while True:
            yield person(f"C{i}", "UTC")
            i += 1

    planned = plan(endless(), At(datetime(2026, 11, 24, 10, tzinfo=UTC)))
    assert next(planned).recipient.id == "C0"
