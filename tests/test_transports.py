"""Transports: URL parsing, the outbox, the in-memory twin, and reply classification."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import ConfigError
from mailer.transports import Envelope, Transport, open_transport
from mailer.transports.memory import MemoryTransport
from mailer.transports.outbox import OutboxTransport, file_name
from mailer.transports.replies import Reply, backoff, classify, retry_hint
from mailer.transports.smtp import SMTPTransport

ENVELOPE = Envelope("bounces@shop.test", ("ann@shop.test",), b"Subject: hi\r\n\r\nhello\r\n", "<1@shop.test>")


@pytest.mark.parametrize("url", ["outbox:out", "memory:", "smtp://relay.test", "smtps://relay.test"])
def test_every_transport_satisfies_the_protocol(url: str) -> None:
    assert isinstance(open_transport(url), Transport)


def test_smtp_url_options() -> None:
    t = open_transport("smtp://u%40x:p%3Aw@relay.test:2525?starttls=1&pool=3&timeout=5")
    assert isinstance(t, SMTPTransport)
    assert (t.host, t.port, t.username, t.password, t.start_tls, t.pool_size, t.timeout) == (
        "relay.test", 2525, "u@x", "p:w", True, 3, 5.0)
    assert open_transport("smtps://relay.test").port == 465  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", ["ftp://x", "smtp://", "smtp://h?pool=many"])
def test_bad_transport_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_transport(url)


def test_auth_needs_user_and_password() -> None:
    with pytest.raises(ConfigError):
        SMTPTransport(host="h", username="u")


def test_outbox_writes_one_file_per_message_atomically(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path / "out")
    replies = asyncio.run(outbox.send(ENVELOPE))
    assert replies["ann@shop.test"].accepted
    files = list((tmp_path / "out").iterdir())
    assert [f.name for f in files] == [file_name(ENVELOPE, "ann@shop.test")]
    assert files[0].read_bytes() == ENVELOPE.data


def test_outbox_retry_rewrites_the_same_file(tmp_path: Path) -> None:
    outbox = OutboxTransport(tmp_path, fsync=False)
    asyncio.run(outbox.send(ENVELOPE))
    asyncio.run(outbox.send(ENVELOPE))
    assert len(list(tmp_path.glob("*.eml"))) == 1
    assert not list(tmp_path.glob(".*.part"))


def test_outbox_unwritable_directory_is_a_retry(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    reply = asyncio.run(OutboxTransport(blocker / "out").send(ENVELOPE))["ann@shop.test"]
    assert reply.code is None and classify(reply).action == "retry"


def test_memory_transport_records_attempts_and_sends() -> None:
    transport = MemoryTransport()
    asyncio.run(transport.send(ENVELOPE))
    assert transport.sent == [ENVELOPE] == transport.attempts


@pytest.mark.parametrize(
    ("code", "enhanced", "stage", "action", "suppress"),
    [
        (250, "2.0.0", "data", "sent", False),
        (None, None, "connect", "retry", False),
        (421, "4.7.0", "mail", "retry", False),
        (450, "4.2.1", "rcpt", "retry", False),
        (451, None, "data", "retry", False),
        (452, "4.5.3", "rcpt", "retry", False),
        (552, "5.2.2", "rcpt", "retry", False),
        (552, "5.3.4", "data", "fail", False),
        (550, "5.1.1", "rcpt", "bounce", True),
        (550, "5.1.10", "rcpt", "bounce", True),
        (553, "5.1.3", "rcpt", "bounce", True),
        (550, "5.2.1", "rcpt", "bounce", True),
        (550, None, "rcpt", "bounce", True),
        (550, "5.7.1", "rcpt", "policy", False),
        (554, "5.7.1", "data", "policy", False),
        (550, "5.7.26", "data", "policy", False),
        (554, "5.6.0", "data", "fail", False),
        (550, None, "data", "fail", False),
    ],
)
def test_classification(code, enhanced, stage, action, suppress) -> None:  # type: ignore[no-untyped-def]
    verdict = classify(Reply(code, enhanced, "text", stage))
    assert (verdict.action, verdict.suppress) == (action, suppress)


def test_421_backs_off_pool_and_5_7_pauses_it() -> None:
    assert classify(Reply(421, None, "bye", "mail")).backoff_pool
    assert classify(Reply(550, "5.7.1", "spam", "data")).pause_pool
    assert not classify(Reply(451, None, "later", "data")).backoff_pool


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("retry in 30 seconds", 30.0), ("Try again in 5 minutes", 300.0), ("try again after 2 hours", 7200.0),
     ("4.7.1 Greylisted, retry in 60s", 60.0), ("busy", None)],
)
def test_retry_hint(text: str, seconds: float | None) -> None:
    assert retry_hint(text) == seconds


def test_enhanced_code_is_parsed_from_the_text() -> None:
    assert Reply.parse(451, "4.3.0 Temporary failure").enhanced == "4.3.0"
    assert Reply.parse(550, "Mailbox unavailable").enhanced is None


@given(attempt=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_backoff_is_bounded_and_grows(attempt: int, seed: int) -> None:
    delay = backoff(attempt, base=60, cap=3600, rng=random.Random(seed))
    assert 30 <= delay <= 3600
    assert backoff(attempt, hint=7200, rng=random.Random(seed)) >= 7200
