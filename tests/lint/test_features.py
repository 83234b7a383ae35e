"""mailer.lint.features: where a rendered email uses each caniemail feature."""

from __future__ import annotations

import json
import time
import pytest

from mailer.lint.features import DETECTABLE, Usage, scan_features
from tests.conftest import shared_path

# The features of caniemail's data that are not visible in an email's HTML, and why.
UNDETECTABLE = {
    "bimi": "a DNS record and a certified logo, not part of the HTML",
}

# A snippet that uses each feature; features named after a property, a tag, a unit, a
# pseudo-class or an image format get one made from their slug (see sample()).
SAMPLES = {
    "amp": '<html ⚡4email lang="en">',
    "css-at-font-face": "<style>@font-face { font-family: X; src: url(x.woff2) }</style>",
    "css-at-import": "<style>@import url(https://fonts.test/x.css);</style>",
    "css-at-keyframes": "<style>@keyframes spin { to { opacity: 0 } }</style>",
    "css-at-media": "<style>@media (max-width: 480px) { .a { color: red } }</style>",
    "css-at-media-device-pixel-ratio": "<style>@media (-webkit-device-pixel-ratio: 2) {}</style>",
    "css-at-media-hover": "<style>@media (hover: hover) {}</style>",
    "css-at-media-orientation": "<style>@media (orientation: portrait) {}</style>",
    "css-at-media-prefers-color-scheme": "<style>@media (prefers-color-scheme: dark) {}</style>",
    "css-at-media-prefers-reduced-motion": "<style>@media (prefers-reduced-motion: reduce) {}</style>",
    "css-at-supports": "<style>@supports (display: grid) {}</style>",
    "css-block-inline-size": '<p style="block-size: 10px">',
    "css-border-inline-block": '<p style="border-inline: 1px solid">',
    "css-border-inline-block-individual": '<p style="border-block-start: 1px solid">',
    "css-border-inline-block-longhand": '<p style="border-inline-end-width: 1px">',
    "css-border-radius-logical": '<p style="border-end-start-radius: 4px">',
    "css-column-layout-properties": '<p style="column-rule: 1px solid">',
    "css-comments": '<p style="/* note */ color: red">',
    "css-conic-gradient": '<p style="background: conic-gradient(red, blue)">',
    "css-display-flex": '<p style="display: flex">',
    "css-display-grid": '<p style="display: grid">',
    "css-display-none": '<p style="display: none">',
    "css-function-clamp": '<p style="width: clamp(1px, 50%, 9px)">',
    "css-function-light-dark": '<p style="color: light-dark(black, white)">',
    "css-function-max": '<p style="width: max(1px, 50%)">',
    "css-function-min": '<p style="width: min(1px, 50%)">',
    "css-grid-template": '<p style="grid-template-columns: 1fr 1fr">',
    "css-important": '<p style="color: red !important">',
    "css-inset": '<p style="inset-inline-start: 0">',
    "css-intrinsic-size": '<p style="width: max-content">',
    "css-left-right-top-bottom": '<p style="left: 0">',
    "css-linear-gradient": '<p style="background-image: linear-gradient(red, blue)">',
    "css-margin-block-start-end": '<p style="margin-block-start: 1px">',
    "css-margin-inline-block": '<p style="margin-inline: 1px">',
    "css-margin-inline-start-end": '<p style="margin-inline-end: 1px">',
    "css-modern-color": '<p style="color: oklab(0.5 0.1 0.1)">',
    "css-nesting": "<style>.a { & .b { color: red } }</style>",
    "css-padding-block-start-end": '<p style="padding-block-end: 1px">',
    "css-padding-inline-block": '<p style="padding-block: 1px">',
    "css-padding-inline-start-end": '<p style="padding-inline-start: 1px">',
    "css-pseudo-class-has": "<style>div:has(img) {}</style>",
    "css-pseudo-class-lang": "<style>p:lang(fr) {}</style>",
    "css-pseudo-class-not": "<style>p:not(.a) {}</style>",
    "css-pseudo-class-nth-child": "<style>li:nth-child(2) {}</style>",
    "css-pseudo-class-nth-last-child": "<style>li:nth-last-child(2) {}</style>",
    "css-pseudo-class-nth-last-of-type": "<style>li:nth-last-of-type(2) {}</style>",
    "css-pseudo-class-nth-of-type": "<style>li:nth-of-type(2) {}</style>",
    "css-radial-gradient": '<p style="background: radial-gradient(red, blue)">',
    "css-rgb": '<p style="color: rgb(1, 2, 3)">',
    "css-rgba": '<p style="color: rgba(1, 2, 3, .5)">',
    "css-scroll-snap": '<p style="scroll-snap-type: x mandatory">',
    "css-selector-adjacent-sibling": "<style>h1 + p {}</style>",
    "css-selector-attribute": '<style>[dir="rtl"] {}</style>',
    "css-selector-chaining": "<style>.a.b {}</style>",
    "css-selector-child": "<style>div > p {}</style>",
    "css-selector-class": "<style>.a {}</style>",
    "css-selector-descendant": "<style>div p {}</style>",
    "css-selector-general-sibling": "<style>h1 ~ p {}</style>",
    "css-selector-grouping": "<style>h1, h2 {}</style>",
    "css-selector-id": "<style>#a {}</style>",
    "css-selector-type": "<style>p {}</style>",
    "css-selector-universal": "<style>* {}</style>",
    "css-sytem-ui": '<p style="font-family: ui-rounded, sans-serif">',
    "css-unit-calc": '<p style="width: calc(100% - 1px)">',
    "css-unit-initial": '<p style="color: initial">',
    "css-unit-percent": '<p style="width: 50%">',
    "css-variables": '<p style="--gap: 4px; margin: var(--gap)">',
    "html-anchor-links": '<a href="#top">Top</a>',
    "html-aria-describedby": '<p aria-describedby="x">',
    "html-aria-hidden": '<p aria-hidden="true">',
    "html-aria-label": '<p aria-label="x">',
    "html-aria-labelledby": '<p aria-labelledby="x">',
    "html-aria-live": '<p aria-live="polite">',
    "html-align": '<td align="center">',
    "html-background": '<td background="https://cdn.test/bg.png">',
    "html-button-reset": '<button type="reset">',
    "html-button-submit": "<button>",
    "html-cellpadding": '<table cellpadding="0">',
    "html-cellspacing": '<table cellspacing="0">',
    "html-comments": "<!-- note -->",
    "html-dir": '<p dir="rtl">',
    "html-doctype": "<!DOCTYPE html>",
    "html-h1-h6": "<h3>",
    "html-height": '<img height="10" alt="">',
    "html-hidden": "<p hidden>",
    "html-image-maps": '<img usemap="#m" alt="">',
    "html-input-checkbox": '<input type="checkbox">',
    "html-input-hidden": '<input type="hidden">',
    "html-input-radio": '<input type="radio">',
    "html-input-reset": '<input type="reset">',
    "html-input-submit": '<input type="submit">',
    "html-input-text": "<input>",
    "html-lang": '<p lang="fr">',
    "html-lists": "<ol>",
    "html-loading-attribute": '<img loading="lazy" alt="">',
    "html-mailto-links": '<a href="mailto:care@shop.test">',
    "html-meta-color-scheme": '<meta name="color-scheme" content="light dark">',
    "html-popover": "<div popover>",
    "html-required": "<input required>",
    "html-role": '<table role="presentation">',
    "html-semantics": "<footer>",
    "html-srcset": '<img srcset="a.png 1x, b.png 2x" alt="">',
    "html-target": '<a href="https://s.test/" target="_blank">',
    "html-valign": '<td valign="top">',
    "html-width": '<td width="300">',
    "image-base64": '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">',
}


