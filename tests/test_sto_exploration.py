"""mailer.sto.exploration: exploration draws and their propensities."""

from __future__ import annotations

import numpy as np

from mailer.sto.exploration import draw_hours, excluding, prior_distribution, propensity, thompson_distribution
from mailer.sto.kernel import DelayKernel


def test_prior_distribution_keeps_every_allowed_hour_possible() -> None:
    allowed = np.ones((1, 24), bool)
    allowed[0, :7] = False
    q = prior_distribution(np.r_[np.zeros(12), np.ones(12)][None, :], allowed)
    assert np.isclose(q.sum(), 1) and (q[0, 7:] > 0).all() and (q[0, :7] == 0).all()


def test_draws_follow_the_distribution() -> None:
    rng = np.random.default_rng(0)
    q = excluding(np.tile(np.linspace(1, 2, 24) / np.linspace(1, 2, 24).sum(), (100000, 1)), np.full(100000, 5))
    hours = draw_hours(rng, q)
    freq = np.bincount(hours, minlength=24) / hours.size
    assert freq[5] == 0 and np.allclose(freq, q[0], atol=0.005)


def test_policy_propensities_sum_to_one_over_hours() -> None:
    q = excluding(np.full((1, 24), 1 / 24), np.array([9]))
    per_hour = [propensity(0.1, q, np.array([h != 9]), np.array([h]))[0] for h in range(24)]
    assert np.isclose(sum(per_hour), 1.0) and np.isclose(per_hour[9], 0.9)


def test_thompson_prefers_hours_the_posterior_favours() -> None:
    rng = np.random.default_rng(1)
    kernel = DelayKernel.default()
    rates = np.tile(np.r_[np.full(18, 0.01), np.full(6, 0.05)], (50, 1))
    exposure = np.tile(kernel.exposure[::6][None, :, :], (50, 1, 1))
    q = thompson_distribution(rates, np.full(50, 20.0), exposure, np.ones((50, 24), bool), rng, draws=64)
    assert np.allclose(q.sum(axis=1), 1) and (q > 0).all()
    assert q[:, 16:24].sum(axis=1).mean() > 0.8
