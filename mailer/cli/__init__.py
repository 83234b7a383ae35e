"""The ``mailer`` command line: one module per command group.

Every module in this package is a command group and exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` to a callable taking the parsed arguments and
returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mailer.errors import MailerError



def build_parser() -> argparse.ArgumentParser:
    import importlib
    import pkgutil

    import mailer.cli as package

    parser = argparse.ArgumentParser(prog="mailer", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        importlib.import_module(f"{package.__name__}.{info.name}").register(subparsers)
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
