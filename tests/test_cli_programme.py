"""``mailer programme``: a daily scheduled run moves customers through a lifecycle programme durably."""

from __future__ import annotations

from datetime import date, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.cli.programme import read_ids
from mailer.inputs.history import iter_purchases
from mailer.store import open_store
from tests.conftest import FIXTURES

GENERATED = FIXTURES / "generated"
DAY = date(2026, 11, 23)


def programme(tmp_path: Path, name: str, day: date, *extra: str) -> int:
    return main([
        "programme", "run", name, "--customers", str(GENERATED / "customers.csv"),
        "--purchases", str(GENERATED / "purchases.csv"), "--feed", str(GENERATED / "products.jsonl"),
        "--campaigns", str(FIXTURES / "programmes"), "--day", day.isoformat(),
        "--state", str(tmp_path / "programmes.sqlite3"), "--state-dir", str(tmp_path / "state"),
        "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--transport", f"outbox:{tmp_path / 'outbox'}",
        *extra,
    ])  # fmt: skip


def queued(tmp_path: Path, campaign: str) -> set[str]:
    return {d.recipient for d in open_store(tmp_path / "queue.sqlite3").deliveries(campaign)}


def test_welcome_series_over_ten_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buyers = {p.customer_id for p in iter_purchases(GENERATED / "purchases.csv")}
    assert programme(tmp_path, "welcome", DAY, "--queue-only") == 0
    first = queued(tmp_path, "welcome-1-2026-11-23")
    assert len(first) == 72 and not first & buyers  # content first: only customers who have not bought
    assert programme(tmp_path, "welcome", DAY, "--queue-only") == 0  # the scheduler ran twice
    assert "queued 0 as campaign 'welcome-1-2026-11-23'" in capsys.readouterr().out
    assert programme(tmp_path, "welcome", DAY + timedelta(days=1), "--queue-only") == 0
    assert "0 email(s) due" in capsys.readouterr().out
    for step, offset in (("welcome-2", 3), ("welcome-3", 7)):
        day = DAY + timedelta(days=offset)
        assert programme(tmp_path, "welcome", day, "--queue-only") == 0
        assert queued(tmp_path, f"{step}-{day.isoformat()}") == first
    programme(tmp_path, "welcome", DAY + timedelta(days=10), "--queue-only")
    capsys.readouterr()
    assert main(["programme", "status", "welcome", "--state", str(tmp_path / "programmes.sqlite3")]) == 0
    status = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert status == {"active": "0", "converted": "0", "graduated": "72", "non_target": "0"}
    rows = open_store(tmp_path / "queue.sqlite3").deliveries()
    assert {r.message_class for r in rows} == {"lifecycle"} and len(rows) == 3 * 72


def test_lapsed_programme_sends_personal_products_and_delivers(tmp_path: Path) -> None:
    entrants = tmp_path / "entrants.csv"
    entrants.write_text("customer_id,note\nC0000001,x\nC0000002,y\n", encoding="utf-8")
    assert programme(tmp_path, "lapsed", DAY, "--entrants", str(entrants), "--queue-only", "--no-quiet-hours") == 0
    rows = open_store(tmp_path / "queue.sqlite3").deliveries("reactivation-1-2026-11-23")
    assert {r.recipient for r in rows} == {"C0000001", "C0000002"}
    assert all(len(r.payload["slots"]["picks"]) == 3 for r in rows)
    assert main(["worker", "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--transport",
                 f"outbox:{tmp_path / 'outbox'}", "--until-idle"]) == 0  # fmt: skip
    sent = list((tmp_path / "outbox").glob("*.eml"))
    assert len(sent) == 2
    for path in sent:
        text = BytesParser(policy=policy.default).parsebytes(path.read_bytes()).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        recipient = next(r for r in rows if r.address in path.read_text(errors="replace"))
        assert all(f"/p/{product}" in text for product in recipient.payload["slots"]["picks"])


def test_lapsed_entrants_come_from_rfm(tmp_path: Path) -> None:
    assert programme(tmp_path, "lapsed", DAY, "--queue-only") == 0
    assert len(queued(tmp_path, "reactivation-1-2026-11-23")) == 12


def test_a_missing_step_campaign_stops_before_anyone_moves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "welcome-1.toml").write_bytes((FIXTURES / "programmes" / "welcome-1.toml").read_bytes())
    code = main(["programme", "run", "welcome", "--customers", str(GENERATED / "customers.csv"),
                 "--campaigns", str(campaigns), "--state", str(tmp_path / "p.sqlite3"), "--queue-only",
                 "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}"])  # fmt: skip
    assert code == 2 and "welcome-2.toml: no campaign for step 'welcome-2'" in capsys.readouterr().err
    assert not (tmp_path / "p.sqlite3").exists()


