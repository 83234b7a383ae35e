"""mailer lint: the preview page's checks without a browser, for CI.

Renders each campaign or layout named (default: every campaign and every
layout of the project) for a sample of customers (--customers; without it a
made-up one) in every locale the project has a catalog for, and prints what
the preview page would warn about: layout errors with file and line, images
without alt text, links that are not https, a missing unsubscribe link,
untranslated strings, unknown MJML tags, HTML past Gmail's clip and, with
caniemail's data (--caniemail or caniemail in mailer.toml), HTML and CSS the
target clients do not support.

Exit codes: 0 no error (warnings allowed; --strict: none either), 1 errors
found, 2 bad input (no such campaign or layout, unreadable files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailer.cli.preview import add_preview_inputs, open_preview
from mailer.errors import LayoutError, MailerError

if TYPE_CHECKING:
    from mailer.lint import Finding
    from mailer.preview import Preview


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("lint", help="check layouts and campaigns as the preview page does",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("targets", nargs="*", metavar="CAMPAIGN|LAYOUT",
                        help="campaign files or names, or layout names (default: all of the project's)")
    add_preview_inputs(parser)
    parser.add_argument("--sample", type=int, default=2,
                        help="customers per campaign, of different segments or markets (default 2)")
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default) or json: one object per finding, for CI annotations")
    parser.set_defaults(func=run)


@dataclass
class _Seen:
    """One finding and where it showed: which targets and locales."""

    finding: Finding
    targets: set[str] = field(default_factory=set)
    locales: set[str] = field(default_factory=set)


def _targets(preview: Preview, named: list[str]) -> list[tuple[str | None, str | None]]:
    """(campaign, layout) pairs to lint."""
    if not named:
        return [(preview.relative(path), None) for path in preview.campaign_files()] + [
            (None, layout) for layout in preview.layouts()
        ]
    targets: list[tuple[str | None, str | None]] = []
    layouts = set(preview.layouts())
    for name in named:
        if name in layouts:
            targets.append((None, name))
        else:
            targets.append((preview.relative(preview.campaign_path(name)), None))
    return targets


def _findings(preview: Preview, campaign: str | None, layout: str | None, sample: int) -> Iterator[tuple[str, Finding]]:
    from mailer.lint import Finding

    for customer in preview.sample_customers(sample):
        for locale in preview.locales() or [customer.locale]:
            person = preview.with_market(customer, locale)
            try:
                rendering = preview.render_customer(person, campaign=campaign, layout=layout)
            except LayoutError as err:
                path = preview.relative(Path(err.path)) if err.path else None
                yield locale, Finding("layout", err.reason, "error", line=err.line, path=path)
                return  # the same error for every other customer and locale
            except MailerError as err:
                yield locale, Finding("render", f"{customer.id}: {err}", "error")
                continue
            for finding in rendering.findings:
                yield locale, finding


def run(args: argparse.Namespace) -> int:
    from mailer.progress import counted

    preview = open_preview(args)
    try:
        targets = _targets(preview, args.targets)
        seen: dict[tuple[object, ...], _Seen] = {}
        for campaign, layout in counted(targets, "linting", total=len(targets)):
            name = campaign or f"layout {layout}"
            for locale, finding in _findings(preview, campaign, layout, max(1, args.sample)):
                key = (finding.rule, finding.message, finding.path, finding.line, finding.severity)
                entry = seen.setdefault(key, _Seen(finding))
                entry.targets.add(name)
                entry.locales.add(locale)
    finally:
        preview.close()
    errors = sum(1 for s in seen.values() if s.finding.severity == "error")
    warnings = len(seen) - errors
    ordered = sorted(seen.values(), key=lambda s: (s.finding.severity != "error", s.finding.path or "",
                                                   s.finding.line or 0, s.finding.rule))  # fmt: skip
    all_locales = set(preview.locales())
    for entry in ordered:
        finding = entry.finding
        if args.format == "json":
            print(json.dumps({**finding.to_json(), "targets": sorted(entry.targets), "locales": sorted(entry.locales)},
                             ensure_ascii=False))  # fmt: skip
            continue
        where = f"{finding.path}:{finding.line}" if finding.path and finding.line else (finding.path or
                                                                                        ", ".join(sorted(entry.targets)))  # fmt: skip
        locales = "every locale" if entry.locales >= all_locales else ", ".join(sorted(entry.locales))
        print(f"{where}: {finding.severity}: [{finding.rule}] {finding.message} ({locales})")
        for client in finding.clients:
            print(f"    {client}")
    summary = f"linted {len(targets)} campaign(s) and layout(s): {errors} error(s), {warnings} warning(s)"
    print(summary, file=sys.stderr if args.format == "json" else sys.stdout)
    if errors or (args.strict and warnings):
        return 1
    return 0
