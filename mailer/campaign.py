"""A campaign: what to send, from whom, with which layout and copy.

Campaign files are TOML (``fixtures/campaign.toml`` is a complete example)::

    id = "autumn-2026"
    layout = "newsletter"
    from = "Example Shop <news@example-shop.test>"
    rates = "rates.csv"                      # relative to this file
    send_date = 2026-11-24T09:00:00Z         # when to send if nothing else says (gone by: now)

    [subject]                                # per language, Jinja, sandboxed
    en = "New in for you, {{ recipient.first_name }}"
    de = "Neu für dich, {{ recipient.first_name }}"

    [links]
    unsubscribe = "https://example-shop.test/u/{token}"   # https only
    unsubscribe_mailto = "unsubscribe@example-shop.test"
    preferences = "https://example-shop.test/prefs/{token}"
    view_online = "https://example-shop.test/v/{campaign}/{token}"

A ``[selection]`` table chooses products per customer by strategy name and
parameters (see :mod:`mailer.personalise.strategies`), an ``[audience]``
table filters customers by RFM segment (see
:class:`mailer.personalise.segments.Audience`)::

    [selection]
    strategy = "personal"
    purchases = "purchases.csv"              # relative to this file
    exploration_share = 0.1

    [audience]
    segments = ["lapsed", "at_risk"]

``programmes = "ignore"`` sends to customers a lifecycle programme holds (by
default a promotion skips customers still in the welcome series, and every
campaign but the programme's own skips those the lapsed programme gave up on).

A ``[caps]`` table (``daily``, ``weekly``, ``monthly``, ``exempt``, as in
``mailer.toml``) gives the campaign its own frequency caps when its rows are
planned; the project's caps hold again when a worker claims a row.

A ``[delivery]`` table says how ``mailer run`` sends it (command-line
options override it)::

    [delivery]
    class = "promotional"            # transactional | lifecycle | promotional
    window = "09:00-11:00"           # local time on `day`; or at = 2026-11-24T09:00:00Z;
    day = 2026-11-24                 #   or best_hour = "history.csv" (send-time model)
    quiet_hours = "21:00-08:00"      # local time; false to allow nights
    on_cap = "defer"                 # or "drop" a capped recipient
    expiry_hours = 24
    priority = 0
    return_path = "bounces@example-shop.test"
    dkim_selector = "mail2026"       # DKIM-sign each message (sending straight to MX) with
    dkim_key = "dkim/mail2026.pem"   #   this key (PEM, relative to this file); d= is the
                                     #   From domain unless dkim_domain = "..." says otherwise

Text values under ``[subject]``, ``[preheader]`` and ``[content]`` are either
one string or a table of languages; a recipient gets the first match along
their locale's fallback chain (``sv_FI`` → ``sv`` → default language).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.sending.caps import Caps
    from mailer.personalise.segments import Audience
    from mailer.personalise.strategies import SelectionConfig

Localised = Union[str, Mapping[str, str]]

_LINK_KEYS = {"unsubscribe", "unsubscribe_mailto", "preferences", "view_online"}
_TOP_KEYS = {
    "id",
    "layout",
    "from",
    "reply_to",
    "rates",
    "send_date",
    "default_language",
    "subject",
    "preheader",
    "links",
    "brand",
    "content",
    "offer",
    "slots",
    "selection",
    "audience",
    "delivery",
    "caps",
    "programmes",
}


@dataclass(frozen=True)
class DeliverySettings:
    """A campaign's ``[delivery]`` table, validated; ``None`` means "not said".

    >>> s = parse_delivery({"window": "09:00-11:00", "day": date(2026, 11, 24), "quiet_hours": False})
    >>> s.window, s.quiet_hours
    ((datetime.time(9, 0), datetime.time(11, 0)), False)
    >>> parse_delivery({"class": "newsletter"})
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: delivery.class: unknown message class 'newsletter'; known: transactional, lifecycle, promotional
    """

    message_class: str | None = None
    at: datetime | None = None
    window: tuple[time, time] | None = None
    day: date | None = None
    best_hour: Path | None = None
    quiet_hours: tuple[time, time] | Literal[False] | None = None
    on_cap: Literal["defer", "drop"] | None = None
    expiry_hours: float | None = None
    priority: int | None = None
    return_path: str | None = None
    dkim_selector: str | None = None
    """DKIM ``s=``; messages are signed when it and ``dkim_key`` are given."""
    dkim_domain: str | None = None
    """DKIM ``d=`` in ASCII (``None``: the From domain)."""
    dkim_key: Path | None = None
    """The DKIM private key (a PEM file); read when the campaign is queued and sent."""


_DELIVERY_KEYS = ("class", "at", "window", "day", "best_hour", "quiet_hours", "on_cap", "expiry_hours",
                  "priority", "return_path", "dkim_selector", "dkim_domain", "dkim_key")  # fmt: skip
_DKIM_KEYS = ("dkim_selector", "dkim_domain", "dkim_key")


def parse_times(text: object, where: str) -> tuple[time, time]:
    """``"HH:MM-HH:MM"`` as two times.

    >>> parse_times("21:00-08:00", "quiet_hours")
    (datetime.time(21, 0), datetime.time(8, 0))
    """
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(text).split("-", 1))
    except ValueError:
        raise ConfigError(f"{where}: expected HH:MM-HH:MM, got {text!r}") from None
    return start, end


def parse_delivery(table: Mapping[str, Any], *, base: Path | None = None) -> DeliverySettings:
    """Read a ``[delivery]`` table; ``best_hour`` is relative to ``base`` (the campaign's folder)."""
    from mailer.sending.caps import check_class

    if not isinstance(table, Mapping):
        raise ConfigError("delivery must be a table")
    unknown = set(table) - set(_DELIVERY_KEYS)
    if unknown:
        raise ConfigError(f"delivery: unknown key(s) {sorted(unknown)}; known: {', '.join(_DELIVERY_KEYS)}")
    if sum(key in table for key in ("at", "window", "best_hour")) > 1:
        raise ConfigError("delivery: give one of at, window and best_hour")
    values: dict[str, Any] = {}
    if "class" in table:
        try:
            values["message_class"] = check_class(str(table["class"]))
        except ConfigError as err:
            raise ConfigError(f"delivery.class: {err}") from None
    if "at" in table:
        at = table["at"]
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise ConfigError(f"delivery.at: a date and time with an offset, e.g. 2026-11-24T09:00:00Z; got {at!r}")
        values["at"] = at
    if "window" in table:
        start, end = parse_times(table["window"], "delivery.window")
        if not start < end:
            raise ConfigError(f"delivery.window: must start before it ends, got {table['window']!r}")
        values["window"] = (start, end)
    if "day" in table:
        if not isinstance(table["day"], date) or isinstance(table["day"], datetime):
            raise ConfigError(f"delivery.day: a date such as 2026-11-24, got {table['day']!r}")
        values["day"] = table["day"]
    if "best_hour" in table:
        if not isinstance(table["best_hour"], str):
            raise ConfigError("delivery.best_hour: the send/open history file to learn from")
        path = Path(table["best_hour"])
        values["best_hour"] = path if base is None or path.is_absolute() else base / path
    if "quiet_hours" in table:
        quiet = table["quiet_hours"]
        if quiet is True:
            raise ConfigError('delivery.quiet_hours: a range such as "21:00-08:00", or false')
        values["quiet_hours"] = False if quiet is False else parse_times(quiet, "delivery.quiet_hours")
    if "on_cap" in table:
        if table["on_cap"] not in ("defer", "drop"):
            raise ConfigError(f"delivery.on_cap: defer or drop, got {table['on_cap']!r}")
        values["on_cap"] = table["on_cap"]
    if "expiry_hours" in table:
        expiry = table["expiry_hours"]
        if isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or not expiry > 0:
            raise ConfigError(f"delivery.expiry_hours: a positive number of hours, got {expiry!r}")
        values["expiry_hours"] = float(expiry)
    if "priority" in table:
        if isinstance(table["priority"], bool) or not isinstance(table["priority"], int):
            raise ConfigError(f"delivery.priority: a whole number, got {table['priority']!r}")
        values["priority"] = table["priority"]
    if "return_path" in table:
        address = str(table["return_path"])
        if "@" not in address or any(c in address for c in "\r\n<> "):
            raise ConfigError(f"delivery.return_path: a bare address such as bounces@shop.test, got {address!r}")
        values["return_path"] = address
    if any(key in table for key in _DKIM_KEYS):
        values.update(_parse_dkim(table, base))
    return DeliverySettings(**values)


def _parse_dkim(table: Mapping[str, Any], base: Path | None) -> dict[str, Any]:
    """``dkim_selector``, ``dkim_domain`` and ``dkim_key`` (the key file is
    relative to ``base``; it is read when the campaign is queued, not here).

    >>> sorted(_parse_dkim({"dkim_selector": "mail", "dkim_key": "k.pem"}, Path("/shop")).items())
    [('dkim_key', PosixPath('/shop/k.pem')), ('dkim_selector', 'mail')]
    >>> _parse_dkim({"dkim_domain": "shop.test"}, None)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: delivery: DKIM signing needs both dkim_selector and dkim_key (dkim_domain defaults to the From domain)
    """
    from mailer.content.dkim import check_domain, check_selector  # only campaigns that sign load cryptography

    if "dkim_selector" not in table or "dkim_key" not in table:
        raise ConfigError("delivery: DKIM signing needs both dkim_selector and dkim_key "
                          "(dkim_domain defaults to the From domain)")  # fmt: skip
    values: dict[str, Any] = {"dkim_selector": check_selector(table["dkim_selector"], "delivery.dkim_selector")}
    if "dkim_domain" in table:
        values["dkim_domain"] = check_domain(table["dkim_domain"], "delivery.dkim_domain")
    key = table["dkim_key"]
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"delivery.dkim_key: the private key's PEM file, got {key!r}")
    path = Path(key).expanduser()
    values["dkim_key"] = path if base is None or path.is_absolute() else base / path
    return values


