"""``mailer serve-unsubscribe`` as a real HTTP server (stopped by its pid)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mailer.store import NewDelivery, open_store
from mailer.tokens import Signer, load_signing_key
from tests.conftest import ROOT


def test_one_click_post_over_http_suppresses(tmp_path: Path) -> None:
    db = tmp_path / "queue.sqlite3"
    state = tmp_path / "state"
    store = open_store(db)
    store.enqueue([NewDelivery("autumn", "C1", "ann@shop.test", not_before=0.0)], now=0)
    token = Signer(load_signing_key(state_dir=state)).sign("C1", "autumn")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MAILER_SECRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailer", "serve-unsubscribe", "--store", f"sqlite:{db}", "--port", "0",
         "--state-dir", str(state)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("serving one-click unsubscribe on http://127.0.0.1:"), line + proc.stderr.read()  # type: ignore[union-attr]
        base = line.split()[-1].rstrip("/")
        request = urllib.request.Request(
            f"{base}/email/unsubscribe/{token}",
            data=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and response.geturl().endswith(token)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert store.is_suppressed(address="ann@shop.test")


def test_asgi_app_under_uvicorn_suppresses(tmp_path: Path) -> None:
    """The ASGI app behind a real ASGI server: both RFC 8058 form encodings, 200, no redirect."""
    import re
    import socket
    import time

    pytest.importorskip("uvicorn", reason="the ASGI test serves the app with uvicorn (test extra)")
    db = tmp_path / "queue.sqlite3"
    state = tmp_path / "state"
    store = open_store(db)
    store.enqueue([NewDelivery("autumn", "C1", "ann@shop.test", not_before=0.0),
                   NewDelivery("autumn", "C2", "bob@shop.test", not_before=0.0)], now=0)  # fmt: skip
    signer = Signer(load_signing_key(state_dir=state))
    with socket.socket() as probe:  # a free port for the server to bind
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAILER_STORE": f"sqlite:{db}", "MAILER_STATE_DIR": str(state)}
    env.pop("MAILER_SECRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "mailer.web.unsubscribe:create_asgi_app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            line = proc.stderr.readline()  # type: ignore[union-attr]
            if re.search(r"Uvicorn running on", line) or not line or time.monotonic() > deadline:
                break
        assert "Uvicorn running" in line, line
        base = f"http://127.0.0.1:{port}/email/unsubscribe/"
        bodies = {
            "C1": (b"List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"),
            "C2": (b'--XX\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--XX--\r\n',
                   "multipart/form-data; boundary=XX"),
        }  # fmt: skip
        for customer, (body, content_type) in bodies.items():
            token = signer.sign(customer, "autumn")
            request = urllib.request.Request(base + token, data=body, headers={"Content-Type": content_type},
                                             method="POST")  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200 and response.geturl().endswith(token)
        forged = urllib.request.Request(base + "not-a-token", data=bodies["C1"][0], method="POST")
        try:
            urllib.request.urlopen(forged, timeout=10)
            raise AssertionError("a forged token was accepted")
        except urllib.error.HTTPError as err:
            assert err.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert store.is_suppressed(address="ann@shop.test") and store.is_suppressed(address="bob@shop.test")
