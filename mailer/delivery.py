"""Delivery of a campaign: from a campaign and its customers to queued rows,
and from a queued row back to the exact bytes to send.

:func:`queue_campaign` plans every customer (:mod:`mailer.plan`) and queues
one row per (campaign, customer) with its planned time, expiry, message class
and deterministic Message-ID; the customer travels in the row's payload. It
also stores a :class:`CampaignSpec` — which campaign file, feed and signing
key to render with, and the fixed date the messages carry — so any worker, on
any machine sharing the store, can render the row again with
:class:`CampaignRenderer` and get the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from mailer.campaign import Campaign, load_campaign
from mailer.caps import Caps, check_class
from mailer.customers import Customer
from mailer.errors import ConfigError
from mailer.mime import message_id
from mailer.plan import At, QuietHours, Rule, plan
from mailer.report import Report
from mailer.store import DEFAULT_EXPIRY, Delivery, NewDelivery, Store
from mailer.transports import Envelope

if TYPE_CHECKING:
    from mailer.compose import ComposerVariants
    from mailer.personalise.choices import Choice, SlotsFor
    from mailer.personalise.strategies import Personalisation
    from mailer.products import Product

UTC = timezone.utc


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """How to render a queued campaign again, anywhere: kept in the store.

    >>> spec = CampaignSpec(campaign="c.toml", feed="feed.xml", date="2026-11-24T09:00:00+00:00")
    >>> CampaignSpec.from_json(spec.to_json()) == spec
    True
    """

    campaign: str
    feed: str | None
    date: str
    state_dir: str = ".mailer"
    return_path: str | None = None
    layout: str | None = None
    campaign_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CampaignSpec:
        return cls(**json.loads(text))


def customer_payload(customer: Customer) -> dict[str, Any]:
    """A customer as plain JSON for a row's payload.

    >>> c = Customer("C1", "ann@shop.test", "Ann", "en_GB", "GBP", "Europe/London")
    >>> customer_from_payload(customer_payload(c)) == c
    True
    """
    data = dataclasses.asdict(customer)
    if customer.birthday is not None:
        data["birthday"] = customer.birthday.isoformat()
    return data


def customer_from_payload(data: dict[str, Any]) -> Customer:
    values = dict(data)
    if values.get("birthday"):
        values["birthday"] = date.fromisoformat(values["birthday"])
    return Customer(**values)


def sending_domain(campaign: Campaign) -> str:
    """The domain of the campaign's From address (Message-IDs are made on it)."""
    address = parseaddr(campaign.sender)[1]
    if "@" not in address:
        raise ConfigError(f"campaign {campaign.id!r}: 'from' has no address: {campaign.sender!r}")
    return address.rpartition("@")[2]


def queue_campaign(
    store: Store,
    campaign: Campaign,
    customers: Iterable[Customer],
    *,
    spec: CampaignSpec,
    rule: Rule | None = None,
    quiet: QuietHours | None = QuietHours(),
    message_class: str = "promotional",
    priority: int = 0,
    expiry: float = DEFAULT_EXPIRY,
    on_cap: Literal["defer", "drop"] = "defer",
    caps: Caps | None = Caps(),
    report: Report | None = None,
    state: Literal["planned", "queued"] = "queued",
    now: float | None = None,
    personalisation: Personalisation | None = None,
    slots_for: SlotsFor | None = None,
) -> Queued:
    """Plan and queue a campaign (by default to go now, past quiet hours).

    Rows already queued for a (campaign, customer) are left alone, so running
    this twice queues nothing twice; recipients dropped by caps are reported.
    With a ``personalisation`` (:mod:`mailer.personalise.choices`) each row
    also keeps that customer's products, layout, offer and segment, so the
    worker sends what a preview shows and the send log learns what each
    customer was shown; customers outside the audience are not queued.
    ``slots_for`` gives each layout's slot counts (see
    :func:`~mailer.personalise.choices.choices`).
    """
    check_class(message_class)
    store.put_campaign(campaign.id, spec.to_json())
    if rule is None:
        rule = At(datetime.fromtimestamp(time.time() if now is None else now, UTC))
    domain = sending_domain(campaign)
    by_id: dict[str, tuple[Customer, dict[str, Any]]] = {}
    dropped = 0
    left_out = 0

    def kept() -> Iterator[Customer]:
        nonlocal left_out
        if personalisation is None:
            for customer in customers:
                by_id[customer.id] = (customer, {})
                yield customer
            return
        from mailer.personalise.choices import choices

        for choice in choices(personalisation, customers, slots_for=slots_for):
            if not choice.kept:
                left_out += 1
                continue
            by_id[choice.customer.id] = (choice.customer, choice_payload(choice))
            yield choice.customer

    def rows() -> Iterator[NewDelivery]:
        nonlocal dropped
        for planned in plan(
            kept(),
            rule,
            quiet=quiet,
            message_class=message_class,
            caps=caps,
            history=store.send_log,
            on_cap=on_cap,
        ):
            customer, extra = by_id.pop(planned.recipient.id)
            if planned.dropped:
                dropped += 1
                if report is not None:
                    report.add(ConfigError(f"{customer.id}: not queued: {planned.dropped}"))
                continue
            start = planned.not_before.timestamp()
            yield NewDelivery(
                campaign=campaign.id,
                recipient=customer.id,
                address=customer.email,
                not_before=start,
                expires_at=start + expiry,
                priority=priority,
                message_class=message_class,
                message_id=message_id(campaign.id, customer.id, domain),
                on_cap=on_cap,
                payload={"customer": customer_payload(customer), **extra},
                state=state,
            )

    added = store.enqueue(rows(), now=now)
    return Queued(added, dropped, left_out)


