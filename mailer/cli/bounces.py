"""``mailer bounces``: bounces, complaints and auto-replies that come back as mail.

``read MAILDIR`` reads each new message of the Maildir the return path
delivers to and finds the message it is about by the signed VERP token in the
address it came back to (a complaint also by the Message-ID it quotes, when
the complainant is that message's own recipient). Then a hard bounce
suppresses the address (reason ``hard-bounce``); a complaint suppresses it
(``complaint``) and counts towards the complaint rate; a soft bounce is
counted, and a run of them (3, over at least 7 days, with no delivery in
between) suppresses it (``soft-bounce``); auto-replies and other mail change
nothing, and nothing that names no message of ours suppresses anyone. Every
message read is kept as an event and marked seen in the Maildir, so the next
run skips it; ``--dry-run`` says what would be done and writes nothing.

A campaign whose complaint rate (complaints over messages delivered), or its
sending domain's, passes 0.3% is paused, with the reason (Gmail and Yahoo
refuse bulk mail past it; ``mailer campaign resume ID`` lets it go on); past
0.1% ``mailer status`` and ``mailer campaign show`` warn. No rate is judged
before 1,000 messages were delivered.

``list`` shows the events kept, oldest first. Exit codes: 0 every message
was read; 1 some files could not be read (they stay in the Maildir); 2 bad
input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailer.cli.queue import iso, whole_number
from mailer.cli.worker import add_store_option
from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.feedback import CampaignPaused
    from mailer.store import FeedbackEvent

KINDS = ("hard", "soft", "complaint", "auto-reply", "not-feedback")
_KIND_WORDS = {"hard": "a hard bounce", "soft": "a soft bounce", "complaint": "a complaint",
               "auto-reply": "an automatic reply", "not-feedback": "a message"}  # fmt: skip
_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_SPAN_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "bounces", help="read bounces and complaints that came back as mail; list what they did",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="bounces_command", required=True)
    read = commands.add_parser("read", help="read a Maildir of bounces and complaints and act on them")
    read.add_argument("maildir", metavar="MAILDIR", type=Path, help="the Maildir the return path delivers to")
    read.add_argument("--dry-run", action="store_true", help="say what would be done; write nothing, mark nothing")
    read.add_argument("--json", action="store_true", help="print one JSON object")
    add_store_option(read)
    read.add_argument("--state-dir", type=Path, help="where the link-signing key is kept (default: the project's)")
    read.add_argument("--soft-bounces", type=whole_number, default=3, metavar="N",
                      help="soft bounces in a row that suppress an address (default 3)")  # fmt: skip
    read.add_argument("--soft-bounce-days", type=float, default=7.0, metavar="DAYS",
                      help="the least time the run of soft bounces must span (default 7 days)")  # fmt: skip
    read.add_argument("--min-delivered", type=whole_number, default=1000, metavar="N",
                      help="messages delivered before a complaint rate is judged (default 1000)")  # fmt: skip
    read.set_defaults(func=run_read)
    listing = commands.add_parser("list", help="the bounces, complaints and auto-replies read, oldest first")
    add_store_option(listing)
    listing.add_argument("--kind", choices=KINDS, help="only this kind")
    listing.add_argument("--since", metavar="WHEN",
                         help="only those read since WHEN: an ISO 8601 instant (2026-05-04T09:00Z), "
                              "or a span back from now (7d, 12h, 30m)")  # fmt: skip
    listing.add_argument("--campaign", help="only those about this campaign's messages")
    listing.add_argument("--limit", type=whole_number, metavar="N", help="at most N events")
    listing.add_argument("--json", action="store_true", help="print JSON Lines (one object per event)")
    listing.set_defaults(func=run_list)


def mask(address: str | None) -> str:
    """An address with its local part hidden but for its first character,
    as command output shows recipients.

    >>> mask("ann.smith@example.com"), mask("x@shop.test"), mask(None)
    ('a***@example.com', 'x***@shop.test', '-')
    """
    if not address:
        return "-"
    local, at, domain = address.rpartition("@")
    if not at:
        return address[:1] + "***"
    return f"{local[:1]}***@{domain}"


def masked(text: str) -> str:
    """``text`` (a reason, a server's diagnostic) with every address in it masked.

    >>> masked("550 5.1.1 <ann.smith@example.com>: User unknown")
    '550 5.1.1 <a***@example.com>: User unknown'
    """
    return _ADDRESS.sub(lambda found: mask(found.group(0)), text)


def since_time(text: str, *, now: float) -> float:
    """``--since`` as epoch seconds: an ISO 8601 instant, or a span back from ``now``.

    >>> since_time("2d", now=200000.0), since_time("1970-01-02T00:00Z", now=0.0)
    (27200.0, 86400.0)
    >>> since_time("yesterday", now=0.0)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: --since: expected an ISO 8601 instant such as 2026-05-04T09:00Z or a span such as 7d, 12h or 30m, got 'yesterday'
    """
    span = _SPAN.fullmatch(text.strip().lower())
    if span:
        return now - float(span.group(1)) * _SPAN_SECONDS[span.group(2)]
    from mailer.inputs.history import parse_instant

    try:
        return parse_instant(text).timestamp()
    except ValueError:
        raise ConfigError(f"--since: expected an ISO 8601 instant such as 2026-05-04T09:00Z "
                          f"or a span such as 7d, 12h or 30m, got {text!r}") from None  # fmt: skip


def event_json(event: FeedbackEvent) -> dict[str, Any]:
    """One event as the ``--json`` outputs print it (addresses masked)."""
    return {
        "time": iso(event.at),
        "kind": event.kind,
        "action": event.action,
        "outcome": event.outcome,
        "suppression": event.suppression,
        "matched": event.matched,
        "campaign": event.campaign,
        "recipient": event.recipient,
        "address": mask(event.address),
        "status": event.status,
        "sending_domain": event.sending_domain,
        "reason": masked(event.reason),
        "source": event.source,
    }


def event_line(event: FeedbackEvent, *, dry_run: bool = False) -> str:
    """What one event did, in a line.

    >>> from mailer.store import FeedbackEvent
    >>> event_line(FeedbackEvent(1, 0.0, "hard", "suppress", "suppressed", "hard-bounce", "verp", 7, "autumn", "C1",
    ...                          "ann@example.com", "5.1.1", "shop.test", "user unknown", None))
    'suppressed (hard-bounce): C1 a***@example.com, campaign autumn: user unknown'
    """
    done = {
        "suppressed": f"suppressed ({event.suppression})",
        "counted": "soft bounce counted",
        "ignored": "nothing to do",
        "unmatched": "names no message sent from here",
    }[event.outcome]
    if dry_run:
        done = f"would be {done}" if event.outcome == "suppressed" else f"{done} (dry run)"
    if event.matched:
        who = f"{event.recipient} {mask(event.address)}, campaign {event.campaign}"
    else:
        who = f"{_KIND_WORDS.get(event.kind, event.kind)} about {mask(event.address)}"
    return f"{done}: {who}: {masked(event.reason)}"


def _unseen(maildir: Path) -> int | None:
    """How many messages of the Maildir are not marked seen (for the progress bar)."""
    try:
        fresh = sum(1 for entry in os.scandir(maildir / "new") if entry.is_file())
        current = sum(1 for entry in os.scandir(maildir / "cur") if not re.search(r":2,[A-Z]*S", entry.name))
    except OSError:
        return None
    return fresh + current


def run_read(args: argparse.Namespace) -> int:
    from mailer.feedback import FeedbackBatch, FeedbackPolicy, VerpSigner, mark_processed, read_maildir
    from mailer.feedback.rules import unreadable
    from mailer.progress import counted
    from mailer.store import open_store
    from mailer.tokens import load_signing_key

    policy = FeedbackPolicy(soft_bounces=args.soft_bounces, soft_bounce_days=args.soft_bounce_days,
                            min_delivered=args.min_delivered)  # fmt: skip
    signer = VerpSigner(load_signing_key(path=args.secret_file, create=False))
    messages = read_maildir(args.maildir)
    store = open_store(args.store)
    events: list[FeedbackEvent] = []
    failed: list[tuple[str, str]] = []
    kinds: Counter[str] = Counter()
    try:
        batch = FeedbackBatch(store, signer, policy=policy, dry_run=args.dry_run)
        for key, feedback in counted(messages, "reading bounces", total=_unseen(args.maildir), unit="message"):
            if unreadable(feedback):
                failed.append((key, feedback.reason))
                print(f"mailer: {args.maildir}: message {key}: {feedback.reason}", file=sys.stderr)
                continue
            kinds[feedback.kind] += 1
            event = batch.add(feedback, source=f"maildir:{key}")
            events.append(event)
            if not args.json and event.outcome != "ignored":
                print(event_line(event, dry_run=args.dry_run))
            if not args.dry_run:
                try:
                    mark_processed(args.maildir, key)
                except KeyError:  # another reader moved or removed it meanwhile: it was read all the same
                    pass
        paused = batch.close()
    finally:
        store.close()
    if args.json:
        print(json.dumps(_read_json(args.dry_run, kinds, events, failed, paused), ensure_ascii=False))
    else:
        _read_summary(args.dry_run, kinds, events, failed, paused)
    return 1 if failed else 0


def _read_json(dry_run: bool, kinds: Counter[str], events: list[FeedbackEvent], failed: list[tuple[str, str]],
               paused: list[CampaignPaused]) -> dict[str, Any]:  # fmt: skip
    return {
        "dry_run": dry_run,
        "read": len(events),
        "kinds": {kind: kinds[kind] for kind in KINDS if kinds[kind]},
        "outcomes": dict(Counter(e.suppression or e.outcome for e in events)),
        "events": [event_json(e) for e in events],
        "paused": [{"campaign": p.campaign, "reason": p.reason, "held": p.held} for p in paused],
        "unreadable": [{"key": key, "reason": reason} for key, reason in failed],
    }


def _read_summary(dry_run: bool, kinds: Counter[str], events: list[FeedbackEvent], failed: list[tuple[str, str]],
                  paused: list[CampaignPaused]) -> None:  # fmt: skip
    per_kind = ", ".join(f"{kinds[kind]} {kind}" for kind in KINDS if kinds[kind])
    print(f"read {len(events)} message(s)" + (f": {per_kind}" if per_kind else ""))
    outcomes = Counter(e.outcome for e in events)
    reasons = Counter(e.suppression for e in events if e.suppression)
    parts = []
    if outcomes["suppressed"]:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        parts.append(f"{outcomes['suppressed']} {'would be ' if dry_run else ''}suppressed ({why})")
    for outcome, text in (("counted", "soft bounce(s) counted"), ("unmatched", "naming no message sent from here"),
                          ("ignored", "with nothing to do")):  # fmt: skip
        if outcomes[outcome]:
            parts.append(f"{outcomes[outcome]} {text}")
    if parts:
        print("; ".join(parts))
    for pause in paused:
        verb = "would be paused" if dry_run else f"paused ({pause.held} waiting message(s) held)"
        print(f"campaign {pause.campaign} {verb}: {pause.reason}; `mailer campaign resume {pause.campaign}` lets it go on")
    if failed:
        print(f"{len(failed)} file(s) could not be read; they stay in the Maildir for the next run")
    if dry_run:
        print("dry run: nothing was written and no message was marked read")


def run_list(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    since = since_time(args.since, now=time.time()) if args.since else None
    store = open_store(args.store)
    try:
        events = store.feedback_events(kind=args.kind, since=since, campaign=args.campaign, limit=args.limit)
    finally:
        store.close()
    if args.json:
        for event in events:
            print(json.dumps(event_json(event), ensure_ascii=False))
        return 0
    print("time\tkind\toutcome\tcampaign\trecipient\taddress\tstatus\treason")
    for e in events:
        outcome = f"{e.outcome} ({e.suppression})" if e.suppression else e.outcome
        print(f"{iso(e.at)}\t{e.kind}\t{outcome}\t{e.campaign or '-'}\t{e.recipient or '-'}\t{mask(e.address)}\t"
              f"{e.status or '-'}\t{masked(e.reason)}")  # fmt: skip
    print(f"{len(events)} event(s)" + (" (--limit reached)" if args.limit is not None and len(events) == args.limit else ""))
    return 0
