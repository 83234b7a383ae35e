"""A campaign: what to send, from whom, with which layout and copy.

Campaign files are TOML (``fixtures/campaign.toml`` is a complete example)::

    id = "autumn-2026"
    layout = "newsletter"
    from = "Example Shop <news@example-shop.test>"
    rates = "rates.csv"                      # relative to this file
    send_date = 2026-11-24T09:00:00Z         # prices and sales as of then

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

Text values under ``[subject]``, ``[preheader]`` and ``[content]`` are either
one string or a table of languages; a recipient gets the first match along
their locale's fallback chain (``sv_FI`` → ``sv`` → default language).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Union

from mailer.errors import ConfigError

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
}


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
    selection: Mapping[str, Any] = field(default_factory=dict)
    audience: Mapping[str, Any] = field(default_factory=dict)

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
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read campaign file: {err.strerror}") from err
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
    if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in slots.values()):
        raise ConfigError(f"{path}: [slots] must map slot group names to lists of product ids")
    selection = data.get("selection", {})
    audience = data.get("audience", {})
    _check_personalisation(path, selection, audience)
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
    )


def _check_personalisation(path: Path, selection: Any, audience: Any) -> None:
    """Validate ``[selection]`` and ``[audience]`` now, so a typo names this file."""
    if not selection and not audience:
        return
    # Imported only when used: plain campaigns load without numpy.
    from mailer.personalise.segments import Audience
    from mailer.personalise.strategies import parse_selection

    try:
        if selection:
            parse_selection(selection, base=path.parent)
        if audience:
            if not isinstance(audience, dict):
                raise ConfigError("audience must be a table")
            Audience.from_mapping(audience)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
