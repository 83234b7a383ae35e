"""The preview page and its JSON API, as a WSGI application.

``/`` is the page (``static/preview.html`` and its script and style sheet);
everything it shows comes from the JSON API, which scripts can use too:

==========================================  ==========================================================
request                                     answer
==========================================  ==========================================================
``GET /api/project``                        campaigns, layouts, locales, currencies, clients, version
``GET /api/customers?q=&limit=``            customers whose id, name or address contains ``q``
``GET /api/picks?campaign=|layout=``        a customer per segment, per market and per programme step
``GET /api/render?layout=&customer=…``      subject, html, text, headers, raw, size, warnings, products
``GET /api/compare?customers=A,B[,C,D]…``   one render per customer
``GET /api/changes?since=V[&timeout=25]``   the files' version once it is not ``V`` (long poll)
``POST /api/send-test``                     send one message to an address or the seed list
==========================================  ==========================================================

A layout that does not compile or render answers 422 with ``file``,
``line`` and ``message``; an unknown customer, campaign or layout 404; a bad
parameter 400. The server binds 127.0.0.1 unless told otherwise: the page
shows customer data.

>>> from mailer.project import Project
>>> from pathlib import Path
>>> from mailer.preview import Preview
>>> from mailer.tokens import Signer
>>> root = Path(__file__).resolve().parent.parent.parent
>>> app = PreviewApp(Preview(Project.defaults(root), customers=root / "fixtures/customers.csv",
...                          signer=Signer(b"k" * 32)))
>>> status, headers, body = app.respond("GET", "/api/customers", "q=freja", b"")
>>> status, json.loads(body)["customers"][0]["locale"]
('200 OK', 'da_DK')
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mailer.errors import MailerError
from mailer.preview import Preview, PreviewError, customer_json

__all__ = ["PreviewApp", "serve"]

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Response = tuple[str, list[tuple[str, str]], bytes]

_STATUS = {200: "200 OK", 400: "400 Bad Request", 404: "404 Not Found", 405: "405 Method Not Allowed",
           413: "413 Content Too Large", 422: "422 Unprocessable Content", 500: "500 Internal Server Error"}  # fmt: skip
_RENDER_PARAMETERS = ("campaign", "layout", "locale", "currency")


def _static_file(name: str) -> bytes | None:
    """A file of the page (``mailer/web/static``), or ``None``."""
    if "/" in name or name.startswith("."):
        return None
    resource = resources.files("mailer.web") / "static" / name
    return resource.read_bytes() if resource.is_file() else None


class PreviewApp:
    """The WSGI application over a :class:`~mailer.preview.Preview`.

    ``transport`` is the URL test sends go through, ``seeds`` the project's
    seed list and ``start`` the campaign the page opens with.
    """

    def __init__(
        self, preview: Preview, *, transport: str | None = None, seeds: Sequence[str] = (), start: str | None = None
    ) -> None:
        self.preview = preview
        self.transport = transport
        self.seeds = tuple(seeds)
        self.start = start

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            status, headers, body = _json(413, {"error": "bad_request", "message": "the request is too large"})
        else:
            data = environ["wsgi.input"].read(length) if method == "POST" and length > 0 else b""
            status, headers, body = self.respond(method, environ.get("PATH_INFO", "/"),
                                                 environ.get("QUERY_STRING", ""), data)  # fmt: skip
        start_response(status, headers)
        return [b"" if method == "HEAD" else body]

    def respond(self, method: str, path: str, query: str, body: bytes) -> Response:
        """The response to one request."""
        parameters = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
        if path in ("/", "/index.html"):
            return _file("preview.html")
        if path.startswith("/static/"):
            return _file(path[len("/static/"):])
        route = _ROUTES.get(path)
        if route is None:
            return _json(404, {"error": "not_found", "message": f"no page {path}"})
        wanted, handler = route
        if method not in wanted:
            status, headers, page = _json(405, {"error": "bad_request", "message": f"use {' or '.join(wanted)}"})
            return status, [*headers, ("Allow", ", ".join(wanted))], page
        try:
            if method == "POST":
                try:
                    payload = json.loads(body or b"{}")
                except ValueError as err:
                    raise PreviewError(f"the request body is not JSON: {err}") from None
                if not isinstance(payload, dict):
                    raise PreviewError("the request body must be a JSON object")
                parameters = payload
            code, answer = handler(self, parameters)
        except PreviewError as err:
            code, answer = err.status, {"error": "not_found" if err.status == 404 else "bad_request",
                                        "message": str(err)}  # fmt: skip
        except MailerError as err:
            code, answer = 400, {"error": "bad_request", "message": str(err)}
        except Exception as err:  # a fault of ours: say so, keep serving
            log.exception("the preview failed to answer %s %s", method, path)
            code, answer = 500, {"error": "internal", "message": f"{type(err).__name__}: {err}"}
        return _json(code, answer)

    # -- the API --------------------------------------------------------------------------------

    def _project(self, _: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        summary = self.preview.summary()
        campaigns = summary["campaigns"]
        start = self.preview.relative(self.preview.campaign_path(self.start)) if self.start else None
        if start is None and campaigns:
            start = campaigns[0]["file"]
        summary["default"] = {"campaign": start, "layout": None if start else next(iter(summary["layouts"]), None)}
        summary["seeds"] = list(self.seeds)
        summary["transport"] = self.transport
        return 200, summary

    def _customers(self, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found, total = self.preview.search(str(parameters.get("q", "")), limit=_integer(parameters, "limit", 20))
        return 200, {"customers": [customer_json(c, self.preview.segment_of(c.id)) for c in found], "total": total}

    def _picks(self, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, self.preview.picks(campaign=parameters.get("campaign") or None,
                                       layout=parameters.get("layout") or None)  # fmt: skip

    def _render(self, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        customer = parameters.get("customer")
        if not customer:
            raise PreviewError("give customer=ID")
        return self.preview.render_json(customer=str(customer), **_render_request(parameters))

    def _compare(self, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ids = [c for c in str(parameters.get("customers", "")).split(",") if c]
        started = _now()
        answers = []
        for customer_id, (code, answer) in zip(ids, self.preview.compare(ids, **_render_request(parameters))):
            answers.append(answer if code == 200 else {**answer, "customer": customer_id, "status": code})
        return 200, {"renders": answers, "elapsed_ms": round((_now() - started) * 1000, 1)}

    def _changes(self, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        timeout = min(max(_number(parameters, "timeout", 25.0), 0.0), 60.0)
        return 200, {"version": self.preview.wait_for_change(str(parameters.get("since", "")), timeout=timeout)}

    def _send_test(self, parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.transport is None:
            raise PreviewError("no transport is configured for test sends")
        to = parameters.get("to") or []
        addresses = [to] if isinstance(to, str) else [str(a) for a in to]
        if parameters.get("seeds"):
            addresses.extend(self.seeds)
        customer = parameters.get("customer")
        if not customer:
            raise PreviewError("give the customer whose message to send")
        sent = self.preview.send_test(to=[a for a in addresses if a.strip()], customer=str(customer),
                                      transport=self.transport, **_render_request(parameters))  # fmt: skip
        return 200, {"sent": sent, "transport": self.transport}


_Handler = Callable[[PreviewApp, dict[str, Any]], tuple[int, dict[str, Any]]]
_ROUTES: dict[str, tuple[tuple[str, ...], _Handler]] = {
    "/api/project": (("GET",), PreviewApp._project),
    "/api/customers": (("GET",), PreviewApp._customers),
    "/api/picks": (("GET",), PreviewApp._picks),
    "/api/render": (("GET",), PreviewApp._render),
    "/api/compare": (("GET",), PreviewApp._compare),
    "/api/changes": (("GET",), PreviewApp._changes),
    "/api/send-test": (("POST",), PreviewApp._send_test),
}


def _render_request(parameters: dict[str, Any]) -> dict[str, str | None]:
    return {key: (str(parameters[key]) if parameters.get(key) else None) for key in _RENDER_PARAMETERS}


def _integer(parameters: dict[str, Any], name: str, default: int) -> int:
    try:
        return int(parameters.get(name) or default)
    except (TypeError, ValueError):
        raise PreviewError(f"{name} must be a whole number, got {parameters.get(name)!r}") from None


def _number(parameters: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(parameters.get(name) or default)
    except (TypeError, ValueError):
        raise PreviewError(f"{name} must be a number, got {parameters.get(name)!r}") from None


def _now() -> float:
    import time

    return time.perf_counter()


def _json(code: int, answer: dict[str, Any]) -> Response:
    body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
    return _STATUS.get(code, f"{code} Error"), [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ], body


def _file(name: str) -> Response:
    data = _static_file(name)
    if data is None:
        return _json(404, {"error": "not_found", "message": f"no file {name}"})
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
        kind += "; charset=utf-8"
    return "200 OK", [
        ("Content-Type", kind),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
                                    "frame-src 'self' about: data:; script-src 'self'"),
        ("X-Content-Type-Options", "nosniff"),
    ], data


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a long-polling page must not hold up the others."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *values: object) -> None:  # noqa: A002 - the base class's name
        pass


def serve(app: PreviewApp, *, host: str = "127.0.0.1", port: int = 8030,
          ready: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> None:
    """Serve ``app`` until interrupted (or until ``stop`` is set); ``ready``
    gets the page's URL once the server listens."""
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    with server:
        if ready is not None:
            ready(f"http://{host}:{server.server_port}/")
        if stop is None:
            server.serve_forever(poll_interval=0.2)
            return
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        stop.wait()
        server.shutdown()
        thread.join()


def page_path() -> Path:
    """Where the page's files are (for documentation and tests)."""
    return Path(str(resources.files("mailer.web") / "static"))
