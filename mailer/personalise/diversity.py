"""Diversity: filling an email's slots greedily under the rules that bind it together.

Slots are filled best score first, one pick per slot for every recipient of
a batch at once. After each pick, for that recipient:

* every variant of the picked product's item group is out (no two sizes of
  one jean);
* a brand that reached ``max_per_brand`` is out;
* once the exploration allowance is spent, products from top-level
  categories they never bought are out.

Slot groups are filled in the order given, sharing this state, so a product
never appears twice in one email. Greedy is what a person would do with a
ranked list. Each step costs an ``argmax`` and one comparison over the
batch; the brand and exploration rules touch only the rows they bind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GroupPlan", "fill"]


@dataclass(frozen=True, eq=False)
class GroupPlan:
    """One slot group: how many slots, the ``(B, K)`` scores, and which candidates it may take."""

    count: int
    scores: np.ndarray
    allowed: np.ndarray


def fill(
    plans: Sequence[GroupPlan],
    *,
    group: np.ndarray,
    brand: np.ndarray,
    explore: np.ndarray,
    explore_allowed: np.ndarray,
    max_per_brand: int,
) -> list[np.ndarray]:
    """Per plan, ``(B, count)`` chosen candidate positions (-1: nothing left to choose).

    >>> scores = np.array([[3.0, 2.0, 1.0, 0.5]])
    >>> plan = GroupPlan(3, scores, np.ones((1, 4), bool))
    >>> [p.tolist() for p in fill([plan], group=np.array([[7, 7, 8, 9]]), brand=np.array([[1, 1, 1, 2]]),
    ...                           explore=np.array([[False, False, True, True]]),
    ...                           explore_allowed=np.array([1]), max_per_brand=2)]
    [[[0, 2, -1]]]
    """
    b, k = group.shape
    rows = np.arange(b)
    alive = np.ones((b, k), dtype=bool)
    explore_left = explore_allowed.astype(np.int64).copy()
    picked_brands = np.full((b, sum(p.count for p in plans)), -1, dtype=np.int64)
    n_picked = 0
    out: list[np.ndarray] = []
    for plan in plans:
        picks = np.full((b, plan.count), -1, dtype=np.int64)
        usable = alive & plan.allowed & ~(explore & (explore_left <= 0)[:, None])
        current = np.where(usable, plan.scores, -np.inf)
        for slot in range(plan.count):
            j = np.argmax(current, axis=1)
            found = current[rows, j] > -np.inf
            if not found.any():
                break
            picks[:, slot] = np.where(found, j, -1)
            # the picked group is out (a row that found nothing matches no group)
            gone = group == np.where(found, group[rows, j], -2)[:, None]
            current[gone] = -np.inf
            alive &= ~gone
            # brands that reached the cap, in the rows where that happened
            pb = np.where(found, brand[rows, j], -1)
            picked_brands[:, n_picked] = pb
            n_picked += 1
            capped = np.flatnonzero((pb >= 0) & ((picked_brands[:, :n_picked] == pb[:, None]).sum(axis=1) >= max_per_brand))
            if capped.size:
                _kill(current, alive, capped, brand[capped] == pb[capped, None])
            # exploration allowance spent
            spent = found & explore[rows, j]
            explore_left -= spent
            done = np.flatnonzero(spent & (explore_left <= 0))
            if done.size:
                _kill(current, alive, done, explore[done])
        out.append(picks)
    return out


def _kill(current: np.ndarray, alive: np.ndarray, rows: np.ndarray, mask: np.ndarray) -> None:
    """Rule out ``mask`` (``len(rows) × K``) in these rows."""
    sub = current[rows]
    sub[mask] = -np.inf
    current[rows] = sub
    alive[rows] &= ~mask
