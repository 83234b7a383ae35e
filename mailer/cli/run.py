"""``mailer run CAMPAIGN.toml``: plan, queue and deliver a campaign.

Every customer is planned (now, a local-time window, or a fixed instant;
never in quiet hours, 21:00–08:00 local, unless told), checked against the
frequency caps and queued once (running it again queues nothing twice).
Unless ``--queue-only`` is given, a worker then delivers what is due through
the transport — by default the outbox directory, so it runs end to end with
no server. Progress bars (rate, time left) are shown on a terminal, never in CI or a pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mailer.sending import eventloop
from mailer.cli.check import (
    add_campaign_inputs,
    check,
    customers_of,
    personalise,
    prepare_from_args,
    print_result,
    resolve_project,
)
from mailer.cli.render import parse_instant
from mailer.cli.worker import add_delivery_options, add_store_option, deliver
from mailer.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mailer.project import Project
    from mailer.sending.delivery import Queued
    from datetime import time as TimeOfDay

    from mailer.campaign import Campaign, DeliverySettings
    from mailer.inputs.customers import Customer
    from mailer.sending.plan import QuietHours, Rule
    from mailer.prepared import PreparedCampaign
    from mailer.report import Report
    from mailer.store import Store
    from mailer.sending.worker import WorkerStats


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "run", help="plan, queue and deliver a campaign", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("campaign", type=Path, help="campaign TOML file")
    add_store_option(parser)
    add_delivery_options(parser)
    parser.add_argument("--state-dir", type=Path, help="where the link-signing key is kept (default: the project's)")
    add_campaign_inputs(parser)
    parser.add_argument("--dry-run", action="store_true", help="check the campaign, queue nothing")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--at", help="send at this instant (ISO 8601 with offset, e.g. 2026-11-24T09:00Z)")
    when.add_argument("--window", help="send between these local times on --day, e.g. 09:00-11:00")
    when.add_argument(
        "--best-hour",
        type=Path,
        metavar="HISTORY",
        help="send on --day at each customer's best hour, learnt from this send/open history (see mailer sto)",
    )
    parser.add_argument("--day", type=date.fromisoformat,
                        help="the day for --window and --best-hour (default: [delivery] day, else today, UTC)")
    parser.add_argument("--no-quiet-hours", action="store_true", help="allow sending at night, local time")
    parser.add_argument("--class", dest="message_class", choices=("transactional", "lifecycle", "promotional"),
                        help="message class for caps (default: the campaign's [delivery] class, else promotional)")
    parser.add_argument("--on-cap", choices=("defer", "drop"),
                        help="what to do with a capped recipient (default: [delivery] on_cap, else defer)")
    parser.add_argument("--expiry", type=float,
                        help="hours after its planned time a message expires (default: [delivery] expiry_hours, else 24)")
    parser.add_argument("--queue-only", action="store_true", help="queue, and leave delivery to `mailer worker`")
    parser.add_argument("--return-path", help="envelope sender for bounces (default: the From address)")
    parser.set_defaults(func=run)


def programme_holds(campaign: Campaign, state_dir: Path, message_class: str) -> dict[str, str]:
    """Customers the project's lifecycle programmes hold back from this campaign, with why."""
    from mailer.cli.programme import STATE_FILE
    from mailer.personalise.programme_store import ProgrammeStore, held_back

    path = Path(state_dir) / STATE_FILE
    if campaign.programmes == "ignore" or not path.is_file():
        return {}
    programmes = ProgrammeStore(path)
    try:
        return held_back(programmes, message_class)
    finally:
        programmes.close()


def _held(customer_id: str, held: dict[str, str], report: Report) -> bool:
    reason = held.get(customer_id)
    if reason is not None:
        report.add(ConfigError(f"{customer_id}: not queued: {reason} (campaign key programmes = \"ignore\" sends anyway)"))
    return reason is not None


def _check_when(args: argparse.Namespace) -> None:
    """--at and --window are checked before the campaign is, so a typo costs no check."""
    from mailer.campaign import parse_times

    if args.at:
        parse_instant(args.at, "--at")
    if args.window:
        parse_times(args.window, "--window")
    if args.best_hour and not Path(args.best_hour).is_file():
        raise ConfigError(f"--best-hour {args.best_hour}: no such history file")


