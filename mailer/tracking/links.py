"""Click and open-pixel tokens: what a tracked link says, signed so that nobody
can forge one or edit it.

A click URL is ``<base>/c/<token>``, an open pixel ``<base>/o/<token>.gif``
(:class:`TrackingUrls`). A token is the unpadded base64url form of::

    kind (1 byte) | key id length (1) | key id | body | tag (12)

where the tag is HMAC-SHA256, under the key the id names, of a domain label
and every byte before it, cut to 96 bits. The bodies:

===============  ===========================================================
personal click   message, link (varints), scheme (1), rest of destination
personal open    message (varint)
anonymous click  link (varint), campaign (length, bytes), scheme, destination
anonymous open   campaign (length, bytes), nonce (0–16 random bytes)
===============  ===========================================================

``message`` is the store's delivery id (a non-negative integer; 0 when there
is none, as in a preview), ``link`` the link's index in its message
(:data:`HONEYPOT` is the hidden link, real links count from 1).

**The destination travels in the token**, not as a link id the store maps:
the redirect needs no database read (fast, and clicks keep working while the
store is busy, migrated or pruned); the tag covers it, so a token whose
destination was changed fails, and no query parameter is ever read — there is
no open redirect. The price is length: a click token is 19 bytes plus the
key id and the destination without its scheme (for messages below 2**21 and
links below 128), 4 base64 characters per 3 bytes: 75 characters for
``https://www.example-shop.test/p/WD1001-S`` under key id ``2026a``; an
open token is 30.

**Anonymous tokens** serve recipients whose tracking may only be aggregate
(:mod:`mailer.tracking.consent`): they carry the campaign and never the
message, so every recipient of a link gets the same click token and a click
names a link, not a person. The anonymous pixel carries a random nonce that is
never stored, only so that shared image-proxy caches do not fold many
recipients' opens into one fetch.

**Keys rotate**: :class:`LinkSigner` signs with its first key and verifies
with any (the key id is in the token), so mail already sent keeps working
after a new key is put first, until the old key is dropped from the list.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote, urlsplit

import idna

from mailer.errors import ConfigError, MessageError
from mailer.tokens import InvalidToken

__all__ = [
    "HONEYPOT",
    "MAX_DESTINATION",
    "PIXEL_GIF",
    "TAG_BYTES",
    "AnonymousClick",
    "AnonymousOpen",
    "Click",
    "InvalidTrackingToken",
    "LinkSigner",
    "MessageLinks",
    "Open",
    "Token",
    "TrackingUrls",
    "UntrackableLink",
    "check_destination",
]

TAG_BYTES = 12
"""The tag's length: 96 bits, so a forger needs about 2**95 guesses at the endpoint."""
MAX_TOKEN = 4_096
"""Longer strings are refused before any decoding."""
MAX_DESTINATION = 2_048
"""Longest destination a click may carry, in characters once encoded: past
that a link is left as it is (browsers and mail clients start truncating URLs
not far beyond)."""
MAX_NONCE = 16
HONEYPOT = 0
"""The link index of the hidden honeypot link; real links count from 1."""

PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
"""A transparent 1×1 GIF (43 bytes): what ``/o/<token>.gif`` answers."""

_LABEL = b"mailer-track\x00"
"""Domain separation: a tag here can never be a tag of :mod:`mailer.tokens`."""
_CLICK, _OPEN, _ANONYMOUS_CLICK, _ANONYMOUS_OPEN = 0x11, 0x12, 0x13, 0x14
_SCHEMES = ("https://", "http://")
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_URL_SPACE = "\t\n\f\r "
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]")
_HOST = re.compile(r"[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)*\.?")
_BASE = re.compile(r"[A-Za-z0-9._~:/%\[\]-]+")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class InvalidTrackingToken(InvalidToken):
    """A click or pixel token is malformed, was tampered with, or was signed by
    a key no longer held: the tracking endpoint answers 404.

    A subclass of :class:`mailer.tokens.InvalidToken` (and so of
    :class:`~mailer.errors.MailerError` and :class:`ValueError`).
    """


