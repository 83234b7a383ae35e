"""Spreading sends over hours when the sending pool cannot deliver them all at once.

Each recipient has a utility for each candidate send time (the expected
engagement there); each candidate falls in a UTC hour, and each UTC hour can
carry at most ``capacity`` messages.  :func:`assign` finds the assignment
with the largest total utility — the least expected loss — by an auction:
overloaded hours raise their price until exactly ``capacity`` recipients
still prefer them, the others moving to their next best hour.  Prices only
rise, so a priced hour stays full and the result is optimal up to
``epsilon`` per recipient.  A recipient priced out of every hour is left
unassigned (``-1``).
"""

from __future__ import annotations

import numpy as np

_NULL = -10.0  # utility of not sending at all, below any engagement probability


def assign(
    utility: np.ndarray,
    bucket: np.ndarray,
    capacity: np.ndarray,
    *,
    epsilon: float = 1e-6,
    max_rounds: int = 2000,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose one candidate per row maximising total utility under per-bucket capacity.

    ``utility`` and ``bucket`` are ``(n, k)``; ``-inf`` utility marks a
    candidate that is not allowed; ``capacity`` is per bucket.  Returns
    ``(choice, price)``: the chosen column per row (-1 if none) and the
    final price per bucket.

    >>> u = np.array([[0.9, 0.5], [0.8, 0.6], [0.7, 0.1]])
    >>> b = np.array([[0, 1], [0, 1], [0, 1]])
    >>> assign(u, b, np.array([1, 5]))[0].tolist()  # hour 0 has room for one: row 2 would lose most by moving
    [1, 1, 0]
    """
    n, k = utility.shape
    rows = np.arange(n)
    price = np.zeros(capacity.shape[0], dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.int64)
    choice = np.full(n, -1, dtype=np.int64)
    for _ in range(max_rounds):
        value = utility - price[bucket]
        choice = np.argmax(value, axis=1)
        best = value[rows, choice]
        placed = best > _NULL
        chosen_bucket = bucket[rows, choice]
        load = np.bincount(chosen_bucket[placed], minlength=capacity.shape[0])
        excess = load - capacity
        over = excess > 0
        if not over.any():
            break
        value[rows, choice] = -np.inf
        second = np.maximum(value.max(axis=1), _NULL)
        margin = best - second
        members = np.flatnonzero(placed & over[chosen_bucket])
        order = members[np.lexsort((margin[members], chosen_bucket[members]))]
        groups = chosen_bucket[order]
        starts = np.searchsorted(groups, np.flatnonzero(over))
        cut = order[starts + excess[over] - 1]  # the last recipient that must leave
        price[over] += margin[cut] + epsilon
    value = utility - price[bucket]
    choice = np.argmax(value, axis=1)
    placed = value[rows, choice] > _NULL
    choice = np.where(placed, choice, -1)
    # If the auction did not settle, drop the weakest recipients of hours still over capacity.
    chosen_bucket = np.where(placed, bucket[rows, np.maximum(choice, 0)], -1)
    load = np.bincount(chosen_bucket[placed], minlength=capacity.shape[0])
    for b in np.flatnonzero(load > capacity):
        members = np.flatnonzero(chosen_bucket == b)
        weakest = members[np.argsort(utility[members, choice[members]])[: load[b] - capacity[b]]]
        choice[weakest] = -1
    return choice, price
