"""``mailer serve-unsubscribe`` as a real HTTP server (stopped by its pid)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

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
