"""mailer preview: the project's layouts and campaigns as real customers will get them, in a web page.

Serves a local page (http://127.0.0.1:8030/ by default) where the creative
team picks a campaign or layout and a customer (search, a customer per
segment, market or programme step; locale and currency overrides) and sees
the email in desktop and mobile frames, with its plain text, headers and
source, the products and why each was chosen, its size against Gmail's
clip and warnings of what will break. Saving a layout, catalog or campaign
file updates the open page. The page's JSON API is in the README.

Examples:
  mailer preview fixtures/campaign.toml --customers fixtures/customers.csv --feed fixtures/products.xml
  mailer preview --customers customers.csv --caniemail caniemail.json --port 0
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from mailer.cli.check import resolve_project
from mailer.errors import ConfigError
from mailer.project import add_project_option, add_setting_options


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("preview", help="serve the preview page for the creative team",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("campaign", nargs="?", help="the campaign the page opens with (default: the first)")
    add_preview_inputs(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8030, help="port (default 8030; 0 picks a free one)")
    parser.add_argument("--transport", help="where test sends go (default: the project's transport)")
    parser.set_defaults(func=run)


def add_preview_inputs(parser: argparse.ArgumentParser) -> None:
    """The inputs a preview renders from (shared with ``mailer lint``)."""
    parser.add_argument("--customers", type=Path, help="customers CSV or JSON Lines to pick from")
    parser.add_argument("--feed", type=Path, help="product feed for the layouts' product slots")
    parser.add_argument("--purchases", type=Path,
                        help="purchase history: RFM segments for the quick picks, and what campaigns choose from")
    parser.add_argument("--rates", type=Path, help="currency rates CSV (default: each campaign's)")
    parser.add_argument("--state-dir", type=Path, help="where the link-signing key is kept (default: the project's)")
    add_project_option(parser)
    add_setting_options(parser, "layouts", "locales", "caniemail")


def open_preview(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The :class:`~mailer.preview.Preview` the command line describes."""
    from mailer.preview import Preview

    project = resolve_project(args)
    caniemail = project.caniemail
    if caniemail is not None and not caniemail.is_file():
        raise ConfigError(f"{caniemail}: no caniemail data file (download https://www.caniemail.com/api/data.json, "
                          f"or unset caniemail)")  # fmt: skip
    return Preview(project, customers=args.customers, feed=args.feed, purchases=args.purchases, rates=args.rates,
                   caniemail=caniemail, clients=project.clients)  # fmt: skip


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from mailer.web.preview import PreviewApp, serve

    transport = args.transport
    preview = open_preview(args)
    project = preview.project
    if transport is None:
        transport = project.transport
    if args.campaign is not None:
        preview.campaign_path(args.campaign)  # a campaign that is not there is an error now, not in the page
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by a service manager: clean up as for Ctrl-C
    app = PreviewApp(preview, transport=transport, seeds=project.seeds, start=args.campaign)

    def ready(url: str) -> None:
        print(f"serving the preview on {url} (project {project.root})", flush=True)
        if preview.support is None:
            print("mail-client checks are off: set caniemail in mailer.toml or --caniemail to caniemail.com's "
                  "data file (https://www.caniemail.com/api/data.json)", file=sys.stderr, flush=True)  # fmt: skip

    try:
        serve(app, host=args.host, port=args.port, ready=ready)
    except OSError as err:
        if err.errno is not None and "Address" in (err.strerror or ""):
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {err.strerror}") from err
        raise
    finally:
        preview.close()
    return 0
