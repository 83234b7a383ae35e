"""Compose: one customer + their products → one complete message.

A :class:`Composer` holds everything that is the same for many recipients —
compiled layouts per locale, localisers per (locale, currency, time zone),
rendered product cards per (locale, currency), subject templates per
language, the campaign's constant headers — so that per recipient only what
truly differs is done: build a small context, two Jinja renders, and the
message bytes. Product fields are formatted only for a card not yet
rendered (see :mod:`mailer.content.views`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import jinja2
import markupsafe

from mailer.campaign import Campaign
from mailer.content.catalogs import Catalogs
from mailer.inputs.customers import Customer
from mailer.errors import ConfigError, LayoutSyntaxError, MailerError, SlotError
from mailer.content.layouts import CompiledLayout, LayoutLibrary
from mailer.content.localise import Localiser, Localisers
from mailer.content.mime import MessageTemplate
from mailer.content.money import Rates
from mailer.inputs.products import Product
from mailer.project import SHIPPED_LOCALES
from mailer.content.render import CacheBudget, FragmentStore, RenderedEmail, make_environment, render
from mailer.report import Report
from mailer.tokens import Signer
from mailer.content.views import EscapedProductView, ProductView

GMAIL_CLIP_BYTES = 100 * 1024
"""Gmail clips HTML bodies past about 102 KB and hides the rest (the footer
with the unsubscribe link among it); we warn a little before that."""

_CJK_LANGUAGES = frozenset({"ja", "zh", "ko"})
CACHE_BUDGET = 48 * 1024 * 1024
"""Characters (about bytes) a composer keeps of rendered product cards,
across all its locales; past it, new ones are rendered each time."""


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """One recipient's message: the bytes to send and what they were made of."""

    customer_id: str
    to: str
    message_id: str
    subject: str
    bodies: RenderedEmail
    data: bytes
    warnings: tuple[str, ...] = ()

    @property
    def html(self) -> str:
        """The HTML part (decoded on demand: sending needs only ``data``)."""
        return self.bodies.html

    @property
    def text(self) -> str:
        return self.bodies.text


def first_name(name: str, language: str) -> str:
    """The name to greet someone by.

    Where family names come first and a greeting uses the full name (Japanese,
    Chinese, Korean), the whole name; elsewhere the first word. Empty when
    the name holds no letter (blank, ``-``, ``.``, invisible characters):
    layouts then greet without a name.

    >>> first_name("Søren Kierkegaard", "da"), first_name("田中 太郎", "ja")
    ('Søren', '田中 太郎')
    >>> first_name(" \u200b ", "en"), first_name("-", "de"), first_name("", "ja")
    ('', '', '')
    """
    name = name.strip()
    if not any(char.isalpha() for char in name):
        return ""
    if language in _CJK_LANGUAGES:
        return name
    return name.split()[0]


@dataclass
class _LocaleState:
    """What a (layout locale, currency) pair shares across recipients."""

    layout: CompiledLayout
    fragments_html: FragmentStore
    """Rendered product cards, quoted-printable encoded (see render's encode_html)."""
    fragments_text: FragmentStore
    subject: jinja2.Template | str | None = None
    preheader: jinja2.Template | str | None = None
    constants_html: dict[str, Any] = field(default_factory=dict)
    constants_text: dict[str, Any] = field(default_factory=dict)
    last_used: int = 0
    """The composer's message count when this state last composed one."""


IDLE_MESSAGES = 1_000
"""A locale's cards make room for a new locale's, when the cache budget runs
low, once that many messages have gone by without needing them."""


