"""``mailer sto``: send-time optimisation from an engagement history.

``mailer sto profile`` writes each customer's 24-hour engagement profile;
``mailer sto estimate`` writes each customer's best send time on a date.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mailer.report import Report


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "sto",
        help="send-time optimisation: profiles and best send times from a history",
        description=__doc__,
    )
    commands = parser.add_subparsers(dest="sto_command", required=True)

    profile = commands.add_parser(
        "profile",
        help="write customer_id,h00..h23: where each customer's next engagement falls, by local hour",
    )
    _common(profile)
    profile.set_defaults(func=run_profile)

    estimate = commands.add_parser("estimate", help="write customer_id,send_at,...: the best send time on a date")
    _common(estimate)
    estimate.add_argument("--date", required=True, help="local date to send on, YYYY-MM-DD")
    estimate.add_argument("--window", help="local send window HH:MM-HH:MM (default: the whole day)")
    estimate.add_argument("--quiet-hours", help="local quiet hours HH:MM-HH:MM, e.g. 21:00-08:00")
    estimate.add_argument("--capacity-per-hour", type=int, help="most messages the pool can send per UTC hour")
    estimate.add_argument("--exploration", type=float, default=0.0, help="share of customers sent at an exploratory hour")
    estimate.add_argument(
        "--exploration-mode", choices=("prior", "thompson"), default="prior", help="how exploratory hours are drawn"
    )
    estimate.set_defaults(func=run_estimate)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", required=True, type=Path, help="history CSV, one row per message sent")
    parser.add_argument("--out", required=True, type=Path, help="CSV file to write")
    parser.add_argument("--default-timezone", help="IANA zone for rows without a timezone")
    parser.add_argument("--errors", type=Path, help="write skipped rows as JSON here")
    parser.add_argument("--seed", type=int, default=0, help="seed for the held-out split and exploration")


def _fit(args: argparse.Namespace, report: Report):  # type: ignore[no-untyped-def]
    from mailer.errors import InputError
    from mailer.sto.history import read_history
    from mailer.sto.profiles import fit_profiles

    try:
        history = read_history(args.history, default_timezone=args.default_timezone, report=report)
    except OSError as err:
        raise InputError(f"cannot read the history: {err.strerror or err}", path=args.history) from err
    return history, fit_profiles(history, seed=args.seed)


def _finish(args: argparse.Namespace, report: Report, summary: str) -> int:
    print(summary, file=sys.stderr)
    if args.errors:
        report.write_json(args.errors)
    if report:
        where = f"; details in {args.errors}" if args.errors else ""
        print(f"skipped {report.count} bad row(s){where}:", file=sys.stderr)
        for line in report.lines()[:10]:
            print(f"  {line}", file=sys.stderr)
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from mailer.sto.export import write_profiles

    started = time.perf_counter()
    report = Report()
    history, profiles = _fit(args, report)
    write_profiles(args.out, profiles)
    s = profiles.shrinkage
    return _finish(
        args,
        report,
        f"profiled {len(profiles)} customer(s) from {len(history)} row(s) in {time.perf_counter() - started:.1f}s "
        f"(shrinkage zone={s.zone:g} segment={s.segment:g} personal={s.personal:g} bandwidth={s.bandwidth:g}h)",
    )


def run_estimate(args: argparse.Namespace) -> int:
    from mailer.sto.export import write_plan
    from mailer.sto.schedule import best_send_times

    started = time.perf_counter()
    report = Report()
    history, profiles = _fit(args, report)
    plan = best_send_times(
        profiles,
        args.date,
        window=args.window,
        quiet_hours=args.quiet_hours,
        capacity_per_hour=args.capacity_per_hour,
        exploration=args.exploration,
        exploration_mode=args.exploration_mode,
        seed=args.seed,
        default_timezone=args.default_timezone or "UTC",
    )
    write_plan(args.out, plan)
    return _finish(
        args,
        report,
        f"planned {len(plan)} customer(s) for {args.date} in {time.perf_counter() - started:.1f}s",
    )
