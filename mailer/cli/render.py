"""mailer render: a campaign (or a layout) + feed + customers -> one .eml per customer.

Prepares the campaign exactly as `mailer run` will and writes each customer's
message, byte for byte what would be sent for --at (default: now), plus
selection.jsonl (each customer's products and why they were chosen) and
report.json (every skipped row with its file, line, field and reason).
Exit codes: 0 every customer rendered, 1 some could not be, 2 bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mailer.cli.check import add_campaign_inputs, customers_of, personalise, prepare_for_preview
from mailer.errors import ConfigError, MailerError

if TYPE_CHECKING:
    from mailer.content.compose import ComposedMessage
    from mailer.report import Report


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "render",
        help="render a campaign to .eml files, one per customer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--campaign", type=Path, help="campaign TOML file (default: a placeholder campaign for --layout)")
    add_campaign_inputs(parser)
    output = parser.add_mutually_exclusive_group(required=True)
    output.add_argument("--out", type=Path,
                        help="directory for the .eml files, or - for one mbox stream on standard output")
    output.add_argument("--html", type=Path, metavar="DIR",
                        help="directory for each message's HTML part as a plain .html file "
                             "(for testing tools such as Litmus or Email on Acid)")
    parser.add_argument("--at", help="the instant the messages are for (ISO 8601 with offset; "
                        "default: the campaign's send_date if still to come, else now)")
    parser.set_defaults(func=run)


def _file_name(customer_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", customer_id)[:48]
    digest = hashlib.sha256(customer_id.encode()).hexdigest()[:8]
    return f"{safe}-{digest}.eml"


def parse_instant(text: str, option: str) -> datetime:
    """An option's ISO 8601 instant with its offset (``Z`` allowed), as
    :func:`mailer.inputs.history.parse_instant` reads history files.

    >>> parse_instant("2026-11-24T09:00", "--at")
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: --at: '2026-11-24T09:00' has no UTC offset (add Z or e.g. +02:00)
    """
    from mailer.inputs.history import parse_instant as read_instant

    try:
        return read_instant(text)
    except ValueError as err:
        raise ConfigError(f"{option}: {err}") from None


def run(args: argparse.Namespace) -> int:
    from mailer.content.compose import for_recipient
    from mailer.progress import count_rows, counted
    from mailer.report import Report

    if args.campaign is None and args.layout is None:
        args.layout = "newsletter"
    at = parse_instant(args.at, "--at") if args.at else None
    report = Report()
    prepared, store = prepare_for_preview(args, report, campaign_file=args.campaign)
    at = at or prepared.send_instant()
    to_stdout = str(args.out) == "-"
    folder = args.out if args.out is not None else args.html
    sink: FolderSink | MboxSink = (
        MboxSink(sys.stdout.buffer) if to_stdout else FolderSink(folder, html=args.html is not None)
    )
    written = failed = left_out = 0
    try:
        personalise(prepared, args, report, store)
        customers = counted(customers_of(args, report), "rendering",
                            total=count_rows(args.customers))  # fmt: skip
        for choice in prepared.choices(customers):
            if not choice.kept:
                left_out += 1
                continue
            empty = prepared.empty_groups(choice)
            if empty:  # `mailer run` leaves them out too: never an email with an empty product grid
                failed += 1
                report.add(ConfigError(f"{choice.customer.id}: left out: no product for slot group(s) "
                                       f"{', '.join(empty)}"))  # fmt: skip
                continue
            try:
                message = prepared.compose(choice, at=at)
            except MailerError as err:
                failed += 1
                report.add(for_recipient(err, choice.customer.id))
                continue
            row = {"customer": choice.customer.id, "layout": choice.layout or prepared.campaign.layout,
                   "offer": choice.offer, "segment": choice.segment, "slots": prepared.preview(choice)}
            sink.write(message, row)
            written += 1
            for warning in message.warnings:
                report.add(ConfigError(f"{message.customer_id}: {warning}"))
    finally:
        sink.close(report)
        if store is not None:
            store.close()
        prepared.close()
    # With the messages on standard output, the summary goes to standard error.
    tell = sys.stderr if to_stdout else sys.stdout
    where = "standard output (mbox)" if to_stdout else str(Path(folder).resolve())
    print(f"rendered {written} message(s) with layout {prepared.campaign.layout!r} into {where}", file=tell)
    if left_out:
        print(f"left out {left_out} customer(s) outside the campaign's audience", file=tell)
    if report:
        details = "" if to_stdout else f"; details in {(Path(folder) / 'report.json').resolve()}"
        print(f"skipped or flagged {report.count} row(s){details}:", file=tell)
        for kind, (count, examples) in report.summary().items():
            print(f"  {count} × {kind}", file=tell)
            for example in examples:
                print(f"      e.g. {example}", file=tell)
    if written == 0 or failed:
        return 1
    return 0


class FolderSink:
    """One ``.eml`` per message (with ``html``: its HTML part as ``.html``),
    ``selection.jsonl`` (products and why) and ``report.json``."""

    def __init__(self, folder: Path, *, html: bool = False) -> None:
        self.folder = folder
        self.html = html
        folder.mkdir(parents=True, exist_ok=True)
        self._selection = (folder / "selection.jsonl").open("w", encoding="utf-8")

    def write(self, message: ComposedMessage, row: dict[str, object]) -> None:
        self._selection.write(json.dumps(row, ensure_ascii=False) + "\n")
        name = _file_name(message.customer_id)
        if self.html:
            target, data = self.folder / f"{name[:-4]}.html", message.html.encode("utf-8")
        else:
            target, data = self.folder / name, message.data
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, target)

    def close(self, report: Report) -> None:
        self._selection.close()
        report.write_json(self.folder / "report.json")


class MboxSink:
    """Every message on one stream, in mboxrd format (``--out -``), for a mail
    client or ``formail``; lines starting ``From `` are quoted with ``>``."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write(self, message: ComposedMessage, row: dict[str, object]) -> None:
        body = _FROM_LINE.sub(rb">\1", message.data.replace(b"\r\n", b"\n"))
        self.stream.write(b"From mailer@localhost " + time.asctime(time.gmtime()).encode() + b"\n" + body)
        if not body.endswith(b"\n"):
            self.stream.write(b"\n")
        self.stream.write(b"\n")

    def close(self, report: Report) -> None:
        self.stream.flush()


_FROM_LINE = re.compile(rb"(?m)^(>*From )")


