"""The ``mailer`` entry point: exit codes, a closed pipe, Ctrl-C, ``--version``,
logging and plain help text. Processes started here are stopped by their pid."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailer.cli import build_parser, main
from mailer.store import NewDelivery, open_store
from tests.conftest import ROOT


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("MAILER_LOG_LEVEL", "MAILER_LOG_FORMAT", "MAILER_STORE"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "mailer", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mailer {importlib.metadata.version('mailer')}\n"


@pytest.mark.parametrize("argv", [["frobnicate"], ["queue", "list", "--limit", "many"], ["queue"], []])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: mailer" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "--help"]) == 0
    assert "usage: mailer queue" in capsys.readouterr().out


def test_a_mailer_error_exits_2_with_its_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "show", "nope", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mailer: error: no campaign 'nope'") and "Traceback" not in err


def test_a_missing_input_file_exits_2_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.csv"
    assert main(["sto", "profile", "--history", str(missing), "--out", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err == f"mailer: error: {missing}: cannot read the history: No such file or directory\n"


def test_an_os_error_from_any_command_exits_2_with_the_file_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert main(["queue", "list", "--store", f"sqlite:{tmp_path / 'file' / 'q.sqlite3'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mailer: error: {tmp_path / 'file'}: ") and "Traceback" not in err


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_busy_port_exits_2(tmp_path: Path, busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve-unsubscribe", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}", "--port", str(busy_port),
                 "--state-dir", str(tmp_path / "state")])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith(f"mailer: error: cannot listen on 127.0.0.1:{busy_port}: ")


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``mailer queue list | head -1``: no traceback, no "Exception ignored", status 141 as for SIGPIPE."""
    store = open_store(tmp_path / "q.sqlite3")
    store.enqueue(NewDelivery("autumn", f"C{i}", f"c{i}@shop.test", not_before=0.0) for i in range(5000))
    store.close()
    proc = start("queue", "list", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}", cwd=tmp_path)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("campaign\t")
        proc.stdout.close()  # more than a pipe holds is still to come
        assert proc.wait(timeout=30) == 141
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        stop(proc)


def interrupt_when(proc: subprocess.Popen[str], ready: str, *, stream: str) -> tuple[str, str]:
    pipe = getattr(proc, stream)
    seen = ""
    while ready not in seen:
        line = pipe.readline()
        assert line, f"exited before {ready!r}: {seen}"
        seen += line
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return (seen + out, err) if stream == "stdout" else (out, seen + err)


def test_ctrl_c_exits_130_saying_interrupted(tmp_path: Path) -> None:
    proc = start("serve-unsubscribe", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}", "--port", "0",
                 "--state-dir", str(tmp_path / "state"), cwd=tmp_path)  # fmt: skip
    try:
        _, err = interrupt_when(proc, "serving one-click unsubscribe", stream="stdout")
        assert proc.returncode == 130
        assert err == "interrupted\n"
    finally:
        stop(proc)


def test_ctrl_c_drains_a_worker_and_exits_130(tmp_path: Path) -> None:
    proc = start("--log-level", "info", "worker", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}",
                 "--transport", f"outbox:{tmp_path / 'outbox'}", cwd=tmp_path)  # fmt: skip
    try:
        out, err = interrupt_when(proc, "sending through", stream="stderr")
        assert proc.returncode == 130
        assert "stopped by SIGINT" in err and err.endswith("interrupted\n") and "Traceback" not in err
        assert out == "worker: nothing to send\n"
    finally:
        stop(proc)


def test_log_format_json_writes_one_object_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--log-format", "json", "--log-level", "info", "worker", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}",
            "--transport", f"outbox:{tmp_path / 'outbox'}", "--until-idle"]  # fmt: skip
    assert main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert {(r["logger"], r["level"]) for r in records} == {("mailer.sending.worker", "info")}
    assert records[-1]["message"].endswith("stopped: nothing to send")


def test_log_level_hides_what_is_below_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["worker", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}", "--transport", f"outbox:{tmp_path / 'o'}",
            "--until-idle"]  # fmt: skip
    assert main(["--log-level", "info", *argv]) == 0
    assert " INFO mailer.sending.worker: worker " in capsys.readouterr().err
    assert main(argv) == 0  # warning, the default
    assert capsys.readouterr().err == ""


def test_logging_is_configured_once_however_often_main_runs(tmp_path: Path) -> None:
    for _ in range(3):
        main(["status", "--store", f"sqlite:{tmp_path / 'q.sqlite3'}"])
    assert len(logging.getLogger("mailer").handlers) == 1


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from parsers(sub)


def test_help_shows_no_restructuredtext_markup() -> None:
    seen = 0
    for parser in parsers(build_parser()):
        text = parser.format_help()
        seen += 1
        for markup in ("``", ":mod:`", ":class:`", ":meth:`", ":func:`", "`_"):
            assert markup not in text, f"{parser.prog}: {markup!r} in its help"
    assert seen > 20
