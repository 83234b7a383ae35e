"""mailer.sto.kernel: the delay kernel, its exposure tables and its estimation."""

from __future__ import annotations

import numpy as np
import pytest

from mailer.sto.kernel import HORIZON, SLOTS, STEP, DelayKernel, hour_of
from mailer.sto.profiles import engagements, responsiveness, usual_send_hour
from tests.support.simulate import simulate_history, simulate_population
from tests.support.worlds import WORLDS, build_world


@pytest.fixture(scope="module")
def simulated():  # type: ignore[no-untyped-def]
    population = simulate_population(3000, seed=41, machine_share=0.0)
    return population, simulate_history(population, seed=42)


def test_default_kernel_matches_published_delays() -> None:
    shares = DelayKernel.default().cumulative_share([60, 360, 1440])
    assert shares == pytest.approx([0.21, 0.50, 0.73], abs=0.01)


def test_exposure_rows_hold_all_the_hazard_mass() -> None:
    kernel = DelayKernel.default()
    mass = kernel.hazard.sum() * STEP / 60
    assert kernel.exposure.shape == (SLOTS, 24)
    assert np.allclose(kernel.exposure.sum(axis=1), mass, rtol=1e-5)
    assert int(np.argmax(kernel.exposure[9 * 6])) == 9  # sent at 09:00: most exposure right away


def test_tail_is_what_remains_after_each_delay() -> None:
    kernel = DelayKernel.default()
    slot, k = 50, 30
    first_part = np.zeros(24)
    np.add.at(first_part, hour_of(slot, np.arange(k)), kernel.hazard[:k] * STEP / 60)
    assert np.allclose(kernel.exposure[slot] - kernel.tail[slot, k], first_part, atol=1e-5)
    assert np.allclose(kernel.tail[:, HORIZON], 0)


def test_estimate_recovers_population_rhythm_and_delays(simulated) -> None:  # type: ignore[no-untyped-def]
    population, sim = simulated
    h = sim.history
    _, _, delay = engagements(h, None)
    kernel = DelayKernel.estimate(h.sent_minute // STEP, delay)
    truth = population.rhythm.mean(axis=0)
    assert np.corrcoef(kernel.rhythm, truth)[0, 1] > 0.97
    # The estimated hazard, under a flat rhythm, puts mass where the true kernel does.
    got = kernel.cumulative_share([60, 360, 1440])
    want = population.kernel.cumulative_share([60, 360, 1440])
    assert got == pytest.approx(want, abs=0.06)


def test_small_histories_fall_back_to_the_published_shape() -> None:
    slot = np.full(20, 9 * 6)
    delay = np.array([5.0, 30.0, np.nan, 600.0] + [np.nan] * 16)
    kernel = DelayKernel.estimate(slot, delay)
    assert kernel.cumulative_share([60, 360, 1440]) == pytest.approx([0.21, 0.50, 0.73], abs=0.05)


def test_weighting_by_responsiveness_keeps_the_kernel_from_fading_too_fast(simulated) -> None:  # type: ignore[no-untyped-def]
    population, sim = simulated
    h = sim.history
    engaged, _, delay = engagements(h, None)
    slot = h.sent_minute // STEP
    want = population.kernel.cumulative_share([60, 360])
    plain = DelayKernel.estimate(slot, delay).cumulative_share([60, 360])
    keen = population.responsiveness / population.responsiveness.mean()
    knowing = DelayKernel.estimate(slot, delay, weight=keen[h.customer]).cumulative_share([60, 360])
    estimated = responsiveness(h.customer, engaged, h.n_customers)[h.customer]
    weighted = DelayKernel.estimate(slot, delay, weight=estimated).cumulative_share([60, 360])
    assert plain[0] - want[0] > 0.01  # the keen leave early: the kernel seems to fade fast
    assert knowing == pytest.approx(want, abs=0.02)
    assert np.abs(weighted - want).max() < np.abs(plain - want).max() / 2


def test_sends_at_each_recipients_good_hour_do_not_shorten_the_kernel() -> None:
    world = build_world(WORLDS["commuters"], seed=3, customers=5000)  # an earlier optimiser's send times
    h = world.history
    _, _, delay = engagements(h, world.population.machine)
    slot = h.sent_minute // STEP
    want = world.population.kernel.cumulative_share([60])[0]
    pooled = DelayKernel.estimate(slot, delay).cumulative_share([60])[0]
    grouped = DelayKernel.estimate(slot, delay, cohort=usual_send_hour(h)[h.customer]).cumulative_share([60])[0]
    assert pooled - want > 0.05  # one shared rhythm credits the kernel with everyone's good hour
    assert abs(grouped - want) < 0.6 * abs(pooled - want)
