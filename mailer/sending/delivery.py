"""Delivery of a campaign: from a prepared campaign and its customers to
queued rows, and from a queued row back to the exact bytes to send.

:func:`queue_campaign` plans every customer (:mod:`mailer.sending.plan`) and queues
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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from mailer.campaign import Campaign
from mailer.sending.caps import Caps, check_class
from mailer.inputs.customers import Customer
from mailer.errors import ConfigError, MailerError
from mailer.content.dkim import DkimSigner
from mailer.feedback import VerpSigner, verp_sender
from mailer.content.mime import message_id
from mailer.personalise.choices import Choice
from mailer.sending.plan import At, QuietHours, Rule, plan
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
    # A flat record: a shallow copy, not dataclasses.asdict's deep one (a tenth of the time).
    data = {name: getattr(customer, name) for name in _CUSTOMER_FIELDS}
    if customer.birthday is not None:
        data["birthday"] = customer.birthday.isoformat()
    return data


_CUSTOMER_FIELDS = tuple(f.name for f in dataclasses.fields(Customer))


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


def dkim_signer(campaign: Campaign) -> DkimSigner | None:
    """The signer of a campaign whose ``[delivery]`` says to DKIM-sign (``None``
    when it does not): ``d=`` is ``dkim_domain``, else the From domain. A key
    that does not load is a :class:`~mailer.errors.ConfigError` naming the
    campaign and the key file."""
    settings = campaign.delivery
    if settings.dkim_selector is None or settings.dkim_key is None:
        return None
    try:
        domain = settings.dkim_domain or sending_domain(campaign)
        return DkimSigner(settings.dkim_key, domain=domain, selector=settings.dkim_selector)
    except ConfigError as err:
        raise ConfigError(f"campaign {campaign.id!r}: {err}") from None


def stored_snapshot(store: Store, campaign_id: str) -> Snapshot | None:
    """The content a campaign was first queued with, if it was."""
    text = store.get_campaign(campaign_id)
    return Snapshot.from_text(text) if text is not None else None


def uses_verp(prepared: PreparedCampaign) -> bool:
    """Whether messages leave with a VERP envelope sender (a signed token of
    the message in the return path, so bounces that come back later name it):
    when the campaign has a return path of its own (``--return-path`` or
    ``[delivery] return_path``), whose mailbox must take ``+`` sub-addresses."""
    return bool(prepared.snapshot.return_path or prepared.campaign.delivery.return_path)


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
    dkim_signer(campaign)  # a DKIM key that does not load is refused now, not once per queued row
    if uses_verp(prepared):  # a return path with no room for the token is refused now, too
        try:
            verp_sender(prepared.sender, "<" + "0" * 32 + "@check>", VerpSigner(bytes(32)))
        except MailerError as err:
            raise ConfigError(f"return path {prepared.sender!r}: {err}") from err
    kept = store.put_campaign(campaign.id, prepared.snapshot.to_text())
    if Snapshot.from_text(kept).digest != prepared.snapshot.digest:
        raise ConfigError(
            f"campaign {campaign.id!r} was queued before with other content (campaign file, layouts, catalogs, "
            "rates or products): prepare new rows from what it was queued with (stored_snapshot), or give "
            "the campaign a new id"
        )
    queued_at = time.time() if now is None else now
    if rule is None:
        rule = At(datetime.fromtimestamp(queued_at, UTC))
    domain = sending_domain(campaign)
    by_id: dict[str, tuple[Customer, dict[str, Any]]] = {}
    dropped = 0
    left_out = 0
    stream = choices if choices is not None else prepared.choices(customers)

    dials: list[tuple[str, str]] = []

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
            if choice.customer.volume is not None:
                # The file's volume dial is kept, so a worker's check at claim time applies it too.
                dials.append((choice.customer.id, choice.customer.volume))
                if len(dials) >= 1000:
                    store.set_volumes(dials)
                    dials.clear()
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
            volume=lambda recipient: by_id[recipient][0].volume or store.volume(recipient),
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
                expires_at=max(start, queued_at) + expiry,  # never before it was queued
                priority=priority,
                message_class=message_class,
                message_id=message_id(campaign.id, customer.id, domain),
                on_cap=on_cap,
                # The instant the message is for: its Date: and its sale prices, the same on every retry.
                payload={"customer": customer_payload(customer), "at": max(start, queued_at), **extra},
                state=state,
            )

    added = store.enqueue(rows(), now=now)
    store.set_volumes(dials)
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
        missing = [i for ids in chosen.values() for i in ids if i not in catalogue]
        if missing:
            raise ConfigError(f"product(s) {', '.join(missing[:3])} of this row are not in the campaign's snapshot")
        products = {g: [catalogue[i] for i in ids] for g, ids in chosen.items()}
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
    one :class:`~mailer.prepared.PreparedCampaign` per campaign, built on first use.
    A campaign whose ``[delivery]`` names a DKIM key has each message signed
    with it (the key file is read once, when the campaign is prepared)."""

    def __init__(self, store: Store, *, key_file: str | Path | None = None) -> None:
        self.store = store
        self.key_file = key_file
        """The link-signing key of this machine's project, used when the key file
        the campaign was queued with is not here (another machine)."""
        self._campaigns: dict[str, PreparedCampaign] = {}
        self._dkim: dict[str, DkimSigner | None] = {}
        self._verp: dict[str, VerpSigner | None] = {}
        self._broken: dict[str, MailerError] = {}

    def prepared(self, campaign_id: str) -> PreparedCampaign:
        """The campaign as it was queued (a campaign that cannot be prepared
        fails every row at once, without preparing it again for each)."""
        prepared = self._campaigns.get(campaign_id)
        if prepared is None:
            broken = self._broken.get(campaign_id)
            if broken is not None:
                raise broken
            try:
                prepared = self._prepare(campaign_id)
            except MailerError as err:
                self._broken[campaign_id] = err
                raise
            self._campaigns[campaign_id] = prepared
        return prepared

    def _prepare(self, campaign_id: str) -> PreparedCampaign:
        from mailer.prepared import PreparedCampaign
        from mailer.tokens import Signer, load_signing_key

        snapshot = stored_snapshot(self.store, campaign_id)
        if snapshot is None:
            raise ConfigError(f"campaign {campaign_id!r} is queued but the store does not say how to render it")
        # $MAILER_SECRET wins; else the key the campaign was queued with, else this project's. Never a new one.
        key_file = snapshot.key_file
        if (key_file is None or not Path(key_file).is_file()) and self.key_file is not None:
            key_file = str(self.key_file)
        key = load_signing_key(path=key_file, create=False) if key_file else load_signing_key(create=False)
        prepared = PreparedCampaign.from_snapshot(snapshot, signer=Signer(key))
        try:
            self._dkim[campaign_id] = dkim_signer(prepared.campaign)  # the key file the campaign names, read once
            self._verp[campaign_id] = VerpSigner(key) if uses_verp(prepared) else None
        except MailerError:
            prepared.close()
            raise
        return prepared

    def __call__(self, delivery: Delivery) -> Envelope:
        prepared = self.prepared(delivery.campaign)
        payload = delivery.payload
        choice = choice_from_payload(payload, prepared)
        empty = prepared.empty_groups(choice)
        if empty:
            raise ConfigError(f"this message would show no product in slot group(s) {', '.join(empty)}")
        at = payload.get("at")
        when = datetime.fromtimestamp(at, UTC) if at is not None else None
        message = prepared.compose(choice, at=when)
        dkim = self._dkim.get(delivery.campaign)
        data = dkim.sign(message.data) if dkim is not None else message.data
        verp = self._verp.get(delivery.campaign)
        sender = verp_sender(prepared.sender, message.message_id, verp) if verp is not None else prepared.sender
        return Envelope(sender, (delivery.address,), data, message.message_id)

    def close(self) -> None:
        for prepared in self._campaigns.values():
            prepared.close()
        self._campaigns.clear()
        self._dkim.clear()
        self._verp.clear()
