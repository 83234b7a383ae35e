"""The checks of a rendered email: what the preview page and ``mailer lint`` report.

:func:`lint_html` reads the HTML once (:func:`~mailer.lint.document.parse_html`)
and runs each rule over it:

``html-size`` (error)
    Gmail clips an HTML part past about 102 KB and hides the rest behind a
    "View entire message" link, the unsubscribe footer among it.
``unsubscribe-link`` (error)
    No link to the campaign's unsubscribe address (or, when that is not
    given, no link whose address or text says unsubscribe; see
    :data:`UNSUBSCRIBE_WORDS`).
``image-alt`` (warning)
    An ``<img>`` without ``alt``: screen readers read its file name out and
    clients that block images show nothing in its place. ``alt=""`` is fine
    for a decorative image.
``https-links`` (warning)
    A link, image or style sheet over plain ``http://``, or at an address
    relative to nothing (an inbox has no site to resolve it against). One
    finding per address.
``client-support`` (warning)
    HTML and CSS features the target clients do not (fully) support, when
    the caniemail data is given (:mod:`mailer.lint.support`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from mailer.lint.caniemail import CanIEmail
from mailer.lint.clients import ClientTarget
from mailer.lint.document import Document, Link, parse_html
from mailer.lint.features import scan_features
from mailer.lint.findings import Finding, snippet
from mailer.lint.support import client_support

__all__ = [
    "SIZE_LIMIT",
    "UNSUBSCRIBE_WORDS",
    "check_https_links",
    "check_image_alt",
    "check_size",
    "check_unsubscribe_link",
    "lint_html",
]

SIZE_LIMIT = 100 * 1024
"""Bytes of HTML past which ``html-size`` fails: a little under Gmail's clipping point."""

UNSUBSCRIBE_WORDS: tuple[str, ...] = (
    "unsub",  # unsubscribe, /unsub?id=
    "opt-out",
    "optout",
    "preferences",
    "afmeld",  # Danish, Norwegian: afmeld, afmelding
    "avregistrera",  # Swedish
    "avsluta",
    "abmeld",  # German: abmelden, Abmeldung
    "afmelden",  # Dutch
    "uitschrijven",
    "désinscri",  # French: désinscrire, désinscription
    "desinscri",
    "désabonn",
    "desabonn",
    "配信停止",  # Japanese
)
"""What an unsubscribe link's address or text contains, in lower case, when the
campaign's own unsubscribe address is not known."""

_TEMPLATE = re.compile(r"\{\{|\{%|%7B%7B|\*\||\[\[")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_URL_ATTRIBUTES = {"a": ("href", "link"), "img": ("src", "image"), "link": ("href", "style sheet")}


def lint_html(
    html: str,
    *,
    unsubscribe_urls: Collection[str] = (),
    size_limit: int = SIZE_LIMIT,
    support: CanIEmail | None = None,
    clients: Sequence[ClientTarget] | None = None,
    ignore_features: Collection[str] = (),
) -> list[Finding]:
    """Every finding of the rules above for one rendered email.

    ``unsubscribe_urls`` are the recipient's unsubscribe addresses as the
    message links them; ``clients`` default to
    :data:`~mailer.lint.clients.DEFAULT_CLIENTS`; ``ignore_features`` lists
    caniemail slugs ``client-support`` leaves out. Findings come rule by rule
    in the order above, each rule's in document order.

    >>> html = '<p><img src="http://cdn.test/a.png"></p><a href="https://shop.test/u/1">Unsubscribe</a>'
    >>> for finding in lint_html(html, unsubscribe_urls=["https://shop.test/u/1"]):
    ...     print(finding)
    line 1: warning: image has no alt text: screen readers read out its address and blocked images leave a blank; describe it in alt="…", or write alt="" if it is decorative [image-alt]
    line 1: warning: image http://cdn.test/a.png loads over http://: use https:// (clients may block insecure content) [https-links]
    """
    document = parse_html(html)
    findings = [
        *check_size(html, size_limit),
        *check_unsubscribe_link(document, unsubscribe_urls),
        *check_image_alt(document),
        *check_https_links(document),
    ]
    if support is not None:
        findings += client_support(scan_features(document), support, clients, ignore=ignore_features)
    return findings


def check_size(html: str, limit: int = SIZE_LIMIT) -> list[Finding]:
    """``html-size``: an error when the UTF-8 HTML is over ``limit`` bytes.

    >>> check_size("é" * 60, limit=100)[0].message
    'the HTML is 0.1 KB, over the 0.1 KB limit: Gmail clips messages past about 102 KB and hides the rest, the unsubscribe link among it'
    >>> check_size("é" * 50, limit=100)
    []
    """
    size = len(html.encode("utf-8"))
    if size <= limit:
        return []
    return [Finding("html-size", f"the HTML is {_kb(size)}, over the {_kb(limit)} limit: Gmail clips messages past "
                                 "about 102 KB and hides the rest, the unsubscribe link among it", "error")]  # fmt: skip


