"""What a customer must not be shown again: recent purchases and recent emails.

A product bought in the last ``recent_days`` (any variant of its item group)
is not offered again unless it is consumable; a product shown in the last few
emails is not shown again. The first comes from the purchase history
(:func:`recent_purchases`); the second from whoever keeps the send log,
through the :class:`ShownLog` protocol. :class:`RecentlyShown` is the plain,
in-memory implementation (built from ``(customer id, product id)`` pairs);
:class:`SendLogShown` asks a send log (the delivery store) for each batch.

Both are kept per item group, and checked for a whole batch at once with
sorted ``(customer, group)`` keys (:func:`excluded_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mailer.personalise.catalogue import Catalogue
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.ragged import Ragged
from mailer.personalise.rules import SelectionRules

__all__ = ["RecentPurchases", "RecentlyShown", "SendLog", "SendLogShown", "ShownLog", "excluded_keys", "recent_purchases"]


class ShownLog(Protocol):
    """Anything that can say which products each customer was shown recently."""

    def shown(self, customer_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For a batch of ids: the batch position and product id of each recent showing."""
        ...


@dataclass(frozen=True, eq=False)
class RecentlyShown:
    """An in-memory :class:`ShownLog` from ``(customer id, product id)`` pairs.

    >>> log = RecentlyShown.from_pairs([("c2", "P9"), ("c1", "P1"), ("c2", "P3")])
    >>> pos, products = log.shown(np.array(["c2", "c3", "c1"]))
    >>> sorted(zip(pos.tolist(), products.tolist()))
    [(0, 'P3'), (0, 'P9'), (2, 'P1')]
    """

    customer_ids: np.ndarray
    lists: Ragged
    product_ids: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> RecentlyShown:
        rows = list(pairs)
        customers = np.asarray([c for c, _ in rows], dtype=str)
        products = np.asarray([p for _, p in rows], dtype=str)
        unique, inverse = np.unique(customers, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        return cls(unique, Ragged.from_rows(inverse[order], n_rows=unique.shape[0]), products[order])

    def shown(self, customer_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(customer_ids, dtype=str)
        if self.customer_ids.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, dtype=str)
        at = np.minimum(np.searchsorted(self.customer_ids, ids), self.customer_ids.shape[0] - 1)
        rows = np.where(self.customer_ids[at] == ids, at, -1)
        owner, flat = self.lists.gather(rows)
        return owner, self.product_ids[flat]


class SendLog(Protocol):
    """A send log that remembers the products of each email, sent or queued
    (the delivery store)."""

    def shown(
        self, recipients: Iterable[str], *, emails: int = 3, campaign: str | None = None
    ) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class SendLogShown:
    """A :class:`ShownLog` over a :class:`SendLog`: the products of each
    customer's last ``emails`` emails, asked for one batch at a time. Emails
    queued and not yet sent count (they reach the inbox before the one being
    chosen), except those of ``campaign``, the campaign being chosen for: its
    own queued rows must not push out the products they were chosen with."""

    log: SendLog
    emails: int = 3
    campaign: str | None = None

    def shown(self, customer_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = [str(c) for c in np.asarray(customer_ids).tolist()]
        pairs = self.log.shown(ids, emails=self.emails, campaign=self.campaign) if self.emails > 0 else []
        if not pairs:
            return np.zeros(0, np.int64), np.zeros(0, dtype=str)
        return RecentlyShown.from_pairs(pairs).shown(np.asarray(ids, dtype=str))


@dataclass(frozen=True, eq=False)
class RecentPurchases:
    """Per customer row, the item groups bought in the window that must not come back."""

    lists: Ragged
    group: np.ndarray


def recent_purchases(purchases: PurchaseTable, *, rules: SelectionRules, today: int) -> RecentPurchases:
    """Groups of non-sensitive catalogue products bought in the last ``recent_days``
    (consumables: in the last ``consumable_gap_days``, after which they come back)."""
    age = today - purchases.day
    window = np.where(purchases.consumable, rules.consumable_gap_days, rules.recent_days)
    keep = (age >= 0) & (age <= window) & ~purchases.sensitive
    keep &= purchases.group >= 0
    rows, group = purchases.customer[keep], purchases.group[keep]
    order = np.lexsort((group, rows))
    return RecentPurchases(Ragged.from_rows(rows[order], n_rows=purchases.n_customers), group[order])


def excluded_keys(
    recent: RecentPurchases,
    rows: np.ndarray,
    customer_ids: np.ndarray,
    catalogue: Catalogue,
    shown: ShownLog | None,
) -> np.ndarray:
    """Sorted unique keys ``position * n_groups + group`` a batch must not be shown."""
    n_groups = max(catalogue.n_groups, 1)
    owner, flat = recent.lists.gather(rows)
    keys = [owner * n_groups + recent.group[flat]]
    if shown is not None:
        position, product_ids = shown.shown(customer_ids)
        index = catalogue.index_of(np.asarray(product_ids, dtype=str).tolist())
        known = index >= 0
        keys.append(np.asarray(position, dtype=np.int64)[known] * n_groups + catalogue.group[index[known]])
    return np.unique(np.concatenate(keys).astype(np.int64))