@dataclass(frozen=True)
class Campaign:
    """Everything a campaign says, validated.

    >>> c = Campaign(id="c1", layout="welcome", sender="Shop <news@shop.test>",
    ...              subject={"en": "Hello"},
    ...              links={"unsubscribe": "https://shop.test/u/{token}",
    ...                     "unsubscribe_mailto": "unsubscribe@shop.test"})
    >>> c.text("subject", ("de_DE", "de", "en"))
    'Hello'
    """

    id: str
    layout: str
    sender: str
    subject: Localised
    links: Mapping[str, str]
    preheader: Localised = ""
    reply_to: str | None = None
    rates_path: Path | None = None
    send_date: datetime | None = None
    default_language: str = "en"
    brand: Mapping[str, str] = field(default_factory=dict)
    content: Mapping[str, Localised] = field(default_factory=dict)
    offer: Mapping[str, Any] = field(default_factory=dict)
    slots: Mapping[str, Sequence[str]] = field(default_factory=dict)
    source: Path | None = None
    selection: SelectionConfig | None = None
    """The parsed ``[selection]`` table (``None``: none given)."""
    audience: Audience | None = None
    """The parsed ``[audience]`` table (``None``: everyone)."""
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    caps: Caps | None = None
    """The campaign's own frequency caps (``[caps]``, as in ``mailer.toml``), applied
    when its rows are planned; ``None``: the project's."""
    programmes: Literal["respect", "ignore"] = "respect"
    """``respect``: customers a lifecycle programme holds (in the welcome series, or
    given up by the lapsed programme) are left out; ``ignore``: they are not."""

    def __post_init__(self) -> None:
        where = str(self.source) if self.source else "campaign"
        if not self.id or any(c in self.id for c in "\r\n\0/"):
            raise ConfigError(f"{where}: 'id' must be a non-empty name without '/' or line breaks")
        missing = {"unsubscribe", "unsubscribe_mailto"} - set(self.links)
        if missing:
            raise ConfigError(f"{where}: [links] needs {', '.join(sorted(missing))} (RFC 8058 one-click)")
        unknown = set(self.links) - _LINK_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown [links] key(s) {sorted(unknown)}; known: {sorted(_LINK_KEYS)}")
        for key, url in self.links.items():
            if key == "unsubscribe_mailto":
                continue
            if not str(url).startswith("https://"):
                raise ConfigError(f"{where}: links.{key} must be an https URL, got {url!r}")

    def text(self, key: str, chain: Sequence[str]) -> str:
        """The ``subject``/``preheader`` or ``content.<name>`` text for a
        locale fallback chain (most specific first)."""
        if key in ("subject", "preheader"):
            value: Localised = getattr(self, key)
        else:
            value = self.content[key]
        return pick_language(value, chain, self.default_language)

    def content_for(self, chain: Sequence[str]) -> dict[str, Any]:
        """All of ``[content]`` resolved for one locale fallback chain."""
        return {
            name: pick_language(value, chain, self.default_language)
            if isinstance(value, (str, Mapping))
            else value
            for name, value in self.content.items()
        }


