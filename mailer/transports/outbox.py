"""The outbox transport: each message becomes one ``.eml`` file in a directory.

The embedded default: a campaign runs end to end with no server at all, and
another program (or a person) picks the files up. Files appear atomically (a
temporary file in the same directory, flushed to disk, then renamed), and a
message's file name comes from its Message-ID and recipient, so a retry
rewrites the same file rather than adding a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mailer.transports import Envelope
from mailer.transports.replies import Reply


def file_name(envelope: Envelope, recipient: str) -> str:
    """The ``.eml`` name for one recipient's copy of a message.

    >>> file_name(Envelope("b@shop.test", ("ann@shop.test",), b"", "<abc@shop.test>"), "ann@shop.test")
    '867716028a87582981e5755f.eml'
    """
    key = f"{envelope.message_id}\0{recipient.lower()}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest() + ".eml"


class OutboxTransport:
    """Writes ``DIR/<hash>.eml`` per recipient; ``fsync=False`` trades
    durability against power loss for speed."""

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.name = f"outbox:{os.path.normpath(self.directory)}"

    def _write(self, envelope: Envelope) -> dict[str, Reply]:
        replies: dict[str, Reply] = {}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            reply = Reply.dropped(f"cannot create {self.directory}: {err.strerror}", stage="connect")
            return {recipient: reply for recipient in envelope.recipients}
        for recipient in envelope.recipients:
            target = self.directory / file_name(envelope, recipient)
            fd, temp = tempfile.mkstemp(prefix=".", suffix=".part", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(envelope.data)
                    if self.fsync:
                        handle.flush()
                        os.fsync(handle.fileno())
                os.replace(temp, target)
            except OSError as err:
                Path(temp).unlink(missing_ok=True)
                replies[recipient] = Reply.dropped(f"cannot write {target}: {err.strerror}", stage="data")
                continue
            replies[recipient] = Reply(250, "2.0.0", f"written to {target.name}", "data")
        return replies

    async def send(self, envelope: Envelope) -> Mapping[str, Reply]:
        return await asyncio.to_thread(self._write, envelope)

    async def aclose(self) -> None:
        return None
