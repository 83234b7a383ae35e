"""Each customer's share of a campaign, from its ``[selection]`` and ``[audience]``.

:func:`personalisation_for` builds a
:class:`~mailer.personalise.strategies.Personalisation` for a campaign (its
purchase history, rates, audience and what customers were shown recently);
:func:`choices` then streams one :class:`Choice` per customer, a batch at a
time: whether they are in the audience, the layout and offer variant they get,
their products and why, and their RFM segment. ``mailer render`` turns choices
into files; ``mailer run`` keeps them in each queued row, so the worker sends
exactly what a preview showed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mailer.campaign import Campaign
from mailer.inputs.customers import Customer
from mailer.errors import ConfigError
from mailer.inputs.history import iter_purchases
from mailer.content.money import Rates
from mailer.personalise.exclusions import ShownLog
from mailer.personalise.strategies import Personalisation, SelectionConfig
from mailer.inputs.products import Product
from mailer.report import Report

__all__ = ["Choice", "SlotsFor", "choices", "personalisation_for"]

BATCH = 1024


@dataclass(frozen=True, slots=True)
class Choice:
    """What one customer gets. ``products`` is ``None`` when the strategy is
    not personal (everyone gets the campaign's slots); ``layout`` is ``None``
    for the campaign's own layout; ``preview`` says why each product was chosen."""

    customer: Customer
    kept: bool
    offer: bool = True
    layout: str | None = None
    products: dict[str, list[Product]] | None = None
    preview: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    segment: str | None = None

    def product_ids(self) -> dict[str, list[str]]:
        """The chosen product ids per slot group (empty when not personal)."""
        return {group: [p.id for p in products] for group, products in (self.products or {}).items()}


def personalisation_for(
    campaign: Campaign,
    config: SelectionConfig,
    catalogue: Mapping[str, Product],
    layout_slots: Mapping[str, int],
    *,
    report: Report,
    customers: Callable[[], Iterable[Customer]] | None = None,
    shown: ShownLog | None = None,
    rates: Rates | None = None,
    at: datetime | None = None,
) -> Personalisation:
    """A campaign's personalisation: its purchase history (``config.purchases``),
    rates and audience. ``customers`` (read once, silently) gives buyers'
    locales for bestsellers per market; ``shown`` what each customer saw lately;
    ``at`` the instant it is for (default: the campaign's ``send_date``, else now)."""
    if config.purchases is None and (campaign.audience is not None or config.offer_to != "everyone"):
        raise ConfigError(
            "the campaign's [audience] and selection.offer_to need a purchase history: "
            "give --purchases or selection.purchases"
        )
    purchases = list(iter_purchases(config.purchases, report=report)) if config.purchases else []
    markets = None
    if config.personalised and purchases and customers is not None:
        buyers = {p.customer_id for p in purchases}
        markets = {c.id: c.locale for c in customers() if c.id in buyers}
    return Personalisation(
        list(catalogue.values()),
        purchases,
        config,
        layout_slots,
        at=at or campaign.send_date or datetime.now(timezone.utc),
        rates=rates,
        markets=markets,
        audience=campaign.audience,
        shown=shown,
    )


SlotsFor = Callable[[str | None], Mapping[str, int]]
"""A layout's slot groups and how many products each shows (``None``: the campaign's layout)."""


def choices(
    personal: Personalisation,
    customers: Iterable[Customer],
    *,
    slots_for: SlotsFor | None = None,
    batch: int = BATCH,
) -> Iterator[Choice]:
    """One :class:`Choice` per customer, in order, ``batch`` customers at a time.

    Products are chosen for the largest of the campaign's layouts; with
    ``slots_for``, each customer keeps only what their own layout shows, so
    the preview, the queued row and the send log all say what the email shows.
    """
    stream = iter(customers)
    while chunk := list(itertools.islice(stream, batch)):
        answer = personal.batch(chunk)
        segments: list[str | None] = [None] * len(chunk)
        if personal.segments is not None:
            segments = [str(name) for name in personal.segments.segment_of([c.id for c in chunk])]
        for i, customer in enumerate(chunk):
            if not answer.keep[i]:
                yield Choice(customer, kept=False, segment=segments[i])
                continue
            selection = answer.selection
            products = selection.slots(i) if selection is not None else None
            preview = personal.preview(answer, i)
            if slots_for is not None and products is not None:
                shown = slots_for(answer.layout[i])
                products = {g: ps[: shown[g]] for g, ps in products.items() if g in shown}
                preview = {g: ps[: shown[g]] for g, ps in preview.items() if g in shown}
            yield Choice(
                customer,
                kept=True,
                offer=bool(answer.offer[i]),
                layout=answer.layout[i],
                products=products,
                preview=preview,
                segment=segments[i],
            )
