"""CSS features: which caniemail ``css-*`` features a style sheet or a ``style`` attribute uses.

The CSS is read with tinycss2 (a CSS Syntax Level 3 parser: it never fails,
and every node knows its line). A declaration uses its property's feature
(``margin-top`` → ``css-margin``), the features of its value (``display:flex``,
``linear-gradient()``, ``rgba()``, ``calc()``, ``var()``, units such as ``rem``
or ``vw``, ``!important``) and, for background and list images, the image
format. A style sheet also uses at-rules (``@media`` and its media features,
``@font-face``, ``@import``, ``@keyframes``, ``@supports``), selectors
(type, class, id, attribute, universal, chaining, grouping, the four
combinators, pseudo-classes and pseudo-elements), nesting and comments.

Vendor properties (``-webkit-…``, ``mso-…``) have no feature of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import tinycss2
from tinycss2 import ast

from mailer.lint.findings import snippet
from mailer.lint.images import image_formats

__all__ = ["CSS_SLUGS", "CssUse", "property_slugs", "scan_declarations", "scan_stylesheet"]

CssUse = tuple[str, int, str]
"""A feature slug, the 1-based line in the CSS text and a snippet of the CSS."""

# Properties whose caniemail slug is "css-" + the property name.
_DIRECT = frozenset(
    """accent-color align-items animation aspect-ratio backdrop-filter background background-blend-mode
    background-clip background-color background-image background-origin background-position
    background-repeat background-size border border-collapse border-image border-radius border-spacing
    box-shadow box-sizing caption-side clear clip-path color-scheme column-count cursor direction display
    empty-cells filter flex-direction flex-wrap float font font-kerning font-size font-stretch font-weight
    gap height hyphenate-character hyphenate-limit-chars hyphens inline-size inset justify-content
    letter-spacing line-height list-style list-style-image list-style-position list-style-type margin
    mask-image max-block-size max-height max-inline-size max-width min-block-size min-height
    min-inline-size min-width mix-blend-mode object-fit object-position opacity orphans outline
    outline-offset overflow overflow-wrap padding position resize shape-margin shape-outside tab-size
    table-layout text-align text-align-last text-decoration text-decoration-color text-decoration-line
    text-decoration-skip-ink text-decoration-style text-decoration-thickness text-emphasis
    text-emphasis-position text-indent text-justify text-orientation text-overflow text-shadow
    text-transform text-underline-offset text-underline-position text-wrap transform transition
    user-select vertical-align visibility white-space white-space-collapse widows width word-break
    word-spacing word-wrap writing-mode z-index""".split()
)


def _each(slug: str, names: str) -> dict[str, tuple[str, ...]]:
    return {name: (slug,) for name in names.split()}


def _sides(prefix: str, suffix: str = "") -> str:
    return " ".join(f"{prefix}-{side}{suffix}" for side in ("top", "right", "bottom", "left"))


# Longhands and relatives of a feature (from each feature's title and keywords in the data).
_RELATED: dict[str, tuple[str, ...]] = {
    **_each("css-animation", "animation-name animation-duration animation-timing-function animation-delay "
                             "animation-iteration-count animation-direction animation-fill-mode animation-play-state"),
    **_each("css-transition", "transition-property transition-duration transition-timing-function transition-delay"),
    **_each("css-transform", "transform-origin transform-style transform-box"),
    **_each("css-border", "border-width border-style border-color " + _sides("border") + " "
            + " ".join(_sides("border", f"-{part}") for part in ("width", "style", "color"))),
    **_each("css-border-radius", "border-top-left-radius border-top-right-radius border-bottom-right-radius "
                                 "border-bottom-left-radius"),
    **_each("css-border-radius-logical", "border-start-start-radius border-start-end-radius "
                                         "border-end-start-radius border-end-end-radius"),
    **_each("css-border-image", "border-image-source border-image-slice border-image-width border-image-outset "
                                "border-image-repeat"),
    **_each("css-border-inline-block", "border-inline border-block"),
    **_each("css-border-inline-block-individual", " ".join(
        f"border-{axis}-{part}" for axis in ("inline", "block") for part in ("color", "style", "width", "start", "end"))),
    **_each("css-border-inline-block-longhand", " ".join(
        f"border-{axis}-{edge}-{part}" for axis in ("inline", "block") for edge in ("start", "end")
        for part in ("color", "style", "width"))),
    "block-size": ("css-block-inline-size",),
    "inline-size": ("css-inline-size", "css-block-inline-size"),
    "column-count": ("css-column-count", "css-column-layout-properties"),
    "column-gap": ("css-gap", "css-column-layout-properties"),
    "row-gap": ("css-gap",),
    **_each("css-column-layout-properties", "columns column-fill column-rule column-rule-color column-rule-style "
                                            "column-rule-width column-span column-width"),
    **_each("css-grid-template", "grid-template grid-template-areas grid-template-columns grid-template-rows"),
    **_each("css-inset", "inset-block inset-inline inset-block-start inset-block-end inset-inline-start "
                         "inset-inline-end"),
    **_each("css-left-right-top-bottom", "top right bottom left"),
    **_each("css-margin", _sides("margin")),
    **_each("css-margin-inline-block", "margin-inline margin-block"),
    **_each("css-margin-block-start-end", "margin-block-start margin-block-end"),
    **_each("css-margin-inline-start-end", "margin-inline-start margin-inline-end"),
    **_each("css-padding", _sides("padding")),
    **_each("css-padding-inline-block", "padding-inline padding-block"),
    **_each("css-padding-block-start-end", "padding-block-start padding-block-end"),
    **_each("css-padding-inline-start-end", "padding-inline-start padding-inline-end"),
    **_each("css-overflow", "overflow-x overflow-y overflow-block overflow-inline"),
    **_each("css-scroll-snap", "scroll-snap-type scroll-snap-align scroll-snap-stop"),
    **_each("css-text-emphasis", "text-emphasis-color text-emphasis-style"),
}

_DISPLAY = {"flex": "css-display-flex", "inline-flex": "css-display-flex", "grid": "css-display-grid",
            "inline-grid": "css-display-grid", "none": "css-display-none"}  # fmt: skip
_FUNCTIONS = {
    "linear-gradient": "css-linear-gradient",
    "repeating-linear-gradient": "css-linear-gradient",
    "radial-gradient": "css-radial-gradient",
    "repeating-radial-gradient": "css-radial-gradient",
    "conic-gradient": "css-conic-gradient",
    "repeating-conic-gradient": "css-conic-gradient",
    "rgb": "css-rgb",
    "rgba": "css-rgba",
    "calc": "css-unit-calc",
    "var": "css-variables",
    "clamp": "css-function-clamp",
    "min": "css-function-min",
    "max": "css-function-max",
    "light-dark": "css-function-light-dark",
    "lch": "css-modern-color",
    "oklch": "css-modern-color",
    "lab": "css-modern-color",
    "oklab": "css-modern-color",
    "fit-content": "css-intrinsic-size",
}
_KEYWORDS = {
    "initial": "css-unit-initial",
    "fit-content": "css-intrinsic-size",
    "min-content": "css-intrinsic-size",
    "max-content": "css-intrinsic-size",
    "system-ui": "css-sytem-ui",  # (sic: the data's slug)
    "ui-serif": "css-sytem-ui",
    "ui-sans-serif": "css-sytem-ui",
    "ui-rounded": "css-sytem-ui",
    "ui-monospace": "css-sytem-ui",
}
_UNITS = frozenset("px em rem ex ch cm mm in pt pc vh vw vmin vmax".split())
_IMAGE_PROPERTIES = frozenset("background background-image list-style list-style-image border-image "
                              "border-image-source mask-image content".split())  # fmt: skip
_AT_RULES = {"media": "css-at-media", "font-face": "css-at-font-face", "import": "css-at-import",
             "keyframes": "css-at-keyframes", "-webkit-keyframes": "css-at-keyframes", "supports": "css-at-supports"}  # fmt: skip
_MEDIA_FEATURES = {
    "prefers-color-scheme": "css-at-media-prefers-color-scheme",
    "prefers-reduced-motion": "css-at-media-prefers-reduced-motion",
    "orientation": "css-at-media-orientation",
    "hover": "css-at-media-hover",
    "any-hover": "css-at-media-hover",
}
_GROUPING_RULES = frozenset({"media", "supports", "layer", "container", "document", "-moz-document"})
_PSEUDO_CLASSES = frozenset(
    """active checked first-child first-of-type focus has hover lang last-child last-of-type link not
    nth-child nth-last-child nth-last-of-type nth-of-type only-child only-of-type target visited""".split()
)
_PSEUDO_ELEMENTS = frozenset("after before first-letter first-line marker placeholder".split())
_LEGACY_PSEUDO_ELEMENTS = frozenset({"after", "before", "first-letter", "first-line"})
_COMBINATORS = {">": "css-selector-child", "+": "css-selector-adjacent-sibling", "~": "css-selector-general-sibling"}

CSS_SLUGS: frozenset[str] = frozenset(
    {f"css-{name}" for name in _DIRECT}
    | {slug for slugs in _RELATED.values() for slug in slugs}
    | {*_DISPLAY.values(), *_FUNCTIONS.values(), *_KEYWORDS.values(), *_AT_RULES.values(), *_MEDIA_FEATURES.values()}
    | {f"css-unit-{unit}" for unit in _UNITS}
    | {f"css-pseudo-class-{name}" for name in _PSEUDO_CLASSES}
    | {f"css-pseudo-element-{name}" for name in _PSEUDO_ELEMENTS}
    | {*_COMBINATORS.values(), "css-selector-descendant", "css-selector-type", "css-selector-class",
       "css-selector-id", "css-selector-attribute", "css-selector-universal", "css-selector-chaining",
       "css-selector-grouping", "css-at-media-device-pixel-ratio", "css-unit-percent", "css-important",
       "css-variables", "css-comments", "css-nesting"}
)
"""Every ``css-*`` slug the scanner can report (the image formats of CSS images are ``image-*``)."""


@lru_cache(maxsize=1024)
def property_slugs(name: str) -> tuple[str, ...]:
    """The features a property name stands for.

    >>> property_slugs("margin-top"), property_slugs("Border-Top-Left-Radius"), property_slugs("--brand")
    (('css-margin',), ('css-border-radius',), ('css-variables',))
    >>> property_slugs("color"), property_slugs("-webkit-text-size-adjust"), property_slugs("mso-line-height-rule")
    ((), (), ())
    """
    name = name.lower()
    if name.startswith("--"):
        return ("css-variables",)
    if name in _RELATED:
        return _RELATED[name]
    return (f"css-{name}",) if name in _DIRECT else ()


@lru_cache(maxsize=4096)
def scan_declarations(css: str) -> tuple[str, ...]:
    """The features a ``style`` attribute's declarations use, each once, in order.

    Cached: a rendered email repeats the same few ``style`` values many times.

    >>> scan_declarations("display:flex; margin-top:2rem !important")
    ('css-display', 'css-display-flex', 'css-margin', 'css-unit-rem', 'css-important')
    """
    found: dict[str, None] = {}
    for node in tinycss2.parse_declaration_list(css, skip_comments=False, skip_whitespace=True):
        if node.type == "comment":
            found["css-comments"] = None
        elif node.type == "declaration":
            found.update(dict.fromkeys(_declaration(node)))
    return tuple(found)


@lru_cache(maxsize=256)
def scan_stylesheet(css: str) -> tuple[CssUse, ...]:
    """Every use of a feature in a style sheet, in order.

    Cached: every email of a layout carries the same style sheets.

    >>> for use in scan_stylesheet("a:hover > b { color: rgb(0 0 0) }\\n@media (prefers-color-scheme: dark) {}"):
    ...     print(use)
    ('css-selector-type', 1, 'a:hover > b { … }')
    ('css-pseudo-class-hover', 1, 'a:hover > b { … }')
    ('css-selector-child', 1, 'a:hover > b { … }')
    ('css-selector-type', 1, 'a:hover > b { … }')
    ('css-rgb', 1, 'color: rgb(0 0 0)')
    ('css-at-media', 2, '@media (prefers-color-scheme: dark)')
    ('css-at-media-prefers-color-scheme', 2, '@media (prefers-color-scheme: dark)')
    """
    return tuple(_rules(tinycss2.parse_stylesheet(css, skip_comments=False, skip_whitespace=True)))


def _rules(nodes: Iterable[ast.Node], *, nested: bool = False, keyframes: bool = False) -> Iterator[CssUse]:
    for node in nodes:
        if node.type == "comment":
            yield "css-comments", node.source_line, snippet(f"/*{node.value}*/")
        elif node.type == "declaration":
            text = _declaration_text(node)
            for slug in _declaration(node):
                yield slug, node.source_line, text
        elif node.type == "at-rule":
            yield from _at_rule(node, nested=nested)
        elif node.type == "qualified-rule":
            text = snippet(f"{tinycss2.serialize(node.prelude).strip()} {{ … }}")
            if nested:
                yield "css-nesting", node.source_line, text
            if not keyframes:
                for slug in _selector_slugs(node.prelude):
                    yield slug, node.source_line, text
            contents = tinycss2.parse_blocks_contents(node.content or [], skip_comments=False, skip_whitespace=True)
            yield from _rules(contents, nested=True)


def _at_rule(rule: ast.AtRule, *, nested: bool) -> Iterator[CssUse]:
    keyword = rule.lower_at_keyword
    text = snippet(f"@{rule.at_keyword} {tinycss2.serialize(rule.prelude).strip()}")
    line = rule.source_line
    if nested:
        yield "css-nesting", line, text
    if keyword in _AT_RULES:
        yield _AT_RULES[keyword], line, text
    if keyword == "media":
        for token in _tokens(rule.prelude):
            if token.type == "ident":
                name = token.lower_value
                if name in _MEDIA_FEATURES:
                    yield _MEDIA_FEATURES[name], line, text
                elif name.endswith("device-pixel-ratio"):
                    yield "css-at-media-device-pixel-ratio", line, text
    if rule.content is None:
        return
    if keyword in _GROUPING_RULES:
        yield from _rules(tinycss2.parse_stylesheet(rule.content, skip_comments=False, skip_whitespace=True))
    elif keyword.endswith("keyframes"):
        yield from _rules(tinycss2.parse_stylesheet(rule.content, skip_comments=False, skip_whitespace=True),
                          keyframes=True)  # fmt: skip


def _declaration(node: ast.Declaration) -> Iterator[str]:
    name = node.lower_name
    yield from property_slugs(name)
    if name == "display":
        first = next((t for t in node.value if t.type == "ident"), None)
        if first is not None and first.lower_value in _DISPLAY:
            yield _DISPLAY[first.lower_value]
    images = name in _IMAGE_PROPERTIES
    for token in _tokens(node.value):
        kind = token.type
        if kind == "dimension":
            if token.lower_unit in _UNITS:
                yield f"css-unit-{token.lower_unit}"
        elif kind == "percentage":
            yield "css-unit-percent"
        elif kind == "function":
            if token.lower_name in _FUNCTIONS:
                yield _FUNCTIONS[token.lower_name]
            elif token.lower_name == "url" and images:
                yield from image_formats("".join(a.value for a in token.arguments if a.type == "string"))
        elif kind == "ident":
            if token.lower_value in _KEYWORDS:
                yield _KEYWORDS[token.lower_value]
        elif kind == "url" and images:
            yield from image_formats(token.value)
    if node.important:
        yield "css-important"


def _tokens(values: Iterable[ast.Node]) -> Iterator[ast.Node]:
    """Every token, function arguments and bracketed blocks included."""
    for token in values:
        yield token
        if token.type == "function":
            yield from _tokens(token.arguments)
        elif token.type in ("() block", "[] block", "{} block"):
            yield from _tokens(token.content)


def _declaration_text(node: ast.Declaration) -> str:
    value = tinycss2.serialize(node.value).strip()
    return snippet(f"{node.name}: {value}{' !important' if node.important else ''}")


def _selector_slugs(prelude: list[ast.Node]) -> Iterator[str]:
    """The selector features of a rule's prelude (``a.b > c, d``)."""
    groups: list[list[ast.Node]] = [[]]
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            groups.append([])
        else:
            groups[-1].append(token)
    groups = [g for g in groups if any(t.type not in ("whitespace", "comment") for t in g)]
    if len(groups) > 1:
        yield "css-selector-grouping"
    for group in groups:
        yield from _complex_selector(group)


