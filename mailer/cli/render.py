"""``mailer render``: a layout + feed + customers → one ``.eml`` per customer."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.campaign import Campaign, load_campaign
from mailer.errors import ConfigError, FeedError
from mailer.report import Report

if TYPE_CHECKING:
    from mailer.compose import ComposedMessage, Composer, ComposerVariants
    from mailer.personalise.strategies import Personalisation, SelectionConfig
    from mailer.products import Product


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "render",
        help="render a campaign to .eml files, one per customer",
        description=__doc__,
    )
    parser.add_argument("--layout", help="layout name (default: the campaign's)")
    parser.add_argument("--feed", required=True, type=Path, help="product feed (any supported format)")
    parser.add_argument("--customers", required=True, type=Path, help="customers CSV or JSON Lines")
    parser.add_argument("--campaign", type=Path, help="campaign TOML file")
    parser.add_argument("--rates", type=Path, help="currency rates CSV (default: the campaign's)")
    parser.add_argument("--out", required=True, type=Path, help="directory for the .eml files")
    parser.add_argument("--state-dir", type=Path, default=Path(".mailer"), help="where the link-signing key is kept")
    parser.add_argument(
        "--strategy",
        choices=("listed", "first_in_stock", "personal", "bestsellers"),
        help="how products are chosen (default: the campaign's [selection] strategy, else listed/first in stock)",
    )
    parser.add_argument(
        "--purchases", type=Path, help="purchase history (CSV or JSON Lines) for personal selection and audiences"
    )
    parser.add_argument(
        "--store",
        help="queue store whose send log says what each customer was shown lately, "
        "so the preview leaves it out as `mailer run` will (e.g. sqlite:.mailer/queue.sqlite3)",
    )
    parser.set_defaults(func=run)


def default_campaign(layout: str) -> Campaign:
    """A campaign for trying a layout without writing a campaign file."""
    return Campaign(
        id=f"{layout}-{datetime.now(timezone.utc):%Y%m%d}",
        layout=layout,
        sender="Shop <news@shop.invalid>",
        subject={"en": layout.replace("_", " ").capitalize()},
        links={
            "unsubscribe": "https://shop.invalid/email/unsubscribe/{token}",
            "unsubscribe_mailto": "unsubscribe@shop.invalid",
        },
        # Placeholders for everything the shipped layouts show, so any of
        # them renders for a first look.
        brand={
            "shop": "Shop",
            "logo": "https://shop.invalid/logo.png",
            "home": "https://shop.invalid/",
            "address": "Shop address",
        },
        content={
            "hero_image": "https://shop.invalid/hero.jpg",
            "hero_heading": "Hero heading",
            "hero_text": "Hero text.",
            "hero_link": "https://shop.invalid/",
            "new_in_link": "https://shop.invalid/new-in",
            "shop_link": "https://shop.invalid/",
        },
    )


def choose_slots(
    campaign: Campaign,
    layout_slots: dict[str, int],
    catalogue: dict[str, Product],
    report: Report,
    *,
    strategy: str | None = None,
) -> dict[str, list[Product]]:
    """The same products for everyone: the campaign's chosen ones per slot group
    (strategy ``listed``, the default); without a choice, or with strategy
    ``first_in_stock``, the first in-stock products of the feed. Unknown or
    sold-out ids are reported."""
    chosen: dict[str, list[Product]] = {}
    in_stock = [p for p in catalogue.values() if p.in_stock]
    for group, count in layout_slots.items():
        ids = None if strategy == "first_in_stock" else campaign.slots.get(group)
        if ids is None:
            chosen[group] = in_stock[:count]
            continue
        products = []
        for product_id in ids:
            product = catalogue.get(product_id)
            if product is None:
                report.add(ConfigError(f"slots.{group}: product {product_id!r} is not in the feed"))
            elif not product.in_stock:
                report.add(ConfigError(f"slots.{group}: product {product_id!r} is sold out; left out"))
            else:
                products.append(product)
        chosen[group] = products[:count]
    return chosen


def _file_name(customer_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", customer_id)[:48]
    digest = hashlib.sha256(customer_id.encode()).hexdigest()[:8]
    return f"{safe}-{digest}.eml"


def run(args: argparse.Namespace) -> int:
    # Imported here so that other commands start without the rendering stack.
    from mailer.compose import Composer
    from mailer.customers import iter_customers
    from mailer.feeds import iter_products
    from mailer.tokens import Signer, load_signing_key

    campaign = load_campaign(args.campaign) if args.campaign else default_campaign(args.layout or "newsletter")
    if args.layout:
        campaign = dataclasses.replace(campaign, layout=args.layout)
    if args.rates:
        campaign = dataclasses.replace(campaign, rates_path=args.rates)
    report = Report()
    catalogue = {p.id: p for p in iter_products(args.feed, report=report)}
    if not catalogue:
        raise FeedError("no product could be read", path=args.feed)
    composer = Composer(campaign, signer=Signer(load_signing_key(state_dir=args.state_dir)))
    config = selection_config(campaign, strategy=args.strategy, purchases=args.purchases)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    warned = 0
    left_out = [0]
    if config.needs_history or campaign.audience:
        messages = _personalised(args, campaign, composer, config, catalogue, report, out, left_out)
    else:
        slots = choose_slots(campaign, dict(composer.layout.slots), catalogue, report, strategy=config.strategy)
        customers = iter_customers(args.customers, report=report)
        messages = composer.compose_all(customers, lambda customer: slots, report=report)
    for message in messages:
        target = out / _file_name(message.customer_id)
        partial = target.with_suffix(".eml.part")
        partial.write_bytes(message.data)
        os.replace(partial, target)
        written += 1
        if message.warnings:
            warned += 1
            for warning in message.warnings:
                report.add(ConfigError(f"{message.customer_id}: {warning}"))
    report.write_json(out / "report.json")
    print(f"rendered {written} message(s) with layout {campaign.layout!r} into {out.resolve()}")
    if left_out[0]:
        print(f"left out {left_out[0]} customer(s) outside the campaign's audience")
    if report:
        print(f"skipped or flagged {report.count} row(s); details in {(out / 'report.json').resolve()}:")
        for line in report.lines()[:20]:
            print(f"  {line}")
    return 0 if written else 1


def selection_config(
    campaign: Campaign, *, strategy: str | None = None, purchases: Path | None = None
) -> SelectionConfig:
    """The campaign's ``[selection]``, with a strategy and purchase history given on the command line."""
    from mailer.personalise.strategies import SelectionConfig, parse_selection

    base = campaign.source.parent if campaign.source else None
    config = parse_selection(campaign.selection, base=base) if campaign.selection else SelectionConfig()
    config = config.with_strategy(strategy)
    if purchases is not None:
        config = dataclasses.replace(config, purchases=purchases)
    return config


