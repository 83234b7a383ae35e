"""tests.support.simulate: the simulator reproduces the published open-delay figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.support.simulate import simulate_history, simulate_population


@pytest.fixture(scope="module")
def simulated():  # type: ignore[no-untyped-def]
    population = simulate_population(4000, seed=81)
    return population, simulate_history(population, seed=82)


def test_open_delays_match_published_figures(simulated) -> None:  # type: ignore[no-untyped-def]
    _, sim = simulated
    delays = sim.human_delay[~np.isnan(sim.human_delay)]
    shares = [(delays < m).mean() for m in (60, 360, 1440)]
    assert shares == pytest.approx([0.21, 0.50, 0.73], abs=0.03)


def test_machine_opens_are_a_large_share_of_recorded_opens(simulated) -> None:  # type: ignore[no-untyped-def]
    _, sim = simulated
    recorded = (sim.history.open_minute >= 0).sum()
    assert 0.3 < sim.machine_opened.sum() / recorded < 0.5


def test_true_open_probability_agrees_with_simulated_sends() -> None:
    population = simulate_population(400, seed=83)
    sim = simulate_history(population, seed=84, random_times=40)
    predicted = population.open_probability(np.arange(0, 1440, 10))[sim.customer, sim.sent_minute // 10]
    opened = ~np.isnan(sim.human_delay)
    assert abs(predicted.mean() - opened.mean()) < 0.01


def test_histories_round_trip_through_csv(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mailer.sto.history import read_history

    sim = simulate_history(simulate_population(30, seed=85), seed=86, flag_share=0.5)
    path = tmp_path / "history.csv"
    sim.write_csv(path)
    again = read_history(path)
    for name in ("customer", "sent_minute", "open_minute", "click_minute", "machine_open"):
        assert getattr(again, name).tolist() == getattr(sim.history, name).tolist(), name


def test_a_rhythm_repeated_every_day_of_the_week_is_the_daily_rhythm() -> None:
    population = simulate_population(300, seed=87)
    weekly = dataclasses.replace(population, week=np.tile(population.rhythm, (1, 7)))
    daily_sim, weekly_sim = simulate_history(population, seed=88), simulate_history(weekly, seed=88)
    assert np.array_equal(np.isnan(daily_sim.human_delay), np.isnan(weekly_sim.human_delay))
    assert np.allclose(np.nan_to_num(daily_sim.human_delay), np.nan_to_num(weekly_sim.human_delay))
    minutes = np.arange(0, 1440, 10)
    assert np.allclose(population.open_probability(minutes), weekly.open_probability(minutes, weekday=4))


def test_dormant_people_never_open_but_their_proxies_do() -> None:
    population = simulate_population(2000, seed=89, dormant_share=0.5, machine_share=0.5)
    assert population.dormant.mean() == pytest.approx(0.5, abs=0.04)
    sim = simulate_history(population, seed=90)
    dormant_rows = population.dormant[sim.customer]
    assert np.isnan(sim.human_delay[dormant_rows]).all()
    assert sim.machine_opened[dormant_rows].any()  # Mail Privacy Protection fetches every message


def test_an_earlier_optimisers_send_minutes_replace_the_schedules() -> None:
    population = simulate_population(200, seed=91)
    own = np.arange(200) * 7 % 1440
    sim = simulate_history(population, seed=92, schedule=((0, 0), (3, 0)), send_minute=own, jitter_minutes=0)
    assert (sim.sent_minute == own[sim.customer]).all()
