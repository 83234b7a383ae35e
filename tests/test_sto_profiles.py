"""mailer.sto.profiles: the traps a real history sets, one test each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mailer.errors import ConfigError
from mailer.sto.profiles import GRID, SOURCES, Shrinkage, fit_profiles
from tests.support.simulate import Population, simulate_history, simulate_population
from tests.support.worlds import WORLDS, build_world


def evening_people(n: int, seed: int, **kwargs: object) -> Population:
    """Everyone most active around 20:00-21:00 local time, and somewhat all day."""
    population = simulate_population(n, seed=seed, **kwargs)  # type: ignore[arg-type]
    hours = np.arange(24) + 0.5
    rhythm = 0.5 + np.exp(2 * (np.cos((hours - 20.5) * 2 * np.pi / 24) - 1))
    rhythm = np.tile(rhythm / rhythm.mean(), (n, 1))
    return dataclasses.replace(population, rhythm=rhythm)


def open_hours(history) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``(customers, 24)`` counts of recorded opens by local hour."""
    opened = history.open_minute >= 0
    key = history.customer[opened].astype(np.int64) * 24 + history.open_minute[opened] // 60
    return np.bincount(key, minlength=history.n_customers * 24).reshape(-1, 24)


@pytest.fixture(scope="module")
def morning_sends():  # type: ignore[no-untyped-def]
    population = evening_people(3000, seed=61, machine_share=0.0)
    return population, simulate_history(population, seed=62, schedule=((0, 540), (2, 540), (4, 540)))


def test_exposure_bias_opens_after_sending_are_not_a_habit(morning_sends) -> None:  # type: ignore[no-untyped-def]
    population, sim = morning_sends
    assert int(np.argmax(open_hours(sim.history).sum(axis=0))) == 9  # what "modal open hour" would learn
    profiles = fit_profiles(sim.history)
    population_peak = int(np.argmax(profiles.population_rates))
    assert population_peak in (19, 20, 21)
    engaged = profiles.engagements >= 5
    personal_peaks = np.argmax(profiles.distribution()[engaged], axis=1)
    assert np.isin(personal_peaks, [19, 20, 21, 22]).mean() > 0.8


def test_without_exposure_normalisation_the_send_hour_wins(morning_sends) -> None:  # type: ignore[no-untyped-def]
    _, sim = morning_sends
    naive = fit_profiles(sim.history, exposure=False, shrinkage=Shrinkage())
    assert int(np.argmax(naive.population_rates)) in (9, 10)


@pytest.fixture(scope="module")
def machine_heavy():  # type: ignore[no-untyped-def]
    population = evening_people(3000, seed=63, machine_share=0.4)
    return population, simulate_history(population, seed=64, schedule=((0, 540), (3, 540)))


def test_machine_opens_do_not_make_a_morning_person(machine_heavy) -> None:  # type: ignore[no-untyped-def]
    population, sim = machine_heavy
    careful = fit_profiles(sim.history, shrinkage=Shrinkage())
    machines = population.machine
    assert careful.machine[machines].mean() > 0.95
    fooled_peak = np.argmax(open_hours(sim.history)[machines], axis=1)
    careful_peak = np.argmax(careful.distribution()[machines], axis=1)
    assert (fooled_peak == 9).mean() > 0.9  # proxy fetches seconds after each 09:00 send
    assert np.isin(careful_peak, [18, 19, 20, 21, 22, 23]).mean() > 0.9  # clicks and the prior say evening
    clicks = np.bincount(sim.history.customer, weights=sim.history.click_minute >= 0, minlength=population.n)
    detected = careful.machine
    assert (careful.engagements[detected] == clicks[detected]).all()  # learnt from clicks only


@pytest.fixture(scope="module")
def mixed():  # type: ignore[no-untyped-def]
    population = simulate_population(6000, seed=65)
    return population, simulate_history(population, seed=66)


def test_shrinkage_is_tuned_on_held_out_messages(mixed) -> None:  # type: ignore[no-untyped-def]
    _, sim = mixed
    profiles = fit_profiles(sim.history, seed=3)
    tuning = profiles.tuning
    assert tuning is not None and tuning.validation_engagements >= 500
    for level in ("zone", "segment", "personal", "bandwidth"):
        curve = tuning.curves[level]
        assert [value for value, _ in curve] == list(GRID[level])
    best_personal = max(tuning.curves["personal (again)"], key=lambda item: item[1])[0]
    assert profiles.shrinkage.personal == best_personal
    best_bandwidth = max(tuning.curves["bandwidth"], key=lambda item: item[1])[0]
    assert profiles.shrinkage.bandwidth == best_bandwidth
    # Personal data help: the best profiles beat the best segment prior, which has none.
    # (The strongest personal strength is no longer "no personal data": the customer's own
    # engagements also choose the habits their prior is drawn from.)
    personal = dict(tuning.curves["personal (again)"])
    assert personal[best_personal] > max(score for _, score in tuning.curves["segment"]) + 0.05