def test_read_ids_takes_lines_or_a_csv_column(tmp_path: Path) -> None:
    lines = tmp_path / "ids.txt"
    lines.write_text("# today's sign-ups\nC1\n\nC2\n", encoding="utf-8")
    assert read_ids(lines) == ["C1", "C2"]
    table = tmp_path / "ids.csv"
    table.write_text("email,id\na@x.test,C3\n", encoding="utf-8")
    assert read_ids(table) == ["C3"]
    table.write_text("email,name\na@x.test,A\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"ids.csv: line 1: no 'id' or 'customer_id' column"):
        read_ids(table)


def test_a_step_that_would_not_send_stops_the_day_before_anyone_moves_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    campaigns = tmp_path / "programmes"
    shutil.copytree(FIXTURES / "programmes", campaigns)
    for path in campaigns.glob("*.toml"):  # the steps' rates files, beside them as in fixtures/
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('rates = "../rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"'), encoding="utf-8")
    third = campaigns / "welcome-3.toml"
    third.write_text(third.read_text(encoding="utf-8").replace('en = "Make it last: our care guides"',
                                                               'en = "Make it last, {{ recipient.nick.x }}"'),
                     encoding="utf-8")  # fmt: skip
    args = ["programme", "run", "welcome", "--customers", str(GENERATED / "customers.csv"),
            "--purchases", str(GENERATED / "purchases.csv"), "--feed", str(GENERATED / "products.jsonl"),
            "--campaigns", str(campaigns), "--day", DAY.isoformat(),
            "--state", str(tmp_path / "programmes.sqlite3"), "--state-dir", str(tmp_path / "state"),
            "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--queue-only"]  # fmt: skip
    assert main(args) == 2
    assert "nobody moved on today" in capsys.readouterr().err
    assert not (tmp_path / "programmes.sqlite3").exists()  # no position was written
    assert open_store(tmp_path / "queue.sqlite3").counts() == {}


def test_the_day_given_drives_the_planned_sends(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    assert programme(tmp_path, "welcome", DAY, "--queue-only", "--no-quiet-hours") == 0
    rows = open_store(tmp_path / "queue.sqlite3").deliveries("welcome-1-2026-11-23")
    assert rows and {datetime.fromtimestamp(r.not_before, timezone.utc).date() for r in rows} == {DAY}
    # Queued now for a day gone by: the messages do not expire before they could be sent.
    assert all(r.expires_at > datetime.now(timezone.utc).timestamp() for r in rows)


def test_a_promotion_leaves_customers_in_the_welcome_series_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert programme(tmp_path, "welcome", DAY, "--queue-only") == 0
    capsys.readouterr()
    assert main(["programme", "status", "welcome", "--state", str(tmp_path / "programmes.sqlite3"), "--list"]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    in_welcome = {customer for customer, status, _ in listed if status == "active"}
    assert len(in_welcome) == 72 and {step for *_, step in listed} == {"welcome-2"}

    def newsletter(*extra: str) -> set[str]:
        args = ["run", str(FIXTURES / "campaign.toml"), "--customers", str(GENERATED / "customers.csv"),
                "--feed", str(GENERATED / "products.jsonl"), "--state-dir", str(tmp_path),
                "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--no-quiet-hours", "--queue-only", *extra]  # fmt: skip
        assert main(args) == 0
        return queued(tmp_path, "autumn-newsletter-2026")

    sent = newsletter()
    assert sent and not sent & in_welcome  # held back until they graduate
    assert "in the welcome programme (active)" in capsys.readouterr().out
    # A transactional message is not held back: the same campaign now reaches them too.
    assert newsletter("--class", "transactional") - sent == in_welcome


def test_simulated_days_deliver_each_step_on_its_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Run day by day with delivery: the day drives the sends too, so the
    lifecycle cap counts each step on its own day, not on the real clock."""
    for offset in (0, 3, 7):
        assert programme(tmp_path, "welcome", DAY + timedelta(days=offset), "--no-quiet-hours") == 0
    rows = open_store(tmp_path / "queue.sqlite3").deliveries()
    by_campaign: dict[str, set[str]] = {}
    for row in rows:
        by_campaign.setdefault(row.campaign.rsplit("-", 3)[0], set()).add(row.state)
    assert by_campaign == {"welcome-1": {"sent"}, "welcome-2": {"sent"}, "welcome-3": {"sent"}}
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3 * 72
