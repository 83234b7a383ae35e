"""mailer.cli.sto: ``mailer sto profile`` and ``mailer sto estimate``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mailer.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "sto_history.csv"


def table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def customers() -> set[str]:
    return {row["customer_id"] for row in table(FIXTURE)}


def test_profile(tmp_path: Path) -> None:
    out = tmp_path / "profiles.csv"
    assert main(["sto", "profile", "--history", str(FIXTURE), "--out", str(out), "--default-timezone", "Europe/London"]) == 0
    rows = table(out)
    assert list(rows[0]) == ["customer_id"] + [f"h{h:02d}" for h in range(24)]
    assert {r["customer_id"] for r in rows} == customers()
    sums = [sum(float(r[f"h{h:02d}"]) for h in range(24)) for r in rows]
    assert np.allclose(sums, 1.0, atol=1e-9)


def test_estimate_with_window_capacity_and_exploration(tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    code = main(
        [
            "sto", "estimate", "--history", str(FIXTURE), "--date", "2024-03-31", "--out", str(out),
            "--default-timezone", "Europe/London", "--window", "07:00-22:00", "--quiet-hours", "21:00-08:00",
            "--capacity-per-hour", "2", "--exploration", "0.2", "--seed", "4",
        ]
    )
    assert code == 0
    rows = table(out)
    assert {r["customer_id"] for r in rows} == customers()
    assert all(r["send_at"].endswith("Z") for r in rows)
    assert all("08:00" <= r["local_time"] < "21:00" for r in rows)
    hours = [r["send_at"][:13] for r in rows]
    assert max(hours.count(h) for h in set(hours)) <= 2
    assert {"explored", "propensity", "source", "reason", "timezone"} <= set(rows[0])


def test_bad_rows_are_skipped_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "history.csv"
    history.write_text(
        "customer_id,timezone,sent_at,opened_at,clicked_at\n"
        "a,Europe/Paris,2024-05-01T09:00:00Z,2024-05-01T19:00:00Z,\n"
        "b,Europe/Paris,2024-05-01 09:00,,\n"
    )
    errors = tmp_path / "errors.json"
    out = tmp_path / "profiles.csv"
    assert main(["sto", "profile", "--history", str(history), "--out", str(out), "--errors", str(errors)]) == 0
    assert [r["customer_id"] for r in table(out)] == ["a"]
    report = json.loads(errors.read_text())
    assert report["count"] == 1 and report["problems"][0]["line"] == 3 and report["problems"][0]["field"] == "sent_at"
    assert "skipped 1 bad row" in capsys.readouterr().err


def test_bad_options_exit_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.csv"
    args = ["sto", "estimate", "--history", str(FIXTURE), "--out", str(out), "--default-timezone", "Europe/London"]
    assert main(args + ["--date", "2024-02-30"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(args + ["--date", "2024-03-31", "--window", "late"]) == 2
    assert "window" in capsys.readouterr().err
    assert main(["sto", "profile", "--history", str(FIXTURE), "--out", str(out), "--default-timezone", "Moon/Base"]) == 2


def test_runs_as_a_program(tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "sto", "estimate", "--history", str(FIXTURE), "--date", "2024-10-27",
         "--out", str(out), "--default-timezone", "Europe/London"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "planned" in done.stderr
    assert {r["customer_id"] for r in table(out)} == customers()
