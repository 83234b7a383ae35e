"""Checks a prepared campaign before anything is queued.

:func:`check_campaign` streams the audience through the same choices and
composers the send will use and finds what would go wrong: a feed that
cannot fill a slot group, a layout, variant, language or currency that does
not compile or render for a real customer, a currency the rates do not
cover, emails that would go out with an empty product grid, messages past
Gmail's clip. :func:`check_transport` parses a transport URL and, if asked,
says EHLO to it. ``mailer check`` prints the result; ``mailer run`` runs the
same check first and queues nothing when it finds an error.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailer.inputs.customers import Customer
from mailer.errors import ConfigError, MailerError
from mailer.store import Delivery, Store
from mailer.personalise.choices import Choice
from mailer.prepared import PreparedCampaign
from mailer.report import Report

__all__ = ["CampaignCheck", "CheckResult", "Finding", "check_campaign", "check_queued", "check_transport"]

EXAMPLES = 3
"""How many examples (customers, rows) a finding names."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the check found: ``error`` stops the campaign, ``warning`` does not."""

    severity: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message} [{self.rule}]"


@dataclass
class CheckResult:
    """What :func:`check_campaign` found, and over how much."""

    findings: list[Finding] = field(default_factory=list)
    customers: int = 0
    kept: int = 0
    rendered: int = 0
    """Messages composed in full: one per layout × offer × locale × currency met."""
    variants: Counter[tuple[str, bool, str, str, str]] = field(default_factory=Counter)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, rule: str, message: str) -> None:
        self.findings.append(Finding("error", rule, message))

    def warning(self, rule: str, message: str) -> None:
        self.findings.append(Finding("warning", rule, message))


def check_campaign(
    prepared: PreparedCampaign,
    customers: Iterable[Customer],
    *,
    report: Report,
    feed_given: bool = True,
) -> CheckResult:
    """Check ``prepared`` for every customer of ``customers`` (streamed; the
    campaign must have been personalised already if it personalises)."""
    check = CampaignCheck(prepared, report=report, feed_given=feed_given)
    for choice in prepared.choices(customers):
        check.see(choice)
    return check.finish()


class CampaignCheck:
    """The check of one campaign, fed one choice at a time: ``mailer run``
    checks each customer as it queues them (rows stay ``planned``, not
    claimable, until :meth:`finish` finds no error), so the customers file
    is read once. The feed is checked at once (:attr:`result` has it)."""

    def __init__(self, prepared: PreparedCampaign, *, report: Report, feed_given: bool = True) -> None:
        self.prepared = prepared
        self.report = report
        self.result = CheckResult()
        _check_feed(prepared, self.result, feed_given=feed_given)
        self._empty: dict[str, list[str]] = {}
        self._empty_count: Counter[str] = Counter()
        self._failed: dict[tuple[str, bool, str, str, str], str] = {}
        self._currencies: set[str] = set()

    def see(self, choice: Choice) -> Choice:
        """Check one customer's choice (returned, to pass a stream through)."""
        result, prepared = self.result, self.prepared
        result.customers += 1
        if not choice.kept:
            return choice
        result.kept += 1
        customer = choice.customer
        self._currencies.add(customer.currency)
        for group in prepared.empty_groups(choice):
            self._empty_count[group] += 1
            if len(self._empty.setdefault(group, [])) < EXAMPLES:
                self._empty[group].append(customer.id)
        # A layout may branch on the segment: each one met is rendered too.
        key = (choice.layout or prepared.campaign.layout, choice.offer, customer.locale, customer.currency,
               choice.segment or "")  # fmt: skip
        result.variants[key] += 1
        if result.variants[key] == 1:
            _render_one(prepared, choice, key, result, self._failed)
        return choice

    def finish(self) -> CheckResult:
        """What the whole stream comes to."""
        result = self.result
        for group, count in self._empty_count.items():
            message = (
                f"{count} of {result.kept} email(s) would show no product in slot group {group!r} "
                f"(e.g. customer(s) {', '.join(self._empty[group])})"
            )
            if count >= result.kept:
                result.error("empty-grid", f"{message}; fix the feed or [selection], or declare optional_slots = "
                                           f"[{group!r}] in the layout's .toml if it shows something else then")  # fmt: skip
            else:
                result.warning("empty-grid", f"{message}; those customers are left out, not sent an empty grid")
        _check_rates(self.prepared, self._currencies, result)
        if result.customers == 0:
            result.error("no-customers", "the customers file has no readable customer")
        elif result.kept == 0:
            result.error("empty-audience", f"none of the {result.customers} customer(s) is in the campaign's audience")
        _summarise_skipped(self.report, result)
        return result


def _check_feed(prepared: PreparedCampaign, result: CheckResult, *, feed_given: bool) -> None:
    groups = prepared.layout_slots
    if not any(groups.values()):
        return
    needed = ", ".join(f"{g} ({n})" for g, n in groups.items())
    if not feed_given:
        result.error("no-feed", f"layout(s) {', '.join(prepared.layouts())} show products ({needed}): give --feed")
        return
    if prepared.config.personalised:
        in_stock = sum(p.in_stock for p in prepared.catalogue.values())
        if in_stock == 0:
            result.error("feed-sold-out", "no product of the feed is in stock")
        return
    for group, count in groups.items():
        have = len(prepared.slots.get(group, ()))
        if have == 0 and group not in prepared.optional_slots:
            result.error("empty-slot-group", f"slot group {group!r} gets no product from the feed (it shows {count})")
        elif have < count:
            result.warning("short-slot-group", f"slot group {group!r} gets {have} of the {count} products it shows")


