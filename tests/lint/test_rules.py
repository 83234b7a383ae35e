"""mailer.lint.rules: the checks of a rendered email."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mailer.inputs.customers import iter_customers
from mailer.lint.caniemail import parse_caniemail
from mailer.lint.document import parse_html
from mailer.lint.rules import (
    check_https_links,
    check_image_alt,
    check_size,
    check_unsubscribe_link,
    lint_html,
)
from tests.conftest import FIXTURES, prepared_sample

UNSUBSCRIBE = "https://shop.test/email/unsubscribe/TOKEN"
FOOTER = f'<a href="{UNSUBSCRIBE}">Unsubscribe</a>'


def rules(html: str, **options: object) -> list[str]:
    return [f.rule for f in lint_html(html, **options)]  # type: ignore[arg-type]


# -- image-alt ----------------------------------------------------------------------------------


def test_an_image_without_alt_is_reported_with_line_and_element() -> None:
    [finding] = check_image_alt(parse_html('<p>\n<img src="https://cdn.test/hero.jpg" width="600">'))
    assert (finding.rule, finding.severity, finding.line) == ("image-alt", "warning", 2)
    assert finding.element == '<img src="https://cdn.test/hero.jpg" width="600">'
    assert 'alt=""' in finding.message and "decorative" in finding.message


@pytest.mark.parametrize("img", ['<img src="a.png" alt="Autumn coats">', '<img src="spacer.gif" alt="">', "<img alt>"])
def test_an_image_with_alt_even_empty_is_fine(img: str) -> None:
    assert check_image_alt(parse_html(img)) == []


# -- https-links --------------------------------------------------------------------------------


@pytest.mark.parametrize(("html", "expected"), [
    ('<a href="http://shop.test/sale">x</a>', "link to http://shop.test/sale is not encrypted"),
    ('<a href="HTTP://shop.test/">x</a>', "link to HTTP://shop.test/ is not encrypted"),
    ('<img src="http://cdn.test/a.png" alt="">', "image http://cdn.test/a.png loads over http://"),
    ('<link rel="stylesheet" href="http://fonts.test/a.css">', "style sheet http://fonts.test/a.css loads over http://"),
    ('<a href="/sale">x</a>', "link '/sale' is relative"),
    ('<a href="sale.html">x</a>', "link 'sale.html' is relative"),
    ('<a href="//shop.test/sale">x</a>', "link '//shop.test/sale' is relative"),
    ('<img src="images/a.png" alt="">', "image 'images/a.png' is relative"),
    ('<a href="">x</a>', "link has an empty address"),
])  # fmt: skip
def test_insecure_or_relative_addresses_are_warned_about(html: str, expected: str) -> None:
    [finding] = check_https_links(parse_html(html))
    assert finding.rule == "https-links" and finding.severity == "warning" and expected in finding.message


@pytest.mark.parametrize("html", [
    '<a href="https://shop.test/">x</a>',
    '<a href="mailto:care@shop.test">x</a>',
    '<a href="tel:+441234567">x</a>',
    '<a href="#top">x</a>',
    '<a name="top">x</a>',
    '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">',
    '<img src="cid:logo@shop" alt="">',
    '<a href="{{ links.unsubscribe }}">x</a>',
    '<a href="sms:+441234567">x</a>',
    '<a href="*|UNSUB|*">x</a>',
])  # fmt: skip
def test_secure_anchor_and_template_addresses_are_fine(html: str) -> None:
    assert check_https_links(parse_html(html)) == []


def test_one_finding_per_address_at_its_first_line() -> None:
    found = check_https_links(parse_html('<a href="http://s.test/">a</a>\n<a href="http://s.test/">b</a>\n'
                                         '<img src="http://s.test/" alt="">\n<a href="http://s.test/x">c</a>'))  # fmt: skip
    assert [(f.line, f.message.split()[2]) for f in found] == [(1, "http://s.test/"), (4, "http://s.test/x")]


# -- unsubscribe-link ---------------------------------------------------------------------------


def test_a_link_to_the_unsubscribe_address_passes() -> None:
    assert check_unsubscribe_link(parse_html(f"<p>{FOOTER}</p>"), [UNSUBSCRIBE]) == []


def test_the_address_is_compared_after_unescaping() -> None:
    url = "https://shop.test/u?id=1&t=2"
    assert check_unsubscribe_link(parse_html('<a href="https://shop.test/u?id=1&amp;t=2">x</a>'), [url]) == []


def test_no_link_to_the_unsubscribe_address_is_an_error() -> None:
    [finding] = check_unsubscribe_link(parse_html('<a href="https://shop.test/">Shop</a>'), [UNSUBSCRIBE])
    assert (finding.rule, finding.severity, finding.line) == ("unsubscribe-link", "error", None)
    assert UNSUBSCRIBE in finding.message


def test_a_link_that_says_unsubscribe_but_goes_elsewhere_is_pointed_at() -> None:
    [finding] = check_unsubscribe_link(parse_html('<p>\n<a href="https://shop.test/old">Unsubscribe</a>'), [UNSUBSCRIBE])
    assert finding.line == 2 and "the link 'Unsubscribe' goes to https://shop.test/old" in finding.message


@pytest.mark.parametrize("link", [
    '<a href="https://s.test/x">Unsubscribe</a>',
    '<a href="https://s.test/unsub?id=1">here</a>',
    '<a href="https://s.test/x">Manage your email preferences</a>',
    '<a href="https://s.test/x">Afmeld</a>',
    '<a href="https://s.test/x">Avregistrera dig</a>',
    '<a href="https://s.test/x">Abmelden</a>',
    '<a href="https://s.test/x">Se désinscrire</a>',
    '<a href="https://s.test/x">Se desinscrire</a>',
    '<a href="https://s.test/x">配信停止</a>',
])  # fmt: skip
def test_without_the_address_a_link_that_says_unsubscribe_passes(link: str) -> None:
    assert check_unsubscribe_link(parse_html(link)) == []


def test_without_the_address_no_such_link_is_an_error() -> None:
    [finding] = check_unsubscribe_link(parse_html('<a href="https://s.test/">Shop</a><p>Unsubscribe</p>'))
    assert finding.severity == "error" and finding.message.startswith("no unsubscribe link")


# -- html-size ----------------------------------------------------------------------------------


def test_html_over_the_limit_is_an_error_giving_both_sizes() -> None:
    [finding] = check_size("x" * (100 * 1024 + 1))
    assert (finding.rule, finding.severity) == ("html-size", "error")
    assert "100.0 KB, over the 100.0 KB limit" in finding.message and "Gmail clips" in finding.message


def test_html_at_the_limit_passes_and_size_is_in_utf8_bytes() -> None:
    assert check_size("x" * 100 * 1024) == []
    assert check_size("é" * 600, limit=1000) != [] and check_size("é" * 500, limit=1000) == []


# -- lint_html ----------------------------------------------------------------------------------


def test_a_clean_email_has_no_findings() -> None:
    html = f'<!DOCTYPE html><html><body><img src="https://cdn.test/a.png" alt="A">{FOOTER}</body></html>'
    assert lint_html(html, unsubscribe_urls=[UNSUBSCRIBE]) == []


def test_rules_come_in_their_order() -> None:
    html = '<a href="http://s.test/">x</a><img src="https://cdn.test/a.png">'
    assert rules(html, size_limit=10) == ["html-size", "unsubscribe-link", "image-alt", "https-links"]


def test_client_support_runs_only_with_data() -> None:
    data = parse_caniemail({"data": [{"slug": "css-display-flex", "title": "display:flex", "category": "css",
                                      "stats": {"outlook": {"windows": {"2019": "n"}}}}]})  # fmt: skip
    html = f'<div style="display:flex">{FOOTER}</div>'
    assert rules(html, unsubscribe_urls=[UNSUBSCRIBE]) == []
    assert rules(html, unsubscribe_urls=[UNSUBSCRIBE], support=data) == ["client-support"]
    assert rules(html, unsubscribe_urls=[UNSUBSCRIBE], support=data, ignore_features={"css-display-flex"}) == []


@pytest.mark.parametrize("layout", ["newsletter", "welcome", "winback"])
def test_the_shipped_layouts_render_an_email_without_link_image_or_size_problems(tmp_path: Path, layout: str) -> None:
    with prepared_sample(tmp_path / "state", layout=layout) as prepared:
        customer = next(iter_customers(FIXTURES / "customers.csv"))
        message = prepared.compose(next(prepared.choices([customer])))
    headers = email.message_from_bytes(message.data, policy=email.policy.default)
    unsubscribe = [url.strip(" <>") for url in str(headers["List-Unsubscribe"]).split(",") if "https:" in url]
    assert unsubscribe
    assert lint_html(message.html, unsubscribe_urls=unsubscribe) == []
