"""VERP return paths: a bounce says which message it is about by the
address it comes back to.

With a variable envelope return path (VERP) each message leaves with its own
envelope sender, ``bounces+<token>@shop.test`` for the return path
``bounces@shop.test``; the receiving server sends any bounce there, and the
token names the message however badly the bounce itself is written.
The mailbox behind the return path must accept the ``+`` sub-addresses
(Postfix: ``recipient_delimiter = +``).

Anyone can send mail to a bounce address, so a token must not be guessable:
:class:`VerpSigner` makes tokens that carry the message's key (the hex left
part of the ``Message-ID`` :func:`mailer.content.mime.message_id` makes) and
an HMAC-SHA256 tag, so a forged bounce cannot name a message it never saw.
Tokens are lower-case base32: relays that change the case of an address do
not break them, and they fit a local part (at most 64 octets, RFC 5321
section 4.5.3.1.1) with 20 characters to spare for the return path's own.

>>> signer = VerpSigner(b"k" * 32)
>>> token = signer.token("<884e51a6ad6d1d65aa71577b898f9ffd@shop.test>")
>>> address = verp_address("bounces@shop.test", token)
>>> address
'bounces+rbhfdjvnnuowlktrk55ytd477u-pybbtpvsaziit23x@shop.test'
>>> signer.verify(parse_verp(address.upper(), "bounces@shop.test"))
'884e51a6ad6d1d65aa71577b898f9ffd'
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass

from mailer.content.mime import addr_spec
from mailer.errors import ConfigError, MessageError
from mailer.tokens import InvalidToken

__all__ = ["MAX_LOCAL_PART", "VerpSigner", "parse_verp", "verp_address"]

MAX_LOCAL_PART = 64
"""RFC 5321 section 4.5.3.1.1: the longest local part, in octets."""
_TOKEN = re.compile(r"[A-Za-z0-9_=-]+(?:\.[A-Za-z0-9_=-]+)*")
_HEX_ID = re.compile(r"<?((?:[0-9a-fA-F]{2}){1,32})@[^<>@\s]+>?")
_TAG_BYTES = 10
_PURPOSE = b"mailer-verp\0"


def verp_address(return_path: str, recipient_token: str, *, delimiter: str = "+") -> str:
    """``return_path`` with ``recipient_token`` added to its local part.

    Raises :class:`~mailer.errors.MessageError` when the return path is not
    one address, the token has characters a local part cannot take
    unquoted, or the result passes 64 octets.

    >>> verp_address("bounces@shop.test", "c-1042")
    'bounces+c-1042@shop.test'
    >>> verp_address("bounces@shop.test", "a+b")
    Traceback (most recent call last):
    ...
    mailer.errors.MessageError: a VERP token may hold letters, digits, '_', '=', '-' and inner dots, got 'a+b'
    """
    local, domain = _split(addr_spec(return_path))
    if _TOKEN.fullmatch(recipient_token) is None:
        raise MessageError(f"a VERP token may hold letters, digits, '_', '=', '-' and inner dots, got {recipient_token!r}")
    verp_local = f"{local}{delimiter}{recipient_token}"
    if len(verp_local.encode()) > MAX_LOCAL_PART:
        room = MAX_LOCAL_PART - len(local.encode()) - len(delimiter)
        raise MessageError(
            f"return path {return_path!r} leaves {room} characters for a VERP token, "
            f"which needs {len(recipient_token)}: use a shorter local part"
        )
    return f"{verp_local}@{domain}"


def parse_verp(address: str, return_path: str, *, delimiter: str = "+") -> str | None:
    """The token in ``address`` if it is a VERP form of ``return_path``
    (local part and domain compared case-insensitively), else ``None``.
    Never raises: ``address`` comes from mail anyone can send.

    >>> parse_verp("Bounces+c-1042@Shop.Test", "bounces@shop.test")
    'c-1042'
    >>> parse_verp("bounces@shop.test", "bounces@shop.test") is None
    True
    >>> parse_verp("bounces+c-1042@evil.test", "bounces@shop.test") is None
    True
    """
    try:
        local, domain = _split(addr_spec(return_path))
    except (MessageError, ValueError):
        return None
    found_local, _, found_domain = address.strip().strip("<>").rpartition("@")
    if found_domain.lower().rstrip(".") != domain.lower() or len(found_local.encode()) > MAX_LOCAL_PART:
        return None
    prefix = f"{local}{delimiter}".lower()
    if not found_local.lower().startswith(prefix):
        return None
    token = found_local[len(prefix) :]
    return token if _TOKEN.fullmatch(token) else None


@dataclass(frozen=True)
class VerpSigner:
    """Makes and checks VERP tokens for messages, with one secret key.

    The key may be the project's link-signing key
    (:func:`mailer.tokens.load_signing_key`): tokens are tagged for this
    purpose only, so no unsubscribe-link token is a valid VERP token or the
    other way round. (:class:`mailer.tokens.Signer` itself does not fit here:
    its tokens are case-sensitive base64, as long as the ids they carry.)

    >>> VerpSigner(b"short")
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: the signing key must be at least 16 bytes
    """

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ConfigError("the signing key must be at least 16 bytes")

    def token(self, message_id: str) -> str:
        """The token for the message with ``message_id`` (``<hex@domain>``,
        as :func:`mailer.content.mime.message_id` makes it).

        >>> VerpSigner(b"k" * 32).token("<not-hex@shop.test>")
        Traceback (most recent call last):
        ...
        mailer.errors.MessageError: a VERP token needs a Message-ID like <hex@domain>, got '<not-hex@shop.test>'
        """
        match = _HEX_ID.fullmatch(message_id.strip())
        if match is None:
            raise MessageError(f"a VERP token needs a Message-ID like <hex@domain>, got {message_id!r}")
        key = bytes.fromhex(match.group(1))
        return f"{_b32(key)}-{_b32(self._tag(key))}"

    def verify(self, token: str) -> str:
        """The message key (the ``Message-ID``'s hex left part) ``token``
        was made for; :class:`~mailer.tokens.InvalidToken` when it is
        malformed or its tag does not match.

        >>> signer = VerpSigner(b"k" * 32)
        >>> signer.verify("rbhfdjvnnuowlktrk55ytd477u-aaaaaaaaaaaaaaaa")
        Traceback (most recent call last):
        ...
        mailer.tokens.InvalidToken: VERP token signature does not match
        """
        key_text, dash, tag_text = token.strip().partition("-")
        try:
            if not dash:
                raise ValueError("no tag")
            key, tag = _unb32(key_text), _unb32(tag_text)
        except (ValueError, binascii.Error) as err:
            raise InvalidToken("malformed VERP token") from err
        if not key or not hmac.compare_digest(tag, self._tag(key)):
            raise InvalidToken("VERP token signature does not match")
        return key.hex()

    def _tag(self, key: bytes) -> bytes:
        return hmac.digest(self.key, _PURPOSE + key, "sha256")[:_TAG_BYTES]


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    if not text.isascii() or not text.isalnum():
        raise ValueError("not base32")
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))
