"""A project: the folder a retailer's campaigns, layouts, catalogs and state live in.

A project is found the way git finds a repository: the ``--project`` option
(a folder holding ``mailer.toml``, or the file itself), else
``$MAILER_PROJECT``, else the nearest ``mailer.toml`` in the current folder or
one above it. Without one, the current folder is the project and every
setting has its default (``Project.found`` is False), so commands run where
they always did.

``mailer.toml`` (every key optional; paths relative to the file)::

    state_dir = ".mailer"                          # queue, outbox and signing key
    store = "sqlite:.mailer/queue.sqlite3"         # or postgresql://user@host/db
    transport = "outbox:.mailer/outbox"            # or smtp://relay.shop.test:587
    secret_file = ".mailer/secret"
    layouts = "layouts"                            # default: layouts/ if present, else the shipped ones
    locales = "locales"                            # the same for the gettext catalogs
    campaigns = "campaigns"
    quiet_hours = "21:00-08:00"                    # local time; false allows nights

    [caps]                                         # the whole frequency-cap policy
    daily = 1                                      # at most 1 message a day,
    weekly = 3                                     # 3 in any 7 days
    monthly = 8                                    # and 8 in any 30 days;
    exempt = ["transactional"]                     # message classes no cap counts

    [brand]                                        # defaults for every campaign's [brand]
    shop = "Example Shop"

An environment variable overrides a key of the file and a command-line option
overrides both (:data:`SETTINGS` lists them); paths given in either are
relative to the current folder. A setting derived from ``state_dir`` (the
store, the outbox, the secret) follows it unless it is set itself.
``$MAILER_SECRET``, the signing key itself, still wins over any secret file.

>>> project = parse_config({"state_dir": "var", "caps": {"daily": 2}}, path=Path("/shop/mailer.toml"))
>>> project.store, project.transport
('sqlite:/shop/var/queue.sqlite3', 'outbox:/shop/var/outbox')
>>> project.caps.windows
(Window(seconds=86400.0, limit=2),)
>>> project.found, project.layouts == SHIPPED_LAYOUTS
(True, True)
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from mailer.campaign import parse_times
from mailer.sending.caps import DAY, WEEK, Caps, Window, check_class
from mailer.errors import ConfigError

__all__ = [
    "CONFIG_NAME",
    "PROJECT_ENV",
    "SETTINGS",
    "SHIPPED_LAYOUTS",
    "SHIPPED_LOCALES",
    "Project",
    "Setting",
    "SettingError",
    "add_project_option",
    "add_setting_options",
    "find_config",
    "from_args",
    "load_config",
    "parse_caps",
    "parse_config",
    "resolve",
    "settings_table",
]

CONFIG_NAME = "mailer.toml"
PROJECT_ENV = "MAILER_PROJECT"

QuietTimes = tuple[time, time] | Literal[False]


def _shipped(name: str) -> Path:
    """A folder of the data shipped with mailer: inside the installed package
    (a wheel maps the repository's ``layouts/`` and ``locales/`` to
    ``mailer/shipped/``), else the source tree (a checkout or an editable install)."""
    installed = resources.files("mailer.shipped") / name
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / name


SHIPPED_LAYOUTS = _shipped("layouts")
"""The layouts that come with mailer (``newsletter``, ``welcome``, ``winback``)."""
SHIPPED_LOCALES = _shipped("locales")
"""The gettext catalogs that come with mailer."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One project setting: its ``mailer.toml`` key, command-line option and
    environment variable (``None``: there is none), its default as TOML and
    what it means."""

    key: str
    option: str | None
    env: str | None
    default: str
    meaning: str


# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("state_dir", "--state-dir", "MAILER_STATE_DIR", '".mailer"',
            "where the queue database, the outbox and the link-signing key are kept by default"),
    Setting("store", "--store", "MAILER_STORE", '"sqlite:.mailer/queue.sqlite3"',
            "the queue database: sqlite:PATH or postgresql://user@host/db (default: in state_dir)"),
    Setting("transport", "--transport", "MAILER_TRANSPORT", '"outbox:.mailer/outbox"',
            "how mail leaves: outbox:DIR (.eml files), smtp://host[:port] or smtps://host[:port] "
            "(default: an outbox in state_dir)"),
    Setting("secret_file", "--secret-file", "MAILER_SECRET_FILE", '".mailer/secret"',
            "the link-signing key, made on first use; $MAILER_SECRET (the key itself) wins over it "
            "(default: in state_dir)"),
    Setting("layouts", "--layouts", "MAILER_LAYOUTS", '"layouts"',
            "the layouts folder (default: layouts/ if the project has one, else the shipped layouts)"),
    Setting("locales", "--locales", "MAILER_LOCALES", '"locales"',
            "the gettext catalogs folder (default: locales/ if the project has one, else the shipped catalogs)"),
    Setting("campaigns", None, None, '"campaigns"',
            "the folder of campaign files (NAME.toml or NAME/campaign.toml)"),
    Setting("quiet_hours", None, None, '"21:00-08:00"',
            "no marketing mail between these local times (a campaign's [delivery] may differ); false allows nights"),
    Setting("caps", None, None, '{ daily = 1, weekly = 3, exempt = ["transactional"] }',
            "frequency caps across all campaigns: daily, weekly (7 days) and monthly (30 days) limits, "
            "and the message classes exempt from them; a [caps] table is the whole policy"),
    Setting("brand", None, None, "{}",
            "defaults for every campaign's [brand] (shop, logo, home, address, ...)"),
    Setting("caniemail", "--caniemail", "MAILER_CANIEMAIL", '""',
            "caniemail.com's data file (https://www.caniemail.com/api/data.json): the preview and mailer lint "
            "then say which HTML and CSS features the target clients lack (default: none, no such checks)"),
    Setting("clients", None, None, '["gmail", "outlook", "apple-mail", "yahoo"]',
            "the mail clients the project's email must work in, as caniemail names them: a family "
            "(gmail) or a family and platform (outlook.windows); the latest tested version of each counts"),
    Setting("seeds", None, None, "[]",
            "the seed list: addresses the preview's test send goes to"),
    Setting("lint_ignore", None, None, "[]",
            "checks the preview and mailer lint leave out: rule names (image-alt, untranslated, ...) or "
            "caniemail feature names (css-margin, html-style, ...) the project accepts"),
)
# fmt: on
"""Every setting, in the order ``mailer.toml`` shows them."""

_BY_KEY = {setting.key: setting for setting in SETTINGS}
_PATH_KEYS = ("state_dir", "secret_file", "layouts", "locales", "campaigns", "caniemail")
_OVERRIDABLE = tuple(s.key for s in SETTINGS if s.option or s.env)
_CAP_SPANS = {"daily": DAY, "weekly": WEEK, "monthly": 30 * DAY}


class SettingError(ConfigError):
    """A project setting is unknown or has a bad value.

    ``path`` is the ``mailer.toml`` (or the environment variable or option)
    it came from, ``key`` the setting.

    >>> str(SettingError("expected a folder, got 3", path="shop/mailer.toml", key="layouts"))
    'shop/mailer.toml: layouts: expected a folder, got 3'
    """

    def __init__(self, reason: str, *, path: str | PathLike[str] | None = None, key: str | None = None) -> None:
        self.reason = reason
        self.path = os.fspath(path) if path is not None else None
        self.key = key
        super().__init__(": ".join(part for part in (self.path, key, reason) if part))


@dataclass(frozen=True, kw_only=True)
class Project:
    """A project's resolved settings: absolute paths, URLs and typed policies.

    ``config_file`` is the ``mailer.toml`` read (``None`` when none was
    found and ``root`` is the current folder); ``origins`` says where each
    setting came from (``"default"``, the file, ``"$MAILER_STORE"``, ``"--store"``).

    >>> project = Project.defaults(Path("/shop"))
    >>> project.found, project.state_dir, project.secret_file
    (False, PosixPath('/shop/.mailer'), PosixPath('/shop/.mailer/secret'))
    >>> project.caps == Caps(), project.quiet_hours
    (True, (datetime.time(21, 0), datetime.time(8, 0)))
    """

    root: Path
    config_file: Path | None
    state_dir: Path
    store: str
    transport: str
    secret_file: Path
    layouts: Path
    locales: Path
    campaigns: Path
    quiet_hours: QuietTimes = (time(21), time(8))
    caps: Caps = field(default_factory=Caps)
    brand: Mapping[str, str] = field(default_factory=dict)
    caniemail: Path | None = None
    clients: tuple[str, ...] = ("gmail", "outlook", "apple-mail", "yahoo")
    seeds: tuple[str, ...] = ()
    lint_ignore: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def found(self) -> bool:
        """Whether a ``mailer.toml`` was found (else every setting is a default)."""
        return self.config_file is not None

    @classmethod
    def defaults(cls, root: str | PathLike[str]) -> Project:
        """The project rooted at ``root`` with no ``mailer.toml``."""
        return _build(Path(os.path.abspath(root)), None, [])

    def campaign_path(self, name: str | PathLike[str]) -> Path:
        """The campaign file ``name`` names: an existing file, else
        ``campaigns/NAME.toml`` or ``campaigns/NAME/campaign.toml``.

        >>> Project.defaults("/shop").campaign_path("autumn")
        Traceback (most recent call last):
        ...
        mailer.errors.ConfigError: no campaign 'autumn': none of /shop/campaigns/autumn.toml, /shop/campaigns/autumn/campaign.toml exists
        """
        given = Path(name)
        if given.is_file():
            return given
        if given.suffix == ".toml" or len(given.parts) > 1:  # a file's path, not a campaign's name
            raise ConfigError(f"{os.fspath(name)}: no such campaign file")
        candidates = [self.campaigns / f"{name}.toml", self.campaigns / os.fspath(name) / "campaign.toml"]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise ConfigError(f"no campaign {os.fspath(name)!r}: none of {', '.join(map(str, candidates))} exists")

    def brand_for(self, campaign_brand: Mapping[str, str]) -> dict[str, str]:
        """A campaign's ``[brand]`` over the project's defaults.

        >>> project = parse_config({"brand": {"shop": "Shop", "home": "https://shop.test/"}}, path=Path("/s/mailer.toml"))
        >>> project.brand_for({"shop": "Outlet"})
        {'shop': 'Outlet', 'home': 'https://shop.test/'}
        """
        return {**self.brand, **campaign_brand}


def find_config(start: str | PathLike[str]) -> Path | None:
    """The nearest ``mailer.toml`` in ``start`` or a folder above it, or ``None``."""
    folder = Path(os.path.abspath(start))
    for candidate in (folder, *folder.parents):
        config = candidate / CONFIG_NAME
        if config.is_file():
            return config
    return None


def _named_config(given: str | PathLike[str], *, cwd: Path, source: str) -> Path:
    """The ``mailer.toml`` an explicit ``--project``/``$MAILER_PROJECT`` names."""
    path = Path(os.path.abspath(cwd / Path(given).expanduser()))
    config = path if path.name == CONFIG_NAME or path.is_file() else path / CONFIG_NAME
    if not config.is_file():
        hint = "no such folder" if not path.exists() else f"no {CONFIG_NAME} there"
        raise SettingError(f"{path}: {hint} (make one with 'mailer init {path}')", path=source)
    return config


def _expected(what: str, value: object, *, path: str, key: str) -> SettingError:
    return SettingError(f"expected {what}, got {value!r}", path=path, key=key)


def _path_value(value: object, *, base: Path, path: str, key: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _expected("a path (a non-empty string)", value, path=path, key=key)
    return Path(os.path.abspath(base / Path(value).expanduser()))


def _store_value(value: object, *, base: Path, path: str, key: str) -> str:
    """A store URL with a relative SQLite path made absolute."""
    if not isinstance(value, str) or not value.strip():
        raise _expected("a store URL such as sqlite:PATH or postgresql://user@host/db", value, path=path, key=key)
    if value.startswith(("postgresql:", "postgres:")):
        return value
    scheme, colon, rest = value.partition(":")
    if colon and scheme != "sqlite" and len(scheme) > 1:  # (one letter: a Windows drive)
        raise _expected("sqlite:PATH or postgresql://user@host/db", value, path=path, key=key)
    file = rest if scheme == "sqlite" and colon else value
    file = file.removeprefix("//")
    if file in ("", ":memory:"):
        return "sqlite::memory:"
    return f"sqlite:{_path_value(file, base=base, path=path, key=key)}"


def _transport_value(value: object, *, base: Path, path: str, key: str) -> str:
    """A transport URL with a relative outbox folder made absolute."""
    if isinstance(value, str) and value.startswith("outbox:"):
        return f"outbox:{_path_value(value.removeprefix('outbox:') or 'outbox', base=base, path=path, key=key)}"
    if isinstance(value, str) and (value == "memory:" or value.startswith(("smtp://", "smtps://"))):
        return value
    raise _expected("outbox:DIR, smtp://host[:port] or smtps://host[:port]", value, path=path, key=key)


def _quiet_value(value: object, *, path: str, key: str) -> QuietTimes:
    if value is False:
        return False
    if not isinstance(value, str):
        raise _expected('local times such as "21:00-08:00", or false', value, path=path, key=key)
    try:
        return parse_times(value, key)
    except ConfigError:
        raise _expected('local times such as "21:00-08:00", or false', value, path=path, key=key) from None


def parse_caps(table: object, *, path: str = CONFIG_NAME, key: str = "caps") -> Caps:
    """A ``[caps]`` table as :class:`~mailer.sending.caps.Caps`; limits not given are not capped.

    >>> caps = parse_caps({"daily": 2, "monthly": 6, "exempt": ["transactional", "lifecycle"]})
    >>> [window.describe() for window in caps.windows], sorted(caps.exempt)
    (['at most 2 in 1 day', 'at most 6 in 30 days'], ['lifecycle', 'transactional'])
    >>> parse_caps({"hourly": 1}, path="shop/mailer.toml")
    Traceback (most recent call last):
    ...
    mailer.project.SettingError: shop/mailer.toml: caps.hourly: unknown key; known: daily, weekly, monthly, exempt
    """
    if not isinstance(table, Mapping):
        raise _expected("a table such as { daily = 1, weekly = 3 }", table, path=path, key=key)
    known = (*_CAP_SPANS, "exempt")
    for name in table:
        if name not in known:
            raise SettingError(f"unknown key; known: {', '.join(known)}", path=path, key=f"{key}.{name}")
    windows = []
    for name, seconds in _CAP_SPANS.items():
        if name in table:
            limit = table[name]
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise _expected("a whole number of messages, 1 or more", limit, path=path, key=f"{key}.{name}")
            windows.append(Window(seconds, limit))
    exempt = table.get("exempt", ["transactional"])
    if not isinstance(exempt, list) or not all(isinstance(c, str) for c in exempt):
        raise _expected('a list of message classes such as ["transactional"]', exempt, path=path, key=f"{key}.exempt")
    for message_class in exempt:
        try:
            check_class(message_class)
        except ConfigError as err:
            raise SettingError(str(err), path=path, key=f"{key}.exempt") from None
    return Caps(windows=tuple(windows), exempt=frozenset(exempt))


def _brand_value(value: object, *, path: str, key: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise _expected('a table of text such as { shop = "Example Shop" }', value, path=path, key=key)
    return dict(value)


def _names_value(value: object, *, path: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _expected('a list of text such as ["a", "b"]', value, path=path, key=key)
    if key == "seeds":
        for address in value:
            if "@" not in address or any(c in address for c in "\r\n<>, "):
                raise SettingError(f"{address!r} is not an e-mail address", path=path, key=key)
    return tuple(v.strip() for v in value)


def _parse(key: str, value: object, *, base: Path, path: str) -> Any:
    """One setting's value, checked; relative paths are relative to ``base``."""
    if key == "store":
        return _store_value(value, base=base, path=path, key=key)
    if key == "transport":
        return _transport_value(value, base=base, path=path, key=key)
    if key == "caniemail" and value == "":
        return None  # no data: no client-support checks
    if key in _PATH_KEYS:
        found = _path_value(value, base=base, path=path, key=key)
        if key in ("layouts", "locales") and not found.is_dir():
            raise SettingError(f"folder {found} does not exist", path=path, key=key)
        return found
    if key == "quiet_hours":
        return _quiet_value(value, path=path, key=key)
    if key == "caps":
        return parse_caps(value, path=path, key=key)
    if key == "brand":
        return _brand_value(value, path=path, key=key)
    if key in ("clients", "seeds", "lint_ignore"):
        return _names_value(value, path=path, key=key)
    raise SettingError(f"unknown key; known: {', '.join(_BY_KEY)}", path=path, key=key)


