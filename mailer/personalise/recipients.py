"""The customers an email goes to, as arrays: id, id hash, declared gender, market.

Selection only needs a few facts about each recipient: their id (to find
their history and seed their picks), the gender they told the shop (for cold
start, before purchases say anything) and their market (the locale, for
local bestsellers). :class:`Recipients` holds those for a batch (a chunk of
a customer file, or a million generated customers).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mailer.inputs.customers import Customer
from mailer.personalise.catalogue import gender_code
from mailer.personalise.seeding import stable_hash

__all__ = ["Recipients"]


@dataclass(frozen=True, eq=False)
class Recipients:
    """``N`` recipients: ``ids`` (str), ``hash`` (uint64), ``gender`` (int8 code), ``market`` (str).

    >>> r = Recipients.from_arrays(["c1", "c2"], genders=["female", None], markets=["en_GB", "de_DE"])
    >>> len(r), r.gender.tolist(), r.market.tolist()
    (2, [1, 0], ['en_GB', 'de_DE'])
    >>> r.take(np.array([1])).ids.tolist()
    ['c2']
    """

    ids: np.ndarray
    hash: np.ndarray
    gender: np.ndarray
    market: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def from_arrays(
        cls,
        ids: Sequence[str] | np.ndarray,
        *,
        genders: Sequence[str | None] | np.ndarray | None = None,
        markets: Sequence[str] | np.ndarray | None = None,
    ) -> Recipients:
        """From ids and optional genders (text, or int8 codes) and markets (locales)."""
        ids = np.asarray(ids, dtype=str)
        n = ids.shape[0]
        if genders is None:
            gender = np.zeros(n, np.int8)
        elif isinstance(genders, np.ndarray) and genders.dtype.kind in "iu":
            gender = genders.astype(np.int8)
        else:
            gender = np.fromiter((gender_code(g) for g in genders), dtype=np.int8, count=n)
        market = np.asarray(markets, dtype=str) if markets is not None else np.full(n, "", dtype=str)
        return cls(ids=ids, hash=stable_hash(ids), gender=gender, market=market)

    @classmethod
    def from_customers(cls, customers: Iterable[Customer]) -> Recipients:
        """From :class:`~mailer.inputs.customers.Customer` values; the market is the locale."""
        rows = list(customers)
        return cls.from_arrays(
            [c.id for c in rows], genders=[c.gender for c in rows], markets=[c.locale for c in rows]
        )

    def take(self, rows: np.ndarray | slice) -> Recipients:
        """These recipients only (indices, a mask or a slice)."""
        return Recipients(ids=self.ids[rows], hash=self.hash[rows], gender=self.gender[rows], market=self.market[rows])
