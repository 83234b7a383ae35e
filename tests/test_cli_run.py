"""``mailer run``, ``mailer worker`` and ``mailer status`` end to end with the
embedded default (SQLite + outbox directory)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mailer.cli import main
from mailer.store import open_store
from tests.conftest import FIXTURES


def run_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "run", str(FIXTURES / "campaign.toml"),
        "--customers", str(FIXTURES / "customers.csv"),
        "--feed", str(FIXTURES / "products.xml"),
        "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}",
        "--transport", f"outbox:{tmp_path / 'outbox'}",
        "--state-dir", str(tmp_path / "state"),
        *extra,
    ]


def test_run_delivers_the_sample_campaign_to_the_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args(tmp_path, "--no-quiet-hours")) == 0
    out = capsys.readouterr().out
    assert "queued 30 message(s)" in out and "delivered: 30 sent" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 30


def test_run_twice_queues_nothing_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(run_args(tmp_path, "--no-quiet-hours"))
    main(run_args(tmp_path, "--no-quiet-hours"))
    assert "queued 0 message(s)" in capsys.readouterr().out
    assert open_store(tmp_path / "queue.sqlite3").counts() == {"sent": 30}


def test_queue_only_then_worker_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args(tmp_path, "--no-quiet-hours", "--queue-only")) == 0
    store = f"sqlite:{tmp_path / 'queue.sqlite3'}"
    assert main(["status", "--store", store, "--json"]) == 0
    capsys.readouterr()
    assert main(["worker", "--store", store, "--transport", f"outbox:{tmp_path / 'outbox'}", "--once",
                 "--concurrency", "5"]) == 0
    assert "worker: 10 sent" in capsys.readouterr().out
    main(["worker", "--store", store, "--transport", f"outbox:{tmp_path / 'outbox'}", "--until-idle"])
    capsys.readouterr()
    main(["status", "--store", store, "--json"])
    status = json.loads(capsys.readouterr().out)
    assert status["states"] == {"sent": 30} and status["replies"] == {"2xx": 30}


def test_window_plans_in_local_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(run_args(tmp_path, "--window", "09:00-11:00", "--day", "2030-06-03", "--queue-only")) == 0
    rows = open_store(tmp_path / "queue.sqlite3").deliveries()
    assert rows and all(r.state == "queued" for r in rows)


def test_status_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(run_args(tmp_path, "--at", "2030-01-01T12:00Z", "--queue-only"))
    capsys.readouterr()
    assert main(["status", "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}"]) == 0
    out = capsys.readouterr().out
    assert "queued" in out and "next due 2030-01-01T12:00:00+00:00" in out


@pytest.mark.parametrize("bad", [["--at", "tomorrow"], ["--at", "2030-01-01T12:00"], ["--window", "nine-ten"]])
def test_bad_times_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    assert main(run_args(tmp_path, *bad, "--queue-only")) == 2
    assert "mailer: error:" in capsys.readouterr().err


def test_best_hour_plans_each_customer_at_the_send_time_models_hour(tmp_path: Path) -> None:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from mailer.cli.run import best_hour_rule
    from mailer.inputs.customers import iter_customers

    day = date(2030, 6, 4)
    history = FIXTURES / "engagements.csv"
    assert main(run_args(tmp_path, "--best-hour", str(history), "--day", day.isoformat(),
                         "--no-quiet-hours", "--queue-only")) == 0
    hours = best_hour_rule(history, day).hours  # type: ignore[union-attr]
    zones = {c.id: c.timezone for c in iter_customers(FIXTURES / "customers.csv")}
    rows = open_store(tmp_path / "queue.sqlite3").deliveries()
    profiled = [r for r in rows if r.recipient in hours]
    assert len(profiled) >= 10
    assert len(set(hours.values())) > 1  # not one hour for everybody
    for row in profiled:
        local = datetime.fromtimestamp(row.not_before, ZoneInfo(zones[row.recipient]))
        assert (local.date(), local.hour) == (day, hours[row.recipient])


def delivery_campaign(tmp_path: Path, table: str) -> Path:
    text = (FIXTURES / "campaign.toml").read_text(encoding="utf-8")
    text = re.sub(r"\n\[delivery\]\n.*?(?=\n\[)", "", text, flags=re.S)  # the sample's own table
    path = tmp_path / "campaign.toml"
    path.write_text(text.replace('rates = "rates.csv"', f'rates = "{FIXTURES / "rates.csv"}"')
                    + f"\n[delivery]\n{table}\n", encoding="utf-8")  # fmt: skip
    return path


def test_campaign_delivery_table_plans_the_send(tmp_path: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    campaign = delivery_campaign(tmp_path, 'class = "lifecycle"\nwindow = "09:00-11:00"\nday = 2030-06-03\n'
                                 'on_cap = "drop"\nexpiry_hours = 6\npriority = 5\n'
                                 'return_path = "bounces@example-shop.test"')  # fmt: skip
    args = run_args(tmp_path, "--queue-only")
    args[1] = str(campaign)
    assert main(args) == 0
    rows = open_store(tmp_path / "queue.sqlite3").deliveries()
    assert len(rows) == 30
    zones = {line.split(",")[0]: line.split(",")[5] for line in (FIXTURES / "customers.csv").read_text().splitlines()[1:]}
    for row in rows:
        assert (row.message_class, row.on_cap, row.priority) == ("lifecycle", "drop", 5)
        assert row.expires_at - row.not_before == 6 * 3600
        local = datetime.fromtimestamp(row.not_before, ZoneInfo(zones[row.recipient]))
        assert local.date().isoformat() == "2030-06-03" and 9 <= local.hour < 11, (row.recipient, local)
    from mailer.sending.delivery import CampaignRenderer

    store = open_store(tmp_path / "queue.sqlite3")
    sender = CampaignRenderer(store)(rows[0]).sender  # the return path, with the message's VERP token
    assert sender.startswith("bounces+") and sender.endswith("@example-shop.test")


def test_command_line_overrides_the_delivery_table(tmp_path: Path) -> None:
    campaign = delivery_campaign(tmp_path, 'class = "lifecycle"\nat = 2030-01-01T12:00:00Z\nquiet_hours = false')
    args = run_args(tmp_path, "--queue-only", "--class", "promotional", "--at", "2031-01-01T12:00Z")
    args[1] = str(campaign)
    assert main(args) == 0
    rows = open_store(tmp_path / "queue.sqlite3").deliveries()
    assert {r.message_class for r in rows} == {"promotional"}
    assert {r.not_before for r in rows} == {datetime_utc(2031, 1, 1, 12)}


def datetime_utc(*parts: int) -> float:
    from datetime import datetime, timezone

    return datetime(*parts, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('class = "newsletter"', "delivery.class: unknown message class 'newsletter'"),
        ('window = "11:00-09:00"', "delivery.window: must start before it ends"),
        ('at = 2030-01-01T12:00:00Z\nwindow = "09:00-10:00"', "delivery: give one of at, window and best_hour"),
        ('quiet = "22:00-07:00"', "delivery: unknown key(s) ['quiet']"),
        ('return_path = "x@y.test\\r\\nBcc: z@w.test"', "delivery.return_path: a bare address"),
    ],
)
def test_bad_delivery_table_names_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    args = run_args(tmp_path, "--queue-only")
    args[1] = str(delivery_campaign(tmp_path, table))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "campaign.toml: " in err and message in err, err


def test_a_closed_smtp_port_is_reported_with_its_reason_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = run_args(tmp_path, "--no-quiet-hours")
    args[args.index("--transport") + 1] = f"smtp://127.0.0.1:{port}?timeout=2"
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "30 deferred" in captured.out
    assert f"connection refused to 127.0.0.1:{port}" in captured.err
    assert main(["queue", "list", "--store", f"sqlite:{tmp_path / 'queue.sqlite3'}", "--state", "deferred"]) == 0
    listed = capsys.readouterr().out
    assert listed.count(f"connection refused to 127.0.0.1:{port}") == 30
