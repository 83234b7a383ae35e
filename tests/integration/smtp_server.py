"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, port 0, in a thread,
with a handler a test scripts to accept, answer 4xx/5xx, stall or drop."""

from __future__ import annotations

import asyncio
import email.parser
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP as SMTPProtocol

Script = Callable[[str, str], "str | None"]
"""(stage, address) → None to accept, a reply line ("451 4.3.0 busy"),
"DROP" to close the connection, or "STALL <seconds>"."""


@dataclass
class Received:
    message_id: str
    recipients: tuple[str, ...]
    at: float
    size: int
    content: bytes = b""
    mail_options: tuple[str, ...] = ()


@dataclass
class ScriptedHandler:
    script: Script | None = None
    on_data: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    max_concurrent: int = 0
    _open: int = 0

    async def _apply(self, server: SMTPProtocol, stage: str, address: str) -> str | None:
        answer = self.script(stage, address) if self.script else None
        if answer is None:
            return None
        if answer == "DROP":
            server.transport.close()
            return "421 4.4.2 connection dropped"
        if answer.startswith("STALL"):
            await asyncio.sleep(float(answer.split()[1]))
            return None
        return answer

    async def handle_MAIL(self, server: SMTPProtocol, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        answer = await self._apply(server, "mail", address)
        if answer:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTPProtocol, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        answer = await self._apply(server, "rcpt", address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Any, envelope: Any) -> str:
        answer = await self._apply(server, "data", envelope.rcpt_tos[0] if envelope.rcpt_tos else "")
        if answer:
            return answer
        data = envelope.original_content or b""
        headers = email.parser.BytesHeaderParser().parsebytes(data)
        item = Received(
            str(headers.get("Message-ID", "")), tuple(envelope.rcpt_tos), time.monotonic(), len(data),
            data, tuple(envelope.mail_options),
        )
        self.received.append(item)
        if self.on_data:
            self.on_data(item)
        return "250 2.0.0 queued"


class _Counting(SMTPProtocol):
    def connection_made(self, transport: Any) -> None:
        handler: ScriptedHandler = self.event_handler
        handler.connections += 1
        handler._open += 1
        handler.max_concurrent = max(handler.max_concurrent, handler._open)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler._open -= 1
        super().connection_lost(error)


class SMTPServer:
    """``with SMTPServer(handler) as server: server.port``"""

    def __init__(self, handler: ScriptedHandler, **smtp_options: Any) -> None:
        self.handler = handler
        self.smtp_options = smtp_options
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> SMTPServer:
        self._thread.start()

        async def start() -> asyncio.base_events.Server:
            return await self.loop.create_server(
                lambda: _Counting(self.handler, hostname="mx.test", **self.smtp_options), "127.0.0.1", 0
            )

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.server.close()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
