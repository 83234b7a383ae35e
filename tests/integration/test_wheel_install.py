"""A wheel, installed into a fresh virtualenv, renders with its shipped
layouts and catalogs from an empty folder (no source tree to lean on).

Building the wheel and installing its dependencies need the package index;
when it cannot be reached the build tests skip, saying so. They take about a
minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from zipfile import ZipFile

import pytest

from tests.conftest import FIXTURES, ROOT

# What pip prints when it cannot reach an index (no network, no proxy, DNS down).
OFFLINE_SIGNS = (
    "Could not find a version that satisfies the requirement",
    "No matching distribution found",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "ProxyError",
    "ReadTimeoutError",
)
SOURCE_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".mailer", ".hypothesis", ".pytest_cache", "out"
)


def pip(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run pip, skipping the test when it fails for want of the package index."""
    result = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, cwd=cwd,
                            env=clean_env())  # fmt: skip
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if any(sign in output for sign in OFFLINE_SIGNS):
            pytest.skip(f"pip {args[0]} could not reach the package index: {output.strip().splitlines()[-1]}")
        pytest.fail(f"pip {' '.join(args)} failed:\n{output}")
    return result


def clean_env() -> dict[str, str]:
    """The environment without anything pointing back at this checkout."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MAILER_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}  # fmt: skip


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if sys.platform == "win32" else "bin")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the source tree (so no build/ lands in the checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=SOURCE_IGNORE)
    pip(Path(sys.executable), "wheel", "--no-deps", "-w", str(work / "dist"), str(source), cwd=work)
    (built,) = (work / "dist").glob("mailer-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A brand-new virtualenv with the wheel installed; yields its bin folder."""
    env = tmp_path_factory.mktemp("venv") / "env"
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"cannot make a virtualenv with pip here: {err}")
    python = bin_dir(env) / "python"
    pip(python, "install", "-c", str(ROOT / "constraints.txt"), str(wheel), cwd=env.parent)
    yield bin_dir(env)


def message_text(path: Path) -> str:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content()


def run_installed(bin: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin / "mailer"), *args], capture_output=True, text=True, cwd=cwd, env=clean_env())


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    """``[tool.setuptools] packages`` is a list (the shipped data is mapped in
    from outside mailer/), so a new subpackage must be added to it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mailer").rglob("__init__.py")}
    listed = set(config["packages"])
    mapped = set(config["package-dir"])
    assert on_disk - listed == set(), "subpackages missing from [tool.setuptools] packages"
    assert listed - on_disk == mapped == {"mailer.shipped.layouts", "mailer.shipped.locales"}
    assert {ROOT / path for path in config["package-dir"].values()} == {ROOT / "layouts", ROOT / "locales"}


def test_the_wheel_holds_every_module_layout_catalog_and_query_file(wheel: Path) -> None:
    names = set(ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mailer").rglob("*")
                if p.is_file() and (p.suffix in (".py", ".sql") or p.parent.name == "static")}  # fmt: skip
    for folder in ("layouts", "locales"):
        expected |= {f"mailer/shipped/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / folder).rglob("*")
                     if p.is_file() and not p.name.startswith(".")}  # fmt: skip
    assert expected - names == set()
    for required in ("mailer/shipped/layouts/partials/footer.mjml", "mailer/shipped/layouts/newsletter.toml",
                     "mailer/shipped/locales/messages.pot", "mailer/shipped/locales/vocabulary.jinja",
                     "mailer/shipped/locales/da/LC_MESSAGES/messages.mo", "mailer/store/queries_sqlite.sql"):  # fmt: skip
        assert required in names


def test_the_installed_package_finds_its_shipped_data_in_site_packages(installed: Path, tmp_path: Path) -> None:
    code = "import mailer.project as p; print(p.SHIPPED_LAYOUTS); print(p.SHIPPED_LOCALES)"
    result = subprocess.run([str(installed / "python"), "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=clean_env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    layouts, locales = map(Path, result.stdout.split())
    assert "site-packages" in layouts.parts and layouts.parts[-3:] == ("mailer", "shipped", "layouts")
    assert "site-packages" in locales.parts and locales.parts[-3:] == ("mailer", "shipped", "locales")
    assert not layouts.is_relative_to(ROOT)


def test_the_installed_command_renders_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_installed(installed, "render", "--layout", "newsletter",
                           "--feed", str(FIXTURES / "products.xml"), "--rates", str(FIXTURES / "rates.csv"),
                           "--customers", str(FIXTURES / "customers.csv"), "--out", "out", cwd=empty)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((empty / "out").glob("*.eml"))) == 30
    texts = [message_text(path) for path in (empty / "out").glob("*.eml")]
    assert any("Anbefalet til dig" in text for text in texts), "no Danish text from the shipped catalogs"


def test_the_installed_command_scaffolds_a_project_that_renders(installed: Path, tmp_path: Path) -> None:
    result = run_installed(installed, "init", "shop", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "shop" / "layouts" / "partials" / "footer.mjml").is_file()
    assert (tmp_path / "shop" / "locales" / "sv" / "LC_MESSAGES" / "messages.mo").is_file()
    result = run_installed(installed, "render", "--campaign", "campaigns/newsletter.toml",
                           "--feed", str(FIXTURES / "products.xml"),
                           "--customers", str(FIXTURES / "customers.csv"), "--out", "out", cwd=tmp_path / "shop")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((tmp_path / "shop" / "out").glob("*.eml"))) == 30
    result = run_installed(installed, "lint", "--feed", str(FIXTURES / "products.xml"), cwd=tmp_path / "shop")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout


def test_the_installed_command_runs_the_quick_start(installed: Path, tmp_path: Path) -> None:
    """The README's run command, from the wheel, in a folder of its own: everyone sent to the outbox."""
    fixtures = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", fixtures, ignore=shutil.ignore_patterns("generated", "programmes"))
    result = run_installed(installed, "run", "fixtures/campaign.toml", "--customers", "fixtures/customers.csv",
                           "--feed", "fixtures/products.xml", "--no-quiet-hours", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "queued 30 message(s)" in result.stdout and "delivered: 30 sent" in result.stdout
    assert len(list((tmp_path / ".mailer" / "outbox").glob("*.eml"))) == 30
