"""A rendered email read once for every check: its elements, links, style sheets and comments.

:func:`parse_html` walks the HTML with the standard library's
:class:`html.parser.HTMLParser` (lenient, like mail clients, and it knows the
line of each tag) and keeps what the checks of :mod:`mailer.lint` look at.
Attribute values and link texts come back with character references
resolved. Markup inside comments (Outlook's ``<!--[if mso]>`` blocks) is not
read as elements: only Outlook for Windows sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from mailer.lint.findings import snippet

__all__ = ["Comment", "Document", "Element", "Link", "StyleSheet", "parse_html"]


@dataclass(frozen=True, slots=True)
class Element:
    """A start tag: its name (lower case), attributes (first of each name wins) and line."""

    tag: str
    attrs: dict[str, str | None]
    line: int
    source: str
    """The start tag as written."""

    @property
    def snippet(self) -> str:
        """The start tag on one line, shortened."""
        return snippet(self.source)


@dataclass(frozen=True, slots=True)
class Link:
    """An ``<a href>`` and the text it shows."""

    href: str
    text: str
    element: Element


@dataclass(frozen=True, slots=True)
class StyleSheet:
    """The CSS of a ``<style>`` element; ``line`` is where the CSS starts."""

    css: str
    line: int
    element: Element


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Document:
    """What the checks need of an HTML document.

    >>> doc = parse_html('<!DOCTYPE html>\\n<style>p { color: red }</style>\\n<a href="https://s.test/?a=1&amp;b=2">Hi</a>')
    >>> doc.doctype, doc.links[0].href, doc.links[0].text, doc.links[0].element.line
    ('DOCTYPE html', 'https://s.test/?a=1&b=2', 'Hi', 3)
    >>> doc.styles[0].css, doc.styles[0].line
    ('p { color: red }', 2)
    """

    elements: tuple[Element, ...]
    links: tuple[Link, ...]
    styles: tuple[StyleSheet, ...]
    comments: tuple[Comment, ...]
    doctype: str | None = None
    doctype_line: int | None = None


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.styles: list[StyleSheet] = []
        self.comments: list[Comment] = []
        self.doctype: str | None = None
        self.doctype_line: int | None = None
        self._anchors: list[tuple[int, Element, list[str]]] = []
        self._links: list[tuple[int, Link]] = []
        self._style: Element | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values: dict[str, str | None] = {}
        for name, value in attrs:
            values.setdefault(name, value)
        element = Element(tag, values, self.getpos()[0], self.get_starttag_text() or f"<{tag}>")
        self.elements.append(element)
        if tag == "a" and values.get("href") is not None:
            self._anchors.append((len(self.elements), element, []))
        elif tag == "style":
            self._style = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("a", "style"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchors:
            self._close_anchor()
        elif tag == "style":
            self._style = None

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            last = self.styles[-1] if self.styles else None
            if last is not None and last.element is self._style:
                self.styles[-1] = StyleSheet(last.css + data, last.line, last.element)
            else:
                self.styles.append(StyleSheet(data, self.getpos()[0], self._style))
        for _, _, texts in self._anchors:
            texts.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(Comment(data, self.getpos()[0]))

    def handle_decl(self, decl: str) -> None:
        if decl[:7].lower() == "doctype" and self.doctype is None:
            self.doctype, self.doctype_line = decl, self.getpos()[0]

    def _close_anchor(self) -> None:
        order, element, texts = self._anchors.pop()
        self._links.append((order, Link(element.attrs["href"] or "", " ".join("".join(texts).split()), element)))

    def finish(self) -> Document:
        self.close()
        while self._anchors:
            self._close_anchor()
        self._links.sort(key=lambda pair: pair[0])
        return Document(tuple(self.elements), tuple(link for _, link in self._links), tuple(self.styles), tuple(self.comments),
                        self.doctype, self.doctype_line)  # fmt: skip


def parse_html(html: str) -> Document:
    """Read ``html`` (a whole document or a fragment) for the checks."""
    reader = _Reader()
    reader.feed(html)
    return reader.finish()
