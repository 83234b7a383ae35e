"""tests.support.worlds: every world makes what it claims, and the estimator holds up in a quick one."""

from __future__ import annotations

import numpy as np
import pytest

from mailer.sto.profiles import fit_profiles
from tests.support.worlds import (
    HOURS,
    POLICIES,
    WORLDS,
    World,
    build_world,
    lift_shares,
    loglik_by_bucket,
    policy_hours,
)

SMALL = 2500  # customers per world in these tests


@pytest.fixture(scope="module", params=sorted(WORLDS))
def world(request) -> World:  # type: ignore[no-untyped-def]
    return build_world(WORLDS[request.param], seed=5, customers=SMALL)


def test_worlds_span_the_required_ranges() -> None:
    specs = list(WORLDS.values())
    assert len(specs) >= 5
    assert min(s.mpp_share for s in specs) == 0.0 and max(s.mpp_share for s in specs) >= 0.6
    assert min(s.dormant_share for s in specs) <= 0.1 and max(s.dormant_share for s in specs) >= 0.7
    assert min(s.customers for s in specs) <= 2_000 and max(s.customers for s in specs) >= 100_000
    assert {s.history for s in specs} == {"fixed", "optimised", "random"}
    assert any(s.weekend_share > 0 for s in specs)
    assert any(len({minute for _, minute in s.send_times}) == 1 for s in specs if s.history == "fixed")


def test_mpp_share_is_as_specified(world: World) -> None:
    assert world.population.machine.mean() == pytest.approx(world.spec.mpp_share, abs=0.03)


def test_dormant_share_is_as_specified_and_they_never_open(world: World) -> None:
    dormant = world.population.dormant
    assert dormant.mean() == pytest.approx(world.spec.dormant_share, abs=0.03)
    for sim in (world.train, world.heldout):
        human = ~np.isnan(sim.human_delay)
        assert not human[dormant[sim.customer]].any()


def test_machine_openers_open_at_delivery(world: World) -> None:
    if world.spec.mpp_share == 0:
        assert not world.train.machine_opened.any()
        return
    h = world.history
    machine_rows = world.population.machine[world.train.customer] & (h.open_minute >= 0)
    assert np.mean(h.open_delay[machine_rows] < 10) > 0.8  # the proxy fetches within minutes
    human_rows = ~world.population.machine[world.train.customer] & (h.open_minute >= 0)
    assert np.mean(h.open_delay[human_rows] < 10) < 0.2


def test_oracle_hour_is_the_argmax_of_the_truth(world: World) -> None:
    truth = world.truth
    assert truth.shape == (world.population.n, 24)
    assert (world.oracle_hour == np.argmax(truth, axis=1)).all()
    rows = np.arange(truth.shape[0])
    assert (truth[rows, world.oracle_hour] >= truth.max(axis=1)).all()
    assert (truth[world.population.dormant] == 0).all()
    day = world.spec.campaign_weekday
    assert np.allclose(truth, world.population.open_probability(HOURS, weekday=day))


def test_history_is_sent_as_specified(world: World) -> None:
    spec, sim = world.spec, world.train
    minute = sim.sent_minute.astype(np.int64)
    if spec.history == "fixed":
        offsets = (minute[:, None] - np.array([m for _, m in spec.send_times])[None, :]) % 1440
        assert (offsets.min(axis=1) <= 40).all()  # at a scheduled time, plus up to 40 minutes
    elif spec.history == "optimised":
        first = np.full(world.population.n, -1)
        first[sim.customer[::-1]] = minute[::-1]
        assert (((minute - first[sim.customer]) + 40) % 1440 <= 80).all()  # each customer's own time
        assert len(np.unique(first[first >= 0] // 60)) >= 20  # and those times differ between customers
    else:
        assert np.bincount(minute // 60, minlength=24).min() > 0.6 * len(minute) / 24


def test_a_world_is_the_same_for_the_same_seed() -> None:
    spec = WORLDS["owls"]
    a, b, c = (build_world(spec, seed=s, customers=400) for s in (3, 3, 4))
    assert np.array_equal(a.history.open_minute, b.history.open_minute)
    assert np.array_equal(a.truth, b.truth)
    assert not np.array_equal(a.truth, c.truth)


def test_weekend_different_customers_keep_other_hours_on_weekends() -> None:
    spec = WORLDS["commuters"]
    population = build_world(spec, seed=6, customers=3000).population
    assert population.week is not None
    week = population.week.reshape(-1, 7, 24)
    weekday_peak, saturday_peak = np.argmax(week[:, 2], axis=1), np.argmax(week[:, 5], axis=1)
    moved = np.abs((saturday_peak - weekday_peak + 12) % 24 - 12) >= 2
    assert moved.mean() == pytest.approx(spec.weekend_share, abs=0.08)
    weekday_truth = population.open_probability(HOURS, weekday=2)
    saturday_truth = population.open_probability(HOURS, weekday=5)
    assert np.mean(np.argmax(weekday_truth, axis=1) != np.argmax(saturday_truth, axis=1)) > 0.2


def test_weekday_truth_agrees_with_sends_on_that_weekday() -> None:
    from tests.support.simulate import simulate_history

    population = build_world(WORLDS["commuters"], seed=7, customers=600).population
    sim = simulate_history(population, seed=8, weeks=1, schedule=((5, 600),), jitter_minutes=0)
    sims = [simulate_history(population, seed=s, weeks=1, schedule=((5, 600),), jitter_minutes=0) for s in range(9, 40)]
    opened = np.mean([np.mean(~np.isnan(s.human_delay)) for s in [sim, *sims]])
    customers = np.concatenate([s.customer for s in [sim, *sims]])
    predicted = population.open_probability(np.array([600]), weekday=5)[customers, 0].mean()
    assert opened == pytest.approx(predicted, abs=0.006)
    monday = population.open_probability(np.array([600]), weekday=0)[customers, 0].mean()
    assert abs(monday - predicted) > 0.006  # the weekday matters in this world, so the check above can fail


def test_scores_name_every_policy_and_the_oracle_scores_one(world: World) -> None:
    profiles = fit_profiles(world.history, seed=1)
    hours = policy_hours(world.history, world.truth, profiles)
    shares = lift_shares(world.truth, hours)
    assert tuple(shares) == POLICIES
    assert shares["fixed 10:00"] == 0.0 and shares["oracle"] == pytest.approx(1.0)
    assert all(share <= 1.0 + 1e-12 for share in shares.values())


# --- the estimator in a quick world -------------------------------------------------------


@pytest.fixture(scope="module", params=[("house", 8_000), ("office", 6_000)], ids=["house", "office"])
def quick(request):  # type: ignore[no-untyped-def]
    name, customers = request.param
    world = build_world(WORLDS[name], seed=21, customers=customers)
    return world, fit_profiles(world.history, seed=21)


def test_estimator_captures_most_of_the_oracles_lift(quick) -> None:  # type: ignore[no-untyped-def]
    world, profiles = quick
    shares = lift_shares(world.truth, policy_hours(world.history, world.truth, profiles))
    assert shares["mailer.sto"] >= 0.6
    assert shares["mailer.sto"] > shares["modal open hour"] + 0.15


def test_without_history_profiles_are_no_worse_than_the_prior(quick) -> None:  # type: ignore[no-untyped-def]
    world, profiles = quick
    fits = {fit.label: fit for fit in loglik_by_bucket(profiles, world.heldout)}
    assert fits["0"].engagements > 300
    assert fits["0"].profile >= fits["0"].prior - 1e-4
    assert fits["5-19"].profile > fits["5-19"].prior  # history helps where there is some
