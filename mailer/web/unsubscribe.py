"""One-click unsubscribe (RFC 8058) as a WSGI or ASGI application.

Mail clients POST ``List-Unsubscribe=One-Click`` to the URL in the message's
``List-Unsubscribe`` header, as ``application/x-www-form-urlencoded`` or
``multipart/form-data``; the URL ends in a signed token
(:mod:`mailer.tokens`), so nobody can unsubscribe someone else. A valid POST
suppresses the customer (and every address they were queued under) at once
and for every campaign, and is answered ``200`` with no redirect. A GET only
shows a confirmation form: link scanners follow links, and must not
unsubscribe anyone.

``POST /feedback`` takes one bounce, complaint or auto-reply as a raw
RFC 5322 message (``message/rfc822`` or ``application/octet-stream``, at
most :data:`MAX_FEEDBACK` bytes), from a mail server's pipe or a provider's
forwarder, and applies it as ``mailer bounces read`` does
(:class:`mailer.feedback.FeedbackBatch`); it answers ``202`` with the kind
found, as JSON. It needs ``Authorization: Bearer <token>`` with the token
set in ``$MAILER_FEEDBACK_TOKEN``; without that setting the route is not
there (``404``).

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

import asyncio
import hmac
import html
import io
import json
import os
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from mailer.errors import ConfigError
from mailer.store import Store
from mailer.tokens import InvalidToken, Signer

if TYPE_CHECKING:
    from mailer.feedback.rules import FeedbackPolicy

MAX_BODY = 64 * 1024
MAX_FEEDBACK = 1024 * 1024
"""The largest feedback message ``POST /feedback`` takes (a bounce quoting a
large original is cut short by the server that sends it, most at far less)."""
FEEDBACK_TOKEN_ENV = "MAILER_FEEDBACK_TOKEN"
FEEDBACK_TYPES = ("message/rfc822", "application/octet-stream")

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


def feedback_token_from_env() -> str | None:
    """The webhook's bearer token, ``$MAILER_FEEDBACK_TOKEN`` (``None``: unset)."""
    return os.environ.get(FEEDBACK_TOKEN_ENV) or None


def is_feedback_path(path: str) -> bool:
    """Whether ``path`` is the feedback webhook's (``/feedback``, under any prefix).

    >>> is_feedback_path("/feedback"), is_feedback_path("/email/feedback/"), is_feedback_path("/u/feedback.x")
    (True, True, False)
    """
    return path.rstrip("/").rpartition("/")[2] == "feedback"


