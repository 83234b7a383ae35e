"""``mailer render``: the sample campaign to .eml files, with a report."""

from __future__ import annotations

import json
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailer.cli import main

from .conftest import FIXTURES, ROOT


def render_args(out: Path, customers: Path = FIXTURES / "customers.csv") -> list[str]:
    return [
        "render",
        "--layout", "newsletter",
        "--feed", str(FIXTURES / "products.xml"),
        "--customers", str(customers),
        "--campaign", str(FIXTURES / "campaign.toml"),
        "--out", str(out),
        "--state-dir", str(out.parent / "state"),
    ]


def test_sample_campaign_renders_one_eml_per_valid_customer(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mailer", *render_args(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert str(out.resolve()) in result.stdout
    files = sorted(out.glob("*.eml"))
    assert len(files) == 30
    for path in files:
        message = BytesParser(policy=policy.strict).parsebytes(path.read_bytes())
        assert message.get_content_type() == "multipart/alternative"
    report = json.loads((out / "report.json").read_text())
    assert report["count"] == 4
    reasons = " ".join(p["message"] for p in report["problems"])
    assert "TBC" in reasons and "GPB" in reasons and "Europe/Londres" in reasons
    assert all("line" in p for p in report["problems"])


def test_exit_code_is_nonzero_only_when_nothing_rendered(tmp_path: Path) -> None:
    bad = tmp_path / "customers.csv"
    bad.write_text("id,email,name,locale,currency,timezone\nc1,not-an-email,Ann,en_GB,GBP,Europe/London\n")
    assert main(render_args(tmp_path / "out", bad)) == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert any("not-an-email" in p["message"] for p in report["problems"])


def test_unknown_layout_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = render_args(tmp_path / "out")
    args[args.index("newsletter")] = "nope"
    assert main(args) == 2
    assert "no layout 'nope'" in capsys.readouterr().err


def test_every_shipped_layout_renders_without_a_campaign_file(tmp_path: Path) -> None:
    for layout in ("newsletter", "welcome", "winback"):
        args = render_args(tmp_path / layout)
        campaign = args.index("--campaign")
        del args[campaign : campaign + 2]
        args[args.index("newsletter")] = layout
        args += ["--rates", str(FIXTURES / "rates.csv")]
        assert main(args) == 0, layout
        assert len(list((tmp_path / layout).glob("*.eml"))) == 30


def test_out_dash_writes_one_mbox_stream_and_the_summary_to_stderr(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    import mailbox

    args = ["render", "--campaign", str(FIXTURES / "campaign.toml"), "--customers", str(FIXTURES / "customers.csv"),
            "--feed", str(FIXTURES / "products.xml"), "--out", "-", "--state-dir", str(tmp_path / "state")]  # fmt: skip
    assert main(args) == 0
    captured = capsysbinary.readouterr()
    (tmp_path / "out.mbox").write_bytes(captured.out)
    box = mailbox.mbox(tmp_path / "out.mbox")
    assert len(box) == 30 and all(message["Message-ID"] for message in box)
    assert b"rendered 30 message(s)" in captured.err
    assert not list(tmp_path.glob("*.eml"))


def test_html_writes_each_html_part_as_a_plain_file(tmp_path: Path) -> None:
    eml, html = tmp_path / "eml", tmp_path / "html"
    assert main(render_args(eml)) == 0
    arguments = render_args(html)
    arguments[arguments.index("--out")] = "--html"
    assert main(arguments) == 0
    pages = sorted(html.glob("*.html"))
    assert len(pages) == 30 and not list(html.glob("*.eml"))
    for page, message in zip(pages, sorted(eml.glob("*.eml"))):
        assert page.stem == message.stem
        parsed = BytesParser(policy=policy.default).parsebytes(message.read_bytes())
        part = parsed.get_body(("html",)).get_content()
        assert page.read_bytes().decode("utf-8").splitlines() == part.splitlines()
    assert (html / "selection.jsonl").is_file() and (html / "report.json").is_file()


def test_out_and_html_cannot_both_be_given(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([*render_args(tmp_path / "a"), "--html", str(tmp_path / "b")]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
