"""mailer.lint.css: the caniemail features of style sheets and style attributes."""

from __future__ import annotations

import pytest

from mailer.lint.css import CSS_SLUGS, property_slugs, scan_declarations, scan_stylesheet


def slugs(css: str) -> list[str]:
    return [slug for slug, _, _ in scan_stylesheet(css)]


@pytest.mark.parametrize(("name", "expected"), [
    ("padding", ("css-padding",)),
    ("padding-left", ("css-padding",)),
    ("margin-top", ("css-margin",)),
    ("MARGIN-BOTTOM", ("css-margin",)),
    ("border-top-left-radius", ("css-border-radius",)),
    ("border-bottom-color", ("css-border",)),
    ("border-inline-start-color", ("css-border-inline-block-longhand",)),
    ("background-position", ("css-background-position",)),
    ("column-gap", ("css-gap", "css-column-layout-properties")),
    ("inline-size", ("css-inline-size", "css-block-inline-size")),
    ("top", ("css-left-right-top-bottom",)),
    ("--brand-color", ("css-variables",)),
    ("color", ()),
    ("font-family", ()),
    ("-webkit-box-shadow", ()),
    ("mso-line-height-rule", ()),
])  # fmt: skip
def test_property_slugs(name: str, expected: tuple[str, ...]) -> None:
    assert property_slugs(name) == expected


@pytest.mark.parametrize(("declarations", "slug"), [
    ("display: flex", "css-display-flex"),
    ("display: inline-flex", "css-display-flex"),
    ("display: grid", "css-display-grid"),
    ("DISPLAY: NONE", "css-display-none"),
    ("background: linear-gradient(#fff, #000)", "css-linear-gradient"),
    ("background-image: repeating-radial-gradient(#fff, #000)", "css-radial-gradient"),
    ("color: rgb(0 0 0)", "css-rgb"),
    ("color: rgba(0, 0, 0, .5)", "css-rgba"),
    ("width: calc(100% - 2px)", "css-unit-calc"),
    ("width: calc(100% - var(--gap))", "css-variables"),
    ("color: oklch(70% 0.1 120)", "css-modern-color"),
    ("width: clamp(1px, 2vw, 3px)", "css-function-clamp"),
    ("width: clamp(1px, 2vw, 3px)", "css-unit-vw"),
    ("color: light-dark(#000, #fff)", "css-function-light-dark"),
    ("width: fit-content", "css-intrinsic-size"),
    ("font-family: system-ui, sans-serif", "css-sytem-ui"),
    ("color: initial", "css-unit-initial"),
    ("font-size: 1.5rem", "css-unit-rem"),
    ("height: 50vh", "css-unit-vh"),
    ("line-height: 120%", "css-unit-percent"),
    ("width: 10px !important", "css-important"),
    ("background-image: url(https://cdn.test/bg.webp)", "image-webp"),
    ("background: url('https://cdn.test/bg.png') no-repeat", "image-png"),
    ("/* hi */ color: red", "css-comments"),
])  # fmt: skip
def test_values_and_declarations(declarations: str, slug: str) -> None:
    assert slug in scan_declarations(declarations)


@pytest.mark.parametrize(("declarations", "slug"), [
    ("display: block", "css-display-flex"),
    ("display: block", "css-display-none"),
    ("color: #000", "css-rgb"),
    ("width: 0", "css-unit-px"),
    ("width: 10px", "css-important"),
    ("font-family: url(a.png)", "image-png"),
    ("-webkit-text-size-adjust: 100%", "css-text-size-adjust"),
])  # fmt: skip
def test_values_that_do_not_use_the_feature(declarations: str, slug: str) -> None:
    assert slug not in scan_declarations(declarations)


def test_declarations_are_listed_once_in_order() -> None:
    assert scan_declarations("padding: 1px; padding-top: 2px; margin: 0") == ("css-padding", "css-unit-px", "css-margin")


def test_a_broken_style_attribute_does_not_fail() -> None:
    assert scan_declarations("color: ; ;; {{ }} width:") == ()


