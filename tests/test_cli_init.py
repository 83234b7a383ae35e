"""``mailer init``: a retailer's project, scaffolded, that renders as it is."""

from __future__ import annotations

import dataclasses
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from mailer.campaign import load_campaign
from mailer.content.catalogs import Catalogs
from mailer.cli import main
from mailer.cli.init import config_text
from mailer.content.compose import Composer
from mailer.inputs.customers import Customer
from mailer.inputs.feeds import iter_products
from mailer.content.layouts import LayoutLibrary
from mailer.project import CONFIG_NAME, SETTINGS, SHIPPED_LAYOUTS, SHIPPED_LOCALES, Project, resolve
from mailer.content.render import make_environment
from mailer.tokens import Signer

from .conftest import FIXTURES

NO_ENV: dict[str, str] = {}


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.name != "__init__.py"}  # fmt: skip


@pytest.fixture
def shop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "shop"
    assert main(["init", str(root)]) == 0
    capsys.readouterr()
    return root


def test_init_scaffolds_settings_layouts_catalogs_and_a_campaign(shop: Path) -> None:
    assert (shop / CONFIG_NAME).read_text(encoding="utf-8") == config_text()
    assert files_under(shop / "layouts") == files_under(SHIPPED_LAYOUTS)
    assert files_under(shop / "locales") == files_under(SHIPPED_LOCALES)
    assert (shop / "locales" / "da" / "LC_MESSAGES" / "messages.mo").read_bytes() == (
        SHIPPED_LOCALES / "da" / "LC_MESSAGES" / "messages.mo"
    ).read_bytes()
    campaign = load_campaign(shop / "campaigns" / "newsletter.toml")
    assert campaign.layout == "newsletter" and campaign.rates_path == shop / "campaigns" / "rates.csv"
    assert campaign.rates_path.is_file()
    assert "/.mailer/" in (shop / ".gitignore").read_text().splitlines()


def test_the_scaffolded_project_is_found_with_its_own_layouts_and_catalogs(shop: Path) -> None:
    project = resolve(cwd=shop / "campaigns", environ=NO_ENV)
    assert project.config_file == shop / CONFIG_NAME
    assert project.layouts == shop / "layouts"
    assert project.locales == shop / "locales"
    assert project.campaigns == shop / "campaigns"
    assert project.campaign_path("newsletter") == shop / "campaigns" / "newsletter.toml"


def test_the_scaffolded_settings_show_every_setting_at_its_default(shop: Path) -> None:
    text = config_text()
    shown = re.findall(r"^# (\w+) = (.*)$", text, flags=re.MULTILINE)
    assert [key for key, _ in shown] == [s.key for s in SETTINGS]
    # Uncommented, every line must describe the project the empty file does.
    (shop / CONFIG_NAME).write_text("\n".join(f"{key} = {value}" for key, value in shown) + "\n")
    uncommented = resolve(cwd=shop, environ=NO_ENV)
    assert dataclasses.replace(uncommented, config_file=None) == Project.defaults(shop)


def test_init_refuses_to_overwrite_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / CONFIG_NAME).write_text('state_dir = "mine"\n')
    assert main(["init", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{CONFIG_NAME} already exists" in err and "nothing was changed" in err
    assert (root / CONFIG_NAME).read_text() == 'state_dir = "mine"\n'
    assert sorted(p.name for p in root.iterdir()) == [CONFIG_NAME]


def test_init_keeps_files_already_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "shop"
    (root / "layouts").mkdir(parents=True)
    (root / "layouts" / "newsletter.mjml").write_text("<mjml>mine</mjml>")
    (root / ".gitignore").write_text("node_modules/")
    assert main(["init", str(root)]) == 0
    out = capsys.readouterr().out
    assert (root / "layouts" / "newsletter.mjml").read_text() == "<mjml>mine</mjml>"
    assert (root / "layouts" / "welcome.mjml").is_file()
    assert (root / ".gitignore").read_text().splitlines()[0] == "node_modules/"
    assert "/.mailer/" in (root / ".gitignore").read_text().splitlines()
    assert "kept 1 file(s)" in out


def test_init_defaults_to_the_current_folder_and_prints_next_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / CONFIG_NAME).is_file()
    assert "Next steps:" in out and "mailer render --campaign campaigns/newsletter.toml" in out
    assert "cd " not in out


def test_init_refuses_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shop").write_text("")
    assert main(["init", str(tmp_path / "shop")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_the_example_campaign_renders_with_mailer_render(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = shop / "out"
    code = main([
        "render",
        "--campaign", str(shop / "campaigns" / "newsletter.toml"),
        "--feed", str(FIXTURES / "products.xml"),
        "--customers", str(FIXTURES / "customers.csv"),
        "--out", str(out),
        "--state-dir", str(shop / ".mailer"),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr()
    files = sorted(out.glob("*.eml"))
    assert len(files) == 30
    for path in files:
        message = BytesParser(policy=policy.strict).parsebytes(path.read_bytes())
        assert message.get_content_type() == "multipart/alternative"


def test_the_example_campaign_renders_from_the_project_copies(shop: Path) -> None:
    project = resolve(cwd=shop, environ=NO_ENV)
    catalogs = Catalogs(project.locales)
    library = LayoutLibrary(project.layouts, environment_factory=make_environment, translations=catalogs.translations)
    campaign = load_campaign(project.campaign_path("newsletter"))
    composer = Composer(campaign, layouts=library, catalogs=catalogs, signer=Signer(b"k" * 32))
    products = list(iter_products(FIXTURES / "products.xml"))[:6]
    customer = Customer(id="c1", email="freja@example.dk", name="Freja Nørgaard", locale="da_DK",
                        currency="DKK", timezone="Europe/Copenhagen")  # fmt: skip
    message = composer.compose(customer, {"picks": products})
    assert message.subject == "Nyt til dig, Freja"
    assert "Anbefalet til dig" in message.bodies.text  # from the project's Danish catalog
