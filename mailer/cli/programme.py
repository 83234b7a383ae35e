"""``mailer programme``: run a lifecycle programme for a day, and see where customers are.

``mailer programme run NAME`` is what a scheduler runs once a day for each
programme (``welcome``, ``lapsed``, ``reactivation``). It enrols the day's
entrants, advances every customer's durable position (a state file, SQLite)
and queues each step due today as the lifecycle campaign ``CAMPAIGNS/<step>.toml``
(``welcome-1.toml`` … ``offer.toml``), then delivers what is due unless
``--queue-only``. Running it twice on one day queues nothing twice.

Entrants, unless ``--entrants`` lists them (one id per line, or a CSV with an
``id``/``customer_id`` column): for ``welcome``, customers with no purchase
yet who were never in it; for ``lapsed``, the RFM segment ``lapsed`` of the
purchase history; for ``reactivation``, the lapsed programme's non-targets.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.sending import eventloop
from mailer.cli.worker import add_delivery_options, add_store_option, deliver
from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.inputs.history import Purchase
    from mailer.prepared import PreparedCampaign
    from mailer.personalise.programme_store import ProgrammeStore
    from mailer.personalise.programmes import Programme

STATE_FILE = "programmes.sqlite3"
"""The programme state file, in the project's state folder unless --state says."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "programme", help="run a lifecycle programme (welcome, lapsed, reactivation) for a day",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="programme_command", required=True)

    run = commands.add_parser("run", help="advance a programme to a day and queue the steps due")
    run.add_argument("name", choices=("welcome", "lapsed", "reactivation"), help="the programme")
    run.add_argument("--customers", required=True, type=Path, help="customers CSV or JSON Lines")
    run.add_argument("--campaigns", required=True, type=Path, help="folder with one <step>.toml per step")
    run.add_argument("--purchases", type=Path, help="purchase history (entrants, exits on purchase, selection)")
    run.add_argument("--entrants", type=Path, help="ids of today's entrants (default: see above)")
    run.add_argument("--feed", type=Path, help="product feed, for steps that show products")
    run.add_argument("--day", type=date.fromisoformat, help="the day to run (default: today, UTC)")
    run.add_argument("--state", type=Path, help=f"programme state file (default: {STATE_FILE} in the project's state folder)")
    run.add_argument("--state-dir", type=Path, help="where the link-signing key is kept (default: the project's)")
    run.add_argument("--queue-only", action="store_true", help="queue, and leave delivery to `mailer worker`")
    run.add_argument("--no-quiet-hours", action="store_true", help="allow sending at night, local time")
    add_store_option(run)
    add_delivery_options(run)
    run.set_defaults(func=run_programme)

    status = commands.add_parser("status", help="how many customers are at each status")
    status.add_argument("name", choices=("welcome", "lapsed", "reactivation"))
    status.add_argument("--state", type=Path, help=f"programme state file (default: {STATE_FILE} in the project's state folder)")
    status.add_argument("--project", metavar="DIR", help="the project folder holding mailer.toml")
    status.add_argument("--list", action="store_true",
                        help="one line per customer: id, status, next step (tab-separated)")
    status.set_defaults(func=programme_status)


def state_file(args: argparse.Namespace, state_dir: Path) -> Path:
    """The programme state file: --state, else the project's."""
    return Path(args.state) if args.state is not None else Path(state_dir) / STATE_FILE


def _programme(name: str) -> Programme:
    from mailer.personalise.programmes import LAPSED, REACTIVATION, WELCOME

    return {"welcome": WELCOME, "lapsed": LAPSED, "reactivation": REACTIVATION}[name]


