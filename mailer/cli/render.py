"""``mailer render``: a layout + feed + customers → one ``.eml`` per customer."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import dataclasses
from datetime import datetime, timezone
from pathlib import Path

from typing import TYPE_CHECKING

from mailer.campaign import Campaign, load_campaign
from mailer.errors import ConfigError, FeedError
from mailer.report import Report

if TYPE_CHECKING:
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
    parser.add_argument("--out", required=True, type=Path, help="directory for the .eml files")
    parser.add_argument("--state-dir", type=Path, default=Path(".mailer"), help="where the link-signing key is kept")
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
    )


def choose_slots(
    campaign: Campaign, layout_slots: dict[str, int], catalogue: dict[str, Product], report: Report
) -> dict[str, list[Product]]:
    """The campaign's chosen products per slot group; without a choice, the
    first in-stock products of the feed. Unknown or sold-out ids are reported."""
    chosen: dict[str, list[Product]] = {}
    in_stock = [p for p in catalogue.values() if p.in_stock]
    for group, count in layout_slots.items():
        ids = campaign.slots.get(group)
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
    report = Report()
    catalogue = {p.id: p for p in iter_products(args.feed, report=report)}
    if not catalogue:
        raise FeedError("no product could be read", path=args.feed)
    composer = Composer(campaign, signer=Signer(load_signing_key(state_dir=args.state_dir)))
    slots = choose_slots(campaign, dict(composer.layout.slots), catalogue, report)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    warned = 0
    customers = iter_customers(args.customers, report=report)
    for message in composer.compose_all(customers, lambda customer: slots, report=report):
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
    if report:
        print(f"skipped or flagged {report.count} row(s); details in {(out / 'report.json').resolve()}:")
        for line in report.lines()[:20]:
            print(f"  {line}")
    return 0 if written else 1

