"""``mailer preview`` as a real server over a copy of this repository's project.

The copy (layouts, catalogs, fixtures and ``mailer.toml``) lets a test edit
layout files while the page is open; :meth:`PreviewServer.edit` puts a file
back as it was when the test is done. The server is stopped by its process
id only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from tests.conftest import ROOT, copy_project  # noqa: F401 - the tests copy the project with it

URL = re.compile(r"serving the preview on (http://\S+/)")
START_TIMEOUT = 60.0


class PreviewServer:
    """``python -m mailer preview --port 0 …`` run in ``project``; ``url`` once started."""

    def __init__(self, project: Path, *args: str) -> None:
        self.project = project
        self.args = args
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []

    def __enter__(self) -> PreviewServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for name in ("MAILER_PROJECT", "MAILER_LAYOUTS", "MAILER_LOCALES", "MAILER_STORE", "MAILER_TRANSPORT",
                     "MAILER_STATE_DIR"):  # fmt: skip
            env.pop(name, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailer", "preview", "--port", "0", *self.args],
            cwd=self.project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        lines: list[str] = []
        found = threading.Event()

        def read_stdout() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                match = URL.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not found.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"mailer preview did not start within {START_TIMEOUT:.0f} s\n"
                               f"stdout: {''.join(lines)}\nstderr: {self.stderr}")  # fmt: skip
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    @contextmanager
    def edit(self, relative: str, old: str, new: str) -> Iterator[Path]:
        """``relative`` with ``old`` replaced by ``new`` until the block ends."""
        path = self.project / relative
        original = path.read_text(encoding="utf-8")
        assert old in original, f"{old!r} is not in {relative}"
        path.write_text(original.replace(old, new, 1), encoding="utf-8")
        try:
            yield path
        finally:
            path.write_text(original, encoding="utf-8")

    @contextmanager
    def insert_line(self, relative: str, line: int, text: str) -> Iterator[Path]:
        """``text`` inserted as line ``line`` (1-based) of ``relative`` until the block ends."""
        path = self.project / relative
        original = path.read_text(encoding="utf-8")
        lines = original.splitlines(keepends=True)
        lines.insert(line - 1, text.rstrip("\n") + "\n")
        path.write_text("".join(lines), encoding="utf-8")
        try:
            yield path
        finally:
            path.write_text(original, encoding="utf-8")
