"""Tracked links in a rendered HTML part: click URLs, UTM parameters, a
honeypot link and the open pixel.

:func:`rewrite` takes one recipient's rendered HTML and their
:class:`~mailer.tracking.links.MessageLinks` and returns the HTML to send
with the list of links the store records; :func:`rewrite_encoded` does the
same to the quoted-printable body the composer renders, re-encoding only the
lines that change:

* every ``<a href>`` with an ``http``/``https`` URL becomes its click URL,
  except links marked ``data-track="off"`` (the attribute is removed from the
  output), URLs the options or the call list as untracked (the unsubscribe and
  preferences links), and whatever is not http(s) (``mailto:``, ``tel:``,
  ``#anchors``, relative links), which are left exactly as written;
* links to the same URL under the same name share one index, so a scanner
  that fetches each distinct URL once still fetches "all of them"; real links
  count from 1 (:data:`~mailer.tracking.links.HONEYPOT`, 0, is the hidden link);
* UTM parameters (:class:`~mailer.tracking.utm.Utm`) are added to the destination, never
  overwriting one already there, before the fragment; ``utm_content`` is the
  link's name (``data-link-name`` on the ``<a>``, removed from the output, or
  the options' ``names``) or else its index;
* a honeypot link follows ``<body …>``: an empty ``<a>`` hidden from sight
  (``display:none``, ``mso-hide:all`` for Outlook) and from assistive
  technology (``aria-hidden``, ``tabindex="-1"``); people never click it,
  link scanners do;
* the open pixel, a 1×1 image, goes before the last ``</body>`` (or at the end).

**How the HTML is read.** Parsing 30 KB with ``html.parser`` and writing it
back costs about two milliseconds per message (``bench/tracking.py``), and
a round trip re-serialises everything it touches. Here the document is only
searched (one regular expression jumps between the few constructs that
matter: ``<a``, comments, ``<body>`` and the raw-text elements ``<style>``,
``<script>``, ``<title>``…, whose contents are skipped), each ``<a`` start tag's attributes are tokenised as the HTML
standard's tokenizer does (quoted values may hold ``>``), and only the spans
of the ``href`` values and removed attributes change: every other byte stays
as it was. Comments are skipped except Outlook's ``<!--[if …]>``
conditional comments, whose content Outlook renders; ``href`` values are
decoded with the standard's rules for attributes (``&amp;`` is ``&``, but
``&copy=`` in a query stays as written). Known limit: a literal ``<a …>``
written inside another tag's attribute value would be read as a link
(autoescaped values cannot contain one); its value keeps its delimiters, so
the markup stays intact.
"""

from __future__ import annotations

import binascii
import html as _html
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from html.entities import html5 as _ENTITIES
from types import MappingProxyType

from mailer.errors import ConfigError, MessageError
from mailer.tracking.links import HONEYPOT, MessageLinks, UntrackableLink, check_destination
from mailer.tracking.splice import Edit, apply_edits, splice
from mailer.tracking.utm import Utm, add_utm

__all__ = [
    "HONEYPOT_STYLE",
    "RewriteOptions",
    "Rewritten",
    "RewrittenBody",
    "TrackedLink",
    "rewrite",
    "rewrite_encoded",
    "unescape_attribute",
]

HONEYPOT_STYLE = (
    "display:none;mso-hide:all;font-size:0;line-height:0;max-height:0;max-width:0;opacity:0;overflow:hidden"
)
"""The honeypot's inline style: hidden in every client, Outlook included."""
_HONEYPOT = '<a href="{url}" style="' + HONEYPOT_STYLE + '" aria-hidden="true" tabindex="-1"></a>'
_PIXEL = (
    '<img src="{url}" width="1" height="1" alt="" aria-hidden="true" '
    'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;">'
)

