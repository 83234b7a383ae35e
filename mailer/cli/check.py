"""mailer check CAMPAIGN: find what would go wrong before anything is queued.

Prepares the campaign as `mailer run` will (feed, layouts, catalogs, rates,
purchase history), streams every customer through the same choices and
renders one message in full for each layout, offer variant, locale and
currency the audience needs. Errors (exit 2): an unreadable or empty feed, a
slot group the feed cannot fill, emails with an empty product grid, a layout
or template that does not compile or render, a currency the rates do not
cover, a transport URL that does not parse (with --connect: a relay that does
not answer EHLO). Warnings: messages past Gmail's clip, short slot groups,
skipped input rows summed up by reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.errors import ConfigError
from mailer.inputs.encodings import parse_encoding
from mailer.project import add_project_option, add_setting_options

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from mailer.check import CheckResult
    from mailer.inputs.customers import Customer
    from mailer.prepared import PreparedCampaign
    from mailer.project import Project
    from mailer.report import Report
    from mailer.store import Store

STRATEGIES = ("listed", "first_in_stock", "personal", "bestsellers")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "check", help="check a campaign before queueing it", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("campaign", type=Path, help="campaign TOML file")
    add_campaign_inputs(parser)
    parser.add_argument("--connect", action="store_true", help="also say EHLO to the SMTP relay of --transport")
    parser.add_argument("--transport", dest="check_transport", metavar="URL",
                        help="transport URL to check (default with --connect: the project's)")
    parser.set_defaults(func=run)


def add_campaign_inputs(parser: argparse.ArgumentParser, *, customers_required: bool = True) -> None:
    """The options that say what a campaign is made of (shared by check, render and run)."""
    parser.add_argument("--customers", required=customers_required, type=Path, help="customers CSV or JSON Lines")
    parser.add_argument("--encoding", type=parse_encoding,
                        help="the customers file's text encoding, e.g. latin-1 (default: a byte-order mark, else UTF-8)")
    parser.add_argument("--feed", type=Path, help="product feed for the layout's product slots")
    parser.add_argument(
        "--purchases", type=Path,
        help="purchase history for the campaign's [selection] and [audience] (default: selection.purchases)",
    )  # fmt: skip
    parser.add_argument("--strategy", choices=STRATEGIES,
                        help="how products are chosen (default: the campaign's [selection] strategy)")
    parser.add_argument("--layout", help="layout name (default: the campaign's)")
    parser.add_argument("--rates", type=Path, help="currency rates CSV (default: the campaign's)")
    if not any(action.dest == "store" for action in parser._actions):
        from mailer.cli.worker import add_store_option

        add_store_option(parser)
    if not any(action.dest == "state_dir" for action in parser._actions):
        parser.add_argument("--state-dir", type=Path, help="where the link-signing key is kept (default: the project's)")
    add_project_option(parser)
    add_setting_options(parser, "layouts", "locales")


def resolve_project(args: argparse.Namespace) -> Project:
    """The project the command works in (``--project``, ``$MAILER_PROJECT`` or
    the nearest ``mailer.toml`` above), with the command line's settings
    over it. Sets ``args.store``, ``args.transport`` and ``args.state_dir``
    to the resolved values, so every later step uses the project's state."""
    from mailer.project import from_args

    settings = argparse.Namespace(
        project=getattr(args, "project", None),
        state_dir=getattr(args, "state_dir", None),
        layouts=getattr(args, "layouts", None),
        locales=getattr(args, "locales", None),
        secret_file=getattr(args, "secret_file", None),
        store=getattr(args, "store", None),
        transport=getattr(args, "transport", None),
        caniemail=getattr(args, "caniemail", None),
    )
    project = from_args(settings)
    args.store = project.store
    if hasattr(args, "transport"):
        args.transport = project.transport
    args.state_dir = project.state_dir
    args.secret_file = project.secret_file
    return project


