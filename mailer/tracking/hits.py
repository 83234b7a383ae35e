"""Hits: what one request to the tracking endpoint records.

A :class:`Hit` is an open (the pixel was fetched) or a click (a click URL was
followed) of one message, as the endpoint saw it. :func:`capture` builds one
from the request and is the only way an address gets in: it is truncated
there and then (:func:`truncate_ip`: IPv4 to its /24, IPv6 to its /48), so
a full address is never stored, and only the few headers that tell a proxy
or a prefetch from a person are kept (:data:`CAPTURED_HEADERS`). Everything
is bounded and cleaned, so a hostile request cannot make a record the store
cannot hold.

Times are UTC seconds since the epoch (``float``), as in :mod:`mailer.store`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = ["CAPTURED_HEADERS", "Hit", "Kind", "capture", "truncate_ip"]

Kind = Literal["open", "click"]

CAPTURED_HEADERS = ("from", "purpose", "sec-purpose", "x-purpose", "x-moz", "sec-fetch-user", "via")
"""Request headers a hit keeps (lower-case): ``From`` (crawlers give an
address there), the prefetch markers (``Purpose``, ``Sec-Purpose``,
``X-Purpose``, ``X-Moz``: a browser fetching ahead, not a person clicking),
``Sec-Fetch-User`` (``?1``: a navigation the user started) and ``Via``
(proxies)."""
MAX_USER_AGENT = 512
MAX_HEADER = 256
_METHOD = re.compile(r"[A-Z]{1,16}")
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Hit:
    """One open or click of one message.

    ``link`` is the link index (``None`` for an open), ``network`` the
    truncated address (``203.0.113.0/24``, ``2001:db8:1::/48``, or ``""`` when
    the request had none that parses), ``headers`` those of
    :data:`CAPTURED_HEADERS` the request had.
    """

    at: float
    kind: Kind
    message: int
    link: int | None
    method: str = "GET"
    user_agent: str = ""
    network: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def truncate_ip(address: str | None) -> str:
    """The network an address belongs to, as a prefix: an IPv4 address to its
    /24, an IPv6 one to its /48 (an IPv4-mapped IPv6 address counts as IPv4);
    ``""`` for anything that is not an address.

    >>> truncate_ip("203.0.113.77"), truncate_ip("2001:db8:1234:5678::1")
    ('203.0.113.0/24', '2001:db8:1234::/48')
    >>> truncate_ip("::ffff:198.51.100.7"), truncate_ip("[fe80::1%eth0]"), truncate_ip("localhost")
    ('198.51.100.0/24', 'fe80::/48', '')
    """
    if not isinstance(address, str) or not 0 < len(address) <= 64:
        return ""
    text = address.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.partition("%")[0]  # an IPv6 zone names a local interface, nothing more
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _clean(value: object, limit: int) -> str:
    """Text the store can hold: no control characters or lone surrogates, at most ``limit`` characters."""
    if not isinstance(value, str):
        return ""
    return _UNSTORABLE.sub(" ", value[: limit * 2])[:limit].strip()


def capture(
    *,
    at: float,
    kind: Kind,
    message: int,
    link: int | None = None,
    method: str = "GET",
    user_agent: str | None = None,
    address: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
) -> Hit:
    """The :class:`Hit` of one request: ``address`` truncated (see
    :func:`truncate_ip`), the user agent cleaned and cut to 512 characters,
    only :data:`CAPTURED_HEADERS` kept. ``address`` is the client's, as the
    server (or a proxy it trusts) saw it.

    >>> hit = capture(at=0.0, kind="click", message=7, link=2, user_agent="Mozilla/5.0\\x00",
    ...               address="198.51.100.23", headers={"Sec-Purpose": "prefetch", "Cookie": "x"})
    >>> hit.network, hit.user_agent, dict(hit.headers)
    ('198.51.100.0/24', 'Mozilla/5.0', {'sec-purpose': 'prefetch'})
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    kept: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if isinstance(name, str) else ""
        if key in CAPTURED_HEADERS and key not in kept:
            kept[key] = _clean(value, MAX_HEADER)
    verb = method.strip().upper() if isinstance(method, str) else ""
    return Hit(
        at=float(at),
        kind=kind,
        message=message,
        link=link if kind == "click" else None,
        method=verb if _METHOD.fullmatch(verb) else "OTHER",
        user_agent=_clean(user_agent, MAX_USER_AGENT),
        network=truncate_ip(address),
        headers=MappingProxyType(kept),
    )