@pytest.mark.parametrize(("css", "slug"), [
    ("@media (max-width: 480px) { .a { color: red } }", "css-at-media"),
    ("@media (prefers-color-scheme: dark) {}", "css-at-media-prefers-color-scheme"),
    ("@media (prefers-reduced-motion: reduce) {}", "css-at-media-prefers-reduced-motion"),
    ("@media screen and (orientation: landscape) {}", "css-at-media-orientation"),
    ("@media (any-hover: hover) {}", "css-at-media-hover"),
    ("@media (-webkit-min-device-pixel-ratio: 2) {}", "css-at-media-device-pixel-ratio"),
    ("@font-face { font-family: X; src: url(x.woff2) }", "css-at-font-face"),
    ("@import url(https://fonts.test/a.css);", "css-at-import"),
    ("@keyframes spin { from { transform: rotate(0) } }", "css-at-keyframes"),
    ("@-webkit-keyframes spin { to { opacity: 0 } }", "css-at-keyframes"),
    ("@supports (display: grid) { .a { display: grid } }", "css-at-supports"),
])  # fmt: skip
def test_at_rules(css: str, slug: str) -> None:
    assert slug in slugs(css)


def test_rules_inside_media_and_supports_are_read() -> None:
    found = slugs("@media (max-width: 480px) { .a:hover { display: flex } }\n@supports (gap: 1px) { .b { gap: 1px } }")
    assert {"css-pseudo-class-hover", "css-display-flex", "css-gap"} <= set(found)


def test_keyframe_selectors_are_not_selectors_but_their_declarations_count() -> None:
    found = slugs("@keyframes fade { from { opacity: 0 } 50% { opacity: .5 } }")
    assert "css-opacity" in found and "css-selector-type" not in found


def test_font_face_descriptors_are_not_properties() -> None:
    assert "css-font-weight" not in slugs("@font-face { font-family: X; font-weight: 700; src: url(x.woff2) }")


@pytest.mark.parametrize(("selector", "expected"), [
    ("p", {"css-selector-type"}),
    (".a", {"css-selector-class"}),
    ("#a", {"css-selector-id"}),
    ("*", {"css-selector-universal"}),
    ("[data-x]", {"css-selector-attribute"}),
    (".a.b", {"css-selector-class", "css-selector-chaining"}),
    ("p.a", {"css-selector-type", "css-selector-class"}),
    ("a, b", {"css-selector-type", "css-selector-grouping"}),
    ("div p", {"css-selector-type", "css-selector-descendant"}),
    ("div > p", {"css-selector-type", "css-selector-child"}),
    ("div>p", {"css-selector-type", "css-selector-child"}),
    ("h1 + p", {"css-selector-type", "css-selector-adjacent-sibling"}),
    ("h1 ~ p", {"css-selector-type", "css-selector-general-sibling"}),
    ("a:hover", {"css-selector-type", "css-pseudo-class-hover"}),
    ("li:nth-child(2n+1)", {"css-selector-type", "css-pseudo-class-nth-child"}),
    (":not(.a)", {"css-pseudo-class-not"}),
    ("div:has(> img)", {"css-selector-type", "css-pseudo-class-has"}),
    ("p::first-line", {"css-selector-type", "css-pseudo-element-first-line"}),
    ("p:before", {"css-selector-type", "css-pseudo-element-before"}),
    ("input::placeholder", {"css-selector-type", "css-pseudo-element-placeholder"}),
    ("p:lang(fr)", {"css-selector-type", "css-pseudo-class-lang"}),
])  # fmt: skip
def test_selectors(selector: str, expected: set[str]) -> None:
    assert set(slugs(f"{selector} {{}}")) == expected


def test_descendant_is_not_reported_around_other_combinators() -> None:
    assert "css-selector-descendant" not in slugs("div > p {} h1 + p {} h1 ~ p {}")


def test_nested_rules_are_nesting_and_are_read() -> None:
    found = slugs(".card { color: red; & .title { display: flex } }")
    assert "css-nesting" in found and "css-display-flex" in found
    assert "css-nesting" not in slugs(".card { color: red }")


def test_comments_in_a_style_sheet() -> None:
    assert "css-comments" in slugs("/* brand colours */ .a { color: red }")


def test_uses_carry_their_line_and_a_snippet() -> None:
    uses = scan_stylesheet("\n.a {\n  display: flex;\n}\n@media (hover: hover) {}")
    assert ("css-display-flex", 3, "display: flex") in uses
    assert ("css-selector-class", 2, ".a { … }") in uses
    assert ("css-at-media-hover", 5, "@media (hover: hover)") in uses


def test_every_slug_the_scanner_names_is_a_css_slug() -> None:
    assert all(slug.startswith("css-") for slug in CSS_SLUGS)
