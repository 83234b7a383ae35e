"""The exceptions `mailer` raises, all rooted at :class:`MailerError`.

::

    MailerError
    ├── InputError (ValueError)            bad data in a file a user supplied
    │   ├── FeedError                      a product feed row/item
    │   ├── CustomerError                  a customer or history row
    │   └── RatesError                     the currency-rates table
    ├── ConfigError (ValueError)           a campaign file or option is wrong
    ├── LocaleError (LookupError)          unknown locale, currency or time zone
    ├── LayoutError                        a layout cannot compile or render
    │   ├── LayoutNotFound (LookupError)
    │   ├── LayoutSyntaxError              Jinja or MJML syntax, names file and line
    │   └── SlotError (LookupError)        a missing slot/variable, names file, line, name
    ├── MessageError (ValueError)          a message cannot be built safely
    │   ├── HeaderInjectionError           CR/LF (or worse) reached a header
    │   └── UntrackableLink                a link cannot be a click target (mailer.tracking)
    └── StoreError                         the queue database cannot do what was asked
        └── StoreBusy                      another process held the database too long

Every error carries the attributes a program can act on (``path``, ``line``,
``item``, ``field``) and a message a person can act on.
"""

from __future__ import annotations

from os import PathLike


class MailerError(Exception):
    """Root of every error raised by `mailer`."""


class InputError(MailerError, ValueError):
    """A row, item or value in user-supplied data is invalid.

    >>> err = InputError("unparseable price '1O.00 USD'", path="feed.csv", line=7, field="price")
    >>> str(err)
    "feed.csv, line 7, field 'price': unparseable price '1O.00 USD'"
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | PathLike[str] | None = None,
        line: int | None = None,
        item: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = str(path) if path is not None else None
        self.line = line
        self.item = item
        self.field = field
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.item:
            where.append(f"item {self.item!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class FeedError(InputError):
    """A product feed row or item could not be read."""


class CustomerError(InputError):
    """A customer, purchase or engagement row could not be read."""


class RatesError(InputError):
    """The currency-rates table is malformed or lacks a needed rate."""


class ConfigError(MailerError, ValueError):
    """A campaign file or option is invalid."""


class LocaleError(MailerError, LookupError):
    """An unknown locale, currency or time zone."""


class LayoutError(MailerError):
    """A layout cannot be compiled or rendered.

    ``layout`` names the layout, ``path``/``line`` the source file and line
    when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        layout: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.layout = layout
        self.path = path
        self.line = line
        where = path or layout or ""
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {reason}" if where else reason)


class LayoutNotFound(LayoutError, LookupError):
    """No layout or partial of that name exists."""


class LayoutSyntaxError(LayoutError):
    """The layout's Jinja or MJML is malformed."""


class SlotError(LayoutError, LookupError):
    """A slot or variable the layout uses was not given (or is not allowed).

    ``name`` is the missing variable or attribute.
    """

    def __init__(
        self,
        reason: str,
        *,
        name: str | None = None,
        layout: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.name = name
        super().__init__(reason, layout=layout, path=path, line=line)


class MessageError(MailerError, ValueError):
    """A message cannot be built safely."""


class HeaderInjectionError(MessageError):
    """A header value or address contained CR, LF or another control character.

    ``header`` names the header, ``recipient`` the customer id when known.
    """

    def __init__(self, reason: str, *, header: str, recipient: str | None = None) -> None:
        self.header = header
        self.recipient = recipient
        super().__init__(reason)


class StoreError(MailerError):
    """The queue database failed; ``url`` names it."""

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        self.reason = reason
        self.url = url
        super().__init__(f"{url}: {reason}" if url else reason)


class StoreBusy(StoreError):
    """Another process kept the database locked past the busy timeout."""
