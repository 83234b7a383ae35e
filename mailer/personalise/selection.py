"""Product slot selection for many customers at once.

:class:`Selector` is built once per send from fitted
:class:`~mailer.personalise.profiles.Profiles`, the layout's slot groups and
the :class:`~mailer.personalise.rules.SelectionRules`; calling it on a batch
of :class:`~mailer.personalise.recipients.Recipients` returns a
:class:`Selection`. Per batch: lay the recipients' profiles out densely,
gather ~200 candidates each from the pools (:mod:`~mailer.personalise.candidates`),
score them (:mod:`~mailer.personalise.scoring`), apply the hard rules, and
fill the slots greedily (:mod:`~mailer.personalise.diversity`). Everything is
array operations over the batch; there is no Python loop per customer or per
product. :func:`select` and :func:`iter_select` run it over any number of
recipients in batches of ``chunk_size``, so memory stays bounded.

Slot kinds: a group is ``personal`` unless ``kinds`` says otherwise; groups
named ``new_in`` and ``bestsellers`` default to those kinds. Groups of kind
``new`` are filled first (they have the fewest candidates), then the others
in the order given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mailer.errors import ConfigError
from mailer.personalise.candidates import Pools, build_pools, gather
from mailer.personalise.catalogue import Catalogue
from mailer.personalise.diversity import GroupPlan, fill
from mailer.personalise.exclusions import ShownLog
from mailer.personalise.privacy import check_targeting
from mailer.personalise.profiles import Profiles, check_fit_rules
from mailer.personalise.reasons import describe, reason_codes
from mailer.personalise.recipients import Recipients
from mailer.personalise.rules import SLOT_KINDS, SelectionRules, SlotKind
from mailer.personalise.scoring import TERMS, ProductColumns, hard_rules, score, terms, weight_vector
from mailer.inputs.products import Product

__all__ = ["DEFAULT_KINDS", "Selection", "Selector", "iter_select", "select"]

DEFAULT_KINDS: Mapping[str, SlotKind] = {"new_in": "new", "bestsellers": "bestsellers"}
CHUNK_SIZE = 1024


@dataclass(frozen=True, eq=False)
class Selection:
    """Chosen products for ``N`` recipients.

    ``picks[group]`` is ``(N, count)`` catalogue indices (-1: an empty slot,
    when the rules left too few products); ``reasons[group]`` the matching
    :data:`~mailer.personalise.reasons.REASONS` codes; ``terms[group]``, when
    asked for, ``(N, count, len(TERMS))`` term values. ``audience`` is False
    for recipients a category campaign with ``require_affinity`` leaves out.
    """

    catalogue: Catalogue
    customer_ids: np.ndarray
    picks: dict[str, np.ndarray]
    reasons: dict[str, np.ndarray]
    audience: np.ndarray
    terms: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.customer_ids.shape[0])

    def slots(self, i: int) -> dict[str, list[Product]]:
        """The products of recipient ``i``, per slot group, for :meth:`Composer.compose <mailer.content.compose.Composer.compose>`."""
        products = self.catalogue.products
        return {g: [products[p] for p in picks[i].tolist() if p >= 0] for g, picks in self.picks.items()}

    def product_ids(self, i: int) -> dict[str, list[str]]:
        """The product ids of recipient ``i``, per slot group."""
        ids = self.catalogue.ids
        return {g: [str(ids[p]) for p in picks[i].tolist() if p >= 0] for g, picks in self.picks.items()}

    def explain(self, i: int) -> dict[str, list[str]]:
        """Why each of recipient ``i``'s products was chosen, for the preview."""
        out: dict[str, list[str]] = {}
        for group, picks in self.picks.items():
            lines = []
            for slot, p in enumerate(picks[i].tolist()):
                if p < 0:
                    continue
                line = f"{self.catalogue.ids[p]}: {describe(int(self.reasons[group][i, slot]), p, self.catalogue)}"
                if self.terms is not None:
                    values = self.terms[group][i, slot]
                    line += " (" + ", ".join(f"{name} {v:.2f}" for name, v in zip(TERMS, values.tolist())) + ")"
                lines.append(line)
            out[group] = lines
        return out

    @classmethod
    def concat(cls, parts: Sequence[Selection]) -> Selection:
        """One selection from consecutive batches."""
        first = parts[0]
        return cls(
            catalogue=first.catalogue,
            customer_ids=np.concatenate([p.customer_ids for p in parts]),
            picks={g: np.concatenate([p.picks[g] for p in parts]) for g in first.picks},
            reasons={g: np.concatenate([p.reasons[g] for p in parts]) for g in first.reasons},
            audience=np.concatenate([p.audience for p in parts]),
            terms=None if first.terms is None else {
                g: np.concatenate([p.terms[g] for p in parts if p.terms is not None]) for g in first.terms
            },
        )


