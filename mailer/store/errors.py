"""The store's errors (part of the :class:`mailer.MailerError` tree).

::

    MailerError
    └── StoreError                 the queue database cannot do what was asked
        └── StoreBusy              another process held the database too long
"""

from __future__ import annotations

from mailer.errors import MailerError


class StoreError(MailerError):
    """The queue database failed; ``url`` names it."""

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        self.reason = reason
        self.url = url
        super().__init__(f"{url}: {reason}" if url else reason)


class StoreBusy(StoreError):
    """Another process kept the database locked past the busy timeout."""
