"""Client targets: which email clients a campaign's HTML is checked against.

A target names a client family of the caniemail data (``gmail``: every
platform of it) or one platform of a family (``outlook.windows``,
``apple-mail.ios``). Each platform is judged at its latest tested version.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.lint.caniemail import CanIEmail

__all__ = ["DEFAULT_CLIENTS", "ClientTarget", "default_targets", "parse_clients"]

DEFAULT_CLIENTS: tuple[str, ...] = ("gmail", "outlook", "apple-mail", "yahoo")
"""What a campaign is checked against unless told otherwise: the clients most
subscribers read mail in, every platform of each."""

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True, slots=True)
class ClientTarget:
    """A client family, or one platform of it (``platform=None``: all of them).

    >>> ClientTarget.parse("outlook.windows")
    ClientTarget(family='outlook', platform='windows')
    >>> str(ClientTarget.parse(" Gmail "))
    'gmail'
    """

    family: str
    platform: str | None = None

    @classmethod
    def parse(cls, value: str) -> ClientTarget:
        """``family`` or ``family.platform``; the syntax only (see :func:`parse_clients`)."""
        text = value.strip().lower()
        family, dot, platform = text.partition(".")
        if not _NAME.fullmatch(family) or (dot and not _NAME.fullmatch(platform)):
            raise ConfigError(
                f"email client {value!r}: expected a family such as 'gmail' or a family and platform "
                "such as 'outlook.windows'"
            )
        return cls(family, platform or None)

    def platforms(self, known: Sequence[str]) -> tuple[str, ...]:
        """Which of a family's ``known`` platforms this target covers.

        >>> ClientTarget("gmail").platforms(["ios", "android"])
        ('ios', 'android')
        >>> ClientTarget("gmail", "ios").platforms(["ios", "android"]), ClientTarget("gmail", "web").platforms(["ios"])
        (('ios',), ())
        """
        if self.platform is None:
            return tuple(known)
        return (self.platform,) if self.platform in known else ()

    def __str__(self) -> str:
        return self.family if self.platform is None else f"{self.family}.{self.platform}"


def parse_clients(values: Iterable[str], data: CanIEmail | None = None) -> tuple[ClientTarget, ...]:
    """Targets from command-line or campaign values (each may list several, comma-separated).

    With ``data``, an unknown family or platform is a :class:`ConfigError`
    that lists the known ones. Duplicates are dropped, the order kept.

    >>> parse_clients(["gmail, outlook.windows", "gmail"])
    (ClientTarget(family='gmail', platform=None), ClientTarget(family='outlook', platform='windows'))
    >>> parse_clients(["outlook/windows"])
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: email client 'outlook/windows': expected a family such as 'gmail' or a family and platform such as 'outlook.windows'
    """
    targets: dict[ClientTarget, None] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                targets[ClientTarget.parse(part)] = None
    if data is not None:
        for target in targets:
            _check_known(target, data.platforms)
    return tuple(targets)


def default_targets() -> tuple[ClientTarget, ...]:
    """:data:`DEFAULT_CLIENTS` as targets.

    >>> [str(target) for target in default_targets()]
    ['gmail', 'outlook', 'apple-mail', 'yahoo']
    """
    return parse_clients(DEFAULT_CLIENTS)


def _check_known(target: ClientTarget, platforms: Mapping[str, Sequence[str]]) -> None:
    known = platforms.get(target.family)
    if known is None:
        raise ConfigError(f"unknown email client {target.family!r}{_did_you_mean(target.family, platforms)}; "
                          f"known: {', '.join(sorted(platforms))}")  # fmt: skip
    if target.platform is not None and target.platform not in known:
        raise ConfigError(f"email client {target.family!r} has no platform {target.platform!r}"
                          f"{_did_you_mean(target.platform, known)}; known: {', '.join(known)}")  # fmt: skip


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