class Selector:
    """Selection for one send: fitted profiles, slot groups and rules, pools built once.

    ``slots`` maps slot groups to their number of slots (a layout's
    ``[slots]`` table); ``shown`` is the recently-shown log, if any.
    """

    def __init__(
        self,
        profiles: Profiles,
        slots: Mapping[str, int],
        *,
        rules: SelectionRules | None = None,
        kinds: Mapping[str, SlotKind] | None = None,
        shown: ShownLog | None = None,
        explain: bool = False,
    ) -> None:
        rules = rules or profiles.rules
        check_fit_rules(profiles, rules)
        check_targeting(rules)
        kinds = {**{g: k for g, k in DEFAULT_KINDS.items() if g in slots}, **(kinds or {})}
        for group, kind in kinds.items():
            if kind not in SLOT_KINDS:
                raise ConfigError(f"slot group {group!r}: unknown kind {kind!r}; known: {', '.join(SLOT_KINDS)}")
        for group, count in slots.items():
            if not isinstance(count, int) or count < 0:
                raise ConfigError(f"slot group {group!r}: the number of slots must be a whole number, got {count!r}")
        self.profiles = profiles
        self.rules = rules
        self.slots = dict(slots)
        self.kinds: dict[str, SlotKind] = {g: kinds.get(g, "personal") for g in slots}
        self.order = sorted(self.slots, key=lambda g: self.kinds[g] != "new")
        self.shown = shown
        self.explain = explain
        self.pools: Pools = build_pools(profiles, rules)
        self.columns = ProductColumns.build(profiles, rules)
        self._weights = {
            "personal": weight_vector(rules.weights),
            "bestsellers": weight_vector(rules.weights, personal=False),
        }

    def __call__(self, recipients: Recipients) -> Selection:
        """Select for one batch (about a thousand recipients keeps the working set in cache)."""
        profiles, rules = self.profiles, self.rules
        cat = profiles.catalogue
        features = profiles.features(recipients, rules=rules, total_slots=sum(self.slots.values()), shown=self.shown)
        candidates = gather(self.pools, features, rules, profiles)
        cols = self.columns
        t = terms(profiles, features, candidates, rules, cols)
        allowed, explore = hard_rules(features, t, rules, cols)
        scores = {name: score(t.values, w) for name, w in self._weights.items()
                  if any(self._weight_name(k) == name for k in self.kinds.values())}  # fmt: skip
        plans = []
        for group in self.order:
            kind = self.kinds[group]
            ok = allowed & cols.is_new.take(t.product) if kind == "new" else allowed
            plans.append(GroupPlan(self.slots[group], scores[self._weight_name(kind)], ok))
        positions = fill(
            plans,
            group=cols.group.take(t.product),
            brand=cols.raw_brand.take(t.product),
            explore=explore,
            explore_allowed=features.explore_allowed,
            max_per_brand=rules.max_per_brand,
        )
        rows = np.arange(len(recipients))[:, None]
        picks, reasons, term_values = {}, {}, {}
        for group, pos in zip(self.order, positions):
            safe = np.maximum(pos, 0)
            picked = pos >= 0
            picks[group] = np.where(picked, candidates[rows, safe], -1).astype(np.int32)
            values = t.values[:, rows, safe]
            reasons[group] = reason_codes(
                values, self._weights[self._weight_name(self.kinds[group])],
                warm=features.warm, explore=explore[rows, safe], picked=picked,
            )  # fmt: skip
            if self.explain:
                term_values[group] = np.moveaxis(values, 0, -1).astype(np.float32)
        ordered = list(self.slots)
        return Selection(
            catalogue=cat,
            customer_ids=recipients.ids,
            picks={g: picks[g] for g in ordered},
            reasons={g: reasons[g] for g in ordered},
            audience=features.audience,
            terms={g: term_values[g] for g in ordered} if self.explain else None,
        )

    @staticmethod
    def _weight_name(kind: SlotKind) -> str:
        return "bestsellers" if kind == "bestsellers" else "personal"

    def iter_batches(self, recipients: Recipients, *, chunk_size: int = CHUNK_SIZE) -> Iterator[Selection]:
        """Select for ``recipients`` in batches of ``chunk_size``."""
        for start in range(0, len(recipients), chunk_size):
            yield self(recipients.take(slice(start, start + chunk_size)))


