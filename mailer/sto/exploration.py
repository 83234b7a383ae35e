"""Exploration: sending some messages at other hours so that learning goes on.

If every message goes out at the estimated best hour, the history only ever
shows that hour and the estimate can never be corrected.  A configurable
share of recipients is therefore sent at an hour drawn at random:

``prior``
    from the recipient's segment prior, half mixed with a uniform choice
    among the allowed hours, so every allowed hour keeps some chance;
``thompson``
    Thompson sampling: the hour that is best under rates drawn from the
    recipient's posterior (a Gamma per hour, moment-matched to the profile).
    The chance of each hour under that procedure is estimated from
    ``draws`` posterior draws, and the hour is then drawn from exactly that
    estimate, so the recorded propensity is the true one.

An exploratory draw never lands on the hour the recipient would get anyway
(that hour's chance is moved to the others), so the probability that the
whole policy — explore with probability ``share``, else exploit — picks an
hour is exactly ``1 - share`` for the exploit hour and ``share * q(hour)``
for any other, and is recorded with each send so that later evaluation can
weight outcomes without bias.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ExplorationMode = Literal["prior", "thompson"]


def prior_distribution(prior_scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``(n, 24)`` exploration probabilities: half prior-proportional, half uniform over allowed hours.

    >>> q = prior_distribution(np.array([[3.0, 1.0, 0.0, 9.0]]), np.array([[True, True, True, False]]))
    >>> q.round(3).tolist()
    [[0.542, 0.292, 0.167, 0.0]]
    """
    scores = np.where(allowed, np.maximum(prior_scores, 0.0), 0.0)
    count = allowed.sum(axis=1, keepdims=True)
    total = scores.sum(axis=1, keepdims=True)
    uniform = np.where(allowed, 1.0 / np.maximum(count, 1), 0.0)
    proportional = np.where(total > 0, scores / np.where(total > 0, total, 1.0), uniform)
    return 0.5 * proportional + 0.5 * uniform


def thompson_distribution(
    rates: np.ndarray,
    strength: np.ndarray,
    exposure: np.ndarray,
    allowed: np.ndarray,
    rng: np.random.Generator,
    *,
    draws: int = 64,
) -> np.ndarray:
    """``(n, 24)`` estimated Thompson-sampling probabilities over candidate hours.

    ``rates`` ``(n, 24)`` are posterior means worth ``strength`` ``(n,)``
    engagements; ``exposure`` ``(n, 24 candidates, 24 hours)`` is the
    kernel exposure of each candidate send time.  Estimates are smoothed
    with half a draw spread uniformly over allowed hours.
    """
    n = rates.shape[0]
    counts = np.zeros((n, 24))
    total = np.maximum(rates.sum(axis=1, keepdims=True), 1e-300)
    scale = np.maximum(strength, 1e-6)[:, None] / total  # shape = rate * scale sums to strength
    for _ in range(draws):
        sample = rng.gamma(np.maximum(rates * scale, 1e-9)) / scale
        load = np.einsum("nh,nch->nc", sample, exposure)
        load = np.where(allowed, load, -np.inf)
        counts[np.arange(n), np.argmax(load, axis=1)] += 1
    count = allowed.sum(axis=1, keepdims=True)
    smoothed = np.where(allowed, counts + 0.5 / np.maximum(count, 1), 0.0)
    return smoothed / smoothed.sum(axis=1, keepdims=True)


def excluding(distribution: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """``distribution`` with each row's ``hour`` removed and the rest rescaled (zeros if nothing is left).

    >>> excluding(np.array([[0.5, 0.25, 0.25]]), np.array([0])).tolist()
    [[0.0, 0.5, 0.5]]
    """
    out = distribution.copy()
    out[np.arange(out.shape[0]), hour] = 0.0
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), 0.0)


def draw_hours(rng: np.random.Generator, distribution: np.ndarray) -> np.ndarray:
    """One hour per row drawn from ``distribution`` (rows sum to 1)."""
    cumulative = np.cumsum(distribution, axis=1)
    u = rng.random(distribution.shape[0])[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative <= u).sum(axis=1), distribution.shape[1] - 1)


def propensity(share: float, distribution: np.ndarray, explored: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Probability that the policy sends each row at ``hour``.

    ``distribution`` is the exploration distribution with the exploit hour
    already excluded (all zeros where there is nothing else to explore).

    >>> q = excluding(np.full((2, 24), 1 / 24), np.array([9, 9]))
    >>> propensity(0.1, q, np.array([False, True]), np.array([9, 20])).round(4).tolist()
    [0.9, 0.0043]
    """
    rows = np.arange(hour.shape[0])
    can_explore = distribution.sum(axis=1) > 0
    exploit = np.where(can_explore, 1.0 - share, 1.0)
    chance = share * distribution[rows, np.maximum(hour, 0)]
    return np.where(hour < 0, 0.0, np.where(explored, chance, exploit))
