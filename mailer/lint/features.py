"""Feature detection: where a rendered email uses each feature caniemail.com tracks.

:func:`scan_features` maps caniemail slugs (``html-video``, ``css-display-flex``,
``image-webp``...) to the places they are used: HTML elements and attributes,
links (``mailto:``, ``#anchors``), the doctype and comments, the formats of
images, and the CSS of ``<style>`` elements and ``style`` attributes (see
:mod:`mailer.lint.css`). :data:`DETECTABLE` lists every slug it can find; the
rest (BIMI, features only a browser can tell apart) go unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.lint.css import CSS_SLUGS, scan_declarations, scan_stylesheet
from mailer.lint.document import Document, Element, parse_html
from mailer.lint.findings import snippet
from mailer.lint.images import IMAGE_FORMAT_SLUGS, image_formats

__all__ = ["DETECTABLE", "Usage", "scan_features"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Where a feature is used: the line in the HTML and a snippet of the element or CSS."""

    line: int
    element: str


# Elements whose slug is "html-" + the tag name.
_ELEMENTS = frozenset(
    """abbr acronym address audio base bdi blockquote body code del dfn dialog div form hr img link marquee
    meter object p picture pre progress rp rt ruby select small span strike strong style svg table textarea
    video wbr""".split()
)
_ELEMENT_GROUPS = {
    **{f"h{level}": "html-h1-h6" for level in range(1, 7)},
    **dict.fromkeys(("ul", "ol", "dl"), "html-lists"),
    **dict.fromkeys(("map", "area"), "html-image-maps"),
    **dict.fromkeys("article aside details figcaption figure footer header main mark nav section summary time".split(),
                    "html-semantics"),
}  # fmt: skip
_INPUT_TYPES = frozenset({"checkbox", "hidden", "radio", "reset", "submit", "text"})
_ATTRIBUTES = {
    **{name: f"html-{name}" for name in
       "align valign background cellpadding cellspacing width height dir lang role target hidden popover required".split()},
    **{name: f"html-{name}" for name in
       "aria-describedby aria-hidden aria-label aria-labelledby aria-live".split()},
    "loading": "html-loading-attribute",
    "srcset": "html-srcset",
    "sizes": "html-srcset",
    "usemap": "html-image-maps",
}  # fmt: skip
_COLOR_SCHEME_META = frozenset({"color-scheme", "supported-color-schemes"})

DETECTABLE: frozenset[str] = frozenset(
    {f"html-{tag}" for tag in _ELEMENTS}
    | set(_ELEMENT_GROUPS.values())
    | {f"html-input-{kind}" for kind in _INPUT_TYPES}
    | set(_ATTRIBUTES.values())
    | {"html-button-submit", "html-button-reset", "html-meta-color-scheme", "html-mailto-links",
       "html-anchor-links", "html-doctype", "html-comments", "amp"}
    | IMAGE_FORMAT_SLUGS
    | CSS_SLUGS
)
"""Every caniemail slug :func:`scan_features` can report."""


def scan_features(html: str | Document) -> dict[str, list[Usage]]:
    """The caniemail features ``html`` uses, each with every place it is used.

    Slugs come in the order of their first use.

    >>> found = scan_features('<!DOCTYPE html>\\n<div style="display:flex">\\n<img src="a.webp" alt=""></div>')
    >>> sorted(found)[:6]
    ['css-display', 'css-display-flex', 'html-div', 'html-doctype', 'html-img', 'image-webp']
    >>> found["css-display-flex"]
    [Usage(line=2, element='<div style="display:flex">')]
    """
    document = parse_html(html) if isinstance(html, str) else html
    found: dict[str, list[Usage]] = {}

    def add(slug: str, line: int, element: str) -> None:
        found.setdefault(slug, []).append(Usage(line, element))

    if document.doctype is not None and document.doctype.lower().split() == ["doctype", "html"]:
        add("html-doctype", document.doctype_line or 1, f"<!{document.doctype}>")
    uses: list[tuple[int, int, str, str]] = []  # line, order, slug, snippet: elements and style sheets interleaved
    for element in document.elements:
        text = element.snippet
        for slug in _element_slugs(element):
            uses.append((element.line, len(uses), slug, text))
    for sheet in document.styles:
        for slug, line, text in scan_stylesheet(sheet.css):
            uses.append((sheet.line + line - 1, len(uses), slug, text))
    for comment in document.comments:
        uses.append((comment.line, len(uses), "html-comments", snippet(f"<!--{comment.text}-->", 60)))
    uses.sort()
    for line, _, slug, text in uses:
        add(slug, line, text)
    return found


def _element_slugs(element: Element) -> list[str]:
    tag, attrs = element.tag, element.attrs
    slugs: list[str] = []
    if tag in _ELEMENTS:
        slugs.append(f"html-{tag}")
    elif tag in _ELEMENT_GROUPS:
        slugs.append(_ELEMENT_GROUPS[tag])
    elif tag == "input":
        kind = (attrs.get("type") or "text").lower()
        if kind in _INPUT_TYPES:
            slugs.append(f"html-input-{kind}")
    elif tag == "button":
        kind = (attrs.get("type") or "submit").lower()
        if kind in ("submit", "reset"):
            slugs.append(f"html-button-{kind}")
    elif tag == "meta" and (attrs.get("name") or "").lower() in _COLOR_SCHEME_META:
        slugs.append("html-meta-color-scheme")
    elif tag == "html" and ("⚡4email" in attrs or "amp4email" in attrs):
        slugs.append("amp")
    for name in attrs:
        if name in _ATTRIBUTES:
            slugs.append(_ATTRIBUTES[name])
    if tag == "a":
        href = (attrs.get("href") or "").strip()
        if href[:7].lower() == "mailto:":
            slugs.append("html-mailto-links")
        elif href.startswith("#") and len(href) > 1:
            slugs.append("html-anchor-links")
    if tag in ("img", "video") and (attrs.get("src") or attrs.get("poster")):
        slugs.extend(image_formats(attrs.get("src") or attrs.get("poster") or ""))
    if tag in ("img", "source") and attrs.get("srcset"):
        for candidate in (attrs["srcset"] or "").split(","):
            slugs.extend(image_formats(candidate.strip().split(" ", 1)[0]))
    if attrs.get("background"):
        slugs.extend(image_formats(attrs["background"] or ""))
    style = attrs.get("style")
    if style:
        slugs.extend(scan_declarations(style))
    return slugs
