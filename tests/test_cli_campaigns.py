"""``mailer campaign list|show|pause|resume|cancel``, and the per-campaign
part of ``mailer status``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import NewDelivery, Outcome, Store, open_store


def sample(tmp_path: Path) -> tuple[str, Store]:
    """autumn (spec stored): C0–C2 failed with two reasons, C3–C5 queued;
    winter: W0 sent, W1 queued."""
    store = open_store(tmp_path / "q.sqlite3")
    store.put_campaign("autumn", "{}", now=0.0)
    store.enqueue([NewDelivery("autumn", f"C{i}", f"c{i}@shop.test", not_before=0.0, expires_at=4e9) for i in range(3)]
                  + [NewDelivery("winter", "W0", "w0@shop.test", not_before=0.0, expires_at=4e9)], now=0)  # fmt: skip
    for d in store.claim("w", now=1, limit=10).deliveries:
        store.mark_sending(d.id, "w", now=1)
        reason = "550 5.6.0 bad content" if d.recipient in ("C0", "C1") else "554 5.3.4 too big"
        outcome = Outcome("sent", code=250, reason="accepted") if d.campaign == "winter" else Outcome("failed", reason=reason)
        store.finish(d.id, "w", outcome, now=1)
    store.enqueue([NewDelivery("autumn", f"C{i}", f"c{i}@shop.test", not_before=0.0, expires_at=4e9) for i in range(3, 6)]
                  + [NewDelivery("winter", "W1", "w1@shop.test", not_before=0.0, expires_at=4e9)], now=2)  # fmt: skip
    return f"sqlite:{tmp_path / 'q.sqlite3'}", store


def out(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> str:
    capsys.readouterr()
    assert main(list(argv)) == code
    return capsys.readouterr().out


def test_list_shows_each_campaign_with_status_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    lines = out(capsys, "campaign", "list", "--store", url).splitlines()
    assert lines == [
        "campaign autumn (active, stored 1970-01-01T00:00:00+00:00): 6 message(s): 3 queued, 3 failed",
        "campaign winter (active): 2 message(s): 1 queued, 1 sent",
        "2 campaign(s)",
    ]
    rows = [json.loads(line) for line in out(capsys, "campaign", "list", "--store", url, "--json").splitlines()]
    assert [(r["campaign"], r["status"], r["states"], r["total"]) for r in rows] == [
        ("autumn", "active", {"queued": 3, "failed": 3}, 6), ("winter", "active", {"queued": 1, "sent": 1}, 2)]  # fmt: skip


def test_show_groups_the_reasons_with_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    text = out(capsys, "campaign", "show", "autumn", "--store", url)
    assert "queued           3\nfailed           3\n" in text
    assert text.endswith("reasons, most common first:\n"
                         "        2  failed     550 5.6.0 bad content\n"
                         "        1  failed     554 5.3.4 too big\n")  # fmt: skip
    (shown,) = [json.loads(line) for line in out(capsys, "campaign", "show", "autumn", "--store", url, "--json").splitlines()]
    assert shown["reasons"] == [{"state": "failed", "reason": "550 5.6.0 bad content", "count": 2},
                                {"state": "failed", "reason": "554 5.3.4 too big", "count": 1}]  # fmt: skip


def test_show_of_an_unknown_campaign_names_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    assert main(["campaign", "show", "autunm", "--store", url]) == 2
    assert capsys.readouterr().err == f"mailer: error: no campaign 'autunm' in the queue {url}; known: autumn, winter\n"


def test_pause_holds_a_campaign_until_resumed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = sample(tmp_path)
    assert out(capsys, "campaign", "pause", "autumn", "--store", url).startswith(
        "campaign 'autumn' paused: 3 waiting message(s) held")
    assert [d.campaign for d in store.claim("w", now=3, limit=10).deliveries] == ["winter"]
    assert "campaign autumn (paused, " in out(capsys, "campaign", "list", "--store", url)
    assert out(capsys, "campaign", "resume", "autumn", "--store", url).startswith(
        "campaign 'autumn' resumed: 3 message(s) back in the queue")
    assert len(store.claim("w", now=4, limit=10).deliveries) == 3


def test_cancel_cannot_be_undone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = sample(tmp_path)
    assert out(capsys, "campaign", "cancel", "autumn", "--store", url).startswith(
        "campaign 'autumn' cancelled: 3 unsent message(s) will not be sent")
    assert store.counts("autumn") == {"cancelled": 3, "failed": 3}
    assert main(["campaign", "resume", "autumn", "--store", url]) == 2
    assert "campaign 'autumn' was cancelled; it cannot be resumed" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_holding_an_unknown_campaign_exits_2(action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, store = sample(tmp_path)
    assert main(["campaign", action, "autunm", "--store", url]) == 2
    assert store.campaigns("autunm") == []


def test_status_shows_each_campaign_with_its_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = sample(tmp_path)
    text = out(capsys, "status", "--store", url)
    assert ("campaign autumn (active, stored 1970-01-01T00:00:00+00:00): 6 message(s): 3 queued, 3 failed\n"
            "        2  failed     550 5.6.0 bad content\n"
            "        1  failed     554 5.3.4 too big\n"
            "campaign winter (active): 2 message(s): 1 queued, 1 sent\n") in text  # fmt: skip
    (status,) = [json.loads(line) for line in out(capsys, "status", "--store", url, "--json", "--reasons", "1").splitlines()]
    assert status["states"] == {"failed": 3, "queued": 4, "sent": 1}
    autumn = status["campaigns"][0]
    assert (autumn["campaign"], autumn["states"], autumn["reasons"]) == (
        "autumn", {"failed": 3, "queued": 3}, [{"state": "failed", "reason": "550 5.6.0 bad content", "count": 2}])
    (only,) = json.loads(out(capsys, "status", "--store", url, "--json", "--campaign", "winter"))["campaigns"]
    assert only["campaign"] == "winter"
