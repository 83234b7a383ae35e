"""The ``mailer`` command line: one module per command group.

Each command module exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` to a callable taking the parsed arguments and
returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mailer.errors import MailerError

COMMAND_MODULES = ("mailer.cli.render",)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="mailer", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MailerError as err:
        print(f"mailer: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
