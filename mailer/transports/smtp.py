"""The SMTP transport: aiosmtplib over a pool of reused connections.

A connection is opened on demand (STARTTLS when offered, or required when
asked for; AUTH when a user name is given), kept for the next message, and
dropped after any error that may have left it in an unknown state. At most
``pool_size`` are open at once. Every outcome becomes one
:class:`~mailer.transports.replies.Reply` per recipient — including a
refused RCPT (aiosmtplib's ``SMTPRecipientsRefused``, which is not an
``SMTPResponseException``) and a dropped connection (``code=None``).
``timeout`` bounds connecting, and then each whole mail transaction (MAIL,
RCPT, DATA): a server that stalls anywhere in it drops the connection.

Messages built by :mod:`mailer.content.mime` are already in SMTP's wire form (CRLF
line breaks only). aiosmtplib's ``sendmail`` rewrites every message it sends
with regular expressions — line endings twice (once to size it), leading
periods once — which for a 31 KB message costs more than rendering it. A
message that :func:`wire_form` finds canonical is sent with aiosmtplib's own
MAIL, RCPT and DATA commands, dot-stuffed by a plain byte replacement (which
finds nothing to do in what :mod:`mailer.content.mime` builds); anything else goes
through ``sendmail`` as it is.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPHeloError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
)

from mailer.errors import ConfigError
from mailer.transports import Envelope
from mailer.transports.replies import Reply, Stage


class SMTPTransport:
    """Sends through one SMTP server (a relay, or a receiving MX).

    >>> SMTPTransport(host="relay.shop.test", port=587, pool_size=2).name
    'smtp://relay.shop.test:587'
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        validate_certs: bool = True,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        pool_size: int = 4,
        timeout: float = 30.0,
        messages_per_connection: int = 1000,
    ) -> None:
        if pool_size < 1:
            raise ConfigError(f"pool_size must be at least 1, got {pool_size}")
        if (username is None) != (password is None):
            raise ConfigError("SMTP AUTH needs both a user name and a password")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.validate_certs = validate_certs
        self.tls_context = tls_context
        self.local_hostname = local_hostname
        self.pool_size = pool_size
        self.timeout = timeout
        self.messages_per_connection = messages_per_connection
        self.name = f"smtp://{host}:{port}"
        self._idle: list[tuple[aiosmtplib.SMTP, int]] = []
        self._slots: asyncio.Semaphore | None = None
        self.connections_opened = 0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.pool_size)
        return self._slots

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            validate_certs=self.validate_certs,
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
            timeout=self.timeout,
            username=self.username,
            password=self.password,
        )
        await client.connect()
        self.connections_opened += 1
        return client

    async def send(self, envelope: Envelope) -> Mapping[str, Reply]:
        async with self._semaphore():
            client, used = self._idle.pop() if self._idle else (None, 0)
            stage: Stage = "connect"
            keep = False
            try:
                if client is None or not client.is_connected:
                    client, used = await self._connect(), 0
                stage = "mail"
                # One deadline for the whole transaction rather than one timer per
                # command: the same protection from a stalled server, for less work.
                wire = wire_form(envelope.data)
                async with asyncio.timeout(self.timeout):
                    if wire is None:
                        try:
                            errors, response = await client.sendmail(
                                envelope.sender, list(envelope.recipients), envelope.data, timeout=None
                            )
                        except ValueError as err:  # an address it will not write, maybe after MAIL
                            reply = _unwritable(err, _UNWRITABLE_ENVELOPE)
                            await _reset(client)
                            raise SMTPSenderRefused(*reply, envelope.sender) from err
                    else:
                        errors, response = await _transaction(client, envelope, wire)
                keep = True
                replies = {r: Reply.parse(250, response, stage="data") for r in envelope.recipients}
                for recipient, refused in errors.items():
                    replies[recipient] = Reply.parse(refused.code, refused.message, stage="rcpt")
                return replies
            except SMTPRecipientsRefused as err:
                keep = True  # aiosmtplib has sent RSET; the connection is clean
                replies = {r: Reply.dropped("no reply", stage="rcpt") for r in envelope.recipients}
                for refusal in err.recipients:
                    replies[refusal.recipient] = Reply.parse(refusal.code, refusal.message, stage="rcpt")
                return replies
            except SMTPResponseException as err:
                keep = err.code != 421 and stage != "connect"
                at: Stage = "connect" if stage == "connect" else ("mail" if isinstance(err, SMTPSenderRefused) else "data")
                return {r: Reply.parse(err.code, err.message, stage=at) for r in envelope.recipients}
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as err:
                text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
                return {r: Reply.dropped(text, stage=stage) for r in envelope.recipients}
            finally:
                if client is not None:
                    if keep and client.is_connected and used + 1 < self.messages_per_connection:
                        self._idle.append((client, used + 1))
                    else:
                        await _close(client)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            await _close(client)