class UntrackableLink(MessageError):
    """A link cannot become a click URL: not absolute http(s), a control
    character, an invalid host or port, or too long. ``url`` is the link,
    ``reason`` says which. :func:`mailer.tracking.rewrite.rewrite` leaves such
    links as they are and lists them."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{reason}: {url[:200]!r}")


@dataclass(frozen=True, slots=True)
class Click:
    """A verified personal click token."""

    message: int
    link: int
    destination: str
    key_id: str


@dataclass(frozen=True, slots=True)
class Open:
    """A verified personal open-pixel token."""

    message: int
    key_id: str


@dataclass(frozen=True, slots=True)
class AnonymousClick:
    """A verified anonymous click token: a link of a campaign, nobody in particular."""

    campaign: str
    link: int
    destination: str
    key_id: str


@dataclass(frozen=True, slots=True)
class AnonymousOpen:
    """A verified anonymous open-pixel token: it counts toward the campaign's total only."""

    campaign: str
    key_id: str


Token = Click | Open | AnonymousClick | AnonymousOpen


def check_destination(url: str) -> str:
    """``url`` as a click may redirect to, or :class:`UntrackableLink`.

    It must be absolute ``http`` or ``https`` with a host. Surrounding white
    space and inner tabs and line breaks are dropped (browsers drop them
    too); other control characters are refused; a non-ASCII host becomes its
    IDNA A-label, and other non-ASCII characters and spaces are
    percent-encoded, so the result is printable ASCII, safe in a
    ``Location`` header.

    >>> check_destination(" HTTPS://bücher.test/straße?q=a b#top ")
    'https://xn--bcher-kva.test/stra%C3%9Fe?q=a%20b#top'
    >>> check_destination("javascript:alert(1)")
    Traceback (most recent call last):
    ...
    mailer.tracking.links.UntrackableLink: not an absolute http(s) URL: 'javascript:alert(1)'
    """
    if not isinstance(url, str):
        raise UntrackableLink(repr(url), "not a string")
    cleaned = _TAB_OR_NEWLINE.sub("", url.strip(_URL_SPACE))
    if _CONTROL.search(cleaned):
        raise UntrackableLink(url, "control character in URL")
    head = cleaned[:8].lower()
    scheme = next((s for s in _SCHEMES if head.startswith(s)), None)
    if scheme is None:
        raise UntrackableLink(url, "not an absolute http(s) URL")
    rest = cleaned[len(scheme) :]
    try:
        parts = urlsplit(scheme + rest)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as err:
        raise UntrackableLink(url, f"invalid host or port ({err})") from None
    if not host:
        raise UntrackableLink(url, "no host")
    if not host.isascii():
        rest = _ascii_host(url, rest)
    elif not _HOST.fullmatch(host) and not _ip_literal(host):
        raise UntrackableLink(url, "invalid host")
    try:
        rest = _NOT_PRINTABLE_ASCII.sub(lambda m: quote(m.group(), safe=""), rest)
    except UnicodeEncodeError:
        raise UntrackableLink(url, "not encodable as UTF-8") from None
    result = scheme + rest
    if len(result) > MAX_DESTINATION:
        raise UntrackableLink(url, f"longer than {MAX_DESTINATION} characters")
    return result


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _ascii_host(url: str, rest: str) -> str:
    """``rest`` (a URL after its scheme) with its internationalised host as an A-label."""
    end = len(rest)
    for stop in "/?#\\":
        found = rest.find(stop)
        if 0 <= found < end:
            end = found
    userinfo, at, hostport = rest[:end].rpartition("@")
    host, colon, port = hostport.rpartition(":")
    if not colon or not port.isdigit():
        host, colon, port = hostport, "", ""
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise UntrackableLink(url, "invalid internationalised host") from None
    return f"{userinfo}{at}{ascii_host}{colon}{port}{rest[end:]}"


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(pos, min(pos + 10, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise ValueError("truncated or overlong number")


def _text(value: str, what: str) -> bytes:
    """A length-prefixed UTF-8 string of at most 255 bytes."""
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{what} is not encodable as UTF-8: {value[:80]!r}") from None
    if len(raw) > 255:
        raise ConfigError(f"{what} is longer than 255 bytes of UTF-8: {value[:80]!r}")
    return bytes((len(raw),)) + raw


def _read_text(data: bytes, pos: int) -> tuple[str, int]:
    size = data[pos]
    end = pos + 1 + size
    if end > len(data):
        raise ValueError("truncated text")
    return data[pos + 1 : end].decode("utf-8"), end


_checked = lru_cache(maxsize=8_192)(check_destination)
""":func:`check_destination`, remembered: a campaign's links recur in many messages."""


def _destination_bytes(destination: str) -> bytes:
    checked = _checked(destination)
    scheme = 0 if checked.startswith(_SCHEMES[0]) else 1
    return bytes((scheme,)) + checked[len(_SCHEMES[scheme]) :].encode("ascii")


def _read_destination(data: bytes, pos: int) -> str:
    scheme = data[pos]
    destination = _SCHEMES[scheme] + data[pos + 1 :].decode("ascii")
    # Authentic tokens hold checked destinations; checking again costs little
    # and keeps anything odd out of a Location header.
    if _NOT_PRINTABLE_ASCII.search(destination) or len(destination) > MAX_DESTINATION + 8:
        raise ValueError("destination is not printable ASCII")
    return destination


def _count(value: int, what: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ConfigError(f"{what} must be an integer from 0 to 2**63 - 1, got {value!r}")
    return _varint(value)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class LinkSigner:
    """Signs click and open tokens with its first key and verifies them with any.

    ``keys`` are ``(key_id, key)`` pairs: ids of 1 to 16 letters, digits, ``-``
    or ``_``, keys of at least 16 bytes. To rotate, put a new key first and
    keep the old one after it for as long as mail signed with it may still be
    clicked.

    >>> old = LinkSigner([("2026a", b"a" * 32)])
    >>> token = old.click(41, 3, "https://shop.test/p/1")
    >>> old.verify(token)
    Click(message=41, link=3, destination='https://shop.test/p/1', key_id='2026a')
    >>> rotated = LinkSigner([("2026b", b"b" * 32), ("2026a", b"a" * 32)])
    >>> rotated.verify(token).link, rotated.verify(rotated.open(41)).key_id
    (3, '2026b')
    >>> LinkSigner([("2026b", b"b" * 32)]).verify(token)
    Traceback (most recent call last):
    ...
    mailer.tracking.links.InvalidTrackingToken: token signed by a key no longer held
    """

    __slots__ = ("_heads", "_key", "_keys")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        pairs = list(keys)
        if not pairs:
            raise ConfigError("a link signer needs at least one (key_id, key) pair")
        held: dict[bytes, bytes] = {}
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ConfigError(f"link-signing keys are (key_id, key) pairs, got {pair!r}")
            key_id, key = pair
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise ConfigError(f"a link-signing key id is 1 to 16 of A-Z a-z 0-9 - _, got {key_id!r}")
            if not isinstance(key, bytes) or len(key) < 16:
                raise ConfigError(f"link-signing key {key_id!r} must be bytes, at least 16 of them")
            if key_id.encode("ascii") in held:
                raise ConfigError(f"link-signing key id {key_id!r} appears twice")
            held[key_id.encode("ascii")] = key
        self._keys = held
        first_id, self._key = next(iter(held.items()))
        self._heads = {kind: bytes((kind, len(first_id))) + first_id for kind in (_CLICK, _OPEN, _ANONYMOUS_CLICK, _ANONYMOUS_OPEN)}

    @property
    def key_id(self) -> str:
        """The id of the key new tokens are signed with."""
        return next(iter(self._keys)).decode("ascii")

    def _seal(self, kind: int, body: bytes) -> str:
        data = self._heads[kind] + body
        return _b64(data + hmac.digest(self._key, _LABEL + data, "sha256")[:TAG_BYTES])

    def click(self, message: int, link: int, destination: str) -> str:
        """A personal click token; :class:`UntrackableLink` if ``destination``
        cannot be redirected to (see :func:`check_destination`)."""
        return self._seal(_CLICK, _count(message, "message") + _count(link, "link") + _destination_bytes(destination))

    def open(self, message: int) -> str:
        """A personal open-pixel token."""
        return self._seal(_OPEN, _count(message, "message"))

    def anonymous_click(self, campaign: str, link: int, destination: str) -> str:
        """A click token naming only the campaign and link: the same for every recipient."""
        body = _count(link, "link") + _text(campaign, "campaign id") + _destination_bytes(destination)
        return self._seal(_ANONYMOUS_CLICK, body)

    def anonymous_open(self, campaign: str, nonce: bytes = b"") -> str:
        """An open-pixel token naming only the campaign; ``nonce`` (at most 16
        random bytes, never stored) keeps shared proxy caches from merging opens."""
        if not isinstance(nonce, bytes) or len(nonce) > MAX_NONCE:
            raise ConfigError(f"a pixel nonce is at most {MAX_NONCE} bytes")
        return self._seal(_ANONYMOUS_OPEN, _text(campaign, "campaign id") + nonce)

    def verify(self, token: str) -> Token:
        """The token's content, or :class:`InvalidTrackingToken` (malformed,
        tampered with, or signed by a key not held)."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN or len(token) % 4 == 1:
            raise InvalidTrackingToken("malformed token")
        if not _BASE64URL.fullmatch(token):
            raise InvalidTrackingToken("malformed token")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise InvalidTrackingToken("malformed token") from None
        # Base64 can spell the same bytes twice (unused low bits of the last
        # character); only the canonical spelling is a token.
        if _b64(raw) != token or len(raw) < 3 + TAG_BYTES:
            raise InvalidTrackingToken("malformed token")
        head = 2 + raw[1]
        if len(raw) < head + TAG_BYTES:
            raise InvalidTrackingToken("malformed token")
        key_id = raw[2:head]
        key = self._keys.get(key_id)
        if key is None:
            raise InvalidTrackingToken("token signed by a key no longer held")
        data, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        if not hmac.compare_digest(tag, hmac.digest(key, _LABEL + data, "sha256")[:TAG_BYTES]):
            raise InvalidTrackingToken("token signature does not match")
        try:
            return _parse(raw[0], data, head, key_id.decode("ascii"))
        except (ValueError, IndexError) as err:  # UnicodeDecodeError is a ValueError
            raise InvalidTrackingToken(f"malformed token ({err})") from None

    def verify_click(self, token: str) -> Click | AnonymousClick:
        """A click token's content; any other kind of token is invalid here."""
        found = self.verify(token)
        if not isinstance(found, Click | AnonymousClick):
            raise InvalidTrackingToken("not a click token")
        return found

    def verify_open(self, token: str) -> Open | AnonymousOpen:
        """An open-pixel token's content; any other kind of token is invalid here."""
        found = self.verify(token)
        if not isinstance(found, Open | AnonymousOpen):
            raise InvalidTrackingToken("not an open-pixel token")
        return found


def _parse(kind: int, data: bytes, pos: int, key_id: str) -> Token:
    if kind == _CLICK:
        message, pos = _read_varint(data, pos)
        link, pos = _read_varint(data, pos)
        return Click(message, link, _read_destination(data, pos), key_id)
    if kind == _OPEN:
        message, pos = _read_varint(data, pos)
        if pos != len(data):
            raise ValueError("trailing bytes")
        return Open(message, key_id)
    if kind == _ANONYMOUS_CLICK:
        link, pos = _read_varint(data, pos)
        campaign, pos = _read_text(data, pos)
        return AnonymousClick(campaign, link, _read_destination(data, pos), key_id)
    if kind == _ANONYMOUS_OPEN:
        campaign, pos = _read_text(data, pos)
        if len(data) - pos > MAX_NONCE:
            raise ValueError("nonce too long")
        return AnonymousOpen(campaign, key_id)
    raise ValueError(f"unknown token kind {kind:#x}")


class MessageLinks(Protocol):
    """The tracking URLs of one message, personal or anonymous."""

    def click(self, link: int, destination: str) -> str:
        """The click URL of link ``link`` (:class:`UntrackableLink` if it cannot be one)."""
        ...

    def open(self) -> str:
        """The open-pixel URL."""
        ...


@dataclass(frozen=True, slots=True)
class _PersonalLinks:
    urls: TrackingUrls
    message: int

    def click(self, link: int, destination: str) -> str:
        return f"{self.urls.base}/c/{self.urls.signer.click(self.message, link, destination)}"

    def open(self) -> str:
        return f"{self.urls.base}/o/{self.urls.signer.open(self.message)}.gif"


@dataclass(frozen=True, slots=True)
class _AnonymousLinks:
    urls: TrackingUrls
    campaign: str
    nonce: bytes

    def click(self, link: int, destination: str) -> str:
        return f"{self.urls.base}/c/{self.urls.signer.anonymous_click(self.campaign, link, destination)}"

    def open(self) -> str:
        return f"{self.urls.base}/o/{self.urls.signer.anonymous_open(self.campaign, self.nonce)}.gif"


@dataclass(frozen=True)
class TrackingUrls:
    """Where tracking URLs point: ``base`` is ``https://`` and a host, with
    an optional path (``http://`` only for ``localhost``), and ``signer``
    signs their tokens.

    >>> urls = TrackingUrls("https://t.shop.test", LinkSigner([("k1", b"k" * 32)]))
    >>> url = urls.personal(7).click(1, "https://shop.test/")
    >>> url
    'https://t.shop.test/c/EQJrMQcBAHNob3AudGVzdC_brNc2QfjyuEiLp6M'
    >>> urls.resolve("/c/EQJrMQcBAHNob3AudGVzdC_brNc2QfjyuEiLp6M")
    Click(message=7, link=1, destination='https://shop.test/', key_id='k1')
    >>> urls.resolve(urls.personal(7).open().removeprefix(urls.base))
    Open(message=7, key_id='k1')
    """

    base: str
    signer: LinkSigner

    def __post_init__(self) -> None:
        base = self.base.rstrip("/") if isinstance(self.base, str) else ""
        try:
            parts = urlsplit(base)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            parts = None
        local_http = parts is not None and parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
        if (
            parts is None
            or not (parts.scheme == "https" or local_http)
            or not parts.hostname
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or not _BASE.fullmatch(base)
        ):
            raise ConfigError(f"the tracking base URL must be https://host[/path] with nothing after, got {self.base!r}")
        object.__setattr__(self, "base", base)

    def personal(self, message: int) -> MessageLinks:
        """The URLs of message ``message`` (the store's delivery id): per-person opens and clicks."""
        _count(message, "message")
        return _PersonalLinks(self, message)

    def anonymous(self, campaign: str, *, nonce: bytes | None = None) -> MessageLinks:
        """URLs that identify nobody: clicks name the campaign's link, the
        pixel counts toward the campaign's total. ``nonce`` defaults to 4
        random bytes (pass one only for reproducible output)."""
        _text(campaign, "campaign id")
        return _AnonymousLinks(self, campaign, secrets.token_bytes(4) if nonce is None else nonce)

    def resolve(self, path: str) -> Token:
        """The verified token of a request path ending ``/c/<token>`` or
        ``/o/<token>.gif``; :class:`InvalidTrackingToken` for anything else
        (the endpoint answers 404)."""
        if not isinstance(path, str) or len(path) > MAX_TOKEN + 512:
            raise InvalidTrackingToken("not a tracking path")
        rest, _, last = path.rpartition("/")
        kind = rest.rpartition("/")[2]
        if kind == "c":
            return self.signer.verify_click(last)
        if kind == "o" and last.endswith(".gif"):
            return self.signer.verify_open(last[:-4])
        raise InvalidTrackingToken("not a tracking path")