def check_unsubscribe_link(document: Document, unsubscribe_urls: Collection[str] = ()) -> list[Finding]:
    """``unsubscribe-link``: an error when no link goes to one of ``unsubscribe_urls``
    (when none is given: when no link's address or text says unsubscribe).

    >>> doc = parse_html('<a href="https://shop.test/prefs">Abmelden</a>')
    >>> check_unsubscribe_link(doc)
    []
    >>> print(check_unsubscribe_link(doc, ["https://shop.test/u/TOKEN"])[0].message)
    no link to the unsubscribe address https://shop.test/u/TOKEN: every marketing email must let its recipient unsubscribe (the link 'Abmelden' goes to https://shop.test/prefs)
    """
    wanted = {url.strip() for url in unsubscribe_urls}
    if wanted:
        if any(link.href.strip() in wanted for link in document.links):
            return []
        message = (f"no link to the unsubscribe address {', '.join(sorted(wanted))}: every marketing email "
                   "must let its recipient unsubscribe")  # fmt: skip
        near = next((link for link in document.links if _says_unsubscribe(link)), None)
        if near is None:
            return [Finding("unsubscribe-link", message, "error")]
        return [Finding("unsubscribe-link", f"{message} (the link {near.text or '(no text)'!r} goes to {near.href})",
                        "error", line=near.element.line, element=near.element.snippet)]  # fmt: skip
    if any(_says_unsubscribe(link) for link in document.links):
        return []
    return [Finding("unsubscribe-link", "no unsubscribe link: every marketing email must let its recipient "
                                        "unsubscribe; add a link to the unsubscribe page", "error")]  # fmt: skip


def check_image_alt(document: Document) -> list[Finding]:
    """``image-alt``: a warning for each ``<img>`` without an ``alt`` attribute.

    >>> [f.line for f in check_image_alt(parse_html('<img src="a.png" alt="">\\n<img src="b.png">'))]
    [2]
    """
    return [
        Finding("image-alt", "image has no alt text: screen readers read out its address and blocked images leave a "
                             'blank; describe it in alt="…", or write alt="" if it is decorative',
                line=element.line, element=element.snippet)  # fmt: skip
        for element in document.elements
        if element.tag == "img" and "alt" not in element.attrs
    ]


def check_https_links(document: Document) -> list[Finding]:
    """``https-links``: a warning for each distinct ``http://`` or relative address
    of a link, image or style sheet, at its first use.

    ``https:``, ``mailto:``, ``tel:``, ``data:`` and other schemes, ``#anchors``
    and addresses still holding template tags (``{{ … }}``) are fine.

    >>> doc = parse_html('<a href="http://s.test/">a</a><a href="http://s.test/">b</a>\\n<a href="/sale">c</a>'
    ...                  '<a href="mailto:x@s.test">d</a><a href="#top">e</a>')
    >>> [(f.line, f.message) for f in check_https_links(doc)]  # doctest: +NORMALIZE_WHITESPACE
    [(1, 'link to http://s.test/ is not encrypted: use https:// (clients may flag http links as unsafe)'),
     (2, "link '/sale' is relative: an inbox has no site to resolve it against; use the full https:// address")]
    """
    findings: list[Finding] = []
    seen: set[str] = set()
    for element in document.elements:
        attribute, what = _URL_ATTRIBUTES.get(element.tag, ("", ""))
        value = element.attrs.get(attribute) if attribute else None
        if value is None:
            continue
        url = value.strip()
        if url in seen or url.startswith("#") or _TEMPLATE.search(url):
            continue
        if url[:7].lower() == "http://" and what == "link":
            message = f"link to {url} is not encrypted: use https:// (clients may flag http links as unsafe)"
        elif url[:7].lower() == "http://":
            message = f"{what} {url} loads over http://: use https:// (clients may block insecure content)"
        elif not url:
            message = f"{what} has an empty address"
        elif _SCHEME.match(url):
            continue
        else:
            message = (f"{what} {snippet(url, 80)!r} is relative: an inbox has no site to resolve it against; "
                       "use the full https:// address")  # fmt: skip
        seen.add(url)
        findings.append(Finding("https-links", message, line=element.line, element=element.snippet))
    return findings


def _says_unsubscribe(link: Link) -> bool:
    text = f"{link.href} {link.text}".lower()
    return any(word in text for word in UNSUBSCRIBE_WORDS)


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"
