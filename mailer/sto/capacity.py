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
Then an auction finishes the job: each over-full hour raises its price
just enough that only ``capacity`` recipients still prefer it, the others
moving to their next best hour.  When many recipients are exactly alike
(everyone whose profile is their segment's, say) the auction can crawl; it
is then stopped and the last few conflicts are settled greedily at the
current prices: recipients claim their best hour that still has room, those
with most to lose first.  The final prices give a bound either way: no
assignment can beat the one returned by more than the reported ``gap``.
A recipient who fits nowhere is left unassigned (``-1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NULL = -10.0  # utility of not sending at all, below any engagement probability
_TEMPERATURES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # smoothing of the dual, in units of utility (probabilities)


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


def _smoothed_prices(utility: np.ndarray, bucket: np.ndarray, capacity: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Approximately optimal prices by projected Newton steps on the entropy-smoothed dual.

    The smoothing is lowered step by step, each solution starting the next.
    """
    n, k = utility.shape
    size = capacity.shape[0]
    price = np.zeros(size)
    flat = (np.arange(n)[:, None] * size + bucket).ravel()
    tolerance = max(1.0, 0.01 * float(capacity.max()))  # the auction settles the rest

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
            if not free.any() or np.abs(gradient[free]).max() < tolerance:
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
    max_rounds: int = 30,
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
    start = price
    if (load > capacity).any():
        price = start = _smoothed_prices(utility, bucket, capacity)
        for rounds in range(1, max_rounds + 1):
            value, choice, best = _best(utility, bucket, price)
            placed = best > _NULL
            chosen = np.where(placed, bucket[rows, choice], -1)
            load = np.bincount(chosen[placed], minlength=size)
            over = load > capacity
            under = (load < capacity) & (price > 0)
            if not over.any() and not under.any():
                break
            # Forward: an over-full hour raises its price until only `capacity` still prefer it.
            # The runner-up must lie in another hour: raising this hour's price moves no one within it.
            if over.any():
                others = np.where(bucket == chosen[:, None], -np.inf, value)
                margin = best - np.maximum(others.max(axis=1), _NULL)
                members = np.flatnonzero(placed & over[np.maximum(chosen, 0)] & (chosen >= 0))
                order = members[np.lexsort((margin[members], chosen[members]))]
                starts = np.searchsorted(chosen[order], np.flatnonzero(over))
                last_to_leave = order[starts + (load - capacity)[over] - 1]
                price[over] += margin[last_to_leave] + epsilon
            # Reverse: an under-full hour that still has a price lowers it until it fills (or is free).
            if under.any():
                entries = under[bucket] & np.isfinite(utility) & (bucket != chosen[:, None])
                i, j = np.nonzero(entries)
                b = bucket[i, j]
                deficit = np.maximum(best[i], _NULL) - value[i, j]
                order = np.lexsort((deficit, b))
                b_sorted = b[order]
                wanted = np.flatnonzero(under)
                starts = np.searchsorted(b_sorted, wanted)
                ends = np.searchsorted(b_sorted, wanted, side="right")
                need = (capacity - load)[under]
                enough = ends - starts >= need
                cut = np.where(enough, deficit[order][np.minimum(starts + need - 1, max(order.size - 1, 0))], np.inf)
                price[under] = np.maximum(price[under] - cut - epsilon, 0.0)
    value, choice, best = _best(utility, bucket, price)
    placed = best > _NULL
    dual = float(np.maximum(best, _NULL).sum() + capacity @ price)
    choice = np.where(placed, choice, -1)
    chosen = np.where(placed, bucket[rows, np.maximum(choice, 0)], -1)
    load = np.bincount(chosen[placed], minlength=size)
    if (load > capacity).any():
        # Settle greedily, at the auction's prices and at the smoothed ones; keep the better.
        tries = [_claim(value, bucket, capacity), _claim(utility - start[bucket], bucket, capacity)]
        choice = tries[int(np.argmax([_total(utility, c) for c in tries]))]
    else:
        # Ties can leave someone out while their hour still has room: let them in.
        waiting = (choice < 0) & np.isfinite(utility).any(axis=1)
        if waiting.any() and (load < capacity).any():
            room = capacity - load
            extra = _claim(np.where(waiting[:, None], value, -np.inf), bucket, room)
            choice = np.where(waiting, extra, choice)
    choice = _augment(utility, bucket, capacity, choice)
    primal = _total(utility, choice)
    return Assignment(choice=choice, price=price, gap=max(dual - primal, 0.0), rounds=rounds)


_MAX_PATHS = 2_000


def _augment(utility: np.ndarray, bucket: np.ndarray, capacity: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Place recipients the settling left out although an hour they could use
    has room at the end of a chain: each move along the chain frees a place
    for the one before (an augmenting path, shortest first). A chain is taken
    only if placing the recipient outweighs what the moves cost. Hours from
    which no room can be reached are remembered, so hopeless recipients cost
    nothing; at most ``_MAX_PATHS`` chains are looked for."""
    n = utility.shape[0]
    allowed = np.isfinite(utility)
    choice = choice.copy()
    rows = np.arange(n)
    size = capacity.shape[0]
    where = np.where(choice >= 0, bucket[rows, np.maximum(choice, 0)], -1)
    room = capacity - np.bincount(where[where >= 0], minlength=size)
    waiting = np.flatnonzero((choice < 0) & allowed.any(axis=1))
    if not waiting.size or not (room > 0).any():
        return choice
    # Who sits in each hour: a sorted index, plus the moves made since.
    order = np.argsort(where, kind="stable")
    starts = np.searchsorted(where[order], np.arange(size))
    ends = np.searchsorted(where[order], np.arange(size), side="right")
    moved_in: dict[int, set[int]] = {}
    moved_out: set[int] = set()

    def members(hour: int) -> np.ndarray:
        base = order[starts[hour]:ends[hour]]
        if moved_out:
            base = base[~np.isin(base, np.fromiter(moved_out, dtype=np.int64))]
        extra = moved_in.get(hour)
        return np.concatenate([base, np.fromiter(extra, dtype=np.int64)]) if extra else base

    dead = np.zeros(size, dtype=bool)
    paths = 0
    for r in waiting[np.argsort(-np.where(allowed[waiting], utility[waiting], -np.inf).max(axis=1), kind="stable")]:
        if paths >= _MAX_PATHS:
            break
        firsts = {int(bucket[r, j]): j for j in np.flatnonzero(allowed[r])[::-1]}
        firsts = {b: j for b, j in firsts.items() if not dead[b]}
        if not firsts:
            continue
        paths += 1
        # Breadth-first over hours: parent[hour] = (previous hour, recipient who moves, their candidate).
        parent: dict[int, tuple[int, int, int]] = {}
        frontier = list(firsts)
        seen = set(frontier)
        goal = next((b for b in frontier if room[b] > 0), None)
        while goal is None and frontier:
            following = []
            for hour in frontier:
                inside = members(hour)
                if not inside.size:
                    continue
                i, j = np.nonzero(allowed[inside] & (bucket[inside] != hour))
                for target, who, cand in zip(bucket[inside[i], j].tolist(), inside[i].tolist(), j.tolist()):
                    if target in seen or dead[target]:
                        continue
                    seen.add(target)
                    parent[target] = (hour, who, cand)
                    if room[target] > 0:
                        goal = target
                        break
                    following.append(target)
                if goal is not None:
                    break
            frontier = following
        if goal is None:
            dead[list(seen)] = True
            continue
        chain = []
        hour = goal
        while hour in parent:
            previous, who, cand = parent[hour]
            chain.append((who, cand, previous, hour))
            hour = previous
        cost = sum(float(utility[who, choice[who]] - utility[who, cand]) for who, cand, _, _ in chain)
        if float(utility[r, firsts[hour]]) - _NULL - cost <= 0:
            continue
        for who, cand, previous, target in chain:
            choice[who] = cand
            moved_out.add(who)
            moved_in.setdefault(previous, set()).discard(who)
            moved_in.setdefault(target, set()).add(who)
        choice[r] = firsts[hour]
        moved_out.add(r)
        moved_in.setdefault(hour, set()).add(r)
        room[goal] -= 1
    return choice


def _total(utility: np.ndarray, choice: np.ndarray) -> float:
    picked = utility[np.arange(choice.shape[0]), np.maximum(choice, 0)]
    return float(np.where(choice >= 0, picked, _NULL).sum())


def _claim(value: np.ndarray, bucket: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Greedy rounds: each recipient claims their best hour with room; the most to lose go first."""
    value = value.copy()
    n = value.shape[0]
    room = capacity.copy()
    choice = np.full(n, -1, dtype=np.int64)
    active = np.flatnonzero(np.isfinite(value).any(axis=1))
    while active.size:
        v = value[active]
        pick = np.argmax(v, axis=1)
        best = v[np.arange(active.size), pick]
        alive = np.isfinite(best)
        active, v, pick, best = active[alive], v[alive], pick[alive], best[alive]
        if not active.size:
            break
        target = bucket[active, pick]
        runner_up = np.where(bucket[active] == target[:, None], -np.inf, v).max(axis=1)
        regret = best - np.maximum(runner_up, _NULL)
        order = np.lexsort((-regret, target))
        target_sorted = target[order]
        first = np.searchsorted(target_sorted, target_sorted, side="left")
        rank = np.arange(order.size) - first
        accepted = np.zeros(active.size, dtype=bool)
        accepted[order] = rank < room[target_sorted]
        choice[active[accepted]] = pick[accepted]
        np.subtract.at(room, target[accepted], 1)
        # Hours now full are closed to everyone still waiting.
        full = room <= 0
        waiting = active[~accepted]
        value[waiting[:, None], np.arange(value.shape[1])[None, :]] = np.where(
            full[bucket[waiting]], -np.inf, value[waiting]
        )
        active = waiting
    return choice
