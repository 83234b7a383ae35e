"""Spreading sends over hours when the sending pool cannot deliver them all at once.

Each recipient has a utility for each candidate send time (the expected
engagement there); each candidate falls in a UTC hour, and each UTC hour can
carry at most ``capacity`` messages.  :func:`assign` looks for the
assignment with the largest total utility — the least expected loss.

It works on prices, one per hour (the dual of the problem): at the right
prices, every recipient simply takes the candidate with the best
``utility - price`` and no hour is over capacity.  The prices are found in
two steps.  First Newton's method on an entropy-smoothed dual, whose
gradient is "capacity minus expected load" — a few dozen cheap iterations
over only ~24-48 prices, which gets close even when many hours are
congested and recipients are nearly indifferent between neighbouring hours.
Then an auction finishes the job exactly: each over-full hour raises its
price just enough that only ``capacity`` recipients still prefer it, the
others moving to their next best hour.  The final prices also give a bound:
no assignment can beat the one returned by more than the reported ``gap``.
A recipient priced out of every hour is left unassigned (``-1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NULL = -10.0  # utility of not sending at all, below any engagement probability
_TEMPERATURES = (1e-4, 1e-6)  # smoothing of the dual, in units of utility (probabilities)


@dataclass(frozen=True, eq=False)
class Assignment:
    """The chosen candidate per recipient (-1: none), the hour prices, and the optimality gap."""

    choice: np.ndarray
    price: np.ndarray
    gap: float
    rounds: int


def _best(utility: np.ndarray, bucket: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    value = utility - price[bucket]
    choice = np.argmax(value, axis=1)
    return value, choice, value[np.arange(value.shape[0]), choice]


def _smoothed_prices(utility: np.ndarray, bucket: np.ndarray, capacity: np.ndarray, iterations: int = 15) -> np.ndarray:
    """Approximately optimal prices by projected Newton steps on the entropy-smoothed dual."""
    n, k = utility.shape
    size = capacity.shape[0]
    price = np.zeros(size)
    flat = (np.arange(n)[:, None] * size + bucket).ravel()

    def smoothed(p: np.ndarray, tau: float) -> tuple[float, np.ndarray]:
        v = np.concatenate([(utility - p[bucket]) / tau, np.full((n, 1), _NULL / tau)], axis=1)
        top = v.max(axis=1, keepdims=True)
        e = np.exp(v - top)
        total = e.sum(axis=1, keepdims=True)
        value = float(tau * (top[:, 0] + np.log(total[:, 0])).sum() + capacity @ p)
        return value, e[:, :k] / total

    for tau in _TEMPERATURES:
        for _ in range(iterations):
            value, share = smoothed(price, tau)
            mass = np.bincount(flat, weights=share.ravel(), minlength=n * size).reshape(n, size)
            load = mass.sum(axis=0)
            gradient = capacity - load
            free = (price > 0) | (gradient < 0)
            if not free.any() or np.abs(gradient[free]).max() < 0.5:
                break
            hessian = (np.diag(load) - mass.T @ mass) / tau
            h = hessian[np.ix_(free, free)]
            h += np.eye(h.shape[0]) * (1e-9 * max(np.trace(h), 1e-12) / h.shape[0])
            step = np.zeros(size)
            step[free] = np.linalg.solve(h, -gradient[free])
            # Utilities are probabilities: no price needs to move by more than 1 at once.
            step *= min(1.0, 1.0 / max(np.abs(step).max(), 1e-300))
            slope = float(gradient[free] @ step[free])
            alpha = 1.0
            while alpha > 1e-6 and smoothed(np.maximum(price + alpha * step, 0.0), tau)[0] > value + 1e-4 * alpha * slope:
                alpha *= 0.5
            if alpha <= 1e-6:
                break
            price = np.maximum(price + alpha * step, 0.0)
    return price


def assign(
    utility: np.ndarray,
    bucket: np.ndarray,
    capacity: np.ndarray,
    *,
    epsilon: float = 1e-9,
    max_rounds: int = 2000,
) -> Assignment:
    """Choose one candidate per row maximising total utility under per-bucket capacity.

    ``utility`` and ``bucket`` are ``(n, k)``; ``-inf`` utility marks a
    candidate that is not allowed; ``capacity`` is per bucket.

    >>> u = np.array([[0.9, 0.5], [0.8, 0.6], [0.7, 0.1]])
    >>> b = np.array([[0, 1], [0, 1], [0, 1]])
    >>> assign(u, b, np.array([1, 5])).choice.tolist()  # hour 0 has room for one: row 2 would lose most by moving
    [1, 1, 0]
    """
    n = utility.shape[0]
    capacity = np.asarray(capacity, dtype=np.int64)
    allowed = np.isfinite(utility)
    bucket = np.where(allowed, bucket, 0)
    size = capacity.shape[0]
    rows = np.arange(n)
    price = np.zeros(size)
    _, choice, best = _best(utility, bucket, price)
    load = np.bincount(bucket[rows, choice][best > _NULL], minlength=size)
    rounds = 0
    if (load > capacity).any():
        price = _smoothed_prices(utility, bucket, capacity)
        for rounds in range(1, max_rounds + 1):
            value, choice, best = _best(utility, bucket, price)
            placed = best > _NULL
            chosen = bucket[rows, choice]
            excess = np.bincount(chosen[placed], minlength=size) - capacity
            over = excess > 0
            if not over.any():
                break
            # The runner-up must lie in another hour: raising this hour's price moves no one within it.
            value[bucket == chosen[:, None]] = -np.inf
            margin = best - np.maximum(value.max(axis=1), _NULL)
            members = np.flatnonzero(placed & over[chosen])
            order = members[np.lexsort((margin[members], chosen[members]))]
            starts = np.searchsorted(chosen[order], np.flatnonzero(over))
            last_to_leave = order[starts + excess[over] - 1]
            price[over] += margin[last_to_leave] + epsilon
    value, choice, best = _best(utility, bucket, price)
    placed = best > _NULL
    dual = float(np.maximum(best, _NULL).sum() + capacity @ price)
    choice = np.where(placed, choice, -1)
    # Should the auction not have settled, drop the weakest recipients of hours still over capacity.
    chosen = np.where(placed, bucket[rows, np.maximum(choice, 0)], -1)
    load = np.bincount(chosen[placed], minlength=size)
    for b in np.flatnonzero(load > capacity):
        members = np.flatnonzero(chosen == b)
        weakest = members[np.argsort(utility[members, choice[members]])[: load[b] - capacity[b]]]
        choice[weakest] = -1
    primal = float(np.where(choice >= 0, utility[rows, np.maximum(choice, 0)], _NULL).sum())
    return Assignment(choice=choice, price=price, gap=max(dual - primal, 0.0), rounds=rounds)