def _rule(args: argparse.Namespace, settings: DeliverySettings, send_date: datetime | None = None) -> Rule | None:
    """When to send: the command line's choice, else the campaign's
    ``[delivery]``, else its ``send_date`` (a date gone by: now), else now."""
    from mailer.sending.plan import At, LocalWindow

    day = args.day or settings.day or datetime.now(timezone.utc).date()
    if args.at:
        return At(parse_instant(args.at, "--at"))
    if args.window:
        from mailer.campaign import parse_times

        return LocalWindow(day, *parse_times(args.window, "--window"))
    if args.best_hour:
        return best_hour_rule(args.best_hour, day)
    if settings.at is not None:
        return At(settings.at)
    if settings.window is not None:
        return LocalWindow(day, *settings.window)
    if settings.best_hour is not None:
        return best_hour_rule(settings.best_hour, day)
    if send_date is not None and send_date > datetime.now(timezone.utc):
        return At(send_date)
    return None


def _quiet(
    args: argparse.Namespace, settings: DeliverySettings, default: tuple[TimeOfDay, TimeOfDay] | Literal[False] = False
) -> QuietHours | None:
    """Quiet hours: --no-quiet-hours, else the campaign's, else the project's (21:00-08:00 unless set)."""
    from mailer.sending.plan import QuietHours

    if args.no_quiet_hours or settings.quiet_hours is False:
        return None
    if settings.quiet_hours:
        return QuietHours(*settings.quiet_hours)
    if default is False:
        return None
    return QuietHours(*default)


def best_hour_rule(history: Path, day: date) -> Rule:
    """Each profiled customer's best local hour on ``day``, from the send-time
    model (:mod:`mailer.sto`); customers without history get the fallback."""
    from mailer.sending.plan import BestHour
    from mailer.sto import best_send_times, fit_profiles, read_history

    plan = best_send_times(fit_profiles(read_history(history)), day)
    hours = {
        str(customer): int(minute) // 60
        for customer, minute in zip(plan.customer_ids.tolist(), plan.local_minute.tolist())
        if minute >= 0
    }
    return BestHour(day, hours)


async def _progress(store: Store, campaign_id: str, total: int) -> None:
    """A delivery bar (rate, time left) fed from the store's counts, every half second."""
    from mailer.progress import bar

    unfinished = ("planned", "queued", "leased", "sending", "deferred", "paused")
    with bar("delivering", total, "message") as progress:
        try:
            while True:
                counts = store.counts(campaign_id)
                progress.update(sum(n for state, n in counts.items() if state not in unfinished) - progress.n)
                await asyncio.sleep(0.5)
        finally:  # the last count, so the bar left on screen says how it ended
            counts = store.counts(campaign_id)
            progress.update(sum(n for state, n in counts.items() if state not in unfinished) - progress.n)


def prepare_checked(
    args: argparse.Namespace,
    store: Store,
    report: Report,
    *,
    campaign_file: Path,
    campaign_id: str | None = None,
    customers: Callable[[], Iterable[Customer]] | None = None,
    at: datetime | None = None,
) -> PreparedCampaign | None:
    """The campaign prepared and checked for every customer; ``None`` (after
    printing why) when the check finds an error. A campaign queued before
    keeps the content it was first queued with: new rows are prepared from
    the stored snapshot, and a change since is pointed out."""
    prepared = prepare_from_args(args, report, campaign_file=campaign_file, campaign_id=campaign_id, store=store)
    prepared.at = at
    personalise(prepared, args, report, store)
    result = check(prepared, args, report, customers() if customers is not None else None)
    print_result(result)
    if not result.ok:
        prepared.close()
        print(f"mailer: campaign {prepared.campaign.id!r} not queued: {len(result.errors)} error(s)", file=sys.stderr)
        return None
    return prepared


