"""The in-memory transport: records what it is given and answers what a
handler says (httpx's ``MockTransport``), for fast unit tests.

>>> import asyncio
>>> from mailer.transports import Envelope
>>> transport = MemoryTransport(lambda env, rcpt: Reply(550, "5.1.1", "no such user", "rcpt"))
>>> asyncio.run(transport.send(Envelope("b@shop.test", ("ann@shop.test",), b"hi")))["ann@shop.test"].code
550
>>> len(transport.sent), len(transport.attempts)
(0, 1)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Union

from mailer.transports import Envelope
from mailer.transports.replies import Reply

Handler = Callable[[Envelope, str], Union[Reply, Awaitable[Reply]]]

ACCEPT = Reply(250, "2.0.0", "OK", "data")


class MemoryTransport:
    """``attempts`` holds every envelope offered; ``sent`` those accepted for
    at least one recipient."""

    def __init__(self, handler: Handler | None = None, *, name: str = "memory:") -> None:
        self.handler = handler
        self.name = name
        self.attempts: list[Envelope] = []
        self.sent: list[Envelope] = []

    async def send(self, envelope: Envelope) -> Mapping[str, Reply]:
        self.attempts.append(envelope)
        replies: dict[str, Reply] = {}
        for recipient in envelope.recipients:
            reply = self.handler(envelope, recipient) if self.handler else ACCEPT
            if asyncio.iscoroutine(reply) or isinstance(reply, Awaitable):
                reply = await reply
            replies[recipient] = reply
        if any(r.accepted for r in replies.values()):
            self.sent.append(envelope)
        return replies

    async def aclose(self) -> None:
        return None
