"""One-click unsubscribe (RFC 8058) as a WSGI or ASGI application.

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


Response = tuple[str, list[tuple[str, str]], bytes]


class UnsubscribeApp:
    """The WSGI app: ``POST <prefix><token>`` unsubscribes; ``GET`` asks first.
    :meth:`asgi` gives the same app for ASGI servers."""

    def __init__(self, store: Store, signer: Signer, *, shop: str = "us") -> None:
        self.store = store
        self.signer = signer
        self.shop = shop

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        method = environ.get("REQUEST_METHOD", "GET").upper()
        body = b""
        if method == "POST" and 0 < length <= MAX_BODY:
            body = environ["wsgi.input"].read(length)
        status, headers, page = self.respond(
            method, environ.get("PATH_INFO", ""), environ.get("CONTENT_TYPE", ""), body, length=length
        )
        start_response(status, headers)
        return [page]

    def asgi(self) -> UnsubscribeASGI:
        """This app as an ASGI 3 application."""
        return UnsubscribeASGI(self)

    def respond(self, method: str, path: str, content_type: str, body: bytes, *, length: int | None = None) -> Response:
        """The response to one request, whatever the server interface: a path
        whose token follows ``preferences/`` is the preferences page
        (:mod:`mailer.web.preferences`), any other the unsubscribe page."""
        page, _, token = path.rstrip("/").rpartition("/")
        try:
            subject = self.signer.verify(token)
        except InvalidToken:
            return self._page("400 Bad Request", "This link is not valid.")
        if page.rpartition("/")[2] == "preferences":
            if (len(body) if length is None else length) > MAX_BODY:
                return self._page("413 Content Too Large", "The request is too large.")
            from mailer.web import preferences

            status, text, form = preferences.respond(self.store, subject, method, form_fields(content_type, body))
            extra = [("Allow", "GET, POST")] if status.startswith("405") else None
            return self._page(status, text, form=form, extra=extra, title="Email preferences")
        if method in ("GET", "HEAD"):
            return self._page(
                "200 OK",
                "Unsubscribe from all marketing email?",
                form='<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
                '<button type="submit">Unsubscribe</button></form>',
            )
        if method != "POST":
            return self._page("405 Method Not Allowed", "Use POST to unsubscribe.", extra=[("Allow", "GET, POST")])
        if (len(body) if length is None else length) > MAX_BODY:
            return self._page("413 Content Too Large", "The request is too large.")
        fields = form_fields(content_type, body)
        if fields.get("List-Unsubscribe") != "One-Click":
            return self._page("400 Bad Request", "Expected List-Unsubscribe=One-Click.")
        self.store.suppress(
            recipient=subject.customer_id,
            reason="unsubscribed",
            detail=f"one-click, campaign {subject.campaign_id}",
        )
        return self._page("200 OK", f"You are unsubscribed and will get no more marketing email from {self.shop}.")

    def _page(
        self,
        status: str,
        text: str,
        *,
        form: str = "",
        extra: list[tuple[str, str]] | None = None,
        title: str = "Unsubscribe",
    ) -> Response:
        page = (
            "<!doctype html><meta charset=utf-8><meta name=robots content=noindex>"
            f"<title>{html.escape(title)}</title><p>{html.escape(text)}</p>{form}"
        ).encode()
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(page))),
            ("Cache-Control", "no-store"),
            *(extra or []),
        ]
        return status, headers, page


class UnsubscribeASGI:
    """:class:`UnsubscribeApp` for ASGI servers (uvicorn, hypercorn, …).

    The body is read up to :data:`MAX_BODY`; the store is called on the
    event loop's thread (a suppression is one short write).

    >>> import asyncio
    >>> from mailer.store import open_store
    >>> from mailer.tokens import Signer
    >>> signer, store = Signer(b"k" * 32), open_store("sqlite::memory:")
    >>> app = UnsubscribeApp(store, signer).asgi()
    >>> asyncio.run(call_asgi(app, "POST", "/u/" + signer.sign("C1", "autumn"), b"List-Unsubscribe=One-Click"))[0]
    200
    >>> store.is_suppressed(recipient="C1")
    True
    """

    def __init__(self, app: UnsubscribeApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body, too_large = bytearray(), False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > MAX_BODY:
                too_large = True
            elif not too_large:
                body += chunk
            if not message.get("more_body"):
                break
        length = MAX_BODY + 1 if too_large else len(body)
        status, response_headers, page = self.app.respond(
            scope.get("method", "GET").upper(), scope.get("path", ""), headers.get("content-type", ""),
            bytes(body), length=length,
        )  # fmt: skip
        await send({
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else page})


def create_asgi_app() -> UnsubscribeASGI:
    """The ASGI app for a server's ``--factory`` option, configured from the
    environment: ``$MAILER_STORE`` (default ``sqlite:.mailer/queue.sqlite3``),
    the signing key from ``$MAILER_SECRET`` or ``$MAILER_STATE_DIR/secret``,
    and ``$MAILER_SHOP`` for the page text::

        uvicorn --factory mailer.web.unsubscribe:create_asgi_app --port 8025
    """
    import os

    from mailer.store import DEFAULT_STORE, open_store
    from mailer.tokens import load_signing_key

    store = open_store(os.environ.get("MAILER_STORE", DEFAULT_STORE))
    signer = Signer(load_signing_key(state_dir=os.environ.get("MAILER_STATE_DIR", ".mailer")))
    return UnsubscribeApp(store, signer, shop=os.environ.get("MAILER_SHOP", "us")).asgi()


async def call_asgi(app: UnsubscribeASGI, method: str, path: str, body: bytes = b"",
                    content_type: str = "application/x-www-form-urlencoded") -> tuple[int, bytes]:  # fmt: skip
    """Call an ASGI app in-process, the body in two chunks (for tests and doctests): (status, body)."""
    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(b"content-type", content_type.encode())]}  # fmt: skip
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


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