# Addresses aiosmtplib refuses to put in a command (white space, <, >, ...),
# answered as a server would: a recipient's cannot ever be delivered (5.1.3
# bounces and suppresses it); a bad sender is this side's fault (5.5.4 fails
# the message without blaming the recipient).
_UNWRITABLE_RECIPIENT = (553, "5.1.3 recipient address cannot be written in an SMTP command")
_UNWRITABLE_SENDER = (501, "5.5.4 sender address cannot be written in an SMTP command")
_UNWRITABLE_ENVELOPE = (501, "5.5.4 an envelope address cannot be written in an SMTP command")
_NON_ASCII = (553, "5.6.7 non-ASCII address, and this transport does not use SMTPUTF8 (RFC 6531)")


def wire_form(data: bytes) -> bytes | None:
    """``data`` as DATA transmits it — dot-stuffed, then the ending ``.`` line —
    if its line breaks are all CRLF and it ends in one; otherwise None.

    >>> wire_form(b"Subject: hi\\r\\n\\r\\n.x\\r\\n")
    b'Subject: hi\\r\\n\\r\\n..x\\r\\n.\\r\\n'
    >>> wire_form(b"bare\\nline feed\\r\\n") is None
    True
    """
    crlf = data.count(b"\r\n")
    if not data.endswith(b"\r\n") or data.count(b"\n") != crlf or data.count(b"\r") != crlf:
        return None
    if b"\n." in data:  # never in a message mailer.content.mime built
        data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


async def _transaction(
    client: aiosmtplib.SMTP, envelope: Envelope, wire: bytes
) -> tuple[dict[str, SMTPResponse], str]:
    """MAIL, RCPT for each recipient, DATA with ``wire`` (see :func:`wire_form`):
    what ``sendmail`` does, with the same errors, and RSET after a refusal so
    the connection stays usable."""
    if client.is_ehlo_or_helo_needed:  # as sendmail does, so the extensions are known
        try:
            await client.ehlo()
        except SMTPHeloError:
            if not client.is_connected:
                raise
            await client.helo()
    # RFC 1870: the size counts neither the quoting periods nor the final ".".
    options = [f"SIZE={len(envelope.data)}"] if client.supports_extension("size") else []
    try:
        try:
            await client.mail(envelope.sender, options=options, timeout=None)
        except ValueError as err:  # aiosmtplib will not write it in a command
            raise SMTPSenderRefused(*_unwritable(err, _UNWRITABLE_SENDER), envelope.sender) from err
        refused: dict[str, SMTPResponse] = {}
        refusals: list[SMTPRecipientRefused] = []
        for recipient in envelope.recipients:
            try:
                try:
                    await client.rcpt(recipient, timeout=None)
                except ValueError as err:
                    raise SMTPRecipientRefused(*_unwritable(err, _UNWRITABLE_RECIPIENT), recipient) from err
            except SMTPRecipientRefused as err:
                refusals.append(err)
                refused[recipient] = SMTPResponse(err.code, err.message)
        if len(refusals) == len(envelope.recipients):
            raise SMTPRecipientsRefused(refusals)
        response = await client.execute_command(b"DATA", timeout=None)
        if response.code != 354:
            raise SMTPDataError(response.code, response.message)
        protocol = client.protocol
        try:
            if protocol is None:
                raise SMTPServerDisconnected("Connection lost")
            protocol.write(wire)
            response = await protocol.read_response(timeout=None)
        except SMTPServerDisconnected:
            client.close()
            raise
        if response.code != 250:
            raise SMTPDataError(response.code, response.message)
    except (SMTPResponseException, SMTPRecipientsRefused):
        await _reset(client)
        raise
    return refused, response.message


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a failed transaction, so the connection can carry the next one."""
    try:
        await client.rset(timeout=None)
    except (ConnectionError, SMTPResponseException):
        pass  # the connection is closed or unusable: it will not be reused


def _unwritable(err: ValueError, reply: tuple[int, str]) -> tuple[int, str]:
    """The reply for an address aiosmtplib refused: ``reply``, or for a
    non-ASCII one (this transport does not speak SMTPUTF8) 553 5.6.7, which
    fails the message without suppressing the address.

    ssl's certificate errors are ValueErrors too: those are raised again,
    as the connection failures they are."""
    if isinstance(err, OSError):
        raise err
    return _NON_ASCII if isinstance(err, UnicodeError) else reply


async def _close(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), timeout=2)
    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        client.close()