class Queued(NamedTuple):
    """What :func:`queue_campaign` did: rows added, recipients dropped by
    caps, customers left out (outside the campaign's audience)."""

    added: int
    capped: int
    left_out: int = 0


def choice_payload(choice: Choice) -> dict[str, Any]:
    """What a row keeps of a customer's :class:`~mailer.personalise.choices.Choice`:
    the product ids per slot group (and all of them as ``shown``, which the
    send log records), the layout, the offer and the segment.

    >>> from mailer.personalise.choices import Choice
    >>> c = Customer("C1", "ann@shop.test", "Ann", "en_GB", "GBP", "Europe/London")
    >>> choice_payload(Choice(c, kept=True, offer=False, segment="loyal"))
    {'offer': False, 'segment': 'loyal'}
    """
    extra: dict[str, Any] = {}
    if choice.products is not None:
        slots = choice.product_ids()
        extra["slots"] = slots
        extra["shown"] = [product for ids in slots.values() for product in ids]
    if choice.layout:
        extra["layout"] = choice.layout
    if not choice.offer:
        extra["offer"] = False
    extra["segment"] = choice.segment
    return extra


class CampaignRenderer:
    """Renders queued rows with the campaign, feed and key their spec names;
    one :class:`~mailer.compose.Composer` per campaign variant, built on first use.

    A row that carries its own products (a personalised campaign) gets
    exactly those, in its layout and offer variant; any other row gets the
    campaign's slots. A product gone from the feed since queueing is left out.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._campaigns: dict[str, _Prepared] = {}

    def _prepared(self, campaign_id: str) -> _Prepared:
        prepared = self._campaigns.get(campaign_id)
        if prepared is not None:
            return prepared
        from mailer.cli.render import campaign_slots, choose_slots, selection_config
        from mailer.compose import Composer, ComposerVariants
        from mailer.feeds import iter_products
        from mailer.tokens import Signer, load_signing_key

        text = self.store.get_campaign(campaign_id)
        if text is None:
            raise ConfigError(f"campaign {campaign_id!r} is queued but the store does not say how to render it")
        spec = CampaignSpec.from_json(text)
        campaign = load_campaign(spec.campaign)
        if spec.layout:
            campaign = dataclasses.replace(campaign, layout=spec.layout)
        if spec.campaign_id:
            campaign = dataclasses.replace(campaign, id=spec.campaign_id)
        report = Report()
        catalogue = {p.id: p for p in iter_products(spec.feed, report=report)} if spec.feed else {}
        composer = Composer(
            campaign,
            signer=Signer(load_signing_key(state_dir=spec.state_dir)),
            now=datetime.fromisoformat(spec.date),
        )
        variants = ComposerVariants(composer, offer_to_everyone=False)
        # Rows without their own products get the campaign's, chosen as `mailer render` chooses them.
        strategy = selection_config(campaign).strategy
        slots = choose_slots(campaign, campaign_slots(campaign, variants), catalogue, report, strategy=strategy)
        sender = spec.return_path or parseaddr(campaign.sender)[1]
        self._campaigns[campaign_id] = prepared = _Prepared(variants, catalogue, slots, sender)
        return prepared

    def __call__(self, delivery: Delivery) -> Envelope:
        prepared = self._prepared(delivery.campaign)
        payload = delivery.payload
        customer = customer_from_payload(dict(payload["customer"]))
        composer = prepared.variants(payload.get("layout"), bool(payload.get("offer", True)))
        groups = composer.layout.slots
        chosen = payload.get("slots")
        if chosen is None:
            slots = {g: ps[: groups[g]] for g, ps in prepared.slots.items() if g in groups}
        else:
            catalogue = prepared.catalogue
            slots = {
                g: [catalogue[i] for i in ids if i in catalogue][: groups[g]]
                for g, ids in chosen.items() if g in groups
            }  # fmt: skip
        attributes = {"segment": payload["segment"]} if "segment" in payload else None
        message = composer.compose(customer, slots, attributes=attributes)
        return Envelope(prepared.sender, (delivery.address,), message.data, message.message_id)


@dataclass(frozen=True, slots=True)
class _Prepared:
    variants: ComposerVariants
    catalogue: dict[str, Product]
    slots: dict[str, list[Product]]
    sender: str


def spec_for(
    campaign: Campaign,
    *,
    feed: str | Path | None,
    state_dir: str | Path = ".mailer",
    return_path: str | None = None,
    now: datetime | None = None,
) -> CampaignSpec:
    """The spec for a campaign file: absolute paths, and the date the messages
    will carry (the campaign's ``send_date``, else ``now``), fixed once."""
    if campaign.source is None:
        raise ConfigError(f"campaign {campaign.id!r} must come from a file to be queued")
    when = campaign.send_date or now or datetime.now(UTC)
    return CampaignSpec(
        campaign=str(Path(campaign.source).resolve()),
        feed=str(Path(feed).resolve()) if feed else None,
        date=when.astimezone(UTC).isoformat(),
        state_dir=str(Path(state_dir).resolve()),
        return_path=return_path,
        layout=campaign.layout,
        campaign_id=campaign.id,
    )
