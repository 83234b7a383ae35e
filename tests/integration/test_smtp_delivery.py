"""Delivery over real SMTP (aiosmtpd on 127.0.0.1, port 0): pooling, every
reply class, outages, expiry, rate limits, unsubscribe and zombies."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from mailer.store import Delivery, NewDelivery, Store, open_store
from mailer.sending.throttle import RateLimit
from mailer.tokens import Signer
from mailer.transports import Envelope
from mailer.transports.smtp import SMTPTransport
from mailer.web.unsubscribe import UnsubscribeApp, call
from mailer.sending.worker import Worker, WorkerOptions
from tests.integration.smtp_server import ScriptedHandler, SMTPServer


def render(delivery: Delivery) -> Envelope:
    mid = f"<{delivery.campaign}.{delivery.recipient}@shop.test>"
    data = (f"From: news@shop.test\r\nTo: {delivery.address}\r\nSubject: Hi\r\nMessage-ID: {mid}\r\n\r\n"
            + ("x" * 70 + "\r\n") * 30).encode()
    return Envelope("bounces@shop.test", (delivery.address,), data, mid)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "queue.sqlite3", caps=None)
    yield s
    s.close()


def queue(store: Store, n: int, *, campaign: str = "autumn", **kw: object) -> None:
    kw.setdefault("not_before", time.time() - 1)
    store.enqueue([NewDelivery(campaign, f"C{i}", f"c{i}@example.test", **kw) for i in range(n)])  # type: ignore[arg-type]


def deliver(store: Store, port: int, *, mode: str = "until-idle", **options: object) -> Worker:
    options.setdefault("lease_seconds", 5)
    options.setdefault("poll_interval", 0.05)
    transport = SMTPTransport(host="127.0.0.1", port=port, pool_size=int(options.pop("pool", 2)), timeout=5)
    worker = Worker(store, transport, render, options=WorkerOptions(**options))  # type: ignore[arg-type]

    async def go() -> None:
        try:
            await worker.run(mode)  # type: ignore[arg-type]
        finally:
            await transport.aclose()

    asyncio.run(go())
    return worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_delivers_each_message_once_over_reused_connections(store: Store, smtp: SMTPServer) -> None:
    queue(store, 30)
    deliver(store, smtp.port, concurrency=4, pool=2)
    assert store.counts() == {"sent": 30}, store.deliveries()[0]
    assert sorted(Counter(r.message_id for r in smtp.handler.received).values()) == [1] * 30
    assert smtp.handler.connections <= 2


def test_smtp_down_defers_and_never_finishes(store: Store) -> None:
    queue(store, 3)
    worker = deliver(store, free_port(), concurrency=1)
    assert store.counts() == {"deferred": 3}
    assert all(d.attempts == 1 and d.reply_code is None for d in store.deliveries())
    assert worker.stats.outcomes["sent"] == 0


def test_4xx_storm_backs_off_without_false_bounces(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "451 4.3.0 try again later" if stage == "data" else None
    queue(store, 10)
    deliver(store, smtp.port, concurrency=4)
    assert store.counts() == {"deferred": 10}
    assert store.suppressions() == []
    now = time.time()
    assert all(now + 20 < d.not_before < now + 70 for d in store.deliveries())


def test_552_at_rcpt_is_temporary(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "552 5.2.2 mailbox full" if stage == "rcpt" else None
    queue(store, 1)
    deliver(store, smtp.port)
    assert store.counts() == {"deferred": 1}
    assert not store.is_suppressed(address="c0@example.test")


def test_550_5_1_1_bounces_and_suppresses(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "550 5.1.1 no such user" if stage == "rcpt" and addr.startswith("c1@") else None
    queue(store, 3)
    deliver(store, smtp.port)
    assert store.counts() == {"bounced": 1, "sent": 2}
    assert store.is_suppressed(address="c1@example.test")
    row = store.get("autumn", "C1")
    assert row is not None and (row.reply_code, row.reply_enhanced) == (550, "5.1.1")


def test_550_5_7_1_pauses_without_suppressing(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "550 5.7.1 message rejected as spam" if stage == "data" else None
    queue(store, 4)
    worker = deliver(store, smtp.port, concurrency=1, policy_pause=600)
    assert store.counts() == {"deferred": 4}
    assert len(smtp.handler.received) == 0
    assert store.suppressions() == []
    assert store.paused(f"smtp://127.0.0.1:{smtp.port} to example.test") is not None
    assert store.paused(f"smtp://127.0.0.1:{smtp.port}") is None  # the transport itself goes on
    assert len(worker.stats.policy_rejections) == 1


def test_a_policy_rejection_pauses_only_that_domain(store: Store, smtp: SMTPServer) -> None:
    """One provider refusing our mail as spam must not hold back mail to everyone else."""
    smtp.handler.script = lambda stage, addr: (
        "550 5.7.1 message rejected as spam" if stage == "rcpt" and addr.endswith("@strict.test") else None
    )
    store.enqueue([NewDelivery("autumn", f"S{i}", f"s{i}@strict.test", not_before=time.time() - 1) for i in range(3)]
                  + [NewDelivery("autumn", f"O{i}", f"o{i}@other.test", not_before=time.time() - 1) for i in range(5)])  # fmt: skip
    deliver(store, smtp.port, concurrency=1, policy_pause=600)
    rows = {row.recipient: row for row in store.deliveries()}
    assert {r for r, row in rows.items() if row.state == "sent"} == {f"O{i}" for i in range(5)}
    assert {row.state for r, row in rows.items() if r.startswith("S")} == {"deferred"}
    assert all("sending to strict.test paused" in (rows[f"S{i}"].reason or "") for i in (1, 2))


def test_421_backs_off_the_pool(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "421 4.7.0 too many connections" if stage == "mail" else None
    queue(store, 4)
    deliver(store, smtp.port, concurrency=1)
    assert store.counts() == {"deferred": 4}
    assert store.paused(f"smtp://127.0.0.1:{smtp.port}") is not None


def test_dropped_connection_is_retried(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "DROP" if stage == "rcpt" else None
    queue(store, 2)
    deliver(store, smtp.port, concurrency=1)
    assert store.counts() == {"deferred": 2}
    assert store.suppressions() == []


def test_partial_recipient_refusal_is_per_recipient(smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "550 5.1.1 unknown" if stage == "rcpt" and addr.startswith("bad") else None
    transport = SMTPTransport(host="127.0.0.1", port=smtp.port)

    async def go():  # type: ignore[no-untyped-def]
        both = await transport.send(Envelope("b@shop.test", ("good@x.test", "bad@x.test"), b"Subject: x\r\n\r\nhi\r\n"))
        bad = await transport.send(Envelope("b@shop.test", ("bad@x.test",), b"Subject: x\r\n\r\nhi\r\n"))
        await transport.aclose()
        return both, bad

    both, bad = asyncio.run(go())
    assert both["good@x.test"].code == 250
    assert (both["bad@x.test"].code, both["bad@x.test"].enhanced, both["bad@x.test"].stage) == (550, "5.1.1", "rcpt")
    assert (bad["bad@x.test"].code, bad["bad@x.test"].stage) == (550, "rcpt")  # SMTPRecipientsRefused
    assert transport.connections_opened == 1


def send_all(transport: SMTPTransport, *envelopes: Envelope) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        try:
            return [dict(await transport.send(envelope)) for envelope in envelopes]
        finally:
            await transport.aclose()

    return asyncio.run(go())


def test_lines_starting_with_a_period_arrive_unchanged(smtp: SMTPServer) -> None:
    """A canonical message goes out dot-stuffed by mailer itself (not through
    aiosmtplib's rewriting) and the server reads back exactly the bytes given,
    its size announced in MAIL (RFC 1870)."""
    data = b"Subject: dots\r\n\r\n.mj-outlook { width:100% }\r\n.\r\n..two\r\nend.\r\n"
    replies = send_all(SMTPTransport(host="127.0.0.1", port=smtp.port), Envelope("b@shop.test", ("a@x.test",), data))
    assert replies[0]["a@x.test"].accepted  # type: ignore[attr-defined]
    [received] = smtp.handler.received
    assert received.content == data
    assert f"SIZE={len(data)}" in received.mail_options


@pytest.mark.parametrize("start_tls", [None, False])
def test_every_message_announces_its_size(smtp: SMTPServer, start_tls: bool | None) -> None:
    """Also the first on a connection that opened without EHLO (no STARTTLS probe)."""
    transport = SMTPTransport(host="127.0.0.1", port=smtp.port, start_tls=start_tls, pool_size=1)
    message = b"Subject: size\r\n\r\nhello\r\n"
    send_all(transport, *(Envelope("b@shop.test", (f"{n}@x.test",), message) for n in range(2)))
    assert [r.mail_options for r in smtp.handler.received] == [(f"SIZE={len(message)}",)] * 2
    assert transport.connections_opened == 1


def test_a_message_with_bare_line_feeds_is_sent_with_crlf(smtp: SMTPServer) -> None:
    data = b"Subject: lf\n\n.first\nsecond\r\nthird"
    replies = send_all(SMTPTransport(host="127.0.0.1", port=smtp.port), Envelope("b@shop.test", ("a@x.test",), data))
    assert replies[0]["a@x.test"].accepted  # type: ignore[attr-defined]
    assert smtp.handler.received[0].content == b"Subject: lf\r\n\r\n.first\r\nsecond\r\nthird\r\n"


def test_an_address_that_cannot_be_written_bounces_alone(store: Store, smtp: SMTPServer) -> None:
    """aiosmtplib refuses to write such an address; the worker goes on with the rest."""
    store.enqueue([
        NewDelivery("autumn", "BAD", "bad address@example.test", not_before=time.time() - 1),
        NewDelivery("autumn", "GOOD", "good@example.test", not_before=time.time() - 1),
    ])
    deliver(store, smtp.port, concurrency=1)
    assert store.counts() == {"bounced": 1, "sent": 1}
    assert [r.recipients for r in smtp.handler.received] == [("good@example.test",)]
    assert [s.value for s in store.suppressions()] == ["bad address@example.test"]


@pytest.mark.parametrize(
    ("sender", "recipients", "data"),
    [
        ("bad sender@shop.test", ("a@x.test",), b"Subject: x\r\n\r\nhi\r\n"),  # wire form
        ("bad sender@shop.test", ("a@x.test",), b"Subject: x\n\nhi\n"),  # through sendmail
    ],
)
def test_an_unwritable_sender_fails_without_blaming_the_recipient(
    smtp: SMTPServer, sender: str, recipients: tuple[str, ...], data: bytes
) -> None:
    from mailer.transports.replies import classify

    [replies] = send_all(SMTPTransport(host="127.0.0.1", port=smtp.port), Envelope(sender, recipients, data))
    verdict = classify(replies["a@x.test"])  # type: ignore[arg-type]
    assert (verdict.action, verdict.suppress) == ("fail", False)
    assert smtp.handler.received == []


@pytest.mark.parametrize("data", [b"Subject: x\r\n\r\nhi\r\n", b"Subject: x\n\nhi\n"], ids=["wire form", "sendmail"])
@pytest.mark.parametrize("bad", ["j\u00f6rg@example.test", "nul\x00@example.test"], ids=["non-ASCII", "NUL"])
def test_an_unwritable_recipient_leaves_the_connection_usable(smtp: SMTPServer, data: bytes, bad: str) -> None:
    from mailer.transports.replies import classify

    transport = SMTPTransport(host="127.0.0.1", port=smtp.port, pool_size=1)
    refused, accepted = send_all(
        transport, Envelope("b@shop.test", (bad,), data), Envelope("b@shop.test", ("ok@x.test",), data)
    )
    assert accepted["ok@x.test"].accepted  # type: ignore[attr-defined]
    assert transport.connections_opened == 1
    verdict = classify(refused[bad])  # type: ignore[arg-type]
    if bad.isascii():
        assert verdict.action in ("bounce", "fail")
    else:  # not the address's fault: this transport does not speak SMTPUTF8
        assert (verdict.action, verdict.suppress) == ("fail", False)


def test_a_refusal_at_data_leaves_the_connection_usable(smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "554 5.6.0 rejected" if stage == "data" and addr == "no@x.test" else None
    transport = SMTPTransport(host="127.0.0.1", port=smtp.port, pool_size=1)
    message = b"Subject: x\r\n\r\nhi\r\n"
    refused, accepted = send_all(
        transport, Envelope("b@shop.test", ("no@x.test",), message), Envelope("b@shop.test", ("yes@x.test",), message)
    )
    assert (refused["no@x.test"].code, refused["no@x.test"].stage) == (554, "data")  # type: ignore[attr-defined]
    assert accepted["yes@x.test"].accepted  # type: ignore[attr-defined]
    assert transport.connections_opened == 1
    assert [r.recipients for r in smtp.handler.received] == [("yes@x.test",)]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_is_used_when_configured(tmp_path: Path) -> None:
    from aiosmtpd.smtp import AuthResult

    seen: list[bytes] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        seen.append(auth_data.login)
        return AuthResult(success=auth_data.login == b"mailer" and auth_data.password == b"s3cret")

    handler = ScriptedHandler()
    with SMTPServer(handler, authenticator=authenticator, auth_require_tls=False, auth_required=True) as server:
        transport = SMTPTransport(host="127.0.0.1", port=server.port, username="mailer", password="s3cret")

        async def go():  # type: ignore[no-untyped-def]
            reply = await transport.send(Envelope("b@shop.test", ("a@x.test",), b"Subject: x\r\n\r\nhi\r\n"))
            await transport.aclose()
            return reply

        assert asyncio.run(go())["a@x.test"].code == 250
    assert seen == [b"mailer"]


def test_unsubscribe_after_queueing_is_honoured(store: Store, smtp: SMTPServer) -> None:
    queue(store, 3)
    signer = Signer(b"k" * 32)
    status, _ = call(UnsubscribeApp(store, signer), "POST", "/email/unsubscribe/" + signer.sign("C1", "autumn"),
                     b"List-Unsubscribe=One-Click")
    assert status == "200 OK"
    deliver(store, smtp.port)
    assert store.counts() == {"sent": 2, "suppressed": 1}
    assert all("c1@example.test" not in r.recipients for r in smtp.handler.received)


def test_outage_past_expiry_expires_rather_than_sends(store: Store, smtp: SMTPServer) -> None:
    outage = {"on": True}
    smtp.handler.script = lambda stage, addr: "451 4.4.1 try again later" if outage["on"] and stage == "mail" else None
    queue(store, 2, expires_at=time.time() + 1.0)
    deliver(store, smtp.port, concurrency=2, retry_base=0.2, retry_cap=0.4)
    assert store.counts() == {"deferred": 2}
    time.sleep(max(0.0, max(d.expires_at for d in store.deliveries()) - time.time()) + 0.05)
    outage["on"] = False  # the server is back, but too late
    deliver(store, smtp.port)
    assert store.counts() == {"expired": 2}
    assert smtp.handler.received == []


def test_rate_limit_holds_across_a_restart(store: Store, smtp: SMTPServer) -> None:
    queue(store, 10)
    options = {"concurrency": 4, "rate": RateLimit(20.0, burst=1)}
    deliver(store, smtp.port, mode="once", batch=4, **options)  # type: ignore[arg-type]
    deliver(store, smtp.port, **options)  # type: ignore[arg-type]
    stamps = sorted(r.at for r in smtp.handler.received)
    assert len(stamps) == 10
    # 10 messages at 20/s with a burst of 1 take at least 9/20 s, across the restart too;
    # arrival times jitter, so a window holds at most one more than the rate allows.
    assert stamps[-1] - stamps[0] >= 9 / 20 - 0.02
    for start in stamps:
        assert sum(1 for t in stamps if start <= t < start + 0.2) <= 1 + 20 * 0.2 + 1


def test_zombie_commit_is_refused(store: Store, smtp: SMTPServer) -> None:
    smtp.handler.script = lambda stage, addr: "STALL 1.2" if stage == "data" else None
    queue(store, 1)
    transport = SMTPTransport(host="127.0.0.1", port=smtp.port)
    zombie = Worker(store, transport, render, options=WorkerOptions(lease_seconds=0.5))
    (delivery,) = store.claim(zombie.owner, limit=1, lease_seconds=0.5).deliveries

    async def go() -> str:
        sending = asyncio.create_task(zombie.deliver(delivery))  # no heartbeat: it is a zombie
        await asyncio.sleep(0.8)
        store.recover()  # another worker's claim finds the lease expired mid-send
        state = await sending
        await transport.aclose()
        return state

    assert asyncio.run(go()) == "lost"
    assert zombie.stats.refused_commits == 1
    assert store.counts() == {"unknown": 1}
    assert len(smtp.handler.received) == 1  # the server got it; the record says we cannot know


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def test_starttls_with_auth_and_a_verified_certificate(tmp_path: Path) -> None:
    import ssl

    from aiosmtpd.smtp import AuthResult

    cert, key = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    handler = ScriptedHandler()
    tls_seen: list[bool] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        tls_seen.append(session.ssl is not None)
        return AuthResult(success=auth_data.password == b"s3cret")

    with SMTPServer(handler, tls_context=server_context, require_starttls=True, authenticator=authenticator,
                    auth_required=True) as server:
        transport = SMTPTransport(host="127.0.0.1", port=server.port, start_tls=True, username="mailer",
                                  password="s3cret", tls_context=ssl.create_default_context(cafile=str(cert)))

        async def go():  # type: ignore[no-untyped-def]
            reply = await transport.send(Envelope("b@shop.test", ("a@x.test",), b"Subject: x\r\n\r\nhi\r\n"))
            await transport.aclose()
            return reply

        assert asyncio.run(go())["a@x.test"].code == 250
    assert tls_seen == [True] and len(handler.received) == 1


def test_untrusted_certificate_is_a_retry_not_a_send(tmp_path: Path) -> None:
    import ssl

    cert, key = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    handler = ScriptedHandler()
    with SMTPServer(handler, tls_context=server_context, require_starttls=True) as server:
        transport = SMTPTransport(host="127.0.0.1", port=server.port, start_tls=True)

        async def go():  # type: ignore[no-untyped-def]
            reply = await transport.send(Envelope("b@shop.test", ("a@x.test",), b"Subject: x\r\n\r\nhi\r\n"))
            await transport.aclose()
            return reply

        reply = asyncio.run(go())["a@x.test"]
    assert reply.code is None and handler.received == []