class Composer:
    """Composes a campaign's messages, one customer at a time.

    >>> from mailer.campaign import load_campaign           # doctest: +SKIP
    >>> composer = Composer(load_campaign("fixtures/campaign.toml"))  # doctest: +SKIP
    >>> message = composer.compose(customer, {"picks": products})      # doctest: +SKIP

    Rendered product cards are cached per locale and currency, within
    ``cache_budget`` characters (about bytes) in all. Once the budget is
    full, new cards are rendered every time; but when a locale appears that
    the composer has not seen yet and the budget is low, the cards of
    locales idle for ``IDLE_MESSAGES`` messages are dropped to make room
    (recipients sorted by country would otherwise have only the first few
    locales cached).
    """

    def __init__(
        self,
        campaign: Campaign,
        *,
        layouts: LayoutLibrary | None = None,
        catalogs: Catalogs | None = None,
        rates: Rates | None = None,
        signer: Signer,
        now: datetime | None = None,
        cache_budget: int = CACHE_BUDGET,
    ) -> None:
        self.campaign = campaign
        self.catalogs = catalogs or Catalogs(SHIPPED_LOCALES)
        self.layouts = layouts or LayoutLibrary(
            environment_factory=make_environment, translations=self.catalogs.translations
        )
        if rates is None and campaign.rates_path is not None:
            rates = Rates.from_csv(campaign.rates_path)
        self.localisers = Localisers(rates=rates, catalogs=self.catalogs)
        self.signer = signer
        self.now = now or campaign.send_date or datetime.now(timezone.utc)
        self._states: dict[tuple[str, str], _LocaleState] = {}
        self._composed = 0
        self._card_keys: dict[Hashable, int] = {}
        """A number per distinct product (equal products share one): it keys
        the product's cards. Grows with the catalogue, not the recipients."""
        self.cache_budget = CacheBudget(cache_budget)
        self._text_env = make_environment(False)
        from_name, from_address = _mailbox(campaign.sender, "from", campaign)
        reply_name, reply_address = (
            _mailbox(campaign.reply_to, "reply_to", campaign) if campaign.reply_to else ("", None)
        )
        self._template = MessageTemplate(
            from_address=from_address,
            from_name=from_name,
            reply_to=reply_address,
            reply_to_name=reply_name,
        )
        # Checks the layout exists and its structure compiles (MJML, slots) now;
        # its Jinja templates compile per locale and currency, when first used.
        self.slots: Mapping[str, int] = self.layouts.slots(campaign.layout)
        self._layout: CompiledLayout | None = None

    @property
    def layout(self) -> CompiledLayout:
        """The campaign's layout compiled without a locale (compiled on first use)."""
        if self._layout is None:
            self._layout = self.layouts.get(self.campaign.layout)
        return self._layout

    # -- shared per (locale, currency) ---------------------------------------------------------

    def _state(self, locale: str, currency: str, l10n: Localiser) -> _LocaleState:
        key = (locale, currency)
        state = self._states.get(key)
        if state is None:
            chain = self.catalogs.fallback_chain(locale)
            content = self.campaign.content_for(chain)
            brand = dict(self.campaign.brand)
            offer = dict(self.campaign.offer)
            offer.setdefault("code", None)
            offer.setdefault("expires", None)
            constants = {"content": content, "brand": brand, "offer": offer}
            state = _LocaleState(
                layout=self.layouts.get(self.campaign.layout, locale, constants=constants, l10n=l10n),
                fragments_html=FragmentStore(self.cache_budget),
                fragments_text=FragmentStore(self.cache_budget),
            )
            state.subject = self._compile_text("subject", chain)
            state.preheader = self._compile_text("preheader", chain)
            state.constants_text = constants
            state.constants_html = {
                "content": _escaped(content),
                "brand": _escaped(brand),
                "offer": _escaped(offer),
            }
            self._make_room()
            self._states[key] = state
        return state

    def _make_room(self) -> None:
        """Before a new locale's first card: if less than a quarter of the
        budget is left, drop the cards of locales idle for ``IDLE_MESSAGES``."""
        budget = self.cache_budget
        if budget.left * 4 >= budget.total:
            return
        for state in self._states.values():
            if self._composed - state.last_used >= IDLE_MESSAGES:
                state.fragments_html.release()
                state.fragments_text.release()

    def _compile_text(self, key: str, chain: Sequence[str]) -> jinja2.Template | str:
        """The subject or preheader template for a language; a text that uses
        no variable is rendered here, once."""
        from jinja2 import meta

        source = self.campaign.text(key, chain)
        try:
            template = self._text_env.from_string(source)
            if not meta.find_undeclared_variables(self._text_env.parse(source)):
                return " ".join(template.render().split())
            return template
        except jinja2.TemplateSyntaxError as err:
            raise LayoutSyntaxError(
                f"campaign {key}: {err.message}",
                layout=self.campaign.layout,
                path=str(self.campaign.source) if self.campaign.source else None,
            ) from err

    # -- per recipient -------------------------------------------------------------------------

    def compose(
        self,
        customer: Customer,
        slots: Mapping[str, Sequence[Product]] | None = None,
        *,
        attributes: Mapping[str, str | None] | None = None,
        at: datetime | None = None,
    ) -> ComposedMessage:
        """The complete message for ``customer`` with ``slots`` (group → products).

        ``attributes`` adds fields to ``recipient`` in the layout, e.g. the
        RFM ``segment`` (``{% if recipient.segment == "champions" %}``);
        ``recipient.segment`` is ``None`` when not given. ``at`` is the
        instant the message is for (its ``Date:``, and the instant sale
        prices are judged at); by default the composer's ``now``.
        """
        l10n = self.localisers.get(customer.locale, customer.currency, customer.timezone)
        state = self._state(customer.locale, customer.currency, l10n)
        state.last_used = self._composed
        self._composed += 1
        layout = state.layout
        slots = slots or {}
        if not layout.slots.keys() >= slots.keys():
            unknown = set(slots) - set(layout.slots)
            raise SlotError(
                f"slot group(s) {sorted(unknown)} are not in layout {layout.name!r} "
                f"(it has {sorted(layout.slots)})",
                name=sorted(unknown)[0],
                layout=layout.name,
            )
        slots_html: dict[str, list[dict[str, Any]]] = {}
        slots_text: dict[str, list[dict[str, Any]]] = {}
        now = self.now if at is None else at
        keys = self._card_keys
        for group, count in layout.slots.items():
            text_views = []
            for product in list(slots.get(group, ()))[:count]:
                # A product with a sale price has a card on sale and one off it.
                card: Hashable = product if product.sale_price is None else (product, product.on_sale(now))
                key = keys.get(card)
                if key is None:
                    key = keys[card] = len(keys)
                text_views.append(ProductView(product, key, l10n, now))
            slots_text[group] = text_views
            slots_html[group] = [EscapedProductView(view) for view in text_views]

        language = l10n.locale.language
        token = self.signer.sign(customer.id, self.campaign.id)
        links = self._links(customer, token)
        recipient = {
            "segment": None,
            **(attributes or {}),
            "id": customer.id,
            "name": customer.name,
            "first_name": first_name(customer.name, language),
            "language": language,
            "locale": customer.locale,
        }
        text_context: dict[str, Any] = {
            "l10n": l10n,
            "recipient": recipient,
            "links": links,
            "slots": slots_text,
            "fragment_cache": None,  # subjects are per recipient: {% cached %} there caches nothing
            **state.constants_text,
        }
        try:
            subject = _one_line(state.subject, text_context)
            preheader = _one_line(state.preheader, text_context)
        except jinja2.UndefinedError as err:
            raise SlotError(
                f"campaign subject/preheader: {err.message}",
                layout=layout.name,
                path=str(self.campaign.source) if self.campaign.source else None,
            ) from err
        text_context["subject"] = subject
        text_context["preheader"] = preheader
        text_context["fragment_cache"] = state.fragments_text
        html_context = dict(
            text_context,
            recipient=_escaped(recipient),
            links=_escaped(links),
            slots=slots_html,
            fragment_cache=state.fragments_html,
            subject=markupsafe.escape(subject),
            preheader=markupsafe.escape(preheader),
            **state.constants_html,
        )
        bodies = render(layout, html_context, text_context=text_context, encode_html=True)
        msg_id = self._template.message_id(self.campaign.id, customer.id)
        data = self._template.build(
            to_address=customer.email,
            to_name=customer.name,
            subject=subject,
            html_encoded=bodies.html_encoded,
            text=bodies.text,
            message_id=msg_id,
            date=now,
            unsubscribe_url=links["unsubscribe"],
            unsubscribe_mailto=self.campaign.links["unsubscribe_mailto"],
            recipient_id=customer.id,
        )
        warnings: tuple[str, ...] = ()
        # The encoded size bounds the decoded one; decode only near the limit.
        encoded_size = len(bodies.html_encoded or b"")
        html_size = len(bodies.html.encode("utf-8")) if encoded_size > GMAIL_CLIP_BYTES else 0
        if html_size > GMAIL_CLIP_BYTES:
            warnings = (
                f"HTML part is {html_size / 1024:.0f} KB; Gmail clips messages past about "
                "102 KB and hides the rest, the unsubscribe link included",
            )
        return ComposedMessage(
            customer_id=customer.id,
            to=customer.email,
            message_id=msg_id,
            subject=subject,
            bodies=bodies,
            data=data,
            warnings=warnings,
        )

    def _links(self, customer: Customer, token: str) -> dict[str, str]:
        values = {
            "token": token,
            "campaign": quote(self.campaign.id, safe=""),
            "customer": quote(customer.id, safe=""),
        }
        links = {
            key: url.format(**values)
            for key, url in self.campaign.links.items()
            if key != "unsubscribe_mailto"
        }
        links.setdefault("preferences", links["unsubscribe"])
        links.setdefault("view_online", self.campaign.brand.get("home", links["unsubscribe"]))
        return links

    def compose_all(
        self,
        customers: Iterable[Customer],
        slots_for: Callable[[Customer], Mapping[str, Sequence[Product]]],
        *,
        report: Report | None = None,
        attributes_for: Callable[[Customer], Mapping[str, str | None]] | None = None,
    ) -> Iterator[ComposedMessage]:
        """Compose for each customer (streamed); ``slots_for(customer)`` gives
        the slots. A customer whose message cannot be built is reported and
        skipped; the rest go on."""
        for customer in customers:
            try:
                attributes = attributes_for(customer) if attributes_for is not None else None
                yield self.compose(customer, slots_for(customer), attributes=attributes)
            except MailerError as err:
                if report is None:
                    raise
                report.add(for_recipient(err, customer.id))


