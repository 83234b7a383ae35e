"""``mailer unknown``: an operator reviews and settles messages left unknown by a dead worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import open_store
from tests.test_cli_run import run_args


def leave_unknown(tmp_path: Path) -> str:
    """Queue the sample campaign, then claim three rows and 'die' after marking them sending."""
    assert main(run_args(tmp_path, "--no-quiet-hours", "--queue-only")) == 0
    store = open_store(tmp_path / "queue.sqlite3")
    # A lease long enough to outlast a loaded machine; recover() below looks far past it.
    claimed = store.claim("dead-worker", limit=3, lease_seconds=60).deliveries
    for d in claimed:
        store.mark_sending(d.id, "dead-worker")
    store.recover(now=1e12)
    store.close()
    return f"sqlite:{tmp_path / 'queue.sqlite3'}"


def test_list_requeue_and_mark_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = leave_unknown(tmp_path)
    capsys.readouterr()
    assert main(["unknown", "list", "--store", url, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(r["message_id"].startswith("<") and r["reason"] for r in rows)
    first, *_rest = rows
    assert main(["unknown", "requeue", "--store", url, "--recipient", first["recipient"]]) == 0
    assert "1 unknown message(s) requeued" in capsys.readouterr().out
    assert main(["unknown", "mark-sent", "--store", url, "--campaign", first["campaign"]]) == 0
    assert "2 unknown message(s) marked sent" in capsys.readouterr().out
    assert main(["worker", "--store", url, "--transport", f"outbox:{tmp_path / 'outbox'}", "--until-idle"]) == 0
    store = open_store(tmp_path / "queue.sqlite3")
    assert store.counts() == {"sent": 30}
    # The two confirmed by the operator were not sent again: 28 files, not 30.
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 28
    assert store.get(first["campaign"], first["recipient"]).attempts >= 1  # type: ignore[union-attr]
    assert main(["unknown", "list", "--store", url]) == 0
    assert "0 unknown message(s)" in capsys.readouterr().out
