"""The ``mailer`` command line: one module per command group.

Every module in this package is a command group and exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` to a callable taking the parsed arguments and
returning an exit code.

:func:`main` owns what every command shares: the options that come before the
command (``--version``, ``--log-level``, ``--log-format``), logging for the
``mailer`` loggers, and the exit codes below. Help text is written as
reStructuredText in the modules' docstrings and shown as plain text.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, TextIO, cast

from mailer.errors import ConfigError, MailerError

EXIT_CODES = """\
exit codes:
  0    done
  1    it ran, but some messages failed or none could be sent
  2    bad input or usage
  130  interrupted (Ctrl-C)
  141  output cut short by a closed pipe (e.g. `mailer status | head`)"""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")

log = logging.getLogger("mailer.cli")

_ROLE = re.compile(r":[\w:.-]+:`~?([^`<]*?)\s*(?:<[^`>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``", re.S)
_REFERENCE = re.compile(r"`([^`]+)`_{0,2}")
_STRONG = re.compile(r"\*\*(.+?)\*\*", re.S)
_LITERAL_BLOCK = re.compile(r"::$", re.M)


def plain(text: str) -> str:
    """``text`` with its reStructuredText inline markup taken off, for ``--help``.

    >>> plain("``mailer status``: see :class:`~mailer.store.Store` and `the docs <https://x.test>`_::")
    'mailer status: see Store and the docs:'
    >>> plain(":mod:`mailer.web.unsubscribe` serves *.eml files")
    'mailer.web.unsubscribe serves *.eml files'
    """
    text = _ROLE.sub(lambda m: m.group(1).rpartition(".")[2] if m.group(0).count("`~") else m.group(1), text)
    text = _LITERAL.sub(r"\1", text)
    text = _REFERENCE.sub(lambda m: re.sub(r"\s*<[^>]*>$", "", m.group(1)), text)
    text = _STRONG.sub(r"\1", text)
    return _LITERAL_BLOCK.sub(":", text)


class _PlainHelp(argparse.HelpFormatter):
    """Formats descriptions, epilogs and option help as plain text."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain(super()._expand_help(action))


_PLAIN_FORMATTERS: dict[type[argparse.HelpFormatter], type[argparse.HelpFormatter]] = {}


def _plain_formatter(formatter: type[argparse.HelpFormatter]) -> type[argparse.HelpFormatter]:
    """``formatter`` made to write plain text (made once per formatter class)."""
    plain_class = _PLAIN_FORMATTERS.get(formatter)
    if plain_class is None:
        plain_class = _PLAIN_FORMATTERS[formatter] = (
            formatter if issubclass(formatter, _PlainHelp) else type(f"Plain{formatter.__name__}", (_PlainHelp, formatter), {})
        )
    return plain_class


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help is plain text, whatever formatter a command
    chose (its sub-commands' parsers are of this class too)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return _plain_formatter(cast("type[argparse.HelpFormatter]", self.formatter_class))(prog=self.prog)


def build_parser() -> argparse.ArgumentParser:
    import importlib
    import pkgutil

    import mailer.cli as package

    parser = _Parser(prog="mailer", description=__doc__.splitlines()[0], epilog=EXIT_CODES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--version", action="version", version=f"mailer {version()}")
    parser.add_argument(
        "--log-level", type=str.lower, choices=LOG_LEVELS, default=os.environ.get("MAILER_LOG_LEVEL", "warning"),
        help="least severe log messages shown on stderr (default: $MAILER_LOG_LEVEL or warning)",
    )  # fmt: skip
    parser.add_argument(
        "--log-format", type=str.lower, choices=LOG_FORMATS, default=os.environ.get("MAILER_LOG_FORMAT", "text"),
        help="text, or json: one JSON object per line, for daemons (default: $MAILER_LOG_FORMAT or text)",
    )  # fmt: skip
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        importlib.import_module(f"{package.__name__}.{info.name}").register(subparsers)
    return parser


def version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mailer")
    except PackageNotFoundError:
        return "(not installed)"


class JSONLines(logging.Formatter):
    """One JSON object per record: ``time`` (UTC, ISO 8601), ``level``,
    ``logger``, ``message``, the fields the call passed as ``extra``, and
    ``exception`` when there is one."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in self._STANDARD and not k.startswith("_"))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (a test, or a
    program embedding :func:`main`, may have replaced it since)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


_handler: logging.Handler | None = None


def configure_logging(level: str = "warning", form: str = "text", *, stream: TextIO | None = None) -> None:
    """Show the ``mailer`` loggers' messages of ``level`` and above on
    ``stream`` (stderr), as text or JSON lines. Called again (a program that
    runs :func:`main` twice), it replaces its handler rather than add one."""
    global _handler
    if level not in LOG_LEVELS:
        raise ConfigError(f"unknown log level {level!r}; known: {', '.join(LOG_LEVELS)}")
    if form not in LOG_FORMATS:
        raise ConfigError(f"unknown log format {form!r}; known: {', '.join(LOG_FORMATS)}")
    logger = logging.getLogger("mailer")
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    _handler.setFormatter(JSONLines() if form == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(level.upper())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (see ``mailer --help``)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error argparse has reported
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    try:
        configure_logging(args.log_level, args.log_format)
        _read_standard_input(args)
        if any(hasattr(args, name) for name in ("store", "transport", "state_dir")):
            from mailer.cli.check import resolve_project

            resolve_project(args)  # the queue, outbox and key of the project, wherever the command starts
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except MailerError as err:
        return _error(str(err))
    except BrokenPipeError:
        raise
    except OSError as err:  # a file that is not there, a port in use: the user's to fix
        return _error(f"{err.filename}: {err.strerror}" if err.filename is not None and err.strerror else
                      (err.strerror or str(err)))  # fmt: skip


STDIN_INPUTS = ("customers", "feed", "purchases", "history")
"""Input options that take ``-`` for standard input."""


def _read_standard_input(args: argparse.Namespace) -> None:
    """An input given as ``-`` is read from standard input into a temporary
    file (inputs are read more than once: checked, then queued), removed at exit."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    named = [name for name in STDIN_INPUTS if str(getattr(args, name, None)) == "-"]
    if not named:
        return
    if len(named) > 1:
        raise ConfigError(f"only one input can come from standard input; got - for {', '.join(named)}")
    folder = tempfile.mkdtemp(prefix="mailer-stdin-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / f"stdin-{named[0]}"
    with path.open("wb") as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy)
    setattr(args, named[0], path)


def _error(message: str) -> int:
    log.debug("the command failed", exc_info=True)
    print(f"mailer: error: {message}", file=sys.stderr)
    return 2


def _stdout_to_devnull() -> None:
    """The reader of stdout has gone: point stdout at /dev/null, so that
    Python's last flush at exit does not fail again (the recipe in the docs of
    :mod:`signal` for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is no file (captured by a test)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
