"""Transports: how a message's bytes leave ``mailer``.

The worker talks to a :class:`Transport` (as an httpx client talks to its
transport): :class:`~mailer.transports.smtp.SMTPTransport` (aiosmtplib, a pool
of reused connections), :class:`~mailer.transports.outbox.OutboxTransport`
(atomic ``.eml`` files in a directory: the embedded default) and
:class:`~mailer.transports.memory.MemoryTransport` (records, answers what a
handler says: for unit tests). :func:`open_transport` makes one from a URL.

A transport never raises for a failed delivery: it answers one
:class:`~mailer.transports.replies.Reply` per recipient, and
:func:`~mailer.transports.replies.classify` says what that means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.errors import ConfigError
from mailer.transports.replies import Reply, Verdict, backoff, classify

__all__ = ["Envelope", "Reply", "Transport", "Verdict", "backoff", "classify", "open_transport"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What to send: the SMTP envelope and the message bytes.

    >>> Envelope("bounces@shop.test", ("ann@shop.test",), b"...", "<1@shop.test>").domain
    'shop.test'
    """

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str = ""

    @property
    def domain(self) -> str:
        """The (first) recipient's domain: what per-domain limits key on."""
        return self.recipients[0].rpartition("@")[2].lower() if self.recipients else ""


@runtime_checkable
class Transport(Protocol):
    """Delivers envelopes; ``name`` keys its rate limit and pauses in the store."""

    name: str

    async def send(self, envelope: Envelope) -> Mapping[str, Reply]:
        """One reply per recipient; never raises for a failed delivery."""
        ...

    async def aclose(self) -> None: ...


def _flag(query: dict[str, list[str]], key: str) -> bool | None:
    if key not in query:
        return None
    return query[key][-1].lower() in ("1", "true", "yes", "on")


def open_transport(url: str) -> Transport:
    """The transport a URL names.

    ``outbox:DIR``, ``memory:``, ``smtp://[user:password@]host[:port][?starttls=1&pool=4&timeout=30]``
    (STARTTLS when the server offers it unless ``starttls=0``; required with ``starttls=1``)
    and ``smtps://…`` (TLS from the start).

    >>> open_transport("outbox:out/").name
    'outbox:out'
    >>> t = open_transport("smtp://mailer:s3cret@relay.shop.test:587?pool=8")
    >>> t.name, t.pool_size, t.username
    ('smtp://relay.shop.test:587', 8, 'mailer')
    """
    if url.startswith("outbox:"):
        from mailer.transports.outbox import OutboxTransport

        return OutboxTransport(url[len("outbox:"):] or "outbox")
    if url.startswith("memory:"):
        from mailer.transports.memory import MemoryTransport

        return MemoryTransport()
    parts = urlsplit(url)
    if parts.scheme in ("smtp", "smtps") and parts.hostname:
        from mailer.transports.smtp import SMTPTransport

        query = parse_qs(parts.query)
        try:
            pool = int(query.get("pool", ["4"])[-1])
            timeout = float(query.get("timeout", ["30"])[-1])
        except ValueError as err:
            raise ConfigError(f"{url}: pool and timeout must be numbers") from err
        return SMTPTransport(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=_flag(query, "starttls"),
            validate_certs=_flag(query, "verify") is not False,
            pool_size=pool,
            timeout=timeout,
        )
    raise ConfigError(f"unknown transport {url!r}: use outbox:DIR, smtp://host[:port] or smtps://host[:port]")