def test_sparse_customers_get_their_segment_prior(mixed) -> None:  # type: ignore[no-untyped-def]
    _, sim = mixed
    profiles = fit_profiles(sim.history, shrinkage=Shrinkage())
    silent = np.flatnonzero(profiles.engagements == 0)
    assert silent.size > 100
    assert set(profiles.source[silent].tolist()) == {SOURCES.index("segment")}
    prior = profiles.prior_rates(silent)
    prior = prior / prior.sum(axis=1, keepdims=True)
    got = profiles.distribution()[silent]
    # Never-engaged customers still carry exposure (no opens at 9 and 18), nothing else.
    assert np.corrcoef(got.ravel(), prior.ravel())[0, 1] > 0.95
    assert (profiles.confidence(silent) == 0).all()
    busy = profiles.engagements >= 20
    assert (profiles.confidence()[busy] > 0.7).all()


def test_profiles_are_learnt_in_local_time(mixed) -> None:  # type: ignore[no-untyped-def]
    population, sim = mixed
    profiles = fit_profiles(sim.history, shrinkage=Shrinkage())
    zones = np.array(profiles.zones)[profiles.customer_zone]
    london = profiles.distribution()[zones == "Europe/London"].mean(axis=0)
    new_york = profiles.distribution()[zones == "America/New_York"].mean(axis=0)
    # The same habits (in local time) in zones five hours apart: the profiles line up unshifted.
    assert np.corrcoef(london, new_york)[0, 1] > 0.9
    assert np.corrcoef(london, np.roll(new_york, 5))[0, 1] < 0.6


def test_distribution_rows_sum_to_one_and_unknown_customers_get_the_population(mixed) -> None:  # type: ignore[no-untyped-def]
    _, sim = mixed
    profiles = fit_profiles(sim.history, shrinkage=Shrinkage())
    rows = profiles.distribution(["c0000010", "not-a-customer"])
    assert np.allclose(rows.sum(axis=1), 1)
    assert np.allclose(rows[1], profiles.population_rates / profiles.population_rates.sum())
    assert profiles.rows(["c0000010", "zz"]).tolist() == [10, -1]


def test_two_evening_opens_make_an_evening_person_among_morning_people() -> None:
    population = simulate_population(6000, seed=91, machine_share=0.0)
    rng = np.random.default_rng(92)
    evening = rng.random(population.n) < 0.2  # four in five are morning people
    peak = np.where(evening, 20.0, 8.0) + rng.normal(0, 0.7, population.n)
    hours = np.arange(24) + 0.5
    rhythm = 0.05 + np.exp(6 * (np.cos((hours[None, :] - peak[:, None]) * 2 * np.pi / 24) - 1))
    population = dataclasses.replace(population, rhythm=rhythm / rhythm.mean(axis=1, keepdims=True))
    sim = simulate_history(population, seed=93, schedule=((0, 720), (2, 720), (4, 720)))  # noon: no hint
    profiles = fit_profiles(sim.history, seed=94)
    h = sim.history
    opened = h.open_minute >= 0
    late = np.bincount(h.customer[opened], weights=h.open_minute[opened] >= 17 * 60, minlength=h.n_customers)
    few_late = (profiles.engagements >= 1) & (profiles.engagements <= 2) & (late == profiles.engagements) & evening
    assert few_late.sum() > 100
    best = np.argmax(profiles.engagement_probability(np.arange(24) * 60)[few_late], axis=1)
    # The segment is mostly morning people, but one or two evening opens already fit the evening habit.
    assert np.mean((best >= 16) & (best <= 22)) > 0.8


def test_zones_share_the_population_rhythm_when_their_people_are_alike() -> None:
    world = build_world(WORLDS["office"], seed=4, customers=4000)  # three zones, the same habits
    assert fit_profiles(world.history, seed=4).shrinkage.zone == float("inf")


def test_zones_keep_a_rhythm_of_their_own_when_their_people_keep_other_hours() -> None:
    population = simulate_population(4000, seed=95)
    american = np.char.startswith(np.array(population.zones)[population.zone], "America/")
    rhythm = population.rhythm.copy()
    rhythm[american] = np.roll(rhythm[american], 5, axis=1)  # everything five hours later
    sim = simulate_history(dataclasses.replace(population, rhythm=rhythm), seed=96)
    assert fit_profiles(sim.history, seed=7).shrinkage.zone < 1e4


def test_options_are_validated() -> None:
    history = simulate_history(simulate_population(20, seed=1), seed=2).history
    with pytest.raises(ConfigError):
        fit_profiles(history, machine="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        fit_profiles(history, validation_share=1.5)
    with pytest.raises(ConfigError):
        Shrinkage(bandwidth=30)
    with pytest.raises(ConfigError):
        Shrinkage(personal=float("inf"))  # a customer's own engagements always count
    assert Shrinkage(zone=float("inf")).zone == float("inf")