class UnsubscribeApp:
    """The WSGI app: ``POST <prefix><token>`` unsubscribes; ``GET`` asks first;
    ``POST /feedback`` takes a bounce or complaint when ``feedback_token`` is
    set (``feedback_policy``: the rules it is applied under).
    :meth:`asgi` gives the same app for ASGI servers."""

    def __init__(
        self,
        store: Store,
        signer: Signer,
        *,
        shop: str = "us",
        feedback_token: str | None = None,
        feedback_policy: FeedbackPolicy | None = None,
    ) -> None:
        if feedback_token is not None and len(feedback_token) < 16:
            raise ConfigError(f"the feedback webhook's token (${FEEDBACK_TOKEN_ENV}) must be at least 16 characters")
        self.store = store
        self.signer = signer
        self.shop = shop
        self.feedback_token = feedback_token
        self.feedback_policy = feedback_policy

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "")
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        body = b""
        if method == "POST" and 0 < length <= self.body_limit(path, authorization):
            body = environ["wsgi.input"].read(length)
        status, headers, page = self.respond(
            method, path, environ.get("CONTENT_TYPE", ""), body, length=length, authorization=authorization
        )
        start_response(status, headers)
        return [page]

    def body_limit(self, path: str, authorization: str = "") -> int:
        """The most body bytes read for a request to ``path`` (none for a
        feedback request that is not authorised)."""
        if is_feedback_path(path):
            return MAX_FEEDBACK if self._authorised(authorization) else 0
        return MAX_BODY

    def _authorised(self, authorization: str) -> bool:
        scheme, _, given = authorization.strip().partition(" ")
        expected = self.feedback_token
        return (expected is not None and scheme.lower() == "bearer"
                and hmac.compare_digest(given.strip().encode(), expected.encode()))  # fmt: skip

    def asgi(self) -> UnsubscribeASGI:
        """This app as an ASGI 3 application."""
        return UnsubscribeASGI(self)

    def respond(
        self, method: str, path: str, content_type: str, body: bytes, *, length: int | None = None,
        authorization: str = "",
    ) -> Response:  # fmt: skip
        """The response to one request, whatever the server interface:
        ``/feedback`` is the feedback webhook, a path whose token follows
        ``preferences/`` the preferences page (:mod:`mailer.web.preferences`),
        any other the unsubscribe page."""
        if is_feedback_path(path):
            return self._feedback(method, content_type, body, len(body) if length is None else length, authorization)
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

    def _feedback(self, method: str, content_type: str, body: bytes, length: int, authorization: str) -> Response:
        """``POST /feedback``: one bounce, complaint or auto-reply applied."""
        from mailer.feedback import FeedbackBatch, FeedbackPolicy, VerpSigner, parse_feedback

        if self.feedback_token is None:
            return self._page("404 Not Found", "Not found.")
        if method != "POST":
            return self._json("405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")])
        if not self._authorised(authorization):
            return self._json("401 Unauthorized", {"error": "a valid bearer token is needed"},
                              [("WWW-Authenticate", 'Bearer realm="feedback"')])  # fmt: skip
        if length > MAX_FEEDBACK:
            return self._json("413 Content Too Large", {"error": f"at most {MAX_FEEDBACK} bytes"})
        if content_type.split(";", 1)[0].strip().lower() not in FEEDBACK_TYPES:
            return self._json("415 Unsupported Media Type", {"error": f"send the message as {' or '.join(FEEDBACK_TYPES)}"},
                              [("Accept-Post", ", ".join(FEEDBACK_TYPES))])  # fmt: skip
        if not body.strip():
            return self._json("400 Bad Request", {"error": "the body holds no message"})
        feedback = parse_feedback(body)
        batch = FeedbackBatch(self.store, VerpSigner(self.signer.key), policy=self.feedback_policy or FeedbackPolicy())
        event = batch.add(feedback, source="webhook")
        paused = batch.close()
        return self._json("202 Accepted", {
            "kinds": {feedback.kind: 1},
            "outcome": event.outcome,
            "suppression": event.suppression,
            "paused": [p.campaign for p in paused],
        })  # fmt: skip

    def _json(self, status: str, data: dict[str, Any], extra: list[tuple[str, str]] | None = None) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store"), *(extra or [])]  # fmt: skip
        return status, headers, body

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

    The body is read up to :data:`MAX_BODY` (:data:`MAX_FEEDBACK` for the
    feedback webhook); the store is called on the event loop's thread for an
    unsubscribe (one short write), on a worker thread for feedback (a
    complaint reads the delivered counts to judge the complaint rate).

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
        path, authorization = scope.get("path", ""), headers.get("authorization", "")
        limit = self.app.body_limit(path, authorization)
        body, too_large = bytearray(), False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > limit:
                too_large = True
            elif not too_large:
                body += chunk
            if not message.get("more_body"):
                break
        length = limit + 1 if too_large else len(body)
        arguments = (scope.get("method", "GET").upper(), path, headers.get("content-type", ""), bytes(body))
        options = {"length": length, "authorization": authorization}
        if is_feedback_path(path):
            status, response_headers, page = await asyncio.to_thread(self.app.respond, *arguments, **options)
        else:
            status, response_headers, page = self.app.respond(*arguments, **options)
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
    ``$MAILER_SHOP`` for the page text, and ``$MAILER_FEEDBACK_TOKEN`` for
    the feedback webhook (unset: no webhook)::

        uvicorn --factory mailer.web.unsubscribe:create_asgi_app --port 8025
    """
    from mailer.store import DEFAULT_STORE, open_store
    from mailer.tokens import load_signing_key

    store = open_store(os.environ.get("MAILER_STORE", DEFAULT_STORE))
    signer = Signer(load_signing_key(state_dir=os.environ.get("MAILER_STATE_DIR", ".mailer")))
    return UnsubscribeApp(
        store, signer, shop=os.environ.get("MAILER_SHOP", "us"), feedback_token=feedback_token_from_env()
    ).asgi()


async def call_asgi(app: UnsubscribeASGI, method: str, path: str, body: bytes = b"",
                    content_type: str = "application/x-www-form-urlencoded",
                    authorization: str = "") -> tuple[int, bytes]:  # fmt: skip
    """Call an ASGI app in-process, the body in two chunks (for tests and doctests): (status, body)."""
    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", content_type.encode())]
    if authorization:
        headers.append((b"authorization", authorization.encode("latin-1")))
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def call(app: Callable[..., Iterable[bytes]], method: str, path: str, body: bytes = b"",
         content_type: str = "application/x-www-form-urlencoded", authorization: str = "") -> tuple[str, bytes]:
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
    if authorization:
        environ["HTTP_AUTHORIZATION"] = authorization
    chunks = b"".join(app(environ, start_response))
    return seen["status"], chunks
