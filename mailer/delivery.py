"""Delivery of a campaign: from a prepared campaign and its customers to
queued rows, and from a queued row back to the exact bytes to send.

:func:`queue_campaign` plans every customer (:mod:`mailer.plan`) and queues
one row per (campaign, customer) with its planned time, expiry, message class
and deterministic Message-ID; the row keeps what is particular to the
customer (their record, products, layout variant, offer, segment and the
instant the message is for). The campaign's frozen content, a
:class:`~mailer.snapshot.Snapshot`, is kept once beside the rows, so any
worker, on any machine sharing the store, renders a row with
:class:`CampaignRenderer` to the bytes a preview showed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from mailer.campaign import Campaign
from mailer.caps import Caps, check_class
from mailer.customers import Customer
from mailer.errors import ConfigError
from mailer.mime import message_id
from mailer.personalise.choices import Choice
from mailer.plan import At, QuietHours, Rule, plan
from mailer.report import Report
from mailer.snapshot import Snapshot
from mailer.store import DEFAULT_EXPIRY, Delivery, NewDelivery, Store
from mailer.transports import Envelope

if TYPE_CHECKING:
    from mailer.prepared import PreparedCampaign

UTC = timezone.utc


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


def stored_snapshot(store: Store, campaign_id: str) -> Snapshot | None:
    """The content a campaign was first queued with, if it was."""
    text = store.get_campaign(campaign_id)
    return Snapshot.from_text(text) if text is not None else None


def queue_campaign(
    store: Store,
    prepared: PreparedCampaign,
    customers: Iterable[Customer],
    *,
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
    choices: Iterable[Choice] | None = None,
) -> Queued:
    """Plan and queue a prepared campaign (by default to go now, past quiet hours).

    The campaign's snapshot is stored the first time; a campaign queued
    before keeps its first snapshot (prepare new rows from it, see
    :func:`stored_snapshot`). Rows already queued for a (campaign, customer)
    are left alone, so running this twice queues nothing twice; recipients
    dropped by caps are reported. Each row keeps the customer's
    :class:`~mailer.personalise.choices.Choice` (``choices``, by default
    ``prepared.choices(customers)``), so the worker sends what a preview
    shows; customers outside the audience are not queued.
    """
    check_class(message_class)
    campaign = prepared.campaign
    if store.get_campaign(campaign.id) is None:
        store.put_campaign(campaign.id, prepared.snapshot.to_text())
    queued_at = time.time() if now is None else now
    if rule is None:
        rule = At(datetime.fromtimestamp(queued_at, UTC))
    domain = sending_domain(campaign)
    by_id: dict[str, tuple[Customer, dict[str, Any]]] = {}
    dropped = 0
    left_out = 0
    stream = choices if choices is not None else prepared.choices(customers)

    def kept() -> Iterator[Customer]:
        nonlocal left_out
        for choice in stream:
            if not choice.kept:
                left_out += 1
                continue
            empty = prepared.empty_groups(choice)
            if empty:  # never an email with an empty product grid
                left_out += 1
                if report is not None:
                    report.add(ConfigError(f"{choice.customer.id}: not queued: no product for slot group(s) "
                                           f"{', '.join(empty)}"))  # fmt: skip
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
                # The instant the message is for: its Date: and its sale prices, the same on every retry.
                payload={"customer": customer_payload(customer), "at": max(start, queued_at), **extra},
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


def choice_from_payload(payload: dict[str, Any], prepared: PreparedCampaign) -> Choice:
    """The :class:`~mailer.personalise.choices.Choice` a row was queued with;
    its products come from the campaign's snapshot."""
    customer = customer_from_payload(dict(payload["customer"]))
    products = None
    chosen = payload.get("slots")
    if chosen is not None:
        catalogue = prepared.catalogue
        products = {g: [catalogue[i] for i in ids if i in catalogue] for g, ids in chosen.items()}
    return Choice(
        customer,
        kept=True,
        offer=bool(payload.get("offer", True)),
        layout=payload.get("layout"),
        products=products,
        segment=payload.get("segment"),
    )


class CampaignRenderer:
    """Renders queued rows from the snapshot their campaign was queued with;
    one :class:`~mailer.prepared.PreparedCampaign` per campaign, built on first use."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._campaigns: dict[str, PreparedCampaign] = {}

    def prepared(self, campaign_id: str) -> PreparedCampaign:
        """The campaign as it was queued."""
        prepared = self._campaigns.get(campaign_id)
        if prepared is None:
            from mailer.prepared import PreparedCampaign
            from mailer.tokens import Signer, load_signing_key

            snapshot = stored_snapshot(self.store, campaign_id)
            if snapshot is None:
                raise ConfigError(f"campaign {campaign_id!r} is queued but the store does not say how to render it")
            key = load_signing_key(path=snapshot.key_file) if snapshot.key_file else load_signing_key()
            prepared = PreparedCampaign.from_snapshot(snapshot, signer=Signer(key))
            self._campaigns[campaign_id] = prepared
        return prepared

    def __call__(self, delivery: Delivery) -> Envelope:
        prepared = self.prepared(delivery.campaign)
        payload = delivery.payload
        choice = choice_from_payload(payload, prepared)
        at = payload.get("at")
        when = datetime.fromtimestamp(at, UTC) if at is not None else None
        message = prepared.compose(choice, at=when)
        return Envelope(prepared.sender, (delivery.address,), message.data, message.message_id)

    def close(self) -> None:
        for prepared in self._campaigns.values():
            prepared.close()
        self._campaigns.clear()
