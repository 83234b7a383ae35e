"""Seeded, order-independent randomness: the same inputs always pick the same products.

Selection breaks ties and rounds the exploration share with pseudo-random
numbers drawn from a hash of ``(seed, customer id, product id)``, not from a
generator's state. So a customer's picks do not depend on which other
customers are in the batch, how it is chunked, or whether this is the preview
or the send: a preview shows exactly what will be sent.

Ids are hashed with 64-bit FNV-1a over their UTF-8 bytes (vectorised over
columns of bytes), pairs are mixed with SplitMix64's finaliser. The scalar
functions (:func:`fnv1a`, :func:`uniform_scalar`) give bit-identical results,
for the reference implementation and for tests.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["fnv1a", "mix", "pair_key", "stable_hash", "uniform", "uniform_keyed", "uniform_scalar"]

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_UNIT = 2.0**-53


def fnv1a(text: str) -> int:
    """64-bit FNV-1a of ``text``'s UTF-8 bytes.

    >>> hex(fnv1a("a"))
    '0xaf63dc4c8601ec8c'
    """
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


def stable_hash(ids: Iterable[str] | np.ndarray) -> np.ndarray:
    """:func:`fnv1a` of each id, as a ``uint64`` array.

    >>> stable_hash(["a", "Zoë"]).tolist() == [fnv1a("a"), fnv1a("Zoë")]
    True
    """
    arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.uint64)
    if arr.dtype.kind != "S":
        arr = np.char.encode(arr.astype(str), "utf-8")
    width = arr.dtype.itemsize
    data = np.ascontiguousarray(arr).view(np.uint8).reshape(arr.shape[0], width)
    lengths = np.char.str_len(arr)
    h = np.full(arr.shape[0], _FNV_OFFSET, dtype=np.uint64)
    prime = np.uint64(_FNV_PRIME)
    with np.errstate(over="ignore"):
        for j in range(width):
            stepped = (h ^ data[:, j]) * prime
            np.copyto(h, stepped, where=lengths > j)
    return h


def mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over a ``uint64`` array: every input bit moves every output bit."""
    with np.errstate(over="ignore"):  # wrapping is the point
        z = x + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
        return z ^ (z >> np.uint64(31))


def _mix_scalar(x: int) -> int:
    z = (x + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def pair_key(seed: int, b: np.ndarray | int) -> np.ndarray:
    """The per-``b`` half of :func:`uniform`, computed once when ``b`` (a product hash) is reused."""
    return mix(np.asarray(b, dtype=np.uint64) ^ mix(np.asarray(seed & _MASK, dtype=np.uint64)))


def uniform_keyed(a: np.ndarray, key: np.ndarray) -> np.ndarray:
    """:func:`uniform` from ``a`` and a :func:`pair_key`."""
    return (mix(np.asarray(a, dtype=np.uint64) ^ key) >> np.uint64(11)).astype(np.float64) * _UNIT


def uniform(seed: int, a: np.ndarray, b: np.ndarray | int = 0) -> np.ndarray:
    """Uniform floats in [0, 1) from ``(seed, a, b)`` (``uint64`` hashes, broadcast).

    >>> u = uniform(7, stable_hash(["c1", "c2"])[:, None], stable_hash(["p1", "p2", "p3"])[None, :])
    >>> u.shape, bool(((u >= 0) & (u < 1)).all())
    ((2, 3), True)
    >>> float(u[1, 2]) == uniform_scalar(7, fnv1a("c2"), fnv1a("p3"))
    True
    """
    return uniform_keyed(a, pair_key(seed, b))


def uniform_scalar(seed: int, a: int, b: int = 0) -> float:
    """:func:`uniform` for one pair, in plain Python."""
    key = _mix_scalar(b ^ _mix_scalar(seed & _MASK))
    return (_mix_scalar(a ^ key) >> 11) * _UNIT
