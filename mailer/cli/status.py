"""``mailer status``: messages per state and per reply class, from the queue."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from mailer.cli.worker import add_store_option


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("status", help="show queue counts per state and reply class", description=__doc__)
    add_store_option(parser)
    parser.add_argument("--campaign", help="only this campaign")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        states = store.counts(args.campaign)
        replies = store.reply_classes(args.campaign)
        in_flight, due, next_due = store.pending(now=time.time())
        result = {
            "states": states,
            "replies": replies,
            "in_flight": in_flight,
            "due": due,
            "next_due": datetime.fromtimestamp(next_due, timezone.utc).isoformat() if next_due else None,
            "suppressed": len(store.suppressions()),
        }
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print("state        count")
    for state, n in states.items():
        print(f"{state:<12} {n:>5}")
    print("reply        count")
    for cls, n in replies.items():
        print(f"{cls:<12} {n:>5}")
    print(f"in flight {in_flight}, due now {due}, suppression list {result['suppressed']}"
          + (f", next due {result['next_due']}" if result["next_due"] else ""))
    return 0
