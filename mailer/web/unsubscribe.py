"""One-click unsubscribe (RFC 8058) as a WSGI application.

Mail clients POST ``List-Unsubscribe=One-Click`` to the URL in the message's
``List-Unsubscribe`` header, as ``application/x-www-form-urlencoded`` or
``multipart/form-data``; the URL ends in a signed token
(:mod:`mailer.tokens`), so nobody can unsubscribe someone else. A valid POST
suppresses the customer (and every address they were queued under) at once
and for every campaign, and is answered ``200`` with no redirect. A GET only
shows a confirmation form: link scanners follow links, and must not
unsubscribe anyone.

>>> from mailer.store import open_store
>>> from mailer.tokens import Signer
>>> signer = Signer(b"k" * 32)
>>> store = open_store("sqlite::memory:")
>>> app = UnsubscribeApp(store, signer)
>>> status, body = call(app, "POST", "/u/" + signer.sign("C1", "autumn"), b"List-Unsubscribe=One-Click")
>>> status, store.is_suppressed(recipient="C1")
('200 OK', True)
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from mailer.store import Store
from mailer.tokens import InvalidToken, Signer

MAX_BODY = 64 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a urlencoded or multipart form body.

    >>> form_fields("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click")
    {'List-Unsubscribe': 'One-Click'}
    >>> form_fields('multipart/form-data; boundary=XX',
    ...     b'--XX\\r\\nContent-Disposition: form-data; name="List-Unsubscribe"\\r\\n\\r\\nOne-Click\\r\\n--XX--\\r\\n')
    {'List-Unsubscribe': 'One-Click'}
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or not kind:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[-1] for name, values in parsed.items()}
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        fields: dict[str, str] = {}
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name:
                    payload = part.get_payload(decode=True)
                    raw = payload if isinstance(payload, bytes) else b""
                    fields[str(name)] = raw.decode(part.get_content_charset() or "utf-8", "replace")
        return fields
    return {}


class UnsubscribeApp:
    """The WSGI app: ``POST <prefix><token>`` unsubscribes; ``GET`` asks first."""

    def __init__(self, store: Store, signer: Signer, *, shop: str = "us") -> None:
        self.store = store
        self.signer = signer
        self.shop = shop

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        token = environ.get("PATH_INFO", "").rstrip("/").rpartition("/")[2]
        try:
            subject = self.signer.verify(token)
        except InvalidToken:
            return self._page(start_response, "400 Bad Request", "This unsubscribe link is not valid.")
        if method == "GET" or method == "HEAD":
            return self._page(
                start_response,
                "200 OK",
                "Unsubscribe from all marketing email?",
                form='<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
                '<button type="submit">Unsubscribe</button></form>',
            )
        if method != "POST":
            return self._page(start_response, "405 Method Not Allowed", "Use POST to unsubscribe.",
                              extra=[("Allow", "GET, POST")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return self._page(start_response, "413 Content Too Large", "The request is too large.")
        body = environ["wsgi.input"].read(length) if length else b""
        fields = form_fields(environ.get("CONTENT_TYPE", ""), body)
        if fields.get("List-Unsubscribe") != "One-Click":
            return self._page(start_response, "400 Bad Request", "Expected List-Unsubscribe=One-Click.")
        self.store.suppress(
            recipient=subject.customer_id,
            reason="unsubscribed",
            detail=f"one-click, campaign {subject.campaign_id}",
        )
        return self._page(start_response, "200 OK", f"You are unsubscribed and will get no more marketing email from {self.shop}.")

    def _page(
        self, start_response: StartResponse, status: str, text: str, *, form: str = "",
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        page = (
            "<!doctype html><meta charset=utf-8><meta name=robots content=noindex>"
            f"<title>Unsubscribe</title><p>{html.escape(text)}</p>{form}"
        ).encode()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Cache-Control", "no-store"),
            *(extra or []),
        ]
        start_response(status, headers)
        return [page]


def call(app: Callable[..., Iterable[bytes]], method: str, path: str, body: bytes = b"",
         content_type: str = "application/x-www-form-urlencoded") -> tuple[str, bytes]:
    """Call a WSGI app in-process (for tests and doctests): (status, body)."""
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    chunks = b"".join(app(environ, start_response))
    return seen["status"], chunks
