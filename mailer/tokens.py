"""Signed tokens for per-recipient links (one-click unsubscribe, preferences).

A token names the recipient and the campaign and carries an HMAC-SHA256 tag,
so nobody can unsubscribe someone else by editing a URL. Tokens are URL-safe
and contain no secret.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from mailer.errors import ConfigError, MailerError

_SEPARATOR = "\x1f"
_TAG_BYTES = 16


class InvalidToken(MailerError, ValueError):
    """A token was malformed or its signature did not match."""


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """Who and what a token speaks for."""

    customer_id: str
    campaign_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signer:
    """Signs and verifies recipient tokens with one secret key.

    >>> signer = Signer(b"k" * 32)
    >>> token = signer.sign("cust-42", "autumn-2026")
    >>> signer.verify(token)
    TokenSubject(customer_id='cust-42', campaign_id='autumn-2026')
    """

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ConfigError("the signing key must be at least 16 bytes")

    def _tag(self, payload: bytes) -> bytes:
        return hmac.digest(self.key, b"mailer-link\0" + payload, "sha256")[:_TAG_BYTES]

    def sign(self, customer_id: str, campaign_id: str) -> str:
        payload = f"{customer_id}{_SEPARATOR}{campaign_id}".encode()
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def verify(self, token: str) -> TokenSubject:
        try:
            payload_text, tag_text = token.split(".", 1)
            payload = _unb64(payload_text)
            tag = _unb64(tag_text)
        except (ValueError, TypeError) as err:
            raise InvalidToken("malformed token") from err
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise InvalidToken("token signature does not match")
        customer_id, _, campaign_id = payload.decode("utf-8", "replace").partition(_SEPARATOR)
        return TokenSubject(customer_id, campaign_id)


def load_signing_key(
    *,
    env_var: str = "MAILER_SECRET",
    state_dir: str | Path = ".mailer",
    path: str | Path | None = None,
    create: bool = True,
) -> bytes:
    """The signing key: ``$MAILER_SECRET`` if set, else a random key kept in
    ``path`` (by default ``state_dir/secret``; created once, readable by the
    owner only), so links stay valid across runs of the embedded default.
    With ``create=False`` (a worker, which must sign as the project does) a
    missing key is a :class:`~mailer.errors.ConfigError`."""
    value = os.environ.get(env_var)
    if value:
        return value.encode()
    path = Path(path) if path is not None else Path(state_dir) / "secret"
    if path.is_file():
        return path.read_bytes().strip()
    if not create:
        raise ConfigError(
            f"no link-signing key at {path}: copy the project's key there (secret_file in mailer.toml) "
            f"or set ${env_var}, so links are signed as the project's web endpoints expect"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
