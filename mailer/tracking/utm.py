"""UTM parameters: the campaign's name on the links it sends to the shop.

Analytics tools read ``utm_source``, ``utm_medium``, ``utm_campaign`` and
``utm_content`` from the landing page's URL. :func:`add_utm` adds them to a
link's destination, leaving any a link already has as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_plus, urlsplit

from mailer.errors import ConfigError

__all__ = ["Utm", "add_utm"]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Utm:
    """The UTM parameters a campaign adds to its tracked links.

    ``hosts``: only links to these hosts or their subdomains get them (empty:
    every link).

    >>> Utm(source="newsletter", campaign="autumn-2026").medium
    'email'
    """

    source: str
    campaign: str
    medium: str = "email"
    hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("source", "campaign", "medium"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or not _encodable(value):
                raise ConfigError(f"utm {name} must be a non-empty string, got {value!r}")
        if isinstance(self.hosts, str) or not all(isinstance(h, str) and h for h in self.hosts):
            raise ConfigError(f"utm hosts must be a tuple of host names, got {self.hosts!r}")
        object.__setattr__(self, "hosts", tuple(h.lower().strip(".") for h in self.hosts))

    def applies_to(self, url: str) -> bool:
        """Whether links to ``url`` get the parameters."""
        if not self.hosts:
            return True
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return False
        return any(host == h or host.endswith("." + h) for h in self.hosts)


def add_utm(url: str, utm: Utm, content: str) -> str:
    """``url`` with ``utm``'s parameters and ``utm_content=content`` added,
    keeping those already present (whatever their value) and the fragment.

    >>> add_utm("https://shop.test/p?utm_source=ads&x=1#top", Utm(source="newsletter", campaign="autumn"), "hero")
    'https://shop.test/p?utm_source=ads&x=1&utm_medium=email&utm_campaign=autumn&utm_content=hero#top'
    """
    if not utm.applies_to(url):
        return url
    base, hash_, fragment = url.partition("#")
    path, _, query = base.partition("?")
    present = {unquote_plus(pair.partition("=")[0]) for pair in query.split("&") if pair}
    wanted = (
        ("utm_source", utm.source),
        ("utm_medium", utm.medium),
        ("utm_campaign", utm.campaign),
        ("utm_content", content),
    )
    added = "&".join(f"{name}={quote(value, safe='')}" for name, value in wanted if name not in present)
    if not added:
        return url
    if query and not query.endswith("&"):
        added = "&" + added
    return f"{path}?{query}{added}{hash_}{fragment}"
