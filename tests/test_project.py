"""Projects: found like git finds a repository; settings from mailer.toml,
then the environment, then options; every bad key or value named."""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from datetime import time
from pathlib import Path

import pytest

import mailer.project
from mailer.sending.caps import DAY, WEEK, Caps, Window
from mailer.errors import ConfigError
from mailer.content.layouts import DEFAULT_LAYOUTS_DIR
from mailer.project import (
    CONFIG_NAME,
    SETTINGS,
    SHIPPED_LAYOUTS,
    SHIPPED_LOCALES,
    Project,
    SettingError,
    add_project_option,
    add_setting_options,
    find_config,
    from_args,
    parse_caps,
    resolve,
    settings_table,
)

from .conftest import FIXTURES, ROOT

NO_ENV: dict[str, str] = {}


def make_project(folder: Path, text: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_NAME).write_text(text, encoding="utf-8")
    return folder


# --- finding ---------------------------------------------------------------------


def test_a_subfolder_finds_the_project_above_it(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    deep = shop / "campaigns" / "autumn"
    deep.mkdir(parents=True)
    project = resolve(cwd=deep, environ=NO_ENV)
    assert project.found and project.root == shop and project.config_file == shop / CONFIG_NAME


def test_the_nearest_project_wins_over_one_further_up(tmp_path: Path) -> None:
    make_project(tmp_path / "outer")
    inner = make_project(tmp_path / "outer" / "inner")
    assert resolve(cwd=inner / ".", environ=NO_ENV).root == inner


def test_the_environment_wins_over_the_nearest_project(tmp_path: Path) -> None:
    here = make_project(tmp_path / "here")
    there = make_project(tmp_path / "there")
    project = resolve(cwd=here, environ={"MAILER_PROJECT": str(there)})
    assert project.root == there


def test_the_option_wins_over_the_environment(tmp_path: Path) -> None:
    here = make_project(tmp_path / "here")
    env = make_project(tmp_path / "env")
    option = make_project(tmp_path / "option")
    project = resolve(option, cwd=here, environ={"MAILER_PROJECT": str(env)})
    assert project.root == option


def test_the_option_may_name_the_file_and_be_relative_to_the_current_folder(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    project = resolve(f"shop/{CONFIG_NAME}", cwd=tmp_path, environ=NO_ENV)
    assert project.config_file == shop / CONFIG_NAME


@pytest.mark.parametrize("source", ["option", "environment"])
def test_naming_a_folder_without_mailer_toml_is_an_error(tmp_path: Path, source: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SettingError, match=f"no {CONFIG_NAME} there") as caught:
        if source == "option":
            resolve(empty, cwd=tmp_path, environ=NO_ENV)
        else:
            resolve(cwd=tmp_path, environ={"MAILER_PROJECT": str(empty)})
    assert caught.value.path == ("--project" if source == "option" else "$MAILER_PROJECT")
    assert "mailer init" in str(caught.value)


def test_without_a_project_the_current_folder_has_the_defaults(tmp_path: Path) -> None:
    if find_config(tmp_path) is not None:
        pytest.skip(f"a {CONFIG_NAME} above {tmp_path} makes it part of a project")
    project = resolve(cwd=tmp_path, environ=NO_ENV)
    assert not project.found and project.config_file is None and project.root == tmp_path
    assert project == Project.defaults(tmp_path)
    assert project.state_dir == tmp_path / ".mailer"
    assert project.store == f"sqlite:{tmp_path}/.mailer/queue.sqlite3"
    assert project.transport == f"outbox:{tmp_path}/.mailer/outbox"
    assert project.secret_file == tmp_path / ".mailer" / "secret"
    assert project.layouts == SHIPPED_LAYOUTS and project.locales == SHIPPED_LOCALES
    assert project.campaigns == tmp_path / "campaigns"
    assert project.quiet_hours == (time(21), time(8))
    assert project.caps == Caps() and project.brand == {}
    assert set(project.origins.values()) == {"default"}


def test_the_repository_is_itself_a_project() -> None:
    project = resolve(cwd=ROOT / "mailer", environ=NO_ENV)
    assert project.config_file == ROOT / CONFIG_NAME
    assert (project.layouts, project.locales, project.campaigns) == (ROOT / "layouts", ROOT / "locales", FIXTURES)
    assert project.state_dir == ROOT / ".mailer"
    assert project.campaign_path("campaign") == FIXTURES / "campaign.toml"


# --- defaults and the file ---------------------------------------------------------------


def test_an_empty_file_gives_the_defaults_rooted_at_its_folder(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    project = resolve(cwd=shop, environ=NO_ENV)
    assert dataclasses.replace(project, config_file=None) == Project.defaults(shop)


def test_the_project_layouts_and_locales_are_used_when_present(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    (shop / "layouts").mkdir()
    (shop / "locales").mkdir()
    project = resolve(cwd=shop, environ=NO_ENV)
    assert (project.layouts, project.locales) == (shop / "layouts", shop / "locales")


def test_paths_in_the_file_are_relative_to_it_not_to_the_current_folder(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'state_dir = "var"\nsecret_file = "keys/secret"\ncampaigns = "mail"\n')
    (shop / "sub").mkdir()
    project = resolve(cwd=shop / "sub", environ=NO_ENV)
    assert project.state_dir == shop / "var"
    assert project.secret_file == shop / "keys" / "secret"
    assert project.campaigns == shop / "mail"


def test_store_outbox_and_secret_follow_state_dir_unless_set(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'state_dir = "var"\ntransport = "smtp://relay.shop.test:587"\n')
    project = resolve(cwd=shop, environ=NO_ENV)
    assert project.store == f"sqlite:{shop}/var/queue.sqlite3"
    assert project.secret_file == shop / "var" / "secret"
    assert project.transport == "smtp://relay.shop.test:587"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:db/queue.sqlite3", "sqlite:{shop}/db/queue.sqlite3"),
        ("db/queue.sqlite3", "sqlite:{shop}/db/queue.sqlite3"),
        ("sqlite:///srv/queue.sqlite3", "sqlite:/srv/queue.sqlite3"),
        ("sqlite::memory:", "sqlite::memory:"),
        ("postgresql://mailer@db.shop.test/mail", "postgresql://mailer@db.shop.test/mail"),
    ],
)
def test_a_relative_sqlite_store_is_made_absolute(tmp_path: Path, given: str, expected: str) -> None:
    shop = make_project(tmp_path / "shop", f'store = "{given}"\n')
    assert resolve(cwd=shop, environ=NO_ENV).store == expected.format(shop=shop)


def test_a_relative_outbox_is_made_absolute(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'transport = "outbox:sent"\n')
    assert resolve(cwd=shop, environ=NO_ENV).transport == f"outbox:{shop}/sent"


def test_quiet_hours_and_brand_are_read(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'quiet_hours = "22:00-07:30"\n[brand]\nshop = "Example Shop"\n')
    project = resolve(cwd=shop, environ=NO_ENV)
    assert project.quiet_hours == (time(22), time(7, 30))
    assert project.brand == {"shop": "Example Shop"}
    assert project.brand_for({"home": "https://shop.test/"}) == {"shop": "Example Shop", "home": "https://shop.test/"}


def test_quiet_hours_false_allows_nights(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", "quiet_hours = false\n")
    assert resolve(cwd=shop, environ=NO_ENV).quiet_hours is False


# --- caps --------------------------------------------------------------------------


def test_caps_table_is_the_whole_policy(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", "[caps]\ndaily = 2\nmonthly = 8\nexempt = []\n")
    caps = resolve(cwd=shop, environ=NO_ENV).caps
    assert caps == Caps(windows=(Window(DAY, 2), Window(30 * DAY, 8)), exempt=frozenset())


def test_caps_exempt_defaults_to_transactional() -> None:
    assert parse_caps({"weekly": 2}) == Caps(windows=(Window(WEEK, 2),), exempt=frozenset({"transactional"}))


def test_an_empty_caps_table_caps_nothing() -> None:
    assert parse_caps({}).windows == ()


def test_the_documented_default_caps_are_the_default() -> None:
    assert parse_caps({"daily": 1, "weekly": 3, "exempt": ["transactional"]}) == Caps()


# --- errors name the file, the key and what was expected ---------------------------


def test_an_unknown_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'layouts = "layouts"\nlayout_dir = "x"\n')
    (shop / "layouts").mkdir()
    with pytest.raises(ConfigError) as caught:
        resolve(cwd=shop, environ=NO_ENV)
    assert isinstance(caught.value, SettingError)
    assert (caught.value.path, caught.value.key) == (str(shop / CONFIG_NAME), "layout_dir")
    assert str(caught.value).startswith(f"{shop / CONFIG_NAME}: layout_dir: unknown key; known: state_dir,")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("state_dir = 3", "state_dir", "expected a path"),
        ('state_dir = ""', "state_dir", "expected a path"),
        ('store = "mysql://db/mail"', "store", "expected sqlite:PATH or postgresql://"),
        ("store = true", "store", "expected a store URL"),
        ('transport = "ftp://relay"', "transport", "expected outbox:DIR, smtp://"),
        ('layouts = "missing"', "layouts", "folder"),
        ('locales = ["locales"]', "locales", "expected a path"),
        ('quiet_hours = "late"', "quiet_hours", 'expected local times such as "21:00-08:00", or false'),
        ("quiet_hours = true", "quiet_hours", "expected local times"),
        ('caps = "daily"', "caps", "expected a table"),
        ("caps = { daily = 0 }", "caps.daily", "expected a whole number of messages, 1 or more"),
        ("caps = { weekly = true }", "caps.weekly", "expected a whole number"),
        ('caps = { monthly = "4" }', "caps.monthly", "expected a whole number"),
        ("caps = { hourly = 1 }", "caps.hourly", "unknown key; known: daily, weekly, monthly, exempt"),
        ('caps = { exempt = "transactional" }', "caps.exempt", "expected a list of message classes"),
        ('caps = { exempt = ["receipts"] }', "caps.exempt", "unknown message class 'receipts'"),
        ("brand = { shop = 1 }", "brand", "expected a table of text"),
    ],
)
def test_a_bad_value_names_the_file_the_key_and_what_was_expected(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    shop = make_project(tmp_path / "shop", text + "\n")
    with pytest.raises(SettingError) as caught:
        resolve(cwd=shop, environ=NO_ENV)
    assert caught.value.path == str(shop / CONFIG_NAME)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{shop / CONFIG_NAME}: {key}: ")
    assert expected in str(caught.value)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", "state_dir = \n")
    with pytest.raises(SettingError, match=f"^{shop / CONFIG_NAME}: "):
        resolve(cwd=shop, environ=NO_ENV)


# --- the environment and options ------------------------------------------------------


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'store = "sqlite:file.sqlite3"\ntransport = "outbox:file"\n')
    env = {"MAILER_STORE": "postgresql://db/mail", "MAILER_TRANSPORT": "smtp://relay.shop.test"}
    project = resolve(cwd=shop, environ=env)
    assert (project.store, project.transport) == ("postgresql://db/mail", "smtp://relay.shop.test")
    assert project.origins["store"] == "$MAILER_STORE"


def test_environment_paths_are_relative_to_the_current_folder(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    (tmp_path / "mine" / "layouts").mkdir(parents=True)
    env = {"MAILER_STATE_DIR": "state", "MAILER_LAYOUTS": "mine/layouts", "MAILER_SECRET_FILE": "key"}
    project = resolve(shop, cwd=tmp_path, environ=env)
    assert project.state_dir == tmp_path / "state"
    assert project.store == f"sqlite:{tmp_path}/state/queue.sqlite3"
    assert project.layouts == tmp_path / "mine" / "layouts"
    assert project.secret_file == tmp_path / "key"


def test_an_empty_environment_variable_is_not_set(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    assert resolve(cwd=shop, environ={"MAILER_STORE": "", "MAILER_PROJECT": ""}) == resolve(cwd=shop, environ=NO_ENV)


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    with pytest.raises(SettingError, match=r"^\$MAILER_TRANSPORT: transport: expected outbox:DIR"):
        resolve(cwd=shop, environ={"MAILER_TRANSPORT": "pigeon:"})


def test_options_override_the_environment_and_the_file(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop", 'state_dir = "file"\n')
    env = {"MAILER_STATE_DIR": "env", "MAILER_STORE": "sqlite:env.sqlite3"}
    project = resolve(cwd=shop, environ=env, state_dir="option", store="sqlite::memory:")
    assert project.state_dir == shop / "option"
    assert project.store == "sqlite::memory:"
    assert project.transport == f"outbox:{shop}/option/outbox"
    assert project.origins["state_dir"] == "--state-dir"


def test_a_bad_option_names_the_option(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    with pytest.raises(SettingError, match="^--layouts: layouts: folder .* does not exist"):
        resolve(cwd=shop, environ=NO_ENV, layouts="nowhere")


def test_command_line_options_resolve_with_from_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = make_project(tmp_path / "shop")
    parser = argparse.ArgumentParser()
    add_project_option(parser)
    add_setting_options(parser, "store", "transport", "state_dir")
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(["--project", "shop", "--transport", "outbox:out"])
    project = from_args(args, environ=NO_ENV)
    assert project.root == shop
    assert project.transport == f"outbox:{tmp_path}/out"
    assert project.store == f"sqlite:{shop}/.mailer/queue.sqlite3"


def test_settings_without_an_option_have_no_option_to_add() -> None:
    with pytest.raises(ConfigError, match="no command-line option for setting 'caps'"):
        add_setting_options(argparse.ArgumentParser(), "caps")


# --- the settings table and the shipped data ------------------------------------------------


def test_the_documented_example_file_is_valid(tmp_path: Path) -> None:
    doc = mailer.project.__doc__ or ""
    example = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\nAn environment", 1)[0])
    shop = make_project(tmp_path / "shop", example)
    (shop / "layouts").mkdir()
    (shop / "locales").mkdir()
    project = resolve(cwd=shop, environ=NO_ENV)
    assert project.caps == Caps(windows=(Window(DAY, 1), Window(WEEK, 3), Window(30 * DAY, 8)))
    assert project.brand == {"shop": "Example Shop"}


def test_every_project_setting_is_in_the_settings_table() -> None:
    fields = {f.name for f in dataclasses.fields(Project)} - {"root", "config_file", "origins"}
    assert [s.key for s in SETTINGS] == [f.name for f in dataclasses.fields(Project) if f.name in fields]


def test_the_settings_table_lists_the_environment_variables() -> None:
    assert {s.key: s.env for s in SETTINGS if s.env} == {
        "state_dir": "MAILER_STATE_DIR",
        "store": "MAILER_STORE",
        "transport": "MAILER_TRANSPORT",
        "secret_file": "MAILER_SECRET_FILE",
        "layouts": "MAILER_LAYOUTS",
        "locales": "MAILER_LOCALES",
        "caniemail": "MAILER_CANIEMAIL",
    }
    table = settings_table()
    assert len(table.splitlines()) == 2 + len(SETTINGS)
    assert all(f"`{s.key}`" in table for s in SETTINGS)


def test_the_shipped_layouts_and_catalogs_are_found() -> None:
    assert DEFAULT_LAYOUTS_DIR == SHIPPED_LAYOUTS
    assert {p.stem for p in SHIPPED_LAYOUTS.glob("*.mjml")} >= {"newsletter", "welcome", "winback"}
    assert (SHIPPED_LAYOUTS / "partials" / "footer.mjml").is_file()
    assert {p.parent.parent.name for p in SHIPPED_LOCALES.glob("*/LC_MESSAGES/messages.mo")} >= {"da", "de", "en"}
    assert (SHIPPED_LOCALES / "vocabulary.jinja").is_file()


def test_a_campaign_is_found_by_name(tmp_path: Path) -> None:
    shop = make_project(tmp_path / "shop")
    (shop / "campaigns" / "winter").mkdir(parents=True)
    (shop / "campaigns" / "autumn.toml").write_text("")
    (shop / "campaigns" / "winter" / "campaign.toml").write_text("")
    project = resolve(cwd=shop, environ=NO_ENV)
    assert project.campaign_path("autumn") == shop / "campaigns" / "autumn.toml"
    assert project.campaign_path("winter") == shop / "campaigns" / "winter" / "campaign.toml"
    with pytest.raises(ConfigError, match="no campaign 'spring'"):
        project.campaign_path("spring")


def test_a_missing_campaign_file_is_named_as_given(tmp_path: Path) -> None:
    project = resolve(cwd=make_project(tmp_path / "shop"), environ=NO_ENV)
    for given in ("nope.toml", "drafts/autumn"):
        with pytest.raises(ConfigError, match=f"^{given}: no such campaign file$"):
            project.campaign_path(given)