def sample(slug: str) -> str:
    if slug in SAMPLES:
        return SAMPLES[slug]
    kind, _, name = slug.partition("-")
    if slug.startswith("css-unit-"):
        return f'<p style="width: 2{slug.removeprefix("css-unit-")}">'
    if slug.startswith("css-pseudo-class-"):
        return f"<style>a:{slug.removeprefix('css-pseudo-class-')} {{}}</style>"
    if slug.startswith("css-pseudo-element-"):
        return f"<style>p::{slug.removeprefix('css-pseudo-element-')} {{}}</style>"
    if kind == "css":
        return f'<p style="{name}: 1px">'
    if kind == "image":
        return f'<img src="https://cdn.test/picture.{name}" alt="">'
    return f"<{name}>"


def caniemail_slugs() -> list[str]:
    data = json.loads(shared_path("caniemail/caniemail.json").read_text(encoding="utf-8"))
    return [feature["slug"] for feature in data["data"]]


def test_every_feature_of_the_data_is_detectable_except_the_listed_ones() -> None:
    slugs = caniemail_slugs()
    undetectable = sorted(slug for slug in slugs if slug not in DETECTABLE)
    assert undetectable == sorted(UNDETECTABLE)
    assert len(slugs) - len(undetectable) == 301  # of 302 in the 2025-09-09 data