def read_ids(path: Path) -> list[str]:
    """Customer ids from a file: one per line (a first line ``id`` or
    ``customer_id`` is a header), or a CSV with an ``id`` or ``customer_id`` column."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read entrants: {err.strerror}") from err
    if lines and "," in lines[0]:
        reader = csv.DictReader(lines)
        column = next((c for c in ("id", "customer_id") if c in (reader.fieldnames or ())), None)
        if column is None:
            raise ConfigError(f"{path}: line 1: no 'id' or 'customer_id' column")
        return [row[column].strip() for row in reader if row.get(column, "").strip()]
    ids = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if ids and ids[0].strip('"').lower() in ("id", "customer_id"):
        del ids[0]
    return ids


def entrants_for(
    programme: str, *, store: ProgrammeStore, purchases: list[Purchase], customers: Path, today: date
) -> list[str]:
    """Who enters ``programme`` today when no list is given."""
    from mailer.inputs.customers import iter_customers

    if programme == "reactivation":
        return store.with_status("lapsed", "non_target")
    buyers = {p.customer_id for p in purchases}
    if programme == "welcome":
        return [c.id for c in iter_customers(customers) if c.id not in buyers]
    if not purchases:
        raise ConfigError("the lapsed programme finds its entrants in the purchase history: give --purchases")
    from mailer.personalise.catalogue import Catalogue, day_number
    from mailer.personalise.purchases import PurchaseTable
    from mailer.personalise.rules import SelectionRules
    from mailer.personalise.segments import rfm

    at = datetime(today.year, today.month, today.day, tzinfo=timezone.utc)
    table = PurchaseTable.from_purchases(purchases, Catalogue.from_products([], rules=SelectionRules(), at=at))
    ids = sorted(buyers)
    segments = rfm(table, today=day_number(today)).segment_of(ids)
    return [c for c, segment in zip(ids, segments.tolist()) if segment == "lapsed"]


def run_programme(args: argparse.Namespace) -> int:
    from mailer.campaign import load_campaign
    from mailer.cli.check import customers_of, resolve_project
    from mailer.cli.run import prepare_checked
    from mailer.sending.delivery import queue_campaign
    from mailer.inputs.history import iter_purchases
    from mailer.personalise.programme_store import ProgrammeStore, run_day
    from mailer.sending.plan import At, QuietHours
    from mailer.report import Report
    from mailer.store import open_store

    programme = _programme(args.name)
    today = args.day or datetime.now(timezone.utc).date()
    # Every step's campaign is read first: a missing or broken one stops before anyone moves on.
    campaigns = {}
    for step in programme.steps:
        path = args.campaigns / f"{step.name}.toml"
        if not path.is_file():
            raise ConfigError(f"{path}: no campaign for step {step.name!r} of programme {programme.name!r}")
        campaigns[step.name] = load_campaign(path)
    report = Report()
    purchases = list(iter_purchases(args.purchases, report=report)) if args.purchases else []
    last: dict[str, date] = {}
    for p in purchases:
        day = p.purchased_at.astimezone(timezone.utc).date()
        if day > last.get(p.customer_id, date.min):
            last[p.customer_id] = day

    project = resolve_project(args)
    # The day drives everything: products are chosen and sends planned as of that day.
    now = datetime.now(timezone.utc)
    at = datetime.combine(today, now.time(), timezone.utc) if args.day else now
    store = open_store(args.store, dead_sending="queued" if args.at_least_once else "unknown", caps=project.caps)
    prepared_steps: dict[str, PreparedCampaign] = {}
    try:
        # Every step's campaign is prepared and checked for every customer before
        # anyone moves on: a step that would not send stops the day, losing no one.
        for step in programme.steps:
            # One campaign per step and day: a customer who comes back to the programme gets it again.
            step_args = argparse.Namespace(**{"layout": None, "strategy": None, "rates": None, "return_path": None,
                                              **vars(args)})  # fmt: skip
            prepared = prepare_checked(step_args, store, Report(), campaign_file=args.campaigns / f"{step.name}.toml",
                                       campaign_id=f"{campaigns[step.name].id}-{today.isoformat()}", at=at)  # fmt: skip
            if prepared is None:
                print(f"programme {programme.name!r}: step {step.name!r} would not send; nobody moved on today",
                      file=sys.stderr)  # fmt: skip
                return 2
            prepared_steps[step.name] = prepared

        programmes = ProgrammeStore(state_file(args, project.state_dir))
        try:
            entrants = read_ids(args.entrants) if args.entrants else entrants_for(
                programme.name, store=programmes, purchases=purchases, customers=args.customers, today=today
            )  # fmt: skip
            sends = run_day(programmes, programme, today=today, entrants=entrants, last_purchases=last.items())
        finally:
            programmes.close()
        by_step: dict[str, set[str]] = defaultdict(set)
        for customer_id, step_name in sends:
            by_step[step_name].add(customer_id)
        print(f"programme {programme.name!r} on {today}: {len(entrants)} entrant(s), {len(sends)} email(s) due")

        for step in programme.steps:
            due = by_step.get(step.name)
            if not due:
                continue
            prepared = prepared_steps[step.name]
            queued = queue_campaign(
                store,
                prepared,
                (c for c in customers_of(args, report) if c.id in due),
                rule=At(at),
                quiet=None if args.no_quiet_hours or not project.quiet_hours else QuietHours(*project.quiet_hours),
                caps=prepared.campaign.caps or project.caps,
                message_class="lifecycle",
                report=report,
            )
            missing = len(due) - queued.added - queued.capped - queued.left_out
            print(f"  {step.name}: queued {queued.added} as campaign {prepared.campaign.id!r}"
                  + (f"; {queued.capped} capped" if queued.capped else "")
                  + (f"; {missing} already queued or not in --customers" if missing > 0 else ""))  # fmt: skip
        for line in report.lines()[:20]:
            print(f"  {line}")
        if args.queue_only:
            return 0
        # A simulated day delivers on that day's clock too, so caps count each step on its own day.
        clock = None
        if args.day:
            started, offset = time.time(), at.timestamp()
            clock = lambda: offset + (time.time() - started)  # noqa: E731
        stats = eventloop.run(deliver(args, store, "until-idle", clock=clock))
        print(f"delivered: {stats}")
        if stats.stopped_by == "SIGINT":
            print("interrupted", file=sys.stderr)
            return 130
        return 1 if stats.undelivered else 0
    finally:
        for prepared in prepared_steps.values():
            prepared.close()
        store.close()


def programme_status(args: argparse.Namespace) -> int:
    from mailer.personalise.programme_store import ProgrammeStore
    from mailer.personalise.programmes import STATUSES

    from mailer.project import resolve

    path = state_file(args, resolve(getattr(args, "project", None)).state_dir)
    if not path.is_file():
        raise ConfigError(f"{path}: no programme state file yet (run `mailer programme run` first)")
    store = ProgrammeStore(path)
    try:
        positions = store.load(args.name)
    finally:
        store.close()
    if args.list:
        steps = [step.name for step in _programme(args.name).steps]
        for customer_id, code, step in zip(positions.customer_ids.tolist(), positions.status.tolist(),
                                           positions.next_step.tolist()):  # fmt: skip
            next_step = steps[step] if STATUSES[code] == "active" and 0 <= step < len(steps) else "-"
            print(f"{customer_id}\t{STATUSES[code]}\t{next_step}")
        return 0
    counts = {name: 0 for name in STATUSES}
    for code in positions.status.tolist():
        counts[STATUSES[code]] += 1
    for name, count in counts.items():
        print(f"{name:<12}{count:>8}")
    return 0