def _complex_selector(tokens: list[ast.Node]) -> Iterator[str]:
    # A compound selector starts at the beginning and after each combinator;
    # whitespace between two compounds is the descendant combinator.
    qualifiers = 0  # classes, ids and attributes in the current compound (two or more: chaining)
    started = space = False
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        value = token.value if kind == "literal" else None
        i += 1
        if kind in ("whitespace", "comment"):
            space = started
            continue
        if value in _COMBINATORS:
            yield _COMBINATORS[value]
            started = space = False
            qualifiers = 0
            continue
        if space:
            yield "css-selector-descendant"
            qualifiers = 0
        space = False
        if kind == "ident" and not started:
            yield "css-selector-type"
        elif value == "*":
            yield "css-selector-universal"
        elif value == "." and i < len(tokens) and tokens[i].type == "ident":
            yield "css-selector-class"
            qualifiers += 1
            i += 1
        elif kind == "hash":
            yield "css-selector-id"
            qualifiers += 1
        elif kind == "[] block":
            yield "css-selector-attribute"
            qualifiers += 1
        elif value == ":":
            element = i < len(tokens) and tokens[i].type == "literal" and tokens[i].value == ":"
            i += element
            if i < len(tokens):
                name_token = tokens[i]
                name = (name_token.lower_value if name_token.type == "ident"
                        else name_token.lower_name if name_token.type == "function" else "")  # fmt: skip
                i += 1
                if (element or name in _LEGACY_PSEUDO_ELEMENTS) and name in _PSEUDO_ELEMENTS:
                    yield f"css-pseudo-element-{name}"
                elif not element and name in _PSEUDO_CLASSES:
                    yield f"css-pseudo-class-{name}"
        if qualifiers == 2:
            yield "css-selector-chaining"
            qualifiers += 1  # once per compound
        started = True