def _personalised(
    args: argparse.Namespace,
    campaign: Campaign,
    composer: Composer,
    config: SelectionConfig,
    catalogue: dict[str, Product],
    report: Report,
    out: Path,
    left_out: list[int],
) -> Iterator[ComposedMessage]:
    """Messages whose products, audience or offer depend on purchase history, a batch of customers at a time.

    Writes ``selection.jsonl`` beside the messages: each customer's products,
    why they were chosen, and whether they got the offer, for the preview.
    """
    from mailer.compose import ComposerVariants
    from mailer.customers import iter_customers
    from mailer.personalise.choices import personalisation_for

    variants = ComposerVariants(composer, offer_to_everyone=config.offer_to == "everyone")
    layout_slots = campaign_slots(campaign, variants)
    shown = None
    if args.store:
        from mailer.personalise.exclusions import SendLogShown
        from mailer.store import open_store

        store = open_store(args.store)
        shown = SendLogShown(store, emails=config.rules.shown_emails)
    try:
        personal = personalisation_for(
            campaign, config, catalogue, layout_slots, report=report,
            customers=lambda: iter_customers(args.customers), shown=shown,
        )  # fmt: skip
        yield from _compose_choices(personal, args, campaign, config, catalogue, variants, layout_slots,
                                    report, out, left_out)  # fmt: skip
    finally:
        if shown is not None:
            store.close()


def _compose_choices(
    personal: Personalisation,
    args: argparse.Namespace,
    campaign: Campaign,
    config: SelectionConfig,
    catalogue: dict[str, Product],
    variants: ComposerVariants,
    layout_slots: dict[str, int],
    report: Report,
    out: Path,
    left_out: list[int],
) -> Iterator[ComposedMessage]:
    import json

    from mailer.compose import for_recipient
    from mailer.customers import iter_customers
    from mailer.errors import MailerError
    from mailer.personalise.choices import choices

    same = {} if config.personalised else choose_slots(campaign, layout_slots, catalogue, report, strategy=config.strategy)
    listed = {group: [{"id": p.id, "reason": "listed"} for p in products] for group, products in same.items()}

    with (out / "selection.jsonl").open("w", encoding="utf-8") as preview:
        slots_for = lambda layout: variants(layout, True).layout.slots  # noqa: E731
        for choice in choices(personal, iter_customers(args.customers, report=report), slots_for=slots_for):
            if not choice.kept:
                left_out[0] += 1
                continue
            layout = choice.layout or campaign.layout
            target = variants(layout, choice.offer)
            groups = target.layout.slots
            shown = choice.preview if choice.products is not None else {
                g: ps[: groups[g]] for g, ps in listed.items() if g in groups
            }  # fmt: skip
            row = {"customer": choice.customer.id, "layout": layout, "offer": choice.offer, "slots": shown}
            preview.write(json.dumps(row, ensure_ascii=False) + "\n")
            products = choice.products if choice.products is not None else same
            try:
                yield target.compose(
                    choice.customer,
                    {g: ps[: groups[g]] for g, ps in products.items() if g in groups},
                    attributes={"segment": choice.segment},
                )
            except MailerError as err:
                report.add(for_recipient(err, choice.customer.id))


def campaign_slots(campaign: Campaign, variants: ComposerVariants) -> dict[str, int]:
    """Every slot group the campaign's layouts show (its own and any an
    audience gives a segment), with the most products any of them shows."""
    from mailer.personalise.segments import Audience

    layout_slots = dict(variants(None, True).layout.slots)
    audience = Audience.from_mapping(campaign.audience) if campaign.audience else None
    for _, layout in audience.layouts if audience else ():
        for group, count in variants(layout, True).layout.slots.items():
            layout_slots[group] = max(count, layout_slots.get(group, 0))
    return layout_slots
