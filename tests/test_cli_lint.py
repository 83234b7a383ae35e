"""mailer lint: the preview's checks from the command line, with exit codes for CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.cli import main
from tests.conftest import copy_project


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = copy_project(tmp_path / "shop")
    monkeypatch.chdir(folder)
    for name in ("MAILER_PROJECT", "MAILER_CANIEMAIL", "MAILER_STORE", "MAILER_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    return folder


def test_the_shipped_project_lints_clean(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lint", "--customers", "fixtures/customers.csv", "--feed", "fixtures/products.xml",
                 "fixtures/campaign.toml", "welcome"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "linted 2 campaign(s) and layout(s): 0 error(s)" in out


def test_an_unknown_mjml_tag_fails_with_its_file_and_line(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = project_dir / "layouts/welcome.mjml"
    lines = layout.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "</mj-body>" in line)
    lines.insert(at, "<mj-section><mj-column><mj-txt>Hello</mj-txt></mj-column></mj-section>\n")
    layout.write_text("".join(lines), encoding="utf-8")
    code = main(["lint", "welcome"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"layouts/welcome.mjml:{at + 1}: error: [mjml-unknown-tag]" in out


def test_a_broken_template_fails_with_its_line(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = project_dir / "layouts/welcome.mjml"
    layout.write_text(layout.read_text(encoding="utf-8").replace("</mj-body>", "{% if %}</mj-body>"), encoding="utf-8")
    assert main(["lint", "welcome"]) == 1
    assert "error: [layout]" in capsys.readouterr().out


def test_json_gives_one_object_per_finding(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = project_dir / "layouts/welcome.mjml"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "</mj-body>", '<mj-section><mj-column><mj-button href="http://shop.test/sale">Sale</mj-button>'
                      "</mj-column></mj-section></mj-body>"), encoding="utf-8")  # fmt: skip
    code = main(["lint", "welcome", "--format", "json"])
    captured = capsys.readouterr()
    findings = [json.loads(line) for line in captured.out.splitlines()]
    assert any(f["rule"] == "https-links" for f in findings)
    assert all({"rule", "message", "severity", "targets", "locales"} <= set(f) for f in findings)
    assert "linted 1" in captured.err
    assert code in (0, 1)
    assert main(["lint", "welcome", "--strict"]) == 1


def test_an_unknown_target_is_bad_input(project_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "nope"]) == 2
    assert "no campaign 'nope'" in capsys.readouterr().err
