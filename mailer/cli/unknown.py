"""``mailer unknown``: review and settle messages whose worker died mid-send.

A worker killed between committing ``sending`` and reading the server's reply
leaves the row ``unknown``: the message may or may not have been accepted, so
by default it is not sent again (at most once). Once you know, from the
relay's logs for the Message-IDs listed here, settle them: ``requeue`` sends
them again (until they expire), ``mark-sent`` records them as sent (the caps
and the shown-products log then count them).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from mailer.cli.worker import add_store_option


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "unknown", help="review and settle messages left unknown by a worker that died mid-send",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="unknown_command", required=True)
    listing = commands.add_parser("list", help="the unknown messages, with Message-ID and when they were sent")
    settle = [
        commands.add_parser("requeue", help="send them again (they never reached the server)"),
        commands.add_parser("mark-sent", help="record them as sent (the server accepted them)"),
    ]
    for command in (listing, *settle):
        add_store_option(command)
        command.add_argument("--campaign", help="only this campaign")
    listing.add_argument("--json", action="store_true", help="print JSON Lines")
    listing.set_defaults(func=list_unknown)
    for command, outcome in zip(settle, ("queued", "sent")):
        command.add_argument("--recipient", action="append", metavar="ID", help="only this customer (repeatable)")
        command.set_defaults(func=settle_unknown, outcome=outcome)


def list_unknown(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    store = open_store(args.store)
    n = 0
    try:
        for d in store.iter_deliveries(state="unknown", campaign=args.campaign):
            n += 1
            at = datetime.fromtimestamp(d.not_before, timezone.utc).isoformat()
            if args.json:
                print(json.dumps({"campaign": d.campaign, "recipient": d.recipient, "address": d.address,
                                  "message_id": d.message_id, "planned": at, "reason": d.reason}))  # fmt: skip
            else:
                print(f"{d.campaign}\t{d.recipient}\t{d.address}\t{d.message_id}\t{d.reason}")
    finally:
        store.close()
    if not args.json:
        print(f"{n} unknown message(s)")
    return 0


def settle_unknown(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        n = store.settle_unknown(args.outcome, campaign=args.campaign, recipients=args.recipient)
    finally:
        store.close()
    print(f"{n} unknown message(s) {'requeued' if args.outcome == 'queued' else 'marked sent'}")
    return 0
