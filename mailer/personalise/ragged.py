"""Ragged per-customer lists in flat arrays: row ``r`` owns ``values[ptr[r]:ptr[r + 1]]``.

Most customers buy from a handful of the hundreds of categories, so what is
learnt per customer (category shares, brand shares, price bands, recent
purchases) is stored sparsely, sorted by customer, with one offsets array
(:class:`Ragged`). :meth:`Ragged.gather` turns a batch of rows into flat
indices without a Python loop; :func:`sum_by_key` is the group-by that
builds such lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ragged", "sum_by_key", "take_rows"]


@dataclass(frozen=True, eq=False)
class Ragged:
    """Offsets of ``n_rows`` variable-length lists in flat value arrays.

    >>> lists = Ragged.from_rows(np.array([0, 0, 2]), n_rows=3)
    >>> lists.ptr.tolist()
    [0, 2, 2, 3]
    >>> owner, flat = lists.gather(np.array([2, -1, 0]))
    >>> owner.tolist(), flat.tolist()
    ([0, 2, 2], [2, 0, 1])
    """

    ptr: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.ptr.shape[0]) - 1

    @classmethod
    def from_rows(cls, rows: np.ndarray, *, n_rows: int) -> Ragged:
        """Offsets for flat values whose owning rows, ``rows``, are sorted ascending."""
        ptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=ptr[1:])
        return cls(ptr)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a batch of rows (-1: none), each entry's position in the batch and its flat index."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.n_rows == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        starts = self.ptr[safe]
        lengths = np.where(valid, self.ptr[safe + 1] - starts, 0)
        owner = np.repeat(np.arange(rows.shape[0]), lengths)
        first = np.cumsum(lengths) - lengths
        flat = np.arange(owner.shape[0], dtype=np.int64) - np.repeat(first - starts, lengths)
        return owner, flat


def sum_by_key(rows: np.ndarray, codes: np.ndarray, weights: np.ndarray, n_codes: int) -> tuple[np.ndarray, ...]:
    """Sum ``weights`` per ``(row, code)``; the keys come back sorted by row, then code.

    >>> r, c, w = sum_by_key(np.array([1, 0, 1]), np.array([5, 2, 5]), np.array([1.0, 2.0, 0.5]), 10)
    >>> r.tolist(), c.tolist(), w.tolist()
    ([0, 1], [2, 5], [2.0, 1.5])
    """
    keys = rows.astype(np.int64) * n_codes + codes
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=weights, minlength=unique.shape[0])
    return unique // n_codes, unique % n_codes, sums


def take_rows(values: np.ndarray, rows: np.ndarray, fill: float) -> np.ndarray:
    """``values[rows]`` as float64, with ``fill`` where a row is -1 (``values`` may be empty).

    >>> take_rows(np.array([1.5, 2.5]), np.array([1, -1]), 0.0).tolist()
    [2.5, 0.0]
    >>> take_rows(np.zeros((0, 2)), np.array([-1]), 0.0).tolist()
    [[0.0, 0.0]]
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full((rows.shape[0], *values.shape[1:]), fill, dtype=np.float64)
    valid = rows >= 0
    out[valid] = values[rows[valid]]
    return out
