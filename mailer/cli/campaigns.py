"""``mailer campaign``: the campaigns in the queue, and holding them.

``list`` shows every campaign the queue knows, with its status and messages
per state; ``show ID`` one campaign's messages per state and the reasons they
gave, grouped and counted, most common first, and its complaint rate (with a
warning past 0.1%). ``pause ID`` stops workers taking its messages until
``resume ID``; ``cancel ID`` never sends its unsent messages, and cannot be
undone. Messages already being sent always finish. A campaign whose
complaint rate passed 0.3% was paused by ``mailer bounces read``, which says
why here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mailer.cli.queue import iso
from mailer.cli.worker import add_store_option
from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.feedback.rules import ComplaintCount, ComplaintRate, FeedbackPolicy
    from mailer.store import CampaignSummary, ReasonCount, Store


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "campaign", help="list, show, pause, resume or cancel the campaigns in the queue", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="campaign_command", required=True)
    listing = commands.add_parser("list", help="every campaign with its status and messages per state")
    listing.set_defaults(func=run_list)
    show = commands.add_parser("show", help="one campaign's messages per state, and their reasons with counts")
    show.add_argument("--top", type=int, default=20, help="most reasons to show (default 20)")
    show.set_defaults(func=run_show)
    for command in (listing, show):
        add_store_option(command)
        command.add_argument("--json", action="store_true", help="print JSON Lines")
    actions = {
        "pause": ("stop workers taking its messages (those being sent finish)", run_pause),
        "resume": ("let workers take a paused campaign's messages again", run_resume),
        "cancel": ("never send its unsent messages (cannot be undone)", run_cancel),
    }
    for name, (text, func) in actions.items():
        command = commands.add_parser(name, help=text)
        add_store_option(command)
        command.set_defaults(func=func)
    for command in (show, *(commands.choices[name] for name in actions)):
        command.add_argument("campaign", metavar="ID", help="the campaign's id")


def known_campaign(store: Store, campaign: str) -> CampaignSummary:
    """The store's summary of ``campaign``, or :class:`ConfigError` naming the ones it knows."""
    found = store.campaigns(campaign)
    if found:
        return found[0]
    names = [c.id for c in store.campaigns()]
    known = (f"; known: {', '.join(names[:20])}" + (", …" if len(names) > 20 else "")) if names else "; it has none"
    raise ConfigError(f"no campaign {campaign!r} in the queue {store.url}{known}")


def counts_text(counts: Mapping[str, int]) -> str:
    """Messages per state in a few words, in the order rows live through them.

    >>> counts_text({"sent": 28, "failed": 2})
    '30 message(s): 28 sent, 2 failed'
    """
    from mailer.store import STATES

    parts = [f"{counts[state]} {state}" for state in STATES if counts.get(state)]
    return f"{sum(counts.values())} message(s)" + (f": {', '.join(parts)}" if parts else "")


def summary_json(summary: CampaignSummary, reasons: Iterable[ReasonCount] = ()) -> dict[str, Any]:
    """A campaign as the ``--json`` outputs print it."""
    return {
        "campaign": summary.id,
        "status": summary.status,
        "hold_reason": summary.hold_reason,
        "created": iso(summary.created_at),
        "states": dict(summary.counts),
        "total": summary.total,
        "reasons": [{"state": r.state, "reason": r.reason, "count": r.count} for r in reasons],
    }


def summary_lines(summary: CampaignSummary, reasons: Iterable[ReasonCount] = ()) -> list[str]:
    """A campaign in a line, why it is held when no operator held it, then
    its reasons, one indented line each."""
    created = f", stored {iso(summary.created_at)}" if summary.created_at is not None else ""
    lines = [f"campaign {summary.id} ({summary.status}{created}): {counts_text(summary.counts)}"]
    if summary.hold_reason:
        lines.append(f"  {summary.status}: {summary.hold_reason}")
    lines += reason_lines(reasons)
    return lines


def reason_lines(reasons: Iterable[ReasonCount]) -> list[str]:
    return [f"  {r.count:>7}  {r.state:<10} {r.reason}" for r in reasons]