def prepare_from_args(
    args: argparse.Namespace,
    report: Report,
    *,
    campaign_file: Path | None,
    campaign_id: str | None = None,
    store: Store | None = None,
    discard_unfinished: bool = False,
) -> PreparedCampaign:
    """The campaign prepared from the command line's inputs, in its project
    (``campaign_file`` may name a campaign of the project's ``campaigns``
    folder). A campaign ``store`` holds already keeps the content it was first
    queued with: it is prepared from that snapshot (and a change since is
    pointed out), so preview, check and new rows match what is queued. With
    ``discard_unfinished`` (about to queue), rows an interrupted run left
    planned go first, and with them a snapshot nothing else was queued with."""
    from mailer.sending.delivery import stored_snapshot
    from mailer.prepared import PreparedCampaign, prepare
    from mailer.tokens import Signer, load_signing_key

    project = resolve_project(args)
    if campaign_file is not None:
        campaign_file = project.campaign_path(campaign_file)
    signer = Signer(load_signing_key(path=project.secret_file))
    prepared = prepare(
        campaign_file,
        feed=args.feed,
        layouts_dir=project.layouts,
        locales_dir=project.locales,
        signer=signer,
        layout=args.layout,
        campaign_id=campaign_id,
        strategy=args.strategy,
        purchases=args.purchases,
        rates=args.rates,
        brand=project.brand,
        return_path=getattr(args, "return_path", None),
        key_file=project.secret_file,
        report=report,
    )
    if store is not None and discard_unfinished:
        store.discard_planned(prepared.campaign.id)
    stored = stored_snapshot(store, prepared.campaign.id) if store is not None else None
    if stored is None or stored.digest == prepared.snapshot.digest:
        return prepared
    print(f"campaign {prepared.campaign.id!r} is queued already: it keeps the content it was first queued with, "
          "not today's campaign file, layouts, catalogs, rates or feed (give it a new id to send new content)")  # fmt: skip
    purchases = args.purchases
    prepared.close()
    prepared = PreparedCampaign.from_snapshot(stored, signer=signer)
    if purchases is not None:
        prepared.config = dataclasses.replace(prepared.config, purchases=Path(purchases))
    return prepared


def prepare_for_preview(
    args: argparse.Namespace, report: Report, *, campaign_file: Path | None
) -> tuple[PreparedCampaign, Store | None]:
    """The campaign prepared as a check or preview sees it: with the project's
    queue, if there is one (what customers were shown lately, the snapshot of
    a campaign queued already), which the caller closes."""
    resolve_project(args)
    store = existing_store(args.store)
    try:
        return prepare_from_args(args, report, campaign_file=campaign_file, store=store), store
    except BaseException:
        if store is not None:
            store.close()
        raise


def customers_of(args: argparse.Namespace, report: Report | None = None) -> Iterator[Customer]:
    """The customers of --customers, streamed, read in --encoding."""
    from mailer.inputs.customers import iter_customers

    return iter_customers(args.customers, report=report, encoding=getattr(args, "encoding", None))


def existing_store(url: str) -> Store | None:
    """The queue store at ``url`` if it exists (a check never creates one)."""
    from mailer.store import open_store

    if url.startswith("sqlite:") or "://" not in url:
        path = url[len("sqlite:"):] if url.startswith("sqlite:") else url
        if not os.path.exists(path):
            return None
    return open_store(url)


def personalise(prepared: PreparedCampaign, args: argparse.Namespace, report: Report, store: Store | None) -> None:
    """Fit the campaign's per-customer choices; products shown in each customer's
    last emails (the store's send log) are left out."""

    shown = None
    if store is not None and prepared.config.personalised:
        from mailer.personalise.exclusions import SendLogShown

        # Queued rows of other campaigns count as shown; this campaign's own do not.
        shown = SendLogShown(store, emails=prepared.config.rules.shown_emails, campaign=prepared.campaign.id)
    prepared.personalise(report=report, customers=lambda: customers_of(args), shown=shown)


def check(
    prepared: PreparedCampaign,
    args: argparse.Namespace,
    report: Report,
    customers: Iterable[Customer] | None = None,
) -> CheckResult:
    """Every customer (default: all of --customers) through the campaign's
    choices, one message per variant rendered in full."""
    from mailer.check import check_campaign

    if customers is None:
        from mailer.progress import count_rows, counted

        customers = counted(customers_of(args, report), "checking", total=count_rows(args.customers))
    return check_campaign(prepared, customers, report=report, feed_given=args.feed is not None)


def print_result(result: CheckResult, *, out: object = None) -> None:
    stream = out or sys.stdout
    variants = len(result.variants)
    print(
        f"checked {result.customers} customer(s), {result.kept} in the audience; "
        f"{result.rendered} of {variants} layout/offer/locale/currency/segment variant(s) rendered",
        file=stream,  # type: ignore[arg-type]
    )
    for finding in result.findings:
        print(f"  {finding}", file=stream)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from mailer.check import check_transport
    from mailer.report import Report

    report = Report()
    prepared, store = prepare_for_preview(args, report, campaign_file=args.campaign)
    try:
        personalise(prepared, args, report, store)
        result = check(prepared, args, report)
    finally:
        if store is not None:
            store.close()
        prepared.close()
    if args.check_transport or args.connect:
        url = args.check_transport or resolve_project(args).transport
        try:
            print(check_transport(url, connect=args.connect))
        except ConfigError as err:
            result.error("transport", str(err))
    print_result(result)
    if not result.ok:
        print(f"mailer: {len(result.errors)} error(s): campaign {prepared.campaign.id!r} would not send as it should",
              file=sys.stderr)
        return 2
    print(f"campaign {prepared.campaign.id!r} is ready" + (f" ({len(result.warnings)} warning(s))" if result.warnings else ""))
    return 0
