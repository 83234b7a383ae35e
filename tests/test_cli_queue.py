"""``mailer queue list`` and ``mailer queue retry``: an operator sees why
messages are where they are, and puts failed ones back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import NewDelivery, Outcome, Store, open_store


def sample(tmp_path: Path) -> tuple[str, Store]:
    """Two campaigns: autumn C0 and C1 failed (550), C2 deferred (451), C3
    capped, C4 queued; winter W0 failed."""
    store = open_store(tmp_path / "q.sqlite3")
    store.enqueue([NewDelivery("autumn", f"C{i}", f"c{i}@shop.test", not_before=0.0, expires_at=4e9) for i in range(3)]
                  + [NewDelivery("winter", "W0", "w0@shop.test", not_before=0.0, expires_at=4e9)], now=0)  # fmt: skip
    for d in store.claim("w", now=1, limit=10).deliveries:
        store.mark_sending(d.id, "w", now=1)
        if d.recipient == "C2":
            outcome = Outcome("deferred", not_before=2e9, code=451, enhanced="4.3.0", text="4.3.0 busy", reason="451 4.3.0 busy")
        else:
            outcome = Outcome("failed", code=550, enhanced="5.6.0", text="5.6.0 bad", reason="550 5.6.0 bad")
        store.finish(d.id, "w", outcome, now=1)
    store.set_volume("C3", "only-important")
    store.enqueue([NewDelivery("autumn", "C3", "c3@shop.test", not_before=0.0, expires_at=4e9, on_cap="drop"),
                   NewDelivery("autumn", "C4", "c4@shop.test", not_before=3e9, expires_at=4e9)], now=0)  # fmt: skip
    store.claim("w", now=2)  # sets C3 aside
    return f"sqlite:{tmp_path / 'q.sqlite3'}", store


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["queue", "list", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_list_failed_gives_each_row_its_reason_attempts_and_reply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    rows = listed(capsys, "--store", url, "--state", "failed", "--campaign", "autumn")
    assert [(r["recipient"], r["address"], r["state"], r["attempts"], r["reason"]) for r in rows] == [
        ("C0", "c0@shop.test", "failed", 1, "550 5.6.0 bad"), ("C1", "c1@shop.test", "failed", 1, "550 5.6.0 bad")]
    assert (rows[0]["reply_code"], rows[0]["reply_enhanced"], rows[0]["next_attempt"]) == (550, "5.6.0", None)


def test_list_deferred_gives_the_next_attempt_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    (row,) = listed(capsys, "--store", url, "--state", "deferred")
    assert (row["recipient"], row["next_attempt"], row["reason"]) == ("C2", "2033-05-18T03:33:20+00:00", "451 4.3.0 busy")


def test_list_capped_shows_what_a_cap_set_aside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    (row,) = listed(capsys, "--store", url, "--state", "capped")
    assert (row["recipient"], row["state"]) == ("C3", "capped")
    assert row["reason"] == "capped: the customer asked for only important mail"


def test_list_text_is_one_tab_separated_line_per_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    capsys.readouterr()
    assert main(["queue", "list", "--store", url, "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:4] == ["campaign", "recipient", "address", "state"]
    assert lines[1].split("\t") == ["autumn", "C4", "c4@shop.test", "queued", "0", "2065-01-24T05:20:00+00:00", "-"]
    assert lines[2].split("\t")[3] == "deferred" and lines[-1] == "2 message(s) (--limit reached)"


def test_list_everything_streams_every_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    rows = listed(capsys, "--store", url)
    assert [r["state"] for r in rows] == ["queued", "deferred", "capped", "failed", "failed", "failed"]


def test_list_refuses_a_state_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    assert main(["queue", "list", "--store", url, "--state", "stuck"]) == 2
    assert "invalid choice: 'stuck'" in capsys.readouterr().err


def queued_sample(tmp_path: Path) -> tuple[str, Store]:
    """The sample campaign queued for real, two of its rows failed with a 550."""
    from tests.test_cli_run import run_args

    assert main(run_args(tmp_path, "--no-quiet-hours", "--queue-only")) == 0
    store = open_store(tmp_path / "queue.sqlite3")
    for d in store.claim("w", limit=2).deliveries:
        store.mark_sending(d.id, "w")
        store.finish(d.id, "w", Outcome("failed", code=550, enhanced="5.6.0", text="5.6.0 bad", reason="550 5.6.0 bad"))
    return f"sqlite:{tmp_path / 'queue.sqlite3'}", store


def test_retry_puts_failed_messages_back_with_their_attempts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = queued_sample(tmp_path)
    failed = [row.recipient for row in store.iter_deliveries(state="failed")]
    assert len(failed) == 2
    capsys.readouterr()
    assert main(["queue", "retry", "--store", url, "--campaign", "autumn-newsletter-2026", "--recipient", failed[0]]) == 0
    assert capsys.readouterr().out.startswith("1 failed message(s) of campaign 'autumn-newsletter-2026' back in the queue")
    row = store.get("autumn-newsletter-2026", failed[0])
    assert row is not None and (row.state, row.attempts) == ("queued", 1)
    assert main(["queue", "retry", "--store", url]) == 0
    assert capsys.readouterr().out.startswith("1 failed message(s) back in the queue")
    assert listed(capsys, "--store", url, "--state", "failed") == []


def test_retry_refuses_rows_that_would_fail_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = sample(tmp_path)  # campaigns the store cannot render: no snapshot was kept
    assert main(["queue", "retry", "--store", url, "--campaign", "autumn"]) == 2
    err = capsys.readouterr().err
    assert "nothing retried" in err and "does not say how to render it" in err
    assert {row.recipient for row in store.iter_deliveries(state="failed", campaign="autumn")} == {"C0", "C1"}


def test_retry_of_a_campaign_the_queue_does_not_know_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    assert main(["queue", "retry", "--store", url, "--campaign", "autunm"]) == 2
    assert "no campaign 'autunm' in the queue" in capsys.readouterr().err
