"""A campaign made ready to send: built once, used by check, preview, queue and send.

:func:`prepare` reads a campaign file, the project's layouts and catalogs,
the rates and the product feed, freezes them in a
:class:`~mailer.snapshot.Snapshot` and builds a :class:`PreparedCampaign`
from that snapshot. A worker builds the same object from the snapshot kept
in the store (:meth:`PreparedCampaign.from_snapshot`). ``mailer check``,
``mailer render``, ``mailer run`` and the worker therefore compile the same
layouts, read the same products and compose through the same code, so what
was checked and previewed is what is sent.

>>> from mailer.tokens import Signer
>>> from pathlib import Path
>>> root = Path(__file__).resolve().parent.parent
>>> prepared = prepare(root / "fixtures/campaign.toml", feed=root / "fixtures/products.xml",
...                    layouts_dir=root / "layouts", locales_dir=root / "locales",
...                    signer=Signer(b"k" * 32))                                 # doctest: +SKIP
>>> for choice in prepared.choices(customers):                                  # doctest: +SKIP
...     message = prepared.compose(choice)
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import tomllib
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.campaign import Campaign, parse_campaign, read_campaign_text
from mailer.content.catalogs import Catalogs
from mailer.inputs.customers import Customer
from mailer.errors import ConfigError, FeedError, MailerError, RatesError
from mailer.content.money import Rates
from mailer.personalise.choices import Choice, choices, personalisation_for
from mailer.personalise.strategies import Personalisation, SelectionConfig
from mailer.inputs.products import Product
from mailer.report import Report
from mailer.snapshot import Snapshot, capture_files
from mailer.tokens import Signer

if TYPE_CHECKING:
    from mailer.content.compose import ComposedMessage, Composer, ComposerVariants
    from mailer.personalise.exclusions import ShownLog

__all__ = ["PreparedCampaign", "default_campaign_text", "prepare"]


def default_campaign_text(layout: str) -> str:
    """A campaign for trying a layout without writing a campaign file:
    placeholders for everything the shipped layouts show."""
    title = layout.replace("_", " ").capitalize()
    return f'''id = "{layout}-preview"
layout = "{layout}"
from = "Shop <news@shop.invalid>"
subject = "{title}"

[links]
unsubscribe = "https://shop.invalid/email/unsubscribe/{{token}}"
unsubscribe_mailto = "unsubscribe@shop.invalid"

[brand]
shop = "Shop"
logo = "https://shop.invalid/logo.png"
home = "https://shop.invalid/"
address = "Shop address"

[content]
hero_image = "https://shop.invalid/hero.jpg"
hero_heading = "Hero heading"
hero_text = "Hero text."
hero_link = "https://shop.invalid/"
new_in_link = "https://shop.invalid/new-in"
shop_link = "https://shop.invalid/"
'''


def prepare(
    campaign_file: str | Path | None,
    *,
    feed: str | Path | None,
    layouts_dir: str | Path,
    locales_dir: str | Path,
    signer: Signer,
    layout: str | None = None,
    campaign_id: str | None = None,
    strategy: str | None = None,
    purchases: str | Path | None = None,
    rates: str | Path | None = None,
    brand: Mapping[str, str] | None = None,
    return_path: str | None = None,
    key_file: str | Path | None = None,
    report: Report | None = None,
) -> PreparedCampaign:
    """Read a campaign and everything it uses, freeze it and make it ready.

    Without ``campaign_file`` a placeholder campaign for ``layout`` is used
    (for trying a layout). ``layout`` and ``campaign_id`` override the
    file's; ``strategy`` and ``purchases`` its ``[selection]``, ``rates`` its
    rates table; ``brand`` gives defaults under the campaign's ``[brand]`` (a
    project's). Bad feed rows
    go to ``report``; a feed with no readable product is a
    :class:`~mailer.errors.FeedError`.
    """
    report = report if report is not None else Report()
    if campaign_file is None:
        path, text = Path(f"{layout or 'newsletter'}.toml"), default_campaign_text(layout or "newsletter")
    else:
        path, text = Path(campaign_file).resolve(), read_campaign_text(campaign_file)
    campaign = parse_campaign(text, path)
    rates_text = None
    rates_path = Path(rates) if rates is not None else campaign.rates_path
    if rates_path is not None:
        try:
            rates_text = rates_path.read_text(encoding="utf-8")
        except OSError as err:
            raise RatesError(f"cannot read the rates file: {err.strerror}", path=str(rates_path)) from err
        except UnicodeDecodeError as err:
            raise RatesError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=str(rates_path)) from err
    if not Path(layouts_dir).is_dir():
        raise ConfigError(f"layouts directory {layouts_dir} does not exist")
    layouts, locales = capture_files(layouts_dir, locales_dir)
    overrides: dict[str, Any] = {key: value for key, value in (("layout", layout), ("id", campaign_id)) if value}
    if brand:
        overrides["brand"] = {**brand, **campaign.brand}
    if rates_path is not None:
        overrides["rates_path"] = str(rates_path)
    snapshot = Snapshot(
        campaign_text=text,
        campaign_path=str(path),
        layouts=layouts,
        locales=locales,
        layouts_root=str(Path(layouts_dir).resolve()),
        locales_root=str(Path(locales_dir).resolve()),
        rates=rates_text,
        overrides=overrides,
        strategy=strategy,
        return_path=return_path,
        key_file=str(Path(key_file).resolve()) if key_file is not None else None,
    )
    catalogue: dict[str, Product] = {}
    if feed is not None:
        from mailer.inputs.feeds import iter_products, no_products_reason

        catalogue = {p.id: p for p in iter_products(feed, report=report)}
        if not catalogue:
            raise FeedError(no_products_reason(report, path=feed), path=str(feed))
    return PreparedCampaign(snapshot, signer=signer, catalogue=catalogue, purchases=purchases, report=report)


class PreparedCampaign:
    """A campaign with its layouts compiled, its products read and its
    composers ready: everything a message needs but the customer.

    ``slots`` are the products every customer gets when the campaign does not
    choose per customer; ``snapshot`` is the frozen content to store so that
    a worker can build the same object (:meth:`from_snapshot`).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        signer: Signer,
        catalogue: Mapping[str, Product] | None = None,
        purchases: str | Path | None = None,
        report: Report | None = None,
    ) -> None:
        from mailer.content.compose import Composer, ComposerVariants
        from mailer.content.layouts import LayoutLibrary
        from mailer.content.render import make_environment

        report = report if report is not None else Report()
        campaign = parse_campaign(snapshot.campaign_text, snapshot.campaign_path)
        if snapshot.overrides:
            overrides = dict(snapshot.overrides)
            if "rates_path" in overrides:
                overrides["rates_path"] = Path(overrides["rates_path"])
            campaign = dataclasses.replace(campaign, **overrides)
        self.campaign: Campaign = campaign
        config = campaign.selection or SelectionConfig()
        config = config.with_strategy(snapshot.strategy)
        if purchases is not None:
            config = dataclasses.replace(config, purchases=Path(purchases))
        self.config: SelectionConfig = config
        self.rates: Rates | None = (
            Rates.parse(snapshot.rates.splitlines(), path=str(campaign.rates_path)) if snapshot.rates else None
        )
        self._workdir = tempfile.mkdtemp(prefix="mailer-campaign-")
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._workdir, True)
        layouts_dir, locales_dir = snapshot.materialise(self._workdir)
        # Errors name the files the campaign was prepared from, not this working copy.
        self._sources = ((str(layouts_dir), snapshot.layouts_root), (str(locales_dir), snapshot.locales_root))
        catalogs = Catalogs(locales_dir)
        library = LayoutLibrary(layouts_dir, environment_factory=make_environment, translations=catalogs.translations)
        with self._named_sources():
            composer = Composer(campaign, layouts=library, catalogs=catalogs, rates=self.rates, signer=signer)
            self.variants: ComposerVariants = ComposerVariants(composer, offer_to_everyone=config.offer_to == "everyone")
            self.layout_slots: dict[str, int] = self._layout_slots()
        self.optional_slots: frozenset[str] = self._optional_slots(snapshot)
        self.catalogue: dict[str, Product] = dict(catalogue) if catalogue is not None else snapshot.catalogue()
        if catalogue is not None:
            self.slots = self._choose_slots(report)
            kept = (
                [p for p in self.catalogue.values() if p.in_stock]
                if config.personalised
                else list({p.id: p for ps in self.slots.values() for p in ps}.values())
            )
            snapshot = snapshot.with_products(kept, {g: [p.id for p in ps] for g, ps in self.slots.items()})
        else:
            self.slots = {
                group: [self.catalogue[i] for i in ids if i in self.catalogue] for group, ids in snapshot.slots.items()
            }
        self.snapshot: Snapshot = snapshot
        self.sender: str = snapshot.return_path or campaign.delivery.return_path or parseaddr(campaign.sender)[1]
        """The envelope sender (where bounces go): --return-path, else [delivery] return_path, else From."""
        self.personalisation: Personalisation | None = None
        self.at: datetime | None = None
        """The instant the campaign is prepared for, when a caller fixes it (a
        programme run for a given day); ``None``: :meth:`send_instant` decides."""

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, *, signer: Signer) -> PreparedCampaign:
        """The campaign as it was queued: its products and prices from the snapshot."""
        return cls(snapshot, signer=signer)

    def close(self) -> None:
        """Remove the working copy of the layouts and catalogs (also done when collected)."""
        self._cleanup()

    def __enter__(self) -> PreparedCampaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the campaign chooses --------------------------------------------------------------

    @property
    def personalised(self) -> bool:
        """Whether products, audience or offer depend on each customer's history."""
        return self.config.needs_history or self.campaign.audience is not None

    def layouts(self) -> list[str]:
        """Every layout the campaign may send: its own and any its audience gives a segment."""
        names = [self.campaign.layout]
        for _, name in self.campaign.audience.layouts if self.campaign.audience else ():
            if name not in names:
                names.append(name)
        return names

    def slots_for(self, layout: str | None) -> Mapping[str, int]:
        """A layout's slot groups and their product counts (``None``: the campaign's)."""
        with self._named_sources():
            return self.variants(layout, True).slots

    @contextlib.contextmanager
    def _named_sources(self) -> Iterator[None]:
        """Layout and catalog errors name the project's files, not the working copy."""
        try:
            yield
        except MailerError as err:
            for copy, source in self._sources:
                _rename_path(err, copy, source)
            raise

    def _layout_slots(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for name in self.layouts():
            for group, count in self.slots_for(name).items():
                merged[group] = max(count, merged.get(group, 0))
        return merged

    def _optional_slots(self, snapshot: Snapshot) -> frozenset[str]:
        """Slot groups a layout declares it can show empty (``optional_slots`` in its ``.toml``)."""
        optional: set[str] = set()
        for name in self.layouts():
            data = snapshot.layouts.get(f"{name}.toml")
            if data:
                optional.update(str(g) for g in tomllib.loads(data.decode("utf-8")).get("optional_slots", []))
        return frozenset(optional)

    def _choose_slots(self, report: Report) -> dict[str, list[Product]]:
        """The same products for everyone: the campaign's ``[slots]`` per group
        (strategy ``listed``, the default when given); otherwise, or with
        ``first_in_stock``, the first in-stock products of the feed. Unknown or
        sold-out ids are reported. Empty for per-customer strategies."""
        if self.config.personalised:
            return {}
        chosen: dict[str, list[Product]] = {}
        in_stock = [p for p in self.catalogue.values() if p.in_stock]
        strategy = self.config.strategy
        for group, count in self.layout_slots.items():
            ids = None if strategy == "first_in_stock" else self.campaign.slots.get(group)
            if ids is None:
                chosen[group] = _one_per_item_group(in_stock, count)
                continue
            products = []
            for product_id in ids:
                product = self.catalogue.get(product_id)
                if product is None:
                    report.add(ConfigError(f"slots.{group}: product {product_id!r} is not in the feed"))
                elif not product.in_stock:
                    report.add(ConfigError(f"slots.{group}: product {product_id!r} is sold out; left out"))
                else:
                    products.append(product)
            kept = _one_per_item_group(products, count)
            for product in products:
                if product not in kept and len(kept) < count:
                    report.add(ConfigError(f"slots.{group}: product {product.id!r} is another variant of "
                                           f"item group {product.item_group_id!r}; left out"))  # fmt: skip
            chosen[group] = kept
        return chosen

    # -- per customer ---------------------------------------------------------------------------

    def personalise(
        self,
        *,
        report: Report,
        customers: Callable[[], Iterable[Customer]] | None = None,
        shown: ShownLog | None = None,
    ) -> None:
        """Read the purchase history and fit what the campaign's ``[selection]``
        and ``[audience]`` need; ``shown`` says what customers saw lately."""
        if not self.personalised:
            return
        self.personalisation = personalisation_for(
            self.campaign, self.config, self.catalogue, self.layout_slots, report=report,
            customers=customers, shown=shown, rates=self.rates, at=self.send_instant(),
        )  # fmt: skip

    def choices(self, customers: Iterable[Customer]) -> Iterator[Choice]:
        """One :class:`~mailer.personalise.choices.Choice` per customer, streamed;
        for a campaign that does not personalise, everyone is kept with its slots."""
        if self.personalisation is None:
            if self.personalised:
                raise ConfigError(f"campaign {self.campaign.id!r} chooses per customer: call personalise() first")
            for customer in customers:
                yield Choice(customer, kept=True)
            return
        yield from choices(self.personalisation, customers, slots_for=self.slots_for)

    def composer(self, choice: Choice) -> Composer:
        """The composer of a choice's layout and offer variant."""
        with self._named_sources():
            return self.variants(choice.layout, choice.offer)

    def send_instant(self, now: datetime | None = None) -> datetime:
        """When the campaign is for, when nothing else says: its ``send_date``
        if that is still to come, else now. Previews default to it and its
        personalisation judges recency and prices then."""
        if self.at is not None:
            return self.at
        now = now or datetime.now(timezone.utc)
        send_date = self.campaign.send_date
        return send_date if send_date is not None and send_date > now else now

    def products(self, choice: Choice) -> dict[str, list[Product]]:
        """What each slot group of the choice's layout shows."""
        groups = self.composer(choice).slots
        chosen = choice.products if choice.products is not None else self.slots
        return {g: list(ps[: groups[g]]) for g, ps in chosen.items() if g in groups}

    def preview(self, choice: Choice) -> dict[str, list[dict[str, str]]]:
        """Each shown product's id and why it was chosen."""
        if choice.products is not None:
            return choice.preview
        return {g: [{"id": p.id, "reason": "listed"} for p in ps] for g, ps in self.products(choice).items()}

    def compose(self, choice: Choice, *, at: datetime | None = None) -> ComposedMessage:
        """The message for a kept choice, for the instant ``at`` (its ``Date:``;
        sale prices are judged then). Without ``at``: now."""
        composer = self.composer(choice)
        with self._named_sources():
            return composer.compose(
                choice.customer,
                self.products(choice),
                attributes={"segment": choice.segment},
                at=at or self.send_instant(),
            )

    def empty_groups(self, choice: Choice) -> list[str]:
        """The slot groups of the choice's layout that would show no product
        (and that the layout does not declare optional)."""
        shown = self.products(choice)
        groups = self.composer(choice).slots
        return [g for g, n in groups.items() if n and not shown.get(g) and g not in self.optional_slots]


def _one_per_item_group(products: Iterable[Product], count: int) -> list[Product]:
    """The first ``count`` products, one variant (size, colour) per ``item_group_id``.

    >>> from decimal import Decimal
    >>> from mailer.content.money import Money
    >>> dress = [Product(f"D-{size}", "Dress", Money(Decimal(50), "EUR"), "https://s.test/d", item_group_id="D")
    ...          for size in "SML"]
    >>> [p.id for p in _one_per_item_group([*dress, Product("B", "Bag", Money(Decimal(9), "EUR"), "https://s.test/b")], 3)]
    ['D-S', 'B']
    """
    seen: set[str] = set()
    out: list[Product] = []
    for product in products:
        if len(out) == count:
            break
        if product.item_group_id:
            if product.item_group_id in seen:
                continue
            seen.add(product.item_group_id)
        out.append(product)
    return out


def _rename_path(err: MailerError, copy: str, source: str) -> None:
    """Point an error's file names at ``source`` where they name ``copy``."""
    for name in ("path", "reason"):
        value = getattr(err, name, None)
        if isinstance(value, str) and copy in value:
            setattr(err, name, value.replace(copy, source))
    err.args = tuple(a.replace(copy, source) if isinstance(a, str) else a for a in err.args)