Layer = tuple[str, dict[str, Any]]
"""Where some settings came from, and their checked values."""


def _file_layer(data: Mapping[str, Any], path: Path) -> Layer:
    where = os.fspath(path)
    return where, {key: _parse(key, value, base=path.parent, path=where) for key, value in data.items()}


def parse_config(data: Mapping[str, Any], *, path: str | PathLike[str]) -> Project:
    """The project a ``mailer.toml`` at ``path`` saying ``data`` describes
    (no environment or options applied).

    >>> parse_config({"layout": "layouts"}, path="/shop/mailer.toml")
    Traceback (most recent call last):
    ...
    mailer.project.SettingError: /shop/mailer.toml: layout: unknown key; known: state_dir, store, transport, secret_file, layouts, locales, campaigns, quiet_hours, caps, brand, caniemail, clients, seeds, lint_ignore
    """
    config = Path(os.path.abspath(path))
    return _build(config.parent, config, [_file_layer(data, config)])


def load_config(path: str | PathLike[str]) -> dict[str, Any]:
    """The TOML of a ``mailer.toml``; an unreadable or malformed file is a :class:`SettingError`."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingError(f"cannot read it: {err.strerror}", path=path) from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SettingError(str(err), path=path) from err


def _build(root: Path, config_file: Path | None, layers: Iterable[Layer]) -> Project:
    """Settings from ``layers`` (later ones win), defaults for the rest."""
    values: dict[str, Any] = {}
    origins = {setting.key: "default" for setting in SETTINGS}
    for origin, layer in layers:
        for key, value in layer.items():
            values[key] = value
            origins[key] = origin
    state_dir = values.get("state_dir", root / ".mailer")
    layouts, locales = root / "layouts", root / "locales"
    return Project(
        root=root,
        config_file=config_file,
        state_dir=state_dir,
        store=values.get("store", f"sqlite:{state_dir / 'queue.sqlite3'}"),
        transport=values.get("transport", f"outbox:{state_dir / 'outbox'}"),
        secret_file=values.get("secret_file", state_dir / "secret"),
        layouts=values.get("layouts", layouts if layouts.is_dir() else SHIPPED_LAYOUTS),
        locales=values.get("locales", locales if locales.is_dir() else SHIPPED_LOCALES),
        campaigns=values.get("campaigns", root / "campaigns"),
        quiet_hours=values.get("quiet_hours", (time(21), time(8))),
        caps=values.get("caps", Caps()),
        brand=values.get("brand", {}),
        caniemail=values.get("caniemail"),
        clients=values.get("clients", ("gmail", "outlook", "apple-mail", "yahoo")),
        seeds=values.get("seeds", ()),
        lint_ignore=values.get("lint_ignore", ()),
        origins=origins,
    )


def resolve(
    project: str | PathLike[str] | None = None,
    *,
    cwd: str | PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    state_dir: str | PathLike[str] | None = None,
    store: str | None = None,
    transport: str | None = None,
    secret_file: str | PathLike[str] | None = None,
    layouts: str | PathLike[str] | None = None,
    locales: str | PathLike[str] | None = None,
    caniemail: str | PathLike[str] | None = None,
) -> Project:
    """Find the project and resolve its settings: ``mailer.toml``, then the
    environment (``environ``, default ``os.environ``), then these options
    (``None``: not given). ``project`` is the ``--project`` option.
    """
    here = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    env = os.environ if environ is None else environ
    if project is not None:
        config: Path | None = _named_config(project, cwd=here, source="--project")
    elif env.get(PROJECT_ENV):
        config = _named_config(env[PROJECT_ENV], cwd=here, source=f"${PROJECT_ENV}")
    else:
        config = find_config(here)
    layers = [_file_layer(load_config(config), config)] if config else []
    from_env = {s.key: env[s.env] for s in SETTINGS if s.env and env.get(s.env)}
    layers += [(f"${_BY_KEY[key].env}", {key: _parse(key, value, base=here, path=f"${_BY_KEY[key].env}")})
               for key, value in from_env.items()]  # fmt: skip
    options = {"state_dir": state_dir, "store": store, "transport": transport, "secret_file": secret_file,
               "layouts": layouts, "locales": locales, "caniemail": caniemail}  # fmt: skip
    for key, value in options.items():
        if value is not None:
            option = _BY_KEY[key].option or key
            layers.append((option, {key: _parse(key, os.fspath(value), base=here, path=option)}))
    return _build(config.parent if config else here, config, layers)


def add_project_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--project DIR`` (the folder holding ``mailer.toml``)."""
    parser.add_argument(
        "--project", metavar="DIR",
        help=f"the project folder holding {CONFIG_NAME} (default: ${PROJECT_ENV}, "
        f"else the nearest {CONFIG_NAME} here or above, else this folder with default settings)",
    )  # fmt: skip


