"""One-click unsubscribe (RFC 8058), and the feedback webhook beside it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.content.mime import message_id
from mailer.errors import ConfigError
from mailer.feedback import VerpSigner
from mailer.store import NewDelivery, Outcome, Store, open_store
from mailer.tokens import Signer
from mailer.web.unsubscribe import UnsubscribeApp, call, call_asgi
from tests.conftest import ROOT
from tests.support.bounce_mail import SIGNER as VERP_SIGNER
from tests.support.bounce_mail import arf, dsn, out_of_office, verp

SIGNER = Signer(b"k" * 32)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "q.sqlite3")
    s.enqueue([NewDelivery("autumn", "C1", "Ann@Shop.test", not_before=0.0)], now=0)
    yield s
    s.close()


def path(customer: str = "C1") -> str:
    return "/email/unsubscribe/" + SIGNER.sign(customer, "autumn")


def test_urlencoded_post_unsubscribes(store: Store) -> None:
    status, body = call(UnsubscribeApp(store, SIGNER), "POST", path(), b"List-Unsubscribe=One-Click")
    assert status == "200 OK" and b"unsubscribed" in body
    assert store.is_suppressed(recipient="C1") and store.is_suppressed(address="ann@shop.test")


def test_multipart_post_unsubscribes(store: Store) -> None:
    body = (b"--b1\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b1--\r\n")
    status, _ = call(UnsubscribeApp(store, SIGNER), "POST", path(), body, "multipart/form-data; boundary=b1")
    assert status == "200 OK" and store.is_suppressed(recipient="C1")


def test_answer_is_200_without_redirect(store: Store) -> None:
    headers: list[tuple[str, str]] = []
    app = UnsubscribeApp(store, SIGNER)
    import io

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path(), "CONTENT_TYPE": "application/x-www-form-urlencoded",
               "CONTENT_LENGTH": "26", "wsgi.input": io.BytesIO(b"List-Unsubscribe=One-Click")}
    statuses: list[str] = []
    app(environ, lambda status, h: (statuses.append(status), headers.extend(h)))
    assert statuses == ["200 OK"] and "Location" not in dict(headers)


def test_get_does_not_unsubscribe(store: Store) -> None:
    status, body = call(UnsubscribeApp(store, SIGNER), "GET", path())
    assert status == "200 OK" and b"<form method=\"post\">" in body
    assert not store.is_suppressed(recipient="C1")


def test_forged_token_is_refused(store: Store) -> None:
    forged = Signer(b"x" * 32).sign("C1", "autumn")
    status, _ = call(UnsubscribeApp(store, SIGNER), "POST", "/u/" + forged, b"List-Unsubscribe=One-Click")
    assert status == "400 Bad Request" and not store.is_suppressed(recipient="C1")


def test_post_without_one_click_field_is_refused(store: Store) -> None:
    status, _ = call(UnsubscribeApp(store, SIGNER), "POST", path(), b"foo=bar")
    assert status == "400 Bad Request" and not store.is_suppressed(recipient="C1")


def test_repeated_unsubscribe_is_harmless(store: Store) -> None:
    app = UnsubscribeApp(store, SIGNER)
    for _ in range(2):
        assert call(app, "POST", path(), b"List-Unsubscribe=One-Click")[0] == "200 OK"
    assert len(store.suppressions()) == 2  # the customer id and their address


def test_unknown_customer_is_suppressed_by_id(store: Store) -> None:
    assert call(UnsubscribeApp(store, SIGNER), "POST", path("C9"), b"List-Unsubscribe=One-Click")[0] == "200 OK"
    assert store.is_suppressed(recipient="C9")


# -- the feedback webhook: POST /feedback ------------------------------------------------------------

TOKEN = "webhook-token-0123456789"
FEEDBACK_SIGNER = Signer(VERP_SIGNER.key)
"""The project's link-signing key: the one the messages' VERP tokens were made with."""


Sent = tuple[Store, list[str]]


@pytest.fixture
def sent(tmp_path: Path) -> Iterator[Sent]:
    """A queue with two messages the receiving servers accepted, to ann and bob."""
    store = open_store(tmp_path / "feedback.sqlite3")
    ids = [message_id("autumn", c, "shop.test") for c in ("C1", "C2")]
    store.enqueue([NewDelivery("autumn", c, f"{c.lower()}@example.com", not_before=0.0, expires_at=1e12, message_id=m)
                   for c, m in zip(("C1", "C2"), ids)], now=0)  # fmt: skip
    for d in store.claim("w", now=1, limit=2).deliveries:
        store.mark_sending(d.id, "w", now=1, message_id=d.message_id)
        store.finish(d.id, "w", Outcome("sent", code=250), now=1)
    yield store, ids
    store.close()


def feedback_app(store: Store, token: str | None = TOKEN) -> UnsubscribeApp:
    return UnsubscribeApp(store, FEEDBACK_SIGNER, feedback_token=token)


def test_a_bounce_posted_to_the_webhook_suppresses_the_messages_recipient(sent: Sent) -> None:
    store, (ann, _) = sent
    status, body = call(feedback_app(store), "POST", "/feedback", dsn("c1@example.com", ann, to=verp(ann)),
                        "message/rfc822", authorization=f"Bearer {TOKEN}")  # fmt: skip
    assert status == "202 Accepted"
    assert json.loads(body) == {"kinds": {"hard": 1}, "outcome": "suppressed", "suppression": "hard-bounce", "paused": []}
    assert store.is_suppressed(address="c1@example.com") and not store.is_suppressed(address="c2@example.com")
    assert [e.source for e in store.feedback_events()] == ["webhook"]


@pytest.mark.parametrize("authorization", ["", "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN])
def test_the_webhook_needs_the_bearer_token(sent: Sent, authorization: str) -> None:
    store, (ann, _) = sent
    status, _ = call(feedback_app(store), "POST", "/feedback", dsn("c1@example.com", ann, to=verp(ann)),
                     "message/rfc822", authorization=authorization)  # fmt: skip
    assert status == "401 Unauthorized" and store.suppressions() == [] and store.feedback_events() == []


def test_without_a_token_set_the_webhook_is_not_there(sent: Sent) -> None:
    store, _ = sent
    assert call(feedback_app(store, None), "POST", "/feedback", b"Subject: x\n\n", "message/rfc822",
                authorization=f"Bearer {TOKEN}")[0] == "404 Not Found"  # fmt: skip


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        UnsubscribeApp(open_store("sqlite::memory:"), SIGNER, feedback_token="short")


@pytest.mark.parametrize(("method", "content_type", "body", "expected"), [
    ("GET", "message/rfc822", b"", "405 Method Not Allowed"),
    ("POST", "text/plain", b"Subject: x\n\nhi\n", "415 Unsupported Media Type"),
    ("POST", "message/rfc822", b"  \r\n", "400 Bad Request"),
    ("POST", "application/octet-stream", b"x" * (1024 * 1024 + 1), "413 Content Too Large"),
])  # fmt: skip
def test_the_webhook_refuses_what_is_not_one_message(sent: Sent, method: str, content_type: str, body: bytes,
                                                     expected: str) -> None:
    store, _ = sent
    status, _ = call(feedback_app(store), method, "/feedback", body, content_type, authorization=f"Bearer {TOKEN}")
    assert status == expected and store.feedback_events() == []


def test_a_message_of_almost_1_mb_is_taken(sent: Sent) -> None:
    store, (ann, _) = sent
    body = out_of_office("c1@example.com", to=verp(ann)) + b"x" * (1024 * 1024 - 4096)
    status, _ = call(feedback_app(store), "POST", "/feedback", body, "application/octet-stream",
                     authorization=f"Bearer {TOKEN}")  # fmt: skip
    assert status == "202 Accepted" and store.feedback_events()[0].kind == "auto-reply"


def test_a_forged_bounce_posted_to_the_webhook_suppresses_nobody(sent: Sent) -> None:
    store, (ann, _) = sent
    forged = verp(ann, VerpSigner(b"not-the-shops-key-0123456789abcdef"))
    for to in (forged, None):
        status, _ = call(feedback_app(store), "POST", "/feedback", dsn("c1@example.com", ann, to=to), "message/rfc822",
                         authorization=f"Bearer {TOKEN}")  # fmt: skip
        assert status == "202 Accepted"
    assert store.suppressions() == [] and {e.outcome for e in store.feedback_events()} == {"unmatched"}


def test_the_asgi_app_takes_feedback_too(sent: Sent) -> None:
    store, (_, bob) = sent
    app = feedback_app(store).asgi()
    status, body = asyncio.run(call_asgi(app, "POST", "/feedback", arf("c2@example.com", bob, return_path=verp(bob)),
                                         "message/rfc822", authorization=f"Bearer {TOKEN}"))  # fmt: skip
    assert status == 202 and json.loads(body)["kinds"] == {"complaint": 1}
    assert store.is_suppressed(address="c2@example.com")
    assert asyncio.run(call_asgi(app, "POST", "/feedback", b"Subject: x\n\n", "message/rfc822"))[0] == 401


# -- over real HTTP ----------------------------------------------------------------------------------


def _post(url: str, body: bytes, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "message/rfc822", "Authorization": f"Bearer {token}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _serve(argv: list[str], env: dict[str, str], ready: str) -> tuple[object, str]:
    proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 20
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line or re.search(ready, line):
            break
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if found is None:
        proc.terminate()
        proc.wait(timeout=10)
        raise AssertionError(f"the server did not start: {line}")
    return proc, f"http://127.0.0.1:{found.group(1)}"


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_the_webhook_over_http(sent: Sent, tmp_path: Path, server: str) -> None:
    """``mailer serve-unsubscribe`` (WSGI) and the ASGI app under uvicorn,
    each a real server: 202 and the right recipient suppressed with the
    token; 401 without it; 404 when no token is set."""


    if server == "asgi":
        pytest.importorskip("uvicorn", reason="the ASGI test serves the app with uvicorn (test extra)")
    store, (ann, _) = sent
    url = f"sqlite:{tmp_path / 'feedback.sqlite3'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAILER_SECRET": VERP_SIGNER.key.decode(), "MAILER_STORE": url,
           "MAILER_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
    bounce = dsn("c1@example.com", ann, to=verp(ann))
    for token in (TOKEN, None):
        run_env = {**env, "MAILER_FEEDBACK_TOKEN": token} if token else {k: v for k, v in env.items()
                                                                        if k != "MAILER_FEEDBACK_TOKEN"}  # fmt: skip
        if server == "wsgi":
            proc, base = _serve(["mailer", "serve-unsubscribe", "--store", url, "--port", "0"], run_env, "serving")
        else:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            proc, base = _serve(["uvicorn", "--factory", "mailer.web.unsubscribe:create_asgi_app", "--host", "127.0.0.1",
                                 "--port", str(port), "--no-access-log"], run_env, "Uvicorn running")  # fmt: skip
        try:
            if token is None:
                assert _post(f"{base}/feedback", bounce, TOKEN)[0] == 404
                continue
            assert _post(f"{base}/feedback", bounce, "wrong-token-0123456789")[0] == 401
            assert not store.is_suppressed(address="c1@example.com")
            status, body = _post(f"{base}/feedback", bounce, token)
            assert (status, body.startswith(b'{"kinds": {"hard": 1}')) == (202, True)
        finally:
            proc.terminate()  # type: ignore[attr-defined]
            proc.wait(timeout=10)  # type: ignore[attr-defined]
    assert store.is_suppressed(address="c1@example.com") and not store.is_suppressed(address="c2@example.com")
