"""``mailer queue``: the queue's messages one by one, and putting failed ones back.

``mailer queue list`` shows messages with their state, attempts, last reply
or reason and next attempt time, by ``--state`` (``failed``, ``deferred``,
``unknown``, ``paused``, ``cancelled``, … or ``capped``: what a frequency cap
set aside, capped or deferred) and ``--campaign``. It streams, so a queue of
millions can be listed. ``mailer queue retry`` puts ``failed`` messages back
in the queue from now, with a fresh expiry; their attempts are kept, and the
caps and the suppression list are checked again before they are sent.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mailer.cli.worker import add_store_option

if TYPE_CHECKING:
    from mailer.store import Delivery, Store

_WAITING = frozenset({"planned", "queued", "paused", "deferred"})
"""States whose next attempt time means something."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from mailer.store import LISTED_STATES

    parser = subparsers.add_parser(
        "queue", help="list queued messages by state and reason; retry failed ones", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="queue_command", required=True)
    listing = commands.add_parser("list", help="messages with state, attempts, last reply or reason, next attempt")
    add_store_option(listing)
    listing.add_argument("--state", choices=LISTED_STATES, metavar="STATE",
                         help=f"only messages in this state: {', '.join(LISTED_STATES)}")  # fmt: skip
    listing.add_argument("--campaign", help="only this campaign")
    listing.add_argument("--limit", type=whole_number, metavar="N", help="at most N messages")
    listing.add_argument("--json", action="store_true", help="print JSON Lines (one object per message)")
    listing.set_defaults(func=run_list)
    again = commands.add_parser("retry", help="put failed messages back in the queue")
    add_store_option(again)
    again.add_argument("--campaign", help="only this campaign")
    again.add_argument("--recipient", action="append", metavar="ID", help="only this customer (repeatable)")
    again.set_defaults(func=run_retry)


def whole_number(text: str) -> int:
    """An option's whole number, 0 or more (for argparse's ``type=``)."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got {text!r}")
    return n


def iso(at: float | None) -> str | None:
    """A time from the store as ISO 8601 in UTC, to the second (epoch seconds
    past the year 9999).

    >>> iso(0.0), iso(None), iso(1e12)
    ('1970-01-01T00:00:00+00:00', None, '1000000000000')
    """
    if at is None:
        return None
    try:
        return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return f"{at:.0f}"


def why(delivery: Delivery) -> str:
    """The reason a row gives, else its last reply (``-``: neither).

    >>> from mailer.store import open_store, NewDelivery
    >>> store = open_store("sqlite::memory:")
    >>> _ = store.enqueue([NewDelivery("autumn", "C1", "ann@shop.test", not_before=0.0)])
    >>> why(store.get("autumn", "C1"))
    '-'
    """
    if delivery.reason:
        return delivery.reason
    reply = " ".join(str(part) for part in (delivery.reply_code, delivery.reply_text) if part)
    return reply or "-"


def as_json(delivery: Delivery) -> dict[str, Any]:
    """One row as ``mailer queue list --json`` prints it."""
    return {
        "campaign": delivery.campaign,
        "recipient": delivery.recipient,
        "address": delivery.address,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt": iso(delivery.not_before) if delivery.state in _WAITING else None,
        "expires": iso(delivery.expires_at),
        "reply_code": delivery.reply_code,
        "reply_enhanced": delivery.reply_enhanced,
        "reply_text": delivery.reply_text,
        "reason": delivery.reason,
        "message_id": delivery.message_id,
    }


def run_list(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    store = open_store(args.store)
    n = 0
    try:
        if not args.json:
            print("campaign\trecipient\taddress\tstate\tattempts\tnext attempt\treason or last reply")
        for d in store.iter_deliveries(state=args.state, campaign=args.campaign, limit=args.limit):
            n += 1
            if args.json:
                print(json.dumps(as_json(d), ensure_ascii=False))
            else:
                nxt = iso(d.not_before) if d.state in _WAITING else "-"
                print(f"{d.campaign}\t{d.recipient}\t{d.address}\t{d.state}\t{d.attempts}\t{nxt}\t{why(d)}")
    finally:
        store.close()
    if not args.json:
        print(f"{n} message(s)" + (" (--limit reached)" if args.limit is not None and n == args.limit else ""))
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from mailer.cli.campaigns import known_campaign
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        if args.campaign is not None:
            known_campaign(store, args.campaign)
        # The rows must render again (from their campaign's snapshot) before they go back.
        from mailer.check import check_queued

        wanted = set(args.recipient) if args.recipient else None
        rows = (d for d in store.iter_deliveries(state="failed", campaign=args.campaign)
                if wanted is None or d.recipient in wanted)  # fmt: skip
        result = check_queued(store, rows)
        if not result.ok:
            for finding in result.errors:
                print(f"  {finding}", file=sys.stderr)
            print("mailer: nothing retried: these messages would fail again", file=sys.stderr)
            return 2
        return retry(store, campaign=args.campaign, recipients=args.recipient)
    finally:
        store.close()


def retry(store: Store, *, campaign: str | None = None, recipients: Sequence[str] | None = None) -> int:
    """Put the failed messages (of one campaign, of some customers) back in
    the queue and say how many; returns the exit code."""
    n = store.retry_failed(campaign=campaign, recipients=recipients)
    where = f" of campaign {campaign!r}" if campaign is not None else ""
    print(f"{n} failed message(s){where} back in the queue" + ("; run `mailer worker` to send them" if n else ""))
    return 0
