"""``mailer catalogs update|check``: keep the gettext catalogs in ``locales/`` current.

``update`` extracts the messages of the layouts and sources ``babel.cfg`` names,
merges them into every catalog and compiles it; ``check`` exits 1 listing what
is out of date, missing or untranslated (run it in CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "catalogs",
        help="update or check the translation catalogs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="catalogs_command", required=True)
    update = commands.add_parser(
        "update",
        help="extract messages, merge them into every catalog and compile it",
        description="Extract messages (locales/messages.pot), merge them into every "
        "locales/<lang>/LC_MESSAGES/messages.po and compile messages.mo.",
    )
    update.add_argument("--add", action="append", default=[], metavar="LANG",
                        help="start a catalog for LANG first (repeatable)")
    check = commands.add_parser(
        "check",
        help="exit 1, listing the problems, unless every catalog is complete and compiled",
        description="List every missing or stale compiled catalog, message missing from a "
        "catalog, and fuzzy or untranslated entry; exit 1 if there is any.",
    )
    for command in (update, check):
        command.add_argument("--root", type=Path, default=Path.cwd(),
                             help="project root holding babel.cfg and locales/ (default: .)")
    update.set_defaults(func=run_update)
    check.set_defaults(func=run_check)


def run_update(args: argparse.Namespace) -> int:
    from mailer.content.catalogs import update

    written = update(args.root, add=args.add)
    for path in written:
        print(f"wrote {path.relative_to(args.root) if path.is_relative_to(args.root) else path}")
    if not written:
        print("catalogs are up to date")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from mailer.content.catalogs import check

    problems = check(args.root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in the catalogs", file=sys.stderr)
        return 1
    print("catalogs are complete and compiled")
    return 0