def pick_language(value: Localised, chain: Sequence[str], default: str = "en") -> str:
    """Choose the text for the first language of ``chain`` that has one.

    >>> pick_language({"sv": "Hej", "en": "Hi"}, ("sv_FI", "sv", "en"))
    'Hej'
    >>> pick_language("Hi", ("fr",))
    'Hi'
    """
    if isinstance(value, str):
        return value
    for language in (*chain, default):
        if language in value:
            return value[language]
    if value:
        return next(iter(value.values()))
    return ""


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign TOML file; errors name the file and key."""
    return parse_campaign(read_campaign_text(path), path)


def read_campaign_text(path: str | Path) -> str:
    """A campaign file's text; a missing or non-UTF-8 file is a :class:`ConfigError` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read campaign file: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err


def parse_campaign(text: str, path: str | Path) -> Campaign:
    """Validate campaign TOML ``text``; ``path`` names it in errors and is
    where relative file names (rates, purchases, history) are resolved from."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from err
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    for required in ("id", "layout", "from", "subject", "links"):
        if required not in data:
            raise ConfigError(f"{path}: missing required key {required!r}")
    send_date = data.get("send_date")
    if isinstance(send_date, date) and not isinstance(send_date, datetime):
        send_date = datetime(send_date.year, send_date.month, send_date.day, tzinfo=timezone.utc)
    if isinstance(send_date, datetime) and send_date.tzinfo is None:
        raise ConfigError(f"{path}: send_date must carry a time zone offset (e.g. Z)")
    rates = data.get("rates")
    slots = data.get("slots", {})
    if not isinstance(slots, dict) or not all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in slots.values()
    ):
        raise ConfigError(f"{path}: [slots] must map slot group names to lists of product ids")
    selection, audience = _parse_personalisation(path, data.get("selection"), data.get("audience"))
    try:
        delivery = parse_delivery(data.get("delivery", {}), base=path.parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    programmes = data.get("programmes", "respect")
    if programmes not in ("respect", "ignore"):
        raise ConfigError(f"{path}: programmes must be \"respect\" or \"ignore\", got {programmes!r}")
    caps = None
    if "caps" in data:
        from mailer.project import parse_caps  # the same [caps] table as mailer.toml's

        caps = parse_caps(data["caps"], path=str(path))
    return Campaign(
        id=str(data["id"]),
        layout=str(data["layout"]),
        sender=str(data["from"]),
        reply_to=data.get("reply_to"),
        subject=data["subject"],
        preheader=data.get("preheader", ""),
        links=data["links"],
        rates_path=(path.parent / rates) if rates else None,
        send_date=send_date,
        default_language=str(data.get("default_language", "en")),
        brand=data.get("brand", {}),
        content=data.get("content", {}),
        offer=data.get("offer", {}),
        slots=slots,
        source=path,
        selection=selection,
        audience=audience,
        delivery=delivery,
        caps=caps,
        programmes=programmes,
    )


def _parse_personalisation(
    path: Path, selection: Any, audience: Any
) -> tuple[SelectionConfig | None, Audience | None]:
    """Parse ``[selection]`` and ``[audience]`` once, so a typo names this file."""
    if not selection and not audience:
        return None, None
    # Imported only when used: plain campaigns load without numpy.
    from mailer.personalise.segments import Audience
    from mailer.personalise.strategies import parse_selection

    try:
        config = parse_selection(selection, base=path.parent) if selection else None
        if audience and not isinstance(audience, dict):
            raise ConfigError("audience must be a table")
        return config, (Audience.from_mapping(audience) if audience else None)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