def iter_select(
    profiles: Profiles,
    recipients: Recipients,
    slots: Mapping[str, int],
    *,
    rules: SelectionRules | None = None,
    kinds: Mapping[str, SlotKind] | None = None,
    shown: ShownLog | None = None,
    explain: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Selection]:
    """:func:`select`, one :class:`Selection` per batch of ``chunk_size`` recipients."""
    selector = Selector(profiles, slots, rules=rules, kinds=kinds, shown=shown, explain=explain)
    return selector.iter_batches(recipients, chunk_size=chunk_size)


def select(
    profiles: Profiles,
    recipients: Recipients,
    slots: Mapping[str, int],
    *,
    rules: SelectionRules | None = None,
    kinds: Mapping[str, SlotKind] | None = None,
    shown: ShownLog | None = None,
    explain: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> Selection:
    """Choose each recipient's products for each slot group.

    >>> from datetime import date
    >>> from decimal import Decimal
    >>> from mailer.content.money import Money
    >>> from mailer.personalise import Catalogue, PurchaseTable, fit_profiles
    >>> def item(i, category, price):
    ...     return Product(id=f"P{i}", title=f"Item {i}", price=Money(Decimal(price), "GBP"),
    ...                    link=f"https://shop.test/p/{i}", category=category, brand=f"Brand {i}")
    >>> cat = Catalogue.from_products([item(1, ("Women", "Dresses"), "60"), item(2, ("Women", "Dresses"), "900"),
    ...                                item(3, ("Home", "Kitchen"), "20"), item(4, ("Women", "Dresses"), "55")])
    >>> history = PurchaseTable.from_arrays(cat, ["ann"], product=[0], day=[20000])  # a £60 dress in 2024
    >>> profiles = fit_profiles(cat, history, now=date(2026, 1, 1))
    >>> chosen = select(profiles, Recipients.from_arrays(["ann", "bob"]), {"picks": 2},
    ...                 rules=SelectionRules(exploration_share=0), explain=True)
    >>> chosen.product_ids(0)  # not the £900 dress, nothing from Home
    {'picks': ['P1', 'P4']}
    >>> [line.split(" (")[0] for line in chosen.explain(0)["picks"] + chosen.explain(1)["picks"]]
    ['P1: buys Women > Dresses', 'P4: buys Women > Dresses', 'P1: new customer: bestseller', 'P4: new customer: bestseller']
    """
    parts = list(
        iter_select(
            profiles, recipients, slots, rules=rules, kinds=kinds, shown=shown, explain=explain, chunk_size=chunk_size
        )
    )
    if not parts:
        selector = Selector(profiles, slots, rules=rules, kinds=kinds, shown=shown, explain=explain)
        return selector(recipients)
    return Selection.concat(parts)
