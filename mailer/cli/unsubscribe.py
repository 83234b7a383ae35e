"""``mailer serve-unsubscribe``: the one-click unsubscribe endpoint (RFC 8058).

Serves the WSGI app of :mod:`mailer.web.unsubscribe` with the standard
library's server: fine behind a reverse proxy for modest traffic; for more,
run ``mailer.web.unsubscribe:UnsubscribeApp`` under any WSGI server. With
``$MAILER_FEEDBACK_TOKEN`` set, it also takes bounces and complaints at
``POST /feedback`` (``Authorization: Bearer <token>``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mailer.cli.worker import add_store_option
from mailer.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("serve-unsubscribe", help="serve the one-click unsubscribe endpoint",
                                   description=__doc__)
    add_store_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="port (default 8025; 0 picks a free one)")
    parser.add_argument("--state-dir", type=Path, help="where the link-signing key is kept (default: the project's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from mailer.store import open_store
    from mailer.tokens import Signer, load_signing_key
    from mailer.web.unsubscribe import UnsubscribeApp, feedback_token_from_env

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *values: object) -> None:  # noqa: A002 - the base class's name
            pass

    store = open_store(args.store)
    try:
        app = UnsubscribeApp(store, Signer(load_signing_key(path=args.secret_file)),
                             feedback_token=feedback_token_from_env())  # fmt: skip
        try:
            server = make_server(args.host, args.port, app, handler_class=QuietHandler)
        except OSError as err:  # the port is taken, or not ours to take
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from err
        with server:
            print(f"serving one-click unsubscribe on http://{args.host}:{server.server_port}/", flush=True)
            server.serve_forever()  # until Ctrl-C: the command line reports it and exits 130
    finally:
        store.close()
    return 0