_WS = "\t\n\f\r "
_RAW_TEXT = ("script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "plaintext")
_SPECIAL = re.compile(
    r"<(?:(?P<comment>!--)|(?P<raw>" + "|".join(_RAW_TEXT) + r")(?=[\t\n\f\r />])"
    r"|(?P<a>a)(?=[\t\n\f\r />])|(?P<body>body)(?=[\t\n\f\r />])|(?P<close>/body)(?=[\t\n\f\r />]))",
    re.IGNORECASE,
)
_RAW_END = {name: re.compile(rf"</{name}(?=[\t\n\f\r />])", re.IGNORECASE) for name in _RAW_TEXT}
_RAW_END["plaintext"] = re.compile(r"(?!)")
_ANCHOR = re.compile(r"<a[\t\n\f\r />]", re.IGNORECASE)
_NAME = re.compile(r"[\t\n\f\r /]*([^\t\n\f\r />][^\t\n\f\r />=]*)?")
_EQUALS = re.compile(r"[\t\n\f\r ]*=[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")
_HTTP = ("http://", "https://")


@dataclass(frozen=True, kw_only=True)
class RewriteOptions:
    """How a campaign's links are tracked (the same for every recipient).

    ``untracked``: exact URLs left as they are; ``untracked_prefixes``: URLs
    starting with one of these are too (e.g. the shop's ``/email/`` pages of
    unsubscribe and preferences links). ``names``: URL → link name, for
    ``utm_content`` and the store. ``honeypot``: where the hidden link leads
    (the shop's home page; ``None``: no honeypot). ``pixel``: add the open pixel.

    >>> RewriteOptions(honeypot="https://shop.test/").pixel
    True
    """

    utm: Utm | None = None
    untracked: frozenset[str] = frozenset()
    untracked_prefixes: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    honeypot: str | None = None
    pixel: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.untracked_prefixes, str):
            raise ConfigError("untracked_prefixes must be a tuple of strings, not one string")
        object.__setattr__(self, "untracked", frozenset(self.untracked))
        object.__setattr__(self, "untracked_prefixes", tuple(self.untracked_prefixes))
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))
        if self.honeypot is not None:
            try:
                object.__setattr__(self, "honeypot", check_destination(self.honeypot))
            except UntrackableLink as err:
                raise ConfigError(f"the honeypot destination cannot be a click target: {err}") from None


@dataclass(frozen=True, slots=True)
class TrackedLink:
    """One tracked link of a message, for the store."""

    index: int
    """Its index in the message (``Hit.link`` of its clicks), from 1."""
    original: str
    """The ``href`` as a browser reads it (references decoded, white space trimmed)."""
    tracked: str
    """The click URL now in the HTML."""
    name: str
    """The link's name, or its index as text when it has none (its ``utm_content``)."""