def for_recipient(err: MailerError, customer_id: str) -> MailerError:
    """``err``, naming ``customer_id`` if it names no recipient yet (for a report)."""
    if getattr(err, "recipient", None) is None:
        try:
            err.recipient = customer_id  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return err


class ComposerVariants:
    """The composers of one campaign's variants, sharing compiled layouts,
    catalogs and rates: per layout (a segment may ask for another) and with or
    without the campaign's offer (the content-led variant shows none).

    ``offer_to_everyone``: every variant keeps the offer whatever is asked.
    """

    def __init__(self, base: Composer, *, offer_to_everyone: bool = True) -> None:
        self.base = base
        self.offer_to_everyone = offer_to_everyone
        self._composers: dict[tuple[str, bool], Composer] = {(base.campaign.layout, True): base}

    def __call__(self, layout: str | None, offer: bool) -> Composer:
        """The composer for ``layout`` (``None``: the campaign's), with or without the offer."""
        key = (layout or self.base.campaign.layout, offer or self.offer_to_everyone)
        composer = self._composers.get(key)
        if composer is None:
            base = self.base
            variant = dataclasses.replace(base.campaign, layout=key[0], offer=base.campaign.offer if key[1] else {})
            composer = Composer(
                variant, layouts=base.layouts, catalogs=base.catalogs, rates=base.localisers.rates,
                signer=base.signer, now=base.now,
            )  # fmt: skip
            composer.cache_budget = base.cache_budget  # one memory bound for all variants
            self._composers[key] = composer
        return composer


def _one_line(template: jinja2.Template | str | None, context: Mapping[str, Any]) -> str:
    if isinstance(template, str):
        return template
    assert template is not None
    return " ".join(template.render(context).split())


def _mailbox(value: str, key: str, campaign: Campaign) -> tuple[str, str]:
    """Split ``"Name <addr@domain>"`` into its display name and address."""
    from email.utils import parseaddr

    name, address = parseaddr(value)
    if not address or "@" not in address:
        where = campaign.source or "campaign"
        raise ConfigError(f"{where}: {key} must be 'Name <address@domain>', got {value!r}")
    return name, address


def _escaped(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values escaped once for HTML (Markup passes through autoescape untouched)."""
    return {
        key: markupsafe.escape(value) if isinstance(value, str) else value
        for key, value in values.items()
    }
