"""Selection strategies by name, as campaign files and ``mailer render`` choose them.

A campaign's ``[selection]`` table names a strategy and its parameters::

    [selection]
    strategy = "personal"          # or "bestsellers", "listed", "first_in_stock"
    purchases = "purchases.csv"    # relative to the campaign file (or: mailer render --purchases)
    added_from = "custom_label_0"  # feed field holding the day each product went live (for newness)
    exploration_share = 0.1        # ... and any other SelectionRules field
    max_per_brand = 2
    kinds = { new_in = "new" }     # slot group kinds (personal, new, bestsellers)
    offer_to = "promotion"         # the [offer] only for customers who buy on discount:
                                   # "everyone" (default), "promotion", "not_full_price"
    [selection.weights]
    newness = 1.0

``listed`` (the campaign's ``[slots]`` product ids for everyone) and
``first_in_stock`` (the feed's first in-stock products) are the plain ways
``mailer render`` has always had; without a ``[selection]`` table the first
applies when ``[slots]`` is given, else the second. ``personal`` is
:func:`~mailer.personalise.selection.select`; ``bestsellers`` the same
without personal affinity (popularity, fit, price band and diversity still
apply). ``offer_to`` makes the campaign's ``[offer]`` the promotional
variant: customers whose purchases say they do not respond to money off get
the content-led variant, without it (:mod:`mailer.personalise.promotions`).
:class:`Personalisation` is the bridge from files to messages: products,
purchases and customers in; per batch of customers their slots (with
reasons), whether they are in the ``[audience]``, and whether they get the
offer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mailer.inputs.customers import Customer
from mailer.errors import ConfigError
from mailer.inputs.history import Purchase
from mailer.content.money import Rates
from mailer.personalise.catalogue import Catalogue
from mailer.personalise.exclusions import ShownLog
from mailer.personalise.profiles import fit_profiles
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.reasons import describe
from mailer.personalise.recipients import Recipients
from mailer.personalise.promotions import PromotionResponse, promotion_response
from mailer.personalise.rules import SLOT_KINDS, SelectionRules, SlotKind
from mailer.personalise.segments import Audience, Segments, rfm
from mailer.personalise.selection import Selection, Selector
from mailer.inputs.products import Product

__all__ = ["OFFER_TO", "STRATEGIES", "Batch", "Personalisation", "SelectionConfig", "parse_selection"]

STRATEGIES = ("listed", "first_in_stock", "personal", "bestsellers")
#: Who gets the campaign's ``[offer]`` (the promotional variant); the others get the content-led one.
OFFER_TO = ("everyone", "promotion", "not_full_price")
_OWN_KEYS = ("strategy", "purchases", "added_from", "kinds", "offer_to")


@dataclass(frozen=True)
class SelectionConfig:
    """A parsed ``[selection]`` table.

    >>> config = parse_selection({"strategy": "personal", "exploration_share": 0.2, "kinds": {"new_in": "new"}})
    >>> config.strategy, config.rules.exploration_share, config.kinds
    ('personal', 0.2, {'new_in': 'new'})
    >>> parse_selection({"strategy": "psychic"})
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: selection.strategy: unknown strategy 'psychic'; known: listed, first_in_stock, personal, bestsellers
    """

    strategy: str | None = None
    rules: SelectionRules = field(default_factory=SelectionRules)
    purchases: Path | None = None
    added_from: str | None = None
    kinds: dict[str, SlotKind] = field(default_factory=dict)
    offer_to: str = "everyone"

    @property
    def personalised(self) -> bool:
        """Whether products are chosen per customer."""
        return self.strategy in ("personal", "bestsellers")

    @property
    def needs_history(self) -> bool:
        """Whether anything here reads the purchase history."""
        return self.personalised or self.offer_to != "everyone"

    def with_strategy(self, strategy: str | None) -> SelectionConfig:
        """This configuration under another strategy (``None``: unchanged)."""
        if strategy is None:
            return self
        _check_strategy(strategy, "--strategy")
        return dataclasses.replace(self, strategy=strategy)


def _check_strategy(name: object, where: str) -> None:
    if name not in STRATEGIES:
        raise ConfigError(f"{where}: unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


def parse_selection(table: Mapping[str, Any], *, where: str = "selection", base: Path | None = None) -> SelectionConfig:
    """Read a ``[selection]`` table; ``purchases`` is resolved against ``base`` (the campaign's folder)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    strategy = table.get("strategy")
    if strategy is not None:
        _check_strategy(strategy, f"{where}.strategy")
    purchases = table.get("purchases")
    if purchases is not None and not isinstance(purchases, str):
        raise ConfigError(f"{where}.purchases must be a file name")
    added_from = table.get("added_from")
    if added_from is not None and not isinstance(added_from, str):
        raise ConfigError(f"{where}.added_from must be a feed field name, such as custom_label_0")
    kinds = table.get("kinds", {})
    if not isinstance(kinds, Mapping) or not all(k in SLOT_KINDS for k in kinds.values()):
        raise ConfigError(f"{where}.kinds must map slot groups to one of {', '.join(SLOT_KINDS)}")
    offer_to = table.get("offer_to", "everyone")
    if offer_to not in OFFER_TO:
        raise ConfigError(f"{where}.offer_to must be one of {', '.join(OFFER_TO)}, got {offer_to!r}")
    rules = SelectionRules.from_mapping({k: v for k, v in table.items() if k not in _OWN_KEYS}, where=where)
    path = None
    if purchases:
        path = Path(purchases) if base is None or Path(purchases).is_absolute() else base / purchases
    return SelectionConfig(
        strategy=strategy, rules=rules, purchases=path, added_from=added_from, kinds=dict(kinds), offer_to=offer_to
    )


def _added_days(products: Iterable[Product], field_name: str | None) -> dict[str, date]:
    out: dict[str, date] = {}
    if not field_name:
        return out
    for product in products:
        text = product.extra.get(field_name, "").strip()
        try:
            out[product.id] = date.fromisoformat(text[:10])
        except ValueError:
            continue
    return out


@dataclass(frozen=True, eq=False)
class Batch:
    """One batch of customers: their products (``None`` when the strategy is not personal), whether each
    is in the audience, whether each gets the campaign's offer (the promotional variant), and the
    layout their segment asks for (``None``: the campaign's)."""

    selection: Selection | None
    keep: list[bool]
    offer: list[bool]
    layout: list[str | None]


class Personalisation:
    """What a campaign needs from purchase history, built once per send at ``at``.

    Profiles and a :class:`~mailer.personalise.selection.Selector` for the
    ``personal`` and ``bestsellers`` strategies (``shown``: what each customer
    was shown recently, e.g. the store's send log); RFM segments for an
    ``audience``; promotion response when ``offer_to`` is not ``everyone``.
    :meth:`batch` then answers for a batch of customers (a thousand or so).
    """

    def __init__(
        self,
        products: Sequence[Product],
        purchases: Iterable[Purchase],
        config: SelectionConfig,
        slots: Mapping[str, int],
        *,
        at: datetime | None = None,
        rates: Rates | None = None,
        markets: Mapping[str, str] | None = None,
        audience: Audience | None = None,
        shown: ShownLog | None = None,
    ) -> None:
        at = at or datetime.now(timezone.utc)
        rules = config.rules
        self.config = config
        self.catalogue = Catalogue.from_products(
            list(products), rules=rules, at=at, added=_added_days(products, config.added_from), rates=rates
        )
        table = PurchaseTable.from_purchases(purchases, self.catalogue, rates=rates, markets=markets)
        self.profiles = fit_profiles(self.catalogue, table, now=at, rules=rules)
        self.selector: Selector | None = None
        if config.personalised:
            kinds: dict[str, SlotKind] = dict(config.kinds)
            if config.strategy == "bestsellers":
                kinds = {group: "new" if kinds.get(group) == "new" else "bestsellers" for group in slots}
            self.selector = Selector(self.profiles, slots, rules=rules, kinds=kinds, shown=shown)
        self.audience = audience
        # Segments serve audience filters and layouts (recipient.segment).
        self.segments: Segments | None = rfm(table, today=self.profiles.today)
        if audience is not None:
            audience.check(self.segments)
        self.promotions: PromotionResponse | None = None
        if config.offer_to != "everyone":
            self.promotions = promotion_response(table, today=self.profiles.today)

    def batch(self, customers: Sequence[Customer]) -> Batch:
        """Products, audience and offer for a batch of customers."""
        recipients = Recipients.from_customers(customers)
        selection = self.selector(recipients) if self.selector is not None else None
        keep = selection.audience.copy() if selection is not None else np.ones(len(recipients), dtype=bool)
        if self.audience is not None and self.segments is not None:
            keep &= self.audience.mask(self.segments, recipients.ids)
        offer = np.ones(len(recipients), dtype=bool)
        if self.promotions is not None:
            labels = self.promotions.labels_of(recipients.ids)
            offer = labels == "promotion" if self.config.offer_to == "promotion" else labels != "full_price"
        layout: list[str | None] = [None] * len(recipients)
        if self.audience is not None and self.segments is not None and self.audience.layouts:
            layout = [str(x) if x else None for x in self.audience.layout_for(self.segments, recipients.ids, "")]
        return Batch(selection, keep.tolist(), np.asarray(offer, dtype=bool).tolist(), layout)

    def preview(self, batch: Batch, i: int) -> dict[str, list[dict[str, str]]]:
        """Customer ``i``'s products and why they were chosen, for a preview file."""
        out: dict[str, list[dict[str, str]]] = {}
        if batch.selection is None:
            return out
        selection = batch.selection
        for group, picks in selection.picks.items():
            out[group] = [
                {"id": str(self.catalogue.ids[p]),
                 "reason": describe(int(selection.reasons[group][i, slot]), p, self.catalogue)}
                for slot, p in enumerate(picks[i].tolist()) if p >= 0
            ]  # fmt: skip
        return out
