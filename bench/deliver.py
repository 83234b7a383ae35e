"""End-to-end delivery: claim → render → send → record, against the naive loop.

Queues N recipients of the sample newsletter (~31 KB each; customers from
``fixtures/customers.csv`` given distinct ids) in a SQLite store, then times
``mailer`` workers — W processes sharing the store, each with a pool of reused
SMTP connections — delivering them to a local SMTP sink, until the queue is
idle. In the same run, the naive loop a user would write sends the same
messages: the same Composer renders each one, ``email.message.EmailMessage``
builds it, and ``smtplib`` opens one connection per message.

The sink is Postfix's ``smtp-sink`` (``apt-get install postfix``), a fast C
server that is not the bottleneck; without it the script falls back to an
aiosmtpd sink and says so (then the sink, not mailer, sets the pace).

    python bench/deliver.py [--n 3000] [--workers 2] [--naive 500]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.sending import eventloop  # noqa: E402
from mailer.campaign import load_campaign  # noqa: E402
from mailer.inputs.customers import Customer, iter_customers  # noqa: E402
from mailer.sending.delivery import CampaignRenderer, queue_campaign  # noqa: E402
from mailer.prepared import prepare  # noqa: E402
from mailer.tokens import Signer, load_signing_key  # noqa: E402
from mailer.sending.plan import At  # noqa: E402
from mailer.store import open_store  # noqa: E402
from mailer.transports.smtp import SMTPTransport  # noqa: E402
from mailer.sending.worker import Worker, WorkerOptions  # noqa: E402

FIXTURES = ROOT / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(port: int) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink" if os.path.exists("/usr/sbin/smtp-sink") else None)
    if binary:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        proc = subprocess.Popen([binary, "-c", *user, f"127.0.0.1:{port}", "1024"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        name = "smtp-sink"
    else:
        code = (
            "import asyncio,sys\n"
            "from aiosmtpd.smtp import SMTP\n"
            "class H:\n"
            "    async def handle_DATA(self, s, se, e): return '250 OK'\n"
            "async def main():\n"
            f"    srv = await asyncio.get_running_loop().create_server(lambda: SMTP(H()), '127.0.0.1', {port})\n"
            "    await srv.serve_forever()\n"
            "asyncio.run(main())\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code])
        name = "aiosmtpd (install postfix for smtp-sink; this sink is the bottleneck)"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, name
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the SMTP sink did not start")


def customers(n: int) -> list[Customer]:
    base = list(iter_customers(FIXTURES / "customers.csv"))
    return [dataclasses.replace(base[i % len(base)], id=f"B{i:07d}") for i in range(n)]


WARM: dict[str, CampaignRenderer] = {}
"""The renderer, its layouts compiled for every locale before the workers fork
(a long-running worker pays that once; the benchmark does not time it)."""


def worker_process(store_path: str, port: int, concurrency: int, pool: int) -> None:
    store = open_store(store_path, caps=None)
    transport = SMTPTransport(host="127.0.0.1", port=port, pool_size=pool, timeout=30)
    worker = Worker(store, transport, WARM.get("renderer") or CampaignRenderer(store),
                    options=WorkerOptions(concurrency=concurrency, batch=concurrency * 4, lease_seconds=120,
                                          per_domain=concurrency, poll_interval=0.05))

    async def go() -> None:
        try:
            await worker.run("until-idle")
        finally:
            await transport.aclose()

    eventloop.run(go())
    store.close()



def run_mailer(n: int, workers: int, port: int, tmp: Path, concurrency: int = 32, pool: int = 4) -> float:
    store_path = str(tmp / "queue.sqlite3")
    store = open_store(store_path, caps=None)
    from datetime import datetime, timezone

    prepared = prepare(FIXTURES / "campaign.toml", feed=FIXTURES / "products.xml", layouts_dir=ROOT / "layouts",
                       locales_dir=ROOT / "locales", signer=Signer(load_signing_key(state_dir=tmp / "state")),
                       key_file=tmp / "state" / "secret")  # fmt: skip
    queue_campaign(store, prepared, customers(n), rule=At(datetime.now(timezone.utc)), quiet=None, caps=None)
    prepared.close()
    renderer = CampaignRenderer(store)
    for row in store.deliveries()[:30]:  # every locale and currency of the fixture customers
        renderer(row)
    WARM["renderer"] = renderer
    store.close()
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    procs = [context.Process(target=worker_process, args=(store_path, port, concurrency, pool)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    counts = open_store(store_path, caps=None).counts()
    if counts != {"sent": n}:
        raise SystemExit(f"mailer did not send everything: {counts}")
    return elapsed


def run_naive(n: int, port: int, tmp: Path) -> float:
    """What a user would write: render, build with EmailMessage, one SMTP connection per message."""
    from mailer.content.compose import Composer
    from mailer.inputs.feeds import iter_products
    from mailer.report import Report
    from mailer.tokens import Signer, load_signing_key

    campaign = load_campaign(FIXTURES / "campaign.toml")
    report = Report()
    catalogue = {p.id: p for p in iter_products(FIXTURES / "products.xml", report=report)}
    composer = Composer(campaign, signer=Signer(load_signing_key(state_dir=tmp / "state")))
    in_stock = [p for p in catalogue.values() if p.in_stock]
    slots = {group: in_stock[:count] for group, count in composer.layout.slots.items()}
    people = customers(n)
    for customer in people[:30]:  # compile the layout for every locale before timing, as for mailer
        composer.compose(customer, slots)
    sent = []
    started = time.perf_counter()
    for customer in people:
        composed = composer.compose(customer, slots)
        message = EmailMessage()
        message["From"] = campaign.sender
        message["To"] = formataddr((customer.name, customer.email))
        message["Subject"] = composed.subject
        message["Message-ID"] = composed.message_id
        message.set_content(composed.text)
        message.add_alternative(composed.html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(message)
        sent.append(customer.id)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="messages through mailer")
    parser.add_argument("--naive", type=int, default=500, help="messages through the naive loop")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="mailer worker processes")
    parser.add_argument("--concurrency", type=int, default=32, help="messages in flight per worker")
    parser.add_argument("--pool", type=int, default=4, help="SMTP connections per worker")
    args = parser.parse_args()
    port = free_port()
    sink, sink_name = start_sink(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            naive = run_naive(args.naive, port, Path(tmp))
            ours = run_mailer(args.n, args.workers, port, Path(tmp), args.concurrency, args.pool)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(10)
    naive_rate = args.naive / naive
    our_rate = args.n / ours
    print(f"sink: {sink_name}")
    print(f"naive loop (render, EmailMessage, smtplib, a connection per message): "
          f"{args.naive} in {naive:.2f} s = {naive_rate:,.0f} msg/s")
    print(f"mailer ({args.workers} worker process(es): claim, render, send over pooled connections, record): "
          f"{args.n} in {ours:.2f} s = {our_rate:,.0f} msg/s")
    print(f"ratio: {our_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