def add_setting_options(parser: argparse.ArgumentParser, *keys: str) -> None:
    """Add the command-line options of the settings ``keys`` (default ``None``:
    the environment, the file or the default decides).

    >>> parser = argparse.ArgumentParser()
    >>> add_setting_options(parser, "store", "layouts")
    >>> parser.parse_args(["--layouts", "mine"])
    Namespace(store=None, layouts='mine')
    """
    for key in keys:
        setting = _BY_KEY.get(key)
        if setting is None or setting.option is None:
            raise ConfigError(f"no command-line option for setting {key!r}; known: {', '.join(_OVERRIDABLE)}")
        parser.add_argument(setting.option, dest=key, default=None,
                            help=f"{setting.meaning} (overrides ${setting.env} and {CONFIG_NAME})")  # fmt: skip


def from_args(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> Project:
    """:func:`resolve` with the ``--project`` and setting options a command parsed."""
    options = {key: getattr(args, key, None) for key in ("state_dir", "store", "transport", "secret_file",
                                                         "layouts", "locales", "caniemail")}  # fmt: skip
    return resolve(getattr(args, "project", None), environ=environ, **options)


def settings_table() -> str:
    """:data:`SETTINGS` as a Markdown table, for the documentation.

    >>> print(settings_table().splitlines()[2])
    | `state_dir` | `--state-dir` | `MAILER_STATE_DIR` | `".mailer"` | where the queue database, the outbox and the link-signing key are kept by default |
    """
    rows = ["| key | option | environment | default | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        cells = [f"`{s.key}`", f"`{s.option}`" if s.option else "", f"`{s.env}`" if s.env else "",
                 f"`{s.default}`", s.meaning.replace("|", "\\|")]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
