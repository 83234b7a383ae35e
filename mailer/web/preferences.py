"""The preferences page behind the link every email carries: the volume dial.

A customer chooses how much mail they want — everything, at most one a week,
at most one a month, or only important mail — rather than all or nothing.
The page is reached with the same signed token as the unsubscribe link
(:mod:`mailer.tokens`); a GET only shows the form (link scanners follow links
and must change nothing), a POST of ``volume=…`` keeps the choice in the
store, where planning and every worker's claim read it (:mod:`mailer.sending.caps`).

>>> from mailer.store import open_store
>>> from mailer.tokens import TokenSubject
>>> store = open_store("sqlite::memory:")
>>> respond(store, TokenSubject("C1", "autumn"), "POST", {"volume": "weekly"})[0]
'200 OK'
>>> store.volume("C1")
'weekly'
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from mailer.store import Store
from mailer.tokens import TokenSubject

CHOICES = {
    "everything": "Everything: new arrivals, offers and news",
    "weekly": "At most one email a week",
    "monthly": "At most one email a month",
    "only-important": "Only important email (orders, account)",
}
"""The volume dial's settings, as the page offers them."""


def respond(store: Store, subject: TokenSubject, method: str, fields: Mapping[str, str]) -> tuple[str, str, str]:
    """``(status, text, form)`` for one request to a customer's preferences page."""
    if method in ("GET", "HEAD"):
        return "200 OK", "How much email would you like from us?", form(store.volume(subject.customer_id))
    if method != "POST":
        return "405 Method Not Allowed", "Use POST to save your preferences.", ""
    volume = fields.get("volume", "")
    if volume not in CHOICES:
        return "400 Bad Request", f"Choose one of: {', '.join(CHOICES)}.", form(store.volume(subject.customer_id))
    store.set_volume(subject.customer_id, volume)
    return "200 OK", f"Saved: {CHOICES[volume]}.", form(volume)


def form(current: str) -> str:
    """The volume dial as radio buttons, ``current`` chosen."""
    options = "".join(
        f'<label><input type="radio" name="volume" value="{html.escape(value)}"'
        f'{" checked" if value == current else ""}> {html.escape(label)}</label><br>'
        for value, label in CHOICES.items()
    )
    return f'<form method="post">{options}<button type="submit">Save</button></form>'