def test_detectable_names_only_features_of_the_data() -> None:
    assert DETECTABLE - set(caniemail_slugs()) == set()


@pytest.mark.parametrize("slug", sorted(DETECTABLE))
def test_each_detectable_feature_is_found_in_a_use_of_it(slug: str) -> None:
    assert slug in scan_features(sample(slug)), sample(slug)


@pytest.mark.parametrize(("html", "slug"), [
    ('<a href="https://s.test/#top">', "html-anchor-links"),
    ("<a href='#'>", "html-anchor-links"),
    ('<input type="email">', "html-input-text"),
    ('<button type="button">', "html-button-submit"),
    ('<meta name="viewport" content="width=device-width">', "html-meta-color-scheme"),
    ('<div aria-roledescription="email">', "html-aria-label"),
    ('<img src="https://cdn.test/image?id=1" alt="">', "image-jpg"),
    ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">', "html-doctype"),
    ("<!--[if mso]><table><![endif]-->", "html-table"),
    ("<style>p { display: flex }</style>", "html-p"),
    ('<p data-style="display:flex">', "css-display-flex"),
])  # fmt: skip
def test_what_does_not_use_a_feature(html: str, slug: str) -> None:
    assert slug not in scan_features(html)


def test_every_use_is_listed_with_its_line_and_element() -> None:
    found = scan_features('<div style="display:flex">\n<p>x</p>\n<div style="display:flex;color:red">')
    assert found["css-display-flex"] == [
        Usage(1, '<div style="display:flex">'), Usage(3, '<div style="display:flex;color:red">'),
    ]  # fmt: skip


def test_style_sheet_uses_have_lines_of_the_html() -> None:
    found = scan_features('<html>\n<head>\n<style>\n.a {\n  display: grid;\n}\n</style>')
    assert found["css-display-grid"] == [Usage(5, "display: grid")]
    assert found["html-style"] == [Usage(3, "<style>")]


def test_features_come_in_order_of_first_use() -> None:
    found = scan_features('<!DOCTYPE html>\n<style>.a { color: red }</style>\n<table width="10">')
    assert list(found) == ["html-doctype", "html-style", "css-selector-class", "html-table", "html-width"]


def test_images_from_src_srcset_and_background() -> None:
    found = scan_features('<picture><source srcset="a.avif 1x, b.webp 2x"><img src="c.gif" alt=""></picture>'
                          '<td background="d.png"><video poster="e.jpg">')  # fmt: skip
    assert {"image-avif", "image-webp", "image-gif", "image-png", "image-jpg"} <= set(found)


def test_scanning_100_kb_of_email_is_fast() -> None:
    row = ('<tr><td align="center" style="font-size:0px;padding:10px 25px;word-break:break-word;">'
           '<div style="font-family:Helvetica, Arial, sans-serif;font-size:15px;line-height:22px;color:#1f2328;">'
           '<a href="https://shop.test/p/{i}" style="color:#1f2328;text-decoration:none;">Item {i}</a></div></td></tr>\n')
    email = "<!DOCTYPE html><html><head><style>@media (max-width:480px) { .a { width:100% !important } }</style></head>"
    email += "<body><table>" + "".join(row.format(i=i) for i in range(400)) + "</table></body></html>"
    assert len(email.encode()) > 100 * 1024
    start = time.perf_counter()
    scan_features(email)
    assert time.perf_counter() - start < 0.5


def test_comments_are_shown_short() -> None:
    found = scan_features("<!-- a -->\n<!--[if mso]>" + "<table>" * 40 + "<![endif]-->")
    assert [use.element for use in found["html-comments"]][0] == "<!-- a -->"
    assert found["html-comments"][1].line == 2 and len(found["html-comments"][1].element) == 60
