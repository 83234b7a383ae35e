"""``mailer worker``: deliver due messages from the queue.

Claims due messages with leases (kept alive by a heartbeat), renders them,
sends them through the transport and records each reply. ``--once`` handles
one claim's worth; ``--until-idle`` stops when nothing is due or in flight;
otherwise it runs until SIGTERM or Ctrl-C, on which it stops claiming, puts
back what it has not started and finishes the sends in flight.

Transport problems (connection refused, TLS, authentication, 4xx, 5xx) are
logged on stderr as they happen: the first of each kind with its reason,
later ones counted every 30 seconds. Exit status: 1 when some messages
failed for good (failed, expired) or it tried and could send none (see
``mailer queue list --state deferred``), 130 after Ctrl-C, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from mailer.sending import eventloop

if TYPE_CHECKING:
    from collections.abc import Callable

    from mailer.store import Store
    from mailer.sending.worker import WorkerOptions, WorkerStats

def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store``; left out, the project decides (see :mod:`mailer.project`)."""
    parser.add_argument(
        "--store",
        help="queue database (default: $MAILER_STORE, else the project's: store in mailer.toml, "
        "else sqlite:<state_dir>/queue.sqlite3)",
    )


def add_delivery_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transport",
        help="outbox:DIR, smtp://[user:pass@]host[:port][?starttls=1&pool=N] or smtps://… "
        "(default: $MAILER_TRANSPORT, else the project's: transport in mailer.toml, else outbox:<state_dir>/outbox)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="messages in flight at once (default 8)")
    parser.add_argument("--rate", type=float, help="at most this many messages per second through the transport")
    parser.add_argument("--burst", type=float, default=1.0, help="token-bucket burst for --rate (default 1)")
    parser.add_argument("--per-domain", type=int, default=4,
                        help="sends in flight per recipient domain, across all workers sharing the store (default 4)")
    parser.add_argument("--lease", type=float, default=60.0, help="lease length in seconds (default 60)")
    parser.add_argument("--retry-base", type=float, default=60.0, help="first retry delay in seconds (default 60)")
    parser.add_argument(
        "--at-least-once",
        action="store_true",
        help="re-send messages whose worker died mid-send (default: mark them unknown)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "worker", help="deliver due messages from the queue", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_option(parser)
    add_delivery_options(parser)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_const", const="once", dest="mode", help="one claim's worth, then exit")
    mode.add_argument("--until-idle", action="store_const", const="until-idle", dest="mode",
                      help="exit when nothing is due or in flight")
    parser.set_defaults(func=run, mode="forever")


def worker_options(args: argparse.Namespace) -> WorkerOptions:
    from mailer.sending.throttle import RateLimit
    from mailer.sending.worker import WorkerOptions

    return WorkerOptions(
        concurrency=args.concurrency,
        lease_seconds=args.lease,
        rate=RateLimit(args.rate, args.burst) if args.rate else None,
        per_domain=args.per_domain,
        retry_base=args.retry_base,
        poll_interval=min(1.0, args.lease / 4),
    )


async def deliver(
    args: argparse.Namespace, store: Store, mode: str, *, clock: Callable[[], float] | None = None
) -> WorkerStats:
    """Run a worker on ``store`` with the command line's options; SIGTERM and
    SIGINT drain it. ``clock`` (a simulated day's) stamps what it does
    instead of the store's own clock."""
    from mailer.sending.delivery import CampaignRenderer
    from mailer.transports import open_transport
    from mailer.sending.worker import Worker

    transport = open_transport(args.transport)
    renderer = CampaignRenderer(store, key_file=getattr(args, "secret_file", None))
    worker = Worker(store, transport, renderer, options=worker_options(args), clock=clock)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, worker.stop, sig.name)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on this platform/thread
            pass
    try:
        return await worker.run(mode)  # type: ignore[arg-type]
    finally:
        await transport.aclose()
        renderer.close()


def run(args: argparse.Namespace) -> int:
    from mailer.store import open_store

    from mailer.project import resolve

    # Caps are re-checked when a row is claimed: with the project's [caps] (mailer.toml).
    caps = resolve(getattr(args, "project", None)).caps
    store = open_store(args.store, dead_sending="queued" if args.at_least_once else "unknown", caps=caps)
    try:
        stats = eventloop.run(deliver(args, store, args.mode))
    finally:
        store.close()
    print(f"worker: {stats}")
    for rejection in stats.policy_rejections:
        print(f"worker: policy rejection (transport paused): {rejection}", file=sys.stderr)
    if stats.stopped_by == "SIGINT":
        print("interrupted", file=sys.stderr)
        return 130
    return 1 if stats.undelivered else 0