def complaint_rates_of(
    counts: Iterable[ComplaintCount], campaigns: Iterable[str] | None = None
) -> list[ComplaintRate]:
    """The complaint rates worth showing: of ``campaigns`` (all when
    ``None``) and of the sending domains they use, those with complaints."""
    from mailer.feedback.rules import complaint_rates

    counts = list(counts)
    wanted = None if campaigns is None else set(campaigns)
    domains = {c.domain for c in counts if wanted is None or c.campaign in wanted}
    return [r for r in complaint_rates(counts) if r.complaints
            and (r.name in domains if r.scope == "domain" else wanted is None or r.name in wanted)]  # fmt: skip


def rate_line(rate: ComplaintRate, policy: FeedbackPolicy) -> str:
    """A complaint rate in a line, ``warning:`` first when it calls for one.

    >>> from mailer.feedback.rules import ComplaintRate, FeedbackPolicy
    >>> rate_line(ComplaintRate("domain", "shop.test", 2, 1000), FeedbackPolicy())
    'warning: sending domain shop.test: complaint rate 0.2% (2 of 1,000 delivered): above 0.1%, the most Gmail and Yahoo allow bulk senders'
    """
    level = rate.level(policy)
    whose = f"campaign {rate.name}" if rate.scope == "campaign" else f"sending domain {rate.name}"
    return f"{'warning: ' if level in ('warning', 'pause') else ''}{whose}: {rate.describe(policy)}"


def rate_json(rate: ComplaintRate, policy: FeedbackPolicy) -> dict[str, Any]:
    return {"scope": rate.scope, "name": rate.name, "complaints": rate.complaints, "delivered": rate.delivered,
            "rate": rate.rate, "level": rate.level(policy), "text": rate.describe(policy)}  # fmt: skip


def run_list(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        campaigns = store.campaigns()
    finally:
        store.close()
    for summary in campaigns:
        if args.json:
            out = summary_json(summary)
            del out["reasons"]
            print(json.dumps(out, ensure_ascii=False))
        else:
            print(summary_lines(summary)[0])
    if not args.json:
        print(f"{len(campaigns)} campaign(s)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from mailer.feedback.rules import FeedbackPolicy
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        summary = known_campaign(store, args.campaign)
        reasons = store.reasons(args.campaign, top=max(args.top, 0))
        rates = complaint_rates_of(store.complaint_counts(), [args.campaign])
    finally:
        store.close()
    policy = FeedbackPolicy()
    if args.json:
        shown = summary_json(summary, reasons)
        shown["complaint_rates"] = [rate_json(r, policy) for r in rates]
        print(json.dumps(shown, ensure_ascii=False))
        return 0
    print("\n".join(summary_lines(summary)))
    for rate in rates:
        print(rate_line(rate, policy))
    print("state        count")
    from mailer.store import STATES

    for state in STATES:
        if summary.counts.get(state):
            print(f"{state:<12} {summary.counts[state]:>5}")
    if reasons:
        print("reasons, most common first:")
        print("\n".join(reason_lines(reasons)))
    return 0


def run_pause(args: argparse.Namespace) -> int:
    return _hold(args, "pause")


def run_resume(args: argparse.Namespace) -> int:
    return _hold(args, "resume")


def run_cancel(args: argparse.Namespace) -> int:
    return _hold(args, "cancel")


def _hold(args: argparse.Namespace, action: str) -> int:
    from mailer.store import open_store

    store = open_store(args.store)
    try:
        known_campaign(store, args.campaign)
        if action == "pause":
            n = store.pause_campaign(args.campaign)
            done = f"paused: {n} waiting message(s) held; messages being sent finish"
        elif action == "resume":
            n = store.resume_campaign(args.campaign)
            done = f"resumed: {n} message(s) back in the queue"
        else:
            n = store.cancel_campaign(args.campaign)
            done = f"cancelled: {n} unsent message(s) will not be sent; messages being sent finish"
    finally:
        store.close()
    print(f"campaign {args.campaign!r} {done}")
    return 0