def _render_one(
    prepared: PreparedCampaign,
    choice: Choice,
    key: tuple[str, bool, str, str, str],
    result: CheckResult,
    failed: dict[tuple[str, bool, str, str, str], str],
) -> None:
    layout, offer, locale, currency, segment = key
    variant = (f"layout {layout!r}{'' if offer else ' (without the offer)'} in {locale}/{currency}"
               + (f" for segment {segment!r}" if segment else ""))  # fmt: skip
    try:
        message = prepared.compose(choice)
    except MailerError as err:
        text = str(err)
        if text not in failed.values():
            result.error("render", f"{variant} does not render for customer {choice.customer.id}: {text}")
        failed[key] = text
        return
    result.rendered += 1
    for warning in message.warnings:
        result.warning("size", f"{variant}, customer {choice.customer.id}: {warning}")


def _check_rates(prepared: PreparedCampaign, currencies: set[str], result: CheckResult) -> None:
    if prepared.config.personalised:
        product_currencies = {p.price.currency for p in prepared.catalogue.values() if p.in_stock}
    else:
        product_currencies = {p.price.currency for ps in prepared.slots.values() for p in ps}
    needed = sorted(c for c in currencies if product_currencies - {c})
    if not needed:
        return
    rates = prepared.rates
    if rates is None:
        result.error(
            "rates",
            f"customers pay in {', '.join(needed)} but products are priced in {', '.join(sorted(product_currencies))} "
            "and the campaign has no rates table (rates = \"rates.csv\")",
        )
        return
    missing = sorted(c for c in set(needed) | product_currencies if c not in rates.rates)
    if missing:
        result.error("rates", f"the rates table {rates.path} has no rate for {', '.join(missing)}")


def _summarise_skipped(report: Report, result: CheckResult) -> None:
    """Input rows skipped (customers, feed items), summed up by reason with the first few shown."""
    for reason, (count, examples) in report.summary(EXAMPLES).items():
        shown = "; ".join(examples)
        result.warning("skipped-rows", f"{count} row(s) skipped: {reason} (e.g. {shown})")


def check_transport(url: str, *, connect: bool = False, timeout: float = 10.0) -> str:
    """Parse a transport URL (:class:`~mailer.errors.ConfigError` if wrong);
    with ``connect``, open an SMTP connection and say EHLO. Returns what was
    checked, for a person."""
    from urllib.parse import urlsplit

    from mailer.transports import open_transport

    try:
        open_transport(url)  # parses only: nothing connects before a send
    except ValueError as err:  # e.g. a port that is not a number
        raise ConfigError(f"transport {redact(url)}: {err}") from None
    scheme = urlsplit(url).scheme
    if not connect or scheme not in ("smtp", "smtps"):
        return f"transport {redact(url)} parses"
    return asyncio.run(_ehlo(url, timeout))


async def _ehlo(url: str, timeout: float) -> str:
    from urllib.parse import parse_qs, urlsplit

    import aiosmtplib

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    tls = parts.scheme == "smtps"
    starttls = query.get("starttls", [""])[-1].lower() in ("1", "true", "yes", "on")
    port = parts.port or (465 if tls else 25)
    client = aiosmtplib.SMTP(hostname=parts.hostname, port=port, use_tls=tls, start_tls=False, timeout=timeout)
    try:
        await client.connect()
        if starttls:
            if not client.supports_extension("starttls"):
                raise ConfigError(f"{parts.hostname}:{port} does not offer STARTTLS")
            await client.starttls()
        code, text = client.last_ehlo_response
        return f"{parts.hostname}:{port} answered EHLO with {code}: {text.splitlines()[0] if text else ''}"
    except (aiosmtplib.SMTPException, OSError) as err:
        raise ConfigError(f"cannot reach {parts.hostname}:{port}: {err}") from err
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()


def redact(url: str) -> str:
    """A transport URL without its password.

    >>> redact("smtp://user:secret@relay.test:587")
    'smtp://user:***@relay.test:587'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def check_queued(store: Store, deliveries: Iterable[Delivery]) -> CheckResult:
    """Render queued rows again as a worker will (from their campaign's
    snapshot): what ``mailer queue retry`` checks before it puts failed rows back."""
    from mailer.sending.delivery import CampaignRenderer

    result = CheckResult()
    renderer = CampaignRenderer(store)
    failed: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    try:
        for delivery in deliveries:
            result.customers += 1
            try:
                renderer(delivery)
            except MailerError as err:
                key = f"campaign {delivery.campaign!r}: {err}"
                failed[key] += 1
                examples.setdefault(key, []).append(delivery.recipient)
                continue
            result.rendered += 1
    finally:
        renderer.close()
    for key, count in failed.items():
        result.error("render", f"{key} ({count} row(s), e.g. {', '.join(examples[key][:EXAMPLES])})")
    return result
