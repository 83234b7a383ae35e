"""One-click unsubscribe (RFC 8058)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.store import NewDelivery, Store, open_store
from mailer.tokens import Signer
from mailer.web.unsubscribe import UnsubscribeApp, call

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
