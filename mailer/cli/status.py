"""``mailer status``: messages per state and per reply class, from the queue,
then each campaign's messages per state and the reasons they gave, grouped and
counted (``mailer campaign show ID`` lists more of them), and the complaint
rates of campaigns and sending domains that drew complaints, with a warning
past 0.1% (a campaign past 0.3% is paused, and says why)."""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from mailer.cli.campaigns import complaint_rates_of, rate_json, rate_line, summary_json, summary_lines
from mailer.cli.queue import iso
from mailer.cli.worker import add_store_option

if TYPE_CHECKING:
    from mailer.store import ReasonCount


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("status", help="show queue counts per state, reply class and campaign",
                                   description=__doc__)  # fmt: skip
    add_store_option(parser)
    parser.add_argument("--campaign", help="only this campaign")
    parser.add_argument("--reasons", type=int, default=5, metavar="N",
                        help="most common reasons to show per campaign (default 5)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mailer.feedback.rules import FeedbackPolicy
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        states = store.counts(args.campaign)
        replies = store.reply_classes(args.campaign)
        in_flight, due, next_due = store.pending(now=time.time())
        campaigns = store.campaigns(args.campaign)
        reasons = store.reasons(args.campaign, top=max(args.reasons, 0))
        suppressed = len(store.suppressions())
        counts = store.complaint_counts()
    finally:
        store.close()
    policy = FeedbackPolicy()
    rates = complaint_rates_of(counts, None if args.campaign is None else [args.campaign])
    by_campaign: dict[str, list[ReasonCount]] = {}
    for reason in reasons:
        by_campaign.setdefault(reason.campaign, []).append(reason)
    result = {
        "states": states,
        "replies": replies,
        "in_flight": in_flight,
        "due": due,
        "next_due": iso(next_due),
        "suppressed": suppressed,
        "campaigns": [summary_json(c, by_campaign.get(c.id, ())) for c in campaigns],
        "complaint_rates": [rate_json(r, policy) for r in rates],
    }
    if args.json:
        print(json.dumps(result, sort_keys=True, ensure_ascii=False))
        return 0
    print("state        count")
    for state, n in states.items():
        print(f"{state:<12} {n:>5}")
    print("reply        count")
    for cls, n in replies.items():
        print(f"{cls:<12} {n:>5}")
    print(f"in flight {in_flight}, due now {due}, suppression list {suppressed}"
          + (f", next due {result['next_due']}" if next_due is not None else ""))  # fmt: skip
    for summary in campaigns:
        print("\n".join(summary_lines(summary, by_campaign.get(summary.id, ()))))
    for rate in rates:
        print(rate_line(rate, policy))
    return 0