@dataclass(frozen=True, slots=True)
class Rewritten:
    """A rewritten HTML part and what the store keeps of it."""

    html: str
    links: tuple[TrackedLink, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """``(url, reason)`` of http(s) links left as they are because no click
    could redirect to them (see :func:`~mailer.tracking.links.check_destination`)."""
    honeypot: str | None = None
    """The honeypot's click URL (link :data:`~mailer.tracking.links.HONEYPOT`)."""
    pixel: str | None = None
    """The open pixel's URL."""


def unescape_attribute(value: str) -> str:
    """An attribute value's text, its character references decoded as the
    HTML standard decodes them in attributes: a named reference without its
    ``;`` followed by a letter, a digit or ``=`` stays as written.

    >>> unescape_attribute("https://x.test/?a=1&amp;b=2&copy=3&#x41;&lt")
    'https://x.test/?a=1&b=2&copy=3A<'
    """
    if "&" not in value:
        return value
    return _REFERENCE.sub(_decode_reference, value)


def _decode_reference(match: re.Match[str]) -> str:
    text = match.group(1)
    if text[0] == "#":
        return _html.unescape(match.group(0))
    if text.endswith(";") and text in _ENTITIES:
        return _ENTITIES[text]
    name = text.rstrip(";")
    # The longest reference that needs no ";" (the legacy ones: amp, lt, copy…).
    for size in range(min(len(name), 32), 1, -1):
        prefix = name[:size]
        if prefix in _ENTITIES:
            after = name[size:size + 1] or match.string[match.end():match.end() + 1]
            if size < len(name) or not text.endswith(";"):
                if (after.isascii() and after.isalnum()) or after == "=":
                    return match.group(0)
            return _ENTITIES[prefix] + text[size:]
    return match.group(0)


@lru_cache(maxsize=8_192)
def _destination(url: str, content: str, utm: Utm | None) -> str:
    """A link's checked redirect target (cached: most links recur across recipients)."""
    try:
        return check_destination(add_utm(url, utm, content) if utm is not None else url)
    except UnicodeEncodeError:  # a lone surrogate in a link name
        raise UntrackableLink(url, "not encodable as UTF-8") from None


_Attribute = tuple[str, int, int, int, int, str]
"""(lower-case name, start, end, value start, value end, quote); a missing value has start == end == -1."""


def _start_tag(html: str, pos: int) -> tuple[int, list[_Attribute]] | None:
    """The attributes of the start tag whose name ends at ``pos`` and the
    position after its ``>``; ``None`` if the document ends inside it."""
    attributes: list[_Attribute] = []
    size = len(html)
    while True:
        match = _NAME.match(html, pos)
        assert match is not None  # every part of the pattern is optional
        pos = match.end()
        name = match.group(1)
        if name is None:
            # Only white space and slashes were left: the tag ends here, if anywhere.
            return (pos + 1, attributes) if pos < size else None
        start = match.start(1)
        equals = _EQUALS.match(html, pos)
        if equals is None:
            attributes.append((name.lower(), start, pos, -1, -1, ""))
            continue
        pos = equals.end()
        if pos >= size:
            return None
        quote_char = html[pos]
        if quote_char in "\"'":
            close = html.find(quote_char, pos + 1)
            if close < 0:
                return None
            attributes.append((name.lower(), start, close + 1, pos + 1, close, quote_char))
            pos = close + 1
        else:
            unquoted = _UNQUOTED.match(html, pos)
            assert unquoted is not None  # it matches the empty string
            end = unquoted.end()
            attributes.append((name.lower(), start, end, pos, end, ""))
            pos = end


def _comment_end(html: str, pos: int) -> int:
    """Where the comment whose ``<!--`` ends at ``pos`` ends (``<!-->`` and
    ``<!--->`` are whole comments; ``--!>`` also closes one)."""
    if html.startswith(">", pos):
        return pos + 1
    if html.startswith("->", pos):
        return pos + 2
    ends = [found + len(closer) for closer in ("-->", "--!>") if (found := html.find(closer, pos)) >= 0]
    return min(ends) if ends else len(html)


def _removal(html: str, start: int, end: int) -> Edit:
    """An edit removing an attribute and the white space before it."""
    while start > 0 and html[start - 1] in _WS:
        start -= 1
    return (start, end, "")


def rewrite(
    html: str,
    links: MessageLinks,
    options: RewriteOptions = RewriteOptions(),
    *,
    untracked: Collection[str] = (),
) -> Rewritten:
    """``html`` with its links tracked through ``links`` (see the module
    docstring); ``untracked`` adds this message's own URLs to leave alone
    (its unsubscribe and preferences links, which hold the recipient's token).

    Never raises for odd HTML or URLs: a link that cannot be a click target
    is left as it is and listed in :attr:`Rewritten.skipped`.

    >>> from mailer.tracking.links import LinkSigner, TrackingUrls
    >>> urls = TrackingUrls("https://t.shop.test", LinkSigner([("k1", b"k" * 32)]))
    >>> page = ('<body><a href="https://shop.test/new?a=1&amp;b=2">New</a>'
    ...         '<a href="mailto:care@shop.test">Mail us</a>'
    ...         '<a data-track="off" href="https://shop.test/terms">Terms</a></body>')
    >>> result = rewrite(page, urls.personal(7), RewriteOptions(honeypot="https://shop.test/"))
    >>> [(link.index, link.original, link.name) for link in result.links]
    [(1, 'https://shop.test/new?a=1&b=2', '1')]
    >>> urls.resolve(result.links[0].tracked.removeprefix(urls.base)).destination
    'https://shop.test/new?a=1&b=2'
    >>> '<a href="https://shop.test/terms">Terms</a>' in result.html, 'mailto:care@shop.test' in result.html
    (True, True)
    """
    plan = _plan(html, links, options, untracked)
    return Rewritten(apply_edits(html, plan.edits), plan.links, plan.skipped, plan.honeypot, plan.pixel)


@dataclass(frozen=True, slots=True)
class RewrittenBody:
    """A rewritten HTML body still quoted-printable encoded, and what the store keeps."""

    encoded: bytes
    """For :meth:`mailer.content.mime.MessageTemplate.build` (``html_encoded``)."""
    links: tuple[TrackedLink, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    honeypot: str | None = None
    pixel: str | None = None

    @property
    def html(self) -> str:
        """The HTML, decoded on demand (LF line breaks, as ``RenderedEmail.html``)."""
        return binascii.a2b_qp(self.encoded).decode("utf-8").replace("\r\n", "\n")[:-1]


def rewrite_encoded(
    encoded: bytes,
    links: MessageLinks,
    options: RewriteOptions = RewriteOptions(),
    *,
    untracked: Collection[str] = (),
) -> RewrittenBody:
    """:func:`rewrite` for an HTML body already quoted-printable encoded, as
    :func:`mailer.content.render.render` gives it with ``encode_html``
    (``RenderedEmail.html_encoded``: CRLF lines, ending in the CRLF that
    belongs to the MIME delimiter).

    Encoding 30 KB anew costs more than everything else a message needs, so
    only the encoded lines that hold a change are re-encoded: quoted-printable
    state resets at every line break, so the others are kept byte for byte.
    :class:`~mailer.errors.MessageError` if ``encoded`` is not such a body.

    >>> from mailer.content.mime import encoded_body, quoted_printable_piece
    >>> from mailer.tracking.links import LinkSigner, TrackingUrls
    >>> urls = TrackingUrls("https://t.shop.test", LinkSigner([("k1", b"k" * 32)]))
    >>> page = "<body>Grüße " + "x" * 200 + '<a href="https://shop.test/">Shop</a></body>'
    >>> body = encoded_body(quoted_printable_piece(page))
    >>> result = rewrite_encoded(body, urls.personal(7), RewriteOptions(pixel=False))
    >>> result.html == rewrite(page, urls.personal(7), RewriteOptions(pixel=False)).html
    True
    >>> result.encoded[:76] == body[:76]  # the lines before the link, as they were
    True
    """
    if not isinstance(encoded, bytes) or not encoded.endswith(b"\r\n"):
        raise MessageError("an encoded HTML body is bytes ending in CRLF")
    try:
        text = binascii.a2b_qp(encoded).decode("utf-8")[:-2]
    except UnicodeDecodeError as err:
        raise MessageError(f"the encoded HTML body is not UTF-8 ({err.reason})") from None
    plan = _plan(text, links, options, untracked)
    return RewrittenBody(splice(encoded, text, plan.edits), plan.links, plan.skipped, plan.honeypot, plan.pixel)


@dataclass(slots=True)
class _Plan:
    """What rewriting a document changes: edits ``(start, end, text)`` in
    document order, and what the store keeps."""

    edits: list[Edit]
    links: tuple[TrackedLink, ...]
    skipped: tuple[tuple[str, str], ...]
    honeypot: str | None
    pixel: str | None


def _plan(html: str, links: MessageLinks, options: RewriteOptions, untracked: Collection[str]) -> _Plan:
    edits: list[Edit] = []
    found: dict[tuple[str, str | None], TrackedLink] = {}
    ordered: list[TrackedLink] = []
    skipped: list[tuple[str, str]] = []
    body_end: int | None = None
    close_body: int | None = None
    pos = 0
    search = _SPECIAL.search
    while (match := search(html, pos)) is not None:
        kind = match.lastgroup
        if kind == "comment":
            pos = match.end()
            if not html.startswith("[if", pos):
                pos = _comment_end(html, pos)
                continue
            # Outlook renders the content of <!--[if mso]> … <![endif]-->: links
            # there count. MJML writes dozens of these around table cells; one
            # holding no link is passed over whole.
            end = html.find("<![endif]-->", pos)
            if end >= 0 and _ANCHOR.search(html, pos, end) is None:
                pos = end + 12
            continue
        if kind == "raw":
            # Their text is not markup; <plaintext> never ends.
            closer = _RAW_END[match.group("raw").lower()].search(html, match.end())
            pos = closer.start() if closer is not None else len(html)
            continue
        if kind == "close":
            close_body = match.start()
            pos = match.end()
            continue
        tag = _start_tag(html, match.end())
        if tag is None:
            break  # the document ends inside a tag: leave the rest alone
        pos, attributes = tag
        if kind == "body":
            if body_end is None:
                body_end = pos
            continue
        _rewrite_anchor(html, attributes, links, options, untracked, edits, found, ordered, skipped)

    honeypot = pixel = None
    if options.honeypot is not None:
        honeypot = links.click(HONEYPOT, options.honeypot)
        at = body_end if body_end is not None else (close_body if close_body is not None else len(html))
        edits.append((at, at, _HONEYPOT.format(url=honeypot)))
    if options.pixel:
        pixel = links.open()
        at = close_body if close_body is not None else len(html)
        edits.append((at, at, _PIXEL.format(url=pixel)))
    edits.sort(key=lambda edit: edit[0])
    return _Plan(edits, tuple(ordered), tuple(skipped), honeypot, pixel)


def _rewrite_anchor(
    html: str,
    attributes: list[_Attribute],
    links: MessageLinks,
    options: RewriteOptions,
    untracked: Collection[str],
    edits: list[Edit],
    found: dict[tuple[str, str | None], TrackedLink],
    ordered: list[TrackedLink],
    skipped: list[tuple[str, str]],
) -> None:
    href: _Attribute | None = None
    off = False
    name: str | None = None
    for attribute in attributes:
        attribute_name = attribute[0]
        if attribute_name == "href":
            if href is None:
                href = attribute
        elif attribute_name == "data-track":
            value = unescape_attribute(html[attribute[3] : attribute[4]]) if attribute[3] >= 0 else ""
            off = off or value.strip(_WS).lower() == "off"
            edits.append(_removal(html, attribute[1], attribute[2]))
        elif attribute_name == "data-link-name":
            if name is None and attribute[3] >= 0:
                name = unescape_attribute(html[attribute[3] : attribute[4]]).strip(_WS) or None
            edits.append(_removal(html, attribute[1], attribute[2]))
    if off or href is None or href[3] < 0:
        return
    url = unescape_attribute(html[href[3] : href[4]]).strip(_WS)
    if not url[:8].lower().startswith(_HTTP):
        return
    if url in untracked or url in options.untracked or url.startswith(options.untracked_prefixes):
        return
    if name is None:
        name = options.names.get(url)
    key = (url, name)
    link = found.get(key)
    if link is None:
        index = len(ordered) + 1
        content = name or str(index)
        try:
            tracked = links.click(index, _destination(url, content, options.utm))
        except UntrackableLink as err:
            if (url, err.reason) not in skipped:
                skipped.append((url, err.reason))
            return
        link = found[key] = TrackedLink(index, url, tracked, content)
        ordered.append(link)
    edits.append((href[3], href[4], link.tracked))
