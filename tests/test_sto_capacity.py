"""mailer.sto.capacity: the assignment is as good as exhaustive search on small cases."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.sto.capacity import assign


def brute_force(utility: np.ndarray, bucket: np.ndarray, capacity: np.ndarray) -> tuple[int, float]:
    """(most recipients placed, best total utility among assignments placing that many)."""
    n, k = utility.shape
    best = (-1, -np.inf)
    options = [[-1] + [j for j in range(k) if np.isfinite(utility[i, j])] for i in range(n)]
    for combo in itertools.product(*options):
        load = np.zeros(capacity.shape[0], dtype=int)
        total, placed = 0.0, 0
        for i, j in enumerate(combo):
            if j >= 0:
                load[bucket[i, j]] += 1
                total += utility[i, j]
                placed += 1
        if (load <= capacity).all() and (placed, total) > best:
            best = (placed, total)
    return best


@st.composite
def problems(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 3))
    buckets = draw(st.integers(1, 4))
    values = draw(st.lists(st.floats(0.0, 1.0) | st.just(-np.inf), min_size=n * k, max_size=n * k))
    where = draw(st.lists(st.integers(0, buckets - 1), min_size=n * k, max_size=n * k))
    capacity = draw(st.lists(st.integers(0, 3), min_size=buckets, max_size=buckets))
    return np.array(values).reshape(n, k), np.array(where).reshape(n, k), np.array(capacity)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_matches_exhaustive_search(problem) -> None:  # type: ignore[no-untyped-def]
    utility, bucket, capacity = problem
    result = assign(utility, bucket, capacity)
    choice = result.choice
    placed = choice >= 0
    load = np.bincount(bucket[np.arange(len(choice)), np.maximum(choice, 0)][placed], minlength=capacity.shape[0])
    assert (load <= capacity).all()
    assert np.isfinite(utility[np.arange(len(choice))[placed], choice[placed]]).all()
    most, best_total = brute_force(utility, bucket, capacity)
    total = float(utility[np.arange(len(choice))[placed], choice[placed]].sum())
    assert placed.sum() == most
    assert total >= best_total - 1e-6 * len(choice) - result.gap


def test_no_pressure_means_everyone_gets_their_favourite() -> None:
    rng = np.random.default_rng(0)
    utility = rng.random((500, 6))
    bucket = np.tile(np.arange(6), (500, 1))
    result = assign(utility, bucket, np.full(6, 500))
    assert (result.choice == utility.argmax(axis=1)).all() and result.rounds == 0 and result.gap == 0


def test_congested_hours_reported_gap_is_small() -> None:
    rng = np.random.default_rng(1)
    n, k = 20000, 24
    peak = rng.normal(19, 1.5, n)
    hours = np.arange(k)
    utility = 0.2 * np.exp(-0.5 * ((hours[None, :] - peak[:, None]) / 3) ** 2) + rng.random((n, k)) * 1e-6
    bucket = np.tile(hours, (n, 1))
    result = assign(utility, bucket, np.full(k, 1500))
    load = np.bincount(bucket[np.arange(n), result.choice], minlength=k)
    assert (result.choice >= 0).all() and load.max() <= 1500
    loss = float((utility.max(axis=1) - utility[np.arange(n), result.choice]).sum())
    assert result.gap <= 0.01 * loss