def _check_and_queue(
    args: argparse.Namespace, store: Store, prepared: PreparedCampaign, report: Report, project: Project
) -> Queued | None:
    """Check every customer as they are queued, in one pass over the customers
    file: rows wait ``planned`` (no worker takes them) until the whole check
    has passed, then become claimable; on an error they are deleted, and so
    is the campaign's snapshot if nothing else of it was queued. ``None``
    (after printing why) when the check finds an error."""
    from mailer.check import CampaignCheck
    from mailer.progress import count_rows, counted
    from mailer.report import Report
    from mailer.sending.delivery import queue_campaign

    campaign = prepared.campaign
    checking = CampaignCheck(prepared, report=report, feed_given=args.feed is not None)
    if not checking.result.ok:  # the feed alone says no: read no customer
        print_result(checking.result)
        print(f"mailer: campaign {campaign.id!r} not queued: {len(checking.result.errors)} error(s)", file=sys.stderr)
        return None
    settings = campaign.delivery
    message_class = args.message_class or settings.message_class or "promotional"
    queue_report = Report()
    held = programme_holds(campaign, project.state_dir, message_class)
    customers = counted(customers_of(args, report), "checking and queueing", total=count_rows(args.customers))
    if held:
        customers = (c for c in customers if not _held(c.id, held, queue_report))
    try:
        queued = queue_campaign(
            store,
            prepared,
            customers,
            choices=(checking.see(choice) for choice in prepared.choices(customers)),
            state="planned",
            rule=_rule(args, settings, campaign.send_date),
            quiet=_quiet(args, settings, project.quiet_hours),
            message_class=message_class,
            expiry=(args.expiry or settings.expiry_hours or 24.0) * 3600,
            on_cap=args.on_cap or settings.on_cap or "defer",
            priority=settings.priority or 0,
            report=queue_report,
            caps=campaign.caps or project.caps,
        )
    except Exception:  # e.g. an unreadable customers file: nothing of this run stays, snapshot included
        store.discard_planned(campaign.id)
        raise
    result = checking.finish()
    print_result(result)
    if not result.ok:
        store.discard_planned(campaign.id)
        print(f"mailer: campaign {campaign.id!r} not queued: {len(result.errors)} error(s)", file=sys.stderr)
        return None
    store.release_planned(campaign.id)
    print(f"queued {queued.added} message(s) for campaign {campaign.id!r}"
          + (f"; {queued.capped} capped" if queued.capped else "")
          + (f"; {queued.left_out} outside the audience" if queued.left_out else ""))  # fmt: skip
    for line in queue_report.lines()[:20]:
        print(f"  {line}")
    return queued


def run(args: argparse.Namespace) -> int:
    from mailer.check import check_transport
    from mailer.progress import enabled as progress_enabled
    from mailer.report import Report
    from mailer.store import open_store

    project = resolve_project(args)
    check_transport(args.transport)
    _check_when(args)
    report = Report()
    # The project's caps ([caps] in mailer.toml) hold when planning and again when a worker claims.
    store = open_store(args.store, dead_sending="queued" if args.at_least_once else "unknown", caps=project.caps)
    try:
        prepared = prepare_from_args(args, report, campaign_file=args.campaign, store=store,
                                     discard_unfinished=not args.dry_run)  # fmt: skip
        try:
            personalise(prepared, args, report, store)
            if args.dry_run:
                result = check(prepared, args, report)
                print_result(result)
                if not result.ok:
                    print(f"mailer: campaign {prepared.campaign.id!r} would not send: {len(result.errors)} error(s)",
                          file=sys.stderr)  # fmt: skip
                    return 2
                print(f"campaign {prepared.campaign.id!r} checked; nothing queued (--dry-run)")
                return 0
            queued = _check_and_queue(args, store, prepared, report, project)
        finally:
            prepared.close()
        if queued is None:
            return 2
        campaign = prepared.campaign
        if args.queue_only:
            return 0

        async def go() -> WorkerStats:
            total = sum(store.counts(campaign.id).values())
            ticker = asyncio.create_task(_progress(store, campaign.id, total)) if progress_enabled() else None
            try:
                return await deliver(args, store, "until-idle")
            finally:
                if ticker:
                    ticker.cancel()

        stats = eventloop.run(go())
        print(f"delivered: {stats}")
        if args.transport.startswith("outbox:"):
            print(f"messages (.eml) are in {Path(args.transport[len('outbox:'):]).resolve()}")
        _, _, next_due = store.pending(now=time.time())
        if next_due is not None:
            print(f"next message due at {datetime.fromtimestamp(next_due, timezone.utc):%Y-%m-%d %H:%M:%S} UTC; "
                  "run `mailer worker` to deliver it")
        for rejection in stats.policy_rejections:
            print(f"policy rejection (transport paused): {rejection}", file=sys.stderr)
    finally:
        store.close()
    if stats.stopped_by == "SIGINT":
        print("interrupted", file=sys.stderr)
        return 130
    return 1 if stats.undelivered else 0
