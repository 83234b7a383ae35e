"""Lifecycle programmes: welcome and lapsed series, durable positions, idempotent daily runs."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from mailer.errors import ConfigError
from mailer.personalise.programme_store import ProgrammeStore, run_day
from mailer.personalise.programmes import LAPSED, REACTIVATION, WELCOME, Programme, Step

START = date(2026, 1, 5)


def daily(store: ProgrammeStore, programme: Programme, days: int, **kwargs) -> dict[str, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    out = {}
    for offset in range(days):
        today = START + timedelta(days=offset)
        entrants = kwargs.get("entrants", []) if offset == 0 else []
        purchases = [(c, d) for c, d in kwargs.get("purchases", []) if d <= today]
        sends = run_day(store, programme, today=today, entrants=entrants, last_purchases=purchases)
        if sends:
            out[today.isoformat()] = sends
    return out


def test_welcome_series_is_three_content_emails_then_graduation() -> None:
    store = ProgrammeStore(":memory:")
    sent = daily(store, WELCOME, 14, entrants=["new"])
    assert sent == {
        "2026-01-05": [("new", "welcome-1")],
        "2026-01-08": [("new", "welcome-2")],
        "2026-01-12": [("new", "welcome-3")],
    }
    assert all(step.kind == "content" for step in WELCOME.steps)
    assert store.with_status("welcome", "graduated") == ["new"]


def test_lapsed_programme_three_attempts_then_an_offer_then_non_target() -> None:
    store = ProgrammeStore(":memory:")
    sent = daily(store, LAPSED, 80, entrants=["gone"])
    steps = [s for day in sent.values() for _, s in day]
    assert steps == ["reactivation-1", "reactivation-2", "reactivation-3", "offer"]
    assert (date.fromisoformat(list(sent)[2]) - START).days == 42  # three attempts over six weeks
    assert store.with_status("lapsed", "non_target") == ["gone"]


def test_a_purchase_ends_the_lapsed_programme() -> None:
    store = ProgrammeStore(":memory:")
    sent = daily(store, LAPSED, 80, entrants=["back"], purchases=[("back", START + timedelta(days=30))])
    assert [s for day in sent.values() for _, s in day] == ["reactivation-1", "reactivation-2"]
    assert store.with_status("lapsed", "converted") == ["back"]


def test_non_targets_stay_out_unless_reactivation_picks_them_up() -> None:
    store = ProgrammeStore(":memory:")
    daily(store, LAPSED, 80, entrants=["gone"])
    later = START + timedelta(days=400)
    assert run_day(store, LAPSED, today=later, entrants=["gone"]) == []
    again = run_day(store, REACTIVATION, today=later, entrants=store.with_status("lapsed", "non_target"))
    assert again == [("gone", "reactivation-offer")]


def test_positions_survive_a_restart_and_a_rerun_sends_nothing_new(tmp_path: Path) -> None:
    path = tmp_path / "state" / "programmes.sqlite"
    store = ProgrammeStore(path)
    assert run_day(store, WELCOME, today=START, entrants=["a", "b"]) == [("a", "welcome-1"), ("b", "welcome-1")]
    store.close()
    reopened = ProgrammeStore(path)
    assert run_day(reopened, WELCOME, today=START, entrants=["a", "b"]) == [("a", "welcome-1"), ("b", "welcome-1")]
    assert reopened.connection.execute("SELECT count(*) FROM programme_sends").fetchone()[0] == 2
    assert run_day(reopened, WELCOME, today=START + timedelta(days=3)) == [("a", "welcome-2"), ("b", "welcome-2")]


def test_a_missed_day_catches_up_one_step_at_a_time() -> None:
    store = ProgrammeStore(":memory:")
    run_day(store, WELCOME, today=START, entrants=["a"])
    assert run_day(store, WELCOME, today=START + timedelta(days=9)) == [("a", "welcome-2")]
    assert run_day(store, WELCOME, today=START + timedelta(days=10)) == []  # min gap of two days
    assert run_day(store, WELCOME, today=START + timedelta(days=11)) == [("a", "welcome-3")]


def test_programme_steps_must_be_in_order() -> None:
    with pytest.raises(ConfigError):
        Programme("bad", steps=(Step("a", 3), Step("b", 3)), end_day=5)
