"""Rewriting a rendered HTML part: tracked links, opt-outs, UTM, honeypot, pixel."""

from __future__ import annotations

import binascii
import html as html_module
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.errors import ConfigError, MessageError
from mailer.tracking.links import HONEYPOT, AnonymousClick, Click, LinkSigner, TrackingUrls
from mailer.tracking.utm import Utm
from mailer.tracking.rewrite import (
    HONEYPOT_STYLE,
    RewriteOptions,
    Rewritten,
    rewrite,
    rewrite_encoded,
    unescape_attribute,
)

URLS = TrackingUrls("https://t.example-shop.test", LinkSigner([("k1", b"k" * 32)]))
LINKS = URLS.personal(42)
HOME = "https://www.example-shop.test/"
UTM = Utm(source="newsletter", campaign="autumn-newsletter-2026")
CAMPAIGN = RewriteOptions(
    utm=UTM,
    untracked_prefixes=("https://www.example-shop.test/email/unsubscribe/", "https://www.example-shop.test/email/preferences/"),
    honeypot=HOME,
)


def destination(url: str) -> str:
    found = URLS.resolve(url.removeprefix(URLS.base))
    assert isinstance(found, Click | AnonymousClick)
    return found.destination


def plain(page: str, **options: Any) -> Rewritten:
    return rewrite(page, LINKS, RewriteOptions(pixel=False, **options))


class Tree(HTMLParser):
    """The events ``html.parser`` sees: what a mail client's parser would build."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("startend", tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.events.append(("data", data))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl", decl))


def events(page: str) -> list[tuple[Any, ...]]:
    tree = Tree()
    tree.feed(page)
    tree.close()
    merged: list[tuple[Any, ...]] = []
    for event in tree.events:  # the parser may split text anywhere
        if event[0] == "data" and merged and merged[-1][0] == "data":
            merged[-1] = ("data", merged[-1][1] + event[1])
        else:
            merged.append(event)
    return merged


def without_tracking(page_events: list[tuple[Any, ...]], result: Rewritten) -> list[tuple[Any, ...]]:
    """The rewritten page's events with the honeypot and pixel dropped and click URLs put back."""
    back = {link.tracked: link.original for link in result.links}
    out: list[tuple[Any, ...]] = []
    skip_end = False
    for event in page_events:
        attrs = dict(event[2]) if event[0] in ("start", "startend") else {}
        if event[0] == "start" and event[1] == "a" and attrs.get("href") == result.honeypot:
            skip_end = True
            continue
        if skip_end and event == ("end", "a"):
            skip_end = False
            continue
        if event[0] in ("start", "startend") and event[1] == "img" and attrs.get("src") == result.pixel:
            continue
        if event[0] in ("start", "startend"):
            event = (event[0], event[1], tuple((k, back.get(v, v) if k == "href" else v) for k, v in event[2]))
        out.append(event)
    return out


# The shipped newsletter


def test_the_newsletter_keeps_its_element_tree_except_the_hrefs(newsletter: str) -> None:
    result = rewrite(newsletter, LINKS, CAMPAIGN)
    assert result.links and result.honeypot and result.pixel
    assert without_tracking(events(result.html), result) == events(newsletter)


def test_every_web_link_of_the_newsletter_is_tracked_but_unsubscribe_and_preferences(newsletter: str) -> None:
    result = rewrite(newsletter, LINKS, CAMPAIGN)
    hrefs = [dict(e[2]).get("href") for e in events(result.html) if e[:2] == ("start", "a")]
    tracked = {link.tracked for link in result.links}
    for href in hrefs:
        assert href is not None
        if "/email/unsubscribe/" in href or "/email/preferences/" in href:
            continue
        assert href in tracked or href == result.honeypot, href
    assert sum("/email/unsubscribe/" in h for h in hrefs if h) == 1
    assert sum("/email/preferences/" in h for h in hrefs if h) == 1


def test_the_newsletters_links_resolve_to_their_destinations_with_utm(newsletter: str) -> None:
    result = rewrite(newsletter, LINKS, CAMPAIGN)
    originals = [link.original for link in result.links]
    assert len(originals) == len(set(originals)) >= 9  # home, hero, six products, new-in, view online
    for link in result.links:
        target = destination(link.tracked)
        assert target.startswith(link.original)
        query = parse_qs(urlsplit(target).query)
        assert query["utm_source"] == ["newsletter"] and query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == ["autumn-newsletter-2026"] and query["utm_content"] == [link.name]
    assert [link.index for link in result.links] == list(range(1, len(result.links) + 1))


def test_the_same_url_twice_is_one_link(newsletter: str) -> None:
    result = rewrite(newsletter, LINKS, CAMPAIGN)
    product = next(link for link in result.links if "/p/" in link.original)
    assert result.html.count(product.tracked) == 2  # the card's image and its title


def test_the_honeypot_follows_the_body_tag_and_leads_home(newsletter: str) -> None:
    result = rewrite(newsletter, LINKS, CAMPAIGN)
    body_end = result.html.index(">", result.html.index("<body")) + 1
    assert result.html[body_end:].startswith(f'<a href="{result.honeypot}"')
    assert result.honeypot
    found = URLS.resolve(result.honeypot.removeprefix(URLS.base))
    assert isinstance(found, Click) and found.link == HONEYPOT and found.destination == HOME


def test_the_pixel_comes_last_in_the_body(newsletter: str) -> None:
    result = rewrite(newsletter, LINKS, CAMPAIGN)
    assert result.pixel
    before = result.html[: result.html.rindex("</body>")]
    assert before.endswith(".gif\" width=\"1\" height=\"1\" alt=\"\" aria-hidden=\"true\" "
                           "style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0;\">")
    assert URLS.resolve(result.pixel.removeprefix(URLS.base)).message == 42  # type: ignore[union-attr]


def test_anonymous_links_name_nobody(newsletter: str) -> None:
    first = rewrite(newsletter, URLS.anonymous("autumn", nonce=b"1"), CAMPAIGN)
    second = rewrite(newsletter, URLS.anonymous("autumn", nonce=b"2"), CAMPAIGN)
    assert [link.tracked for link in first.links] == [link.tracked for link in second.links]
    assert all(isinstance(URLS.resolve(link.tracked.removeprefix(URLS.base)), AnonymousClick) for link in first.links)
    assert first.pixel != second.pixel


# The honeypot is invisible


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.text: dict[int, str] = {}
        self.open: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
            self.open = len(self.anchors) - 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.open = None

    def handle_data(self, data: str) -> None:
        if self.open is not None:
            self.text[self.open] = self.text.get(self.open, "") + data


def test_the_honeypot_is_hidden_from_sight_and_from_screen_readers() -> None:
    result = rewrite("<html><body><p>Hi</p></body></html>", LINKS, RewriteOptions(honeypot=HOME))
    parser = Anchors()
    parser.feed(result.html)
    (anchor,) = parser.anchors
    style = {k.strip(): v.strip() for k, _, v in (d.partition(":") for d in (anchor["style"] or "").split(";")) if k}
    assert style["display"] == "none" and style["mso-hide"] == "all"
    assert anchor["aria-hidden"] == "true" and anchor["tabindex"] == "-1"
    assert parser.text.get(0, "") == ""
    assert anchor["style"] == HONEYPOT_STYLE


def test_no_honeypot_unless_asked() -> None:
    result = plain("<body><a href='https://shop.test/'>x</a></body>")
    assert result.honeypot is None and result.html.count("<a ") == 1


def test_a_fragment_without_body_gets_honeypot_and_pixel_at_the_end() -> None:
    result = rewrite("<p>Hi</p>", LINKS, RewriteOptions(honeypot=HOME))
    assert result.html.startswith("<p>Hi</p><a href=") and result.html.endswith('padding:0;">')


# Opt-outs


@pytest.mark.parametrize(
    "href",
    ["mailto:care@shop.test", "tel:+441234567890", "#top", "/relative", "page.html", "javascript:void(0)", "", "ftp://x.test/"],
)
def test_links_that_are_not_web_links_are_left_alone(href: str) -> None:
    page = f'<a href="{href}">x</a>'
    result = plain(page)
    assert result.html == page and result.links == ()


def test_data_track_off_opts_a_link_out_and_is_removed() -> None:
    result = plain('<a data-track="off" href="https://shop.test/terms" class="x">Terms</a><a DATA-TRACK=OFF href=https://shop.test/b>b</a>')
    assert result.html == '<a href="https://shop.test/terms" class="x">Terms</a><a href=https://shop.test/b>b</a>'
    assert result.links == ()


def test_data_track_with_another_value_is_removed_and_the_link_tracked() -> None:
    result = plain('<a href="https://shop.test/" data-track="on">x</a>')
    assert "data-track" not in result.html and len(result.links) == 1


def test_configured_and_per_message_urls_are_left_alone() -> None:
    page = ('<a href="https://shop.test/u/TOKEN">u</a><a href="https://shop.test/email/p/TOKEN">p</a>'
            '<a href="https://shop.test/terms">t</a><a href="https://shop.test/new">n</a>')
    result = rewrite(page, LINKS, RewriteOptions(untracked=frozenset({"https://shop.test/terms"}),
                                                 untracked_prefixes=("https://shop.test/email/",), pixel=False),
                     untracked=("https://shop.test/u/TOKEN",))
    assert [link.original for link in result.links] == ["https://shop.test/new"]
    assert result.html.startswith('<a href="https://shop.test/u/TOKEN">u</a><a href="https://shop.test/email/p/TOKEN">p</a>'
                                  '<a href="https://shop.test/terms">t</a>')


# UTM


def test_utm_content_is_the_link_name_when_there_is_one() -> None:
    page = '<a href="https://shop.test/a" data-link-name="hero">a</a><a href="https://shop.test/b">b</a><a href="https://shop.test/c">c</a>'
    result = rewrite(page, LINKS, RewriteOptions(utm=UTM, names={"https://shop.test/c": "footer"}, pixel=False))
    assert [(link.index, link.name) for link in result.links] == [(1, "hero"), (2, "2"), (3, "footer")]
    assert [parse_qs(urlsplit(destination(link.tracked)).query)["utm_content"] for link in result.links] == [["hero"], ["2"], ["footer"]]
    assert "data-link-name" not in result.html


def test_the_same_url_under_two_names_is_two_links() -> None:
    page = '<a href="https://shop.test/a" data-link-name="hero">a</a><a href="https://shop.test/a" data-link-name="button">b</a>'
    assert [link.name for link in plain(page).links] == ["hero", "button"]


def test_a_bad_honeypot_destination_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        RewriteOptions(honeypot="javascript:alert(1)")


# Entities and markup


def test_entities_in_hrefs_are_decoded_for_the_destination() -> None:
    result = plain('<a href="https://shop.test/s?a=1&amp;b=2&#38;c=3&copy=4">x</a>')
    assert result.links[0].original == "https://shop.test/s?a=1&b=2&c=3&copy=4"
    assert destination(result.links[0].tracked) == "https://shop.test/s?a=1&b=2&c=3&copy=4"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("a&amp;b", "a&b"),
        ("a&ampb", "a&ampb"),
        ("a&amp=b", "a&amp=b"),
        ("a&amp", "a&"),
        ("a&amp.b", "a&.b"),
        ("&notin;", "\u2209"),
        ("&notit;", "&notit;"),
        ("&#0;", "\ufffd"),
        ("&#x110000;", "\ufffd"),
        ("&bogus;", "&bogus;"),
        ("&lt&gt", "<>"),
        ("&ampé", "&é"),
    ],
)
def test_attribute_references_decode_as_html_does(raw: str, text: str) -> None:
    assert unescape_attribute(raw) == text


def test_single_quoted_unquoted_and_upper_case_anchors_are_tracked() -> None:
    result = plain("<A HREF='https://shop.test/a'>a</A><a href=https://shop.test/b>b</a><a\nhref\n=\n\"https://shop.test/c\">c</a>")
    assert [link.original for link in result.links] == ["https://shop.test/a", "https://shop.test/b", "https://shop.test/c"]
    tracked = [link.tracked for link in result.links]
    assert result.html == f"<A HREF='{tracked[0]}'>a</A><a href={tracked[1]}>b</a><a\nhref\n=\n\"{tracked[2]}\">c</a>"


def test_a_quoted_greater_than_sign_does_not_end_the_tag() -> None:
    result = plain('<a title="1 > 0" href="https://shop.test/">x</a>')
    assert result.html == f'<a title="1 > 0" href="{result.links[0].tracked}">x</a>'


def test_only_the_first_href_counts() -> None:
    result = plain('<a href="https://shop.test/1" href="https://evil.test/">x</a>')
    assert [link.original for link in result.links] == ["https://shop.test/1"]
    assert 'href="https://evil.test/"' in result.html


@pytest.mark.parametrize(
    "page",
    [
        '<style>a[href="x"] { color: red } <a href="https://shop.test/">x</a></style>',
        '<title><a href="https://shop.test/"></title>',
        '<script>"<a href=\\"https://shop.test/\\">"</script>',
        '<!-- <a href="https://shop.test/">old</a> -->',
        '<!--> <a href="https://shop.test/">visible?</a>',
        '<textarea><a href="https://shop.test/"></textarea>',
    ],
)
def test_anchors_in_raw_text_and_comments_are_not_links(page: str) -> None:
    result = plain(page)
    expected_links = 1 if page.startswith("<!-->") else 0  # "<!-->" is a whole, empty comment
    assert len(result.links) == expected_links
    if not expected_links:
        assert result.html == page


def test_outlook_conditional_comments_are_tracked() -> None:
    page = '<!--[if mso]><a href="https://shop.test/outlook">o</a><![endif]--><!--[if mso | IE]><table><tr><td><![endif]-->'
    result = plain(page)
    assert [link.original for link in result.links] == ["https://shop.test/outlook"]


def test_a_document_ending_inside_a_tag_is_left_alone_from_there() -> None:
    result = plain('<a href="https://shop.test/1">1</a><a href="https://shop.test/2')
    assert [link.original for link in result.links] == ["https://shop.test/1"]
    assert result.html.endswith('<a href="https://shop.test/2')


def test_a_link_that_cannot_be_a_click_target_is_listed_and_left_alone() -> None:
    page = '<a href="https://shop.test:99999/">x</a><a href="https://shop.test:99999/">y</a>'
    result = plain(page)
    assert result.html == page and result.links == ()
    assert [url for url, _ in result.skipped] == ["https://shop.test:99999/"]


def test_a_link_name_that_cannot_be_encoded_leaves_the_link_alone() -> None:
    page = '<a href="https://shop.test/" data-link-name="\ud800">x</a>'
    result = rewrite(page, LINKS, RewriteOptions(utm=UTM, pixel=False))
    assert result.links == () and result.skipped == (("https://shop.test/", "not encodable as UTF-8"),)


def test_surrounding_white_space_in_an_href_is_trimmed() -> None:
    result = plain('<a href="  https://shop.test/x\n">x</a>')
    assert result.links[0].original == "https://shop.test/x"


# Hostile input


def test_hostile_strings_as_hrefs_never_raise(hostile: list[str]) -> None:
    for string in hostile:
        for href in (string, "https://shop.test/" + string, "https://" + string):
            escaped = html_module.escape(href, quote=True)
            result = rewrite(f'<body><a href="{escaped}">x</a></body>', LINKS, CAMPAIGN)
            for link in result.links:
                assert destination(link.tracked).startswith("http")


def test_hostile_strings_as_markup_never_raise(hostile: list[str]) -> None:
    for string in hostile:
        result = rewrite(f"<body>{string}<a href='https://shop.test/'>{string}</a>{string}</body>", LINKS, CAMPAIGN)
        assert result.pixel and result.pixel in result.html


@settings(max_examples=300)
@given(st.lists(st.sampled_from(list("<a href=\"'>/!-[]if bodystyle&amp;#x;\n") + ["https://s.test/", "<a href="]), max_size=80).map("".join))
def test_any_markup_never_raises_and_links_resolve(page: str) -> None:
    result = rewrite(page, LINKS, RewriteOptions(honeypot=HOME))
    for link in result.links:
        assert destination(link.tracked).startswith("https://s.test/")


@given(st.text(max_size=60), st.text(max_size=20))
def test_any_href_and_link_name_never_raise(href: str, name: str) -> None:
    quoted_href, quoted_name = html_module.escape(href), html_module.escape(name)
    page = f'<a href="https://s.test/{quoted_href}" data-link-name="{quoted_name}">x</a><a href="{quoted_href}">y</a>'
    result = rewrite(page, LINKS, RewriteOptions(utm=UTM, honeypot=HOME))
    for link in result.links:
        assert destination(link.tracked).startswith("http")


# The encoded body, as the composer renders it


def test_rewriting_the_encoded_body_gives_the_same_html(newsletter: str, newsletter_encoded: bytes) -> None:
    encoded = rewrite_encoded(newsletter_encoded, LINKS, CAMPAIGN)
    plain_result = rewrite(newsletter, LINKS, CAMPAIGN)
    assert encoded.html == plain_result.html
    assert encoded.links == plain_result.links and encoded.honeypot == plain_result.honeypot


def test_the_encoded_result_is_valid_quoted_printable(newsletter_encoded: bytes) -> None:
    result = rewrite_encoded(newsletter_encoded, LINKS, CAMPAIGN).encoded
    assert result.endswith(b"\r\n") and b"\n" not in result.replace(b"\r\n", b"")
    for line in result[:-2].split(b"\r\n"):
        assert len(line) <= 76
        assert not line.startswith((b".", b"From "))
        assert line.isascii() and not line.endswith((b" ", b"\t"))


def test_lines_without_a_change_are_kept_byte_for_byte(newsletter_encoded: bytes) -> None:
    result = rewrite_encoded(newsletter_encoded, LINKS, CAMPAIGN).encoded
    before = set(newsletter_encoded.split(b"\r\n"))
    after = result.split(b"\r\n")
    assert sum(line in before for line in after) > 0.8 * len(newsletter_encoded.split(b"\r\n"))


def test_the_encoded_body_builds_a_message_that_parses(newsletter_encoded: bytes) -> None:
    from datetime import datetime, timezone
    from email import message_from_bytes, policy

    from mailer.content.mime import MessageTemplate

    result = rewrite_encoded(newsletter_encoded, LINKS, CAMPAIGN)
    data = MessageTemplate(from_address="news@example-shop.test").build(
        to_address="ann@example.test", subject="Hi", text="Hi", html_encoded=result.encoded,
        message_id="<1@example-shop.test>", date=datetime(2026, 11, 24, tzinfo=timezone.utc),
        unsubscribe_url="https://www.example-shop.test/u/x",
    )
    message = message_from_bytes(data, policy=policy.default.clone(raise_on_defect=True))
    html_part = message.get_body(("html",))
    assert html_part is not None
    assert html_part.get_content().replace("\r\n", "\n").rstrip("\n") == result.html.rstrip("\n")


@settings(max_examples=500)
@given(st.lists(st.sampled_from(list("<a href=\"'>x é€😀.\n=") + ["https://s.test/", "<body>", "</body>", "From ", "x" * 69, "x" * 71, "x" * 74]),
                max_size=80).map("".join))
def test_any_encoded_body_rewrites_like_its_decoded_html(page: str) -> None:
    from mailer.content.mime import encoded_body, quoted_printable_piece

    encoded = encoded_body(quoted_printable_piece(page))
    result = rewrite_encoded(encoded, LINKS, RewriteOptions(honeypot=HOME))
    decoded = binascii.a2b_qp(encoded).decode("utf-8").replace("\r\n", "\n")[:-1]
    assert result.html == rewrite(decoded, LINKS, RewriteOptions(honeypot=HOME)).html.replace("\r\n", "\n")
    assert all(len(line) <= 76 for line in result.encoded.split(b"\r\n"))


@pytest.mark.parametrize("body", [b"", b"<p>no final line break", "ü".encode(), b"=FF=FE\r\n"])
def test_what_is_not_an_encoded_body_is_a_message_error(body: bytes) -> None:
    with pytest.raises(MessageError):
        rewrite_encoded(body, LINKS, CAMPAIGN)


def test_an_encoded_body_from_another_encoder_is_encoded_anew() -> None:
    body = b'<body>caf=c3=a9 <a href=3d"https://s.test/">x</a></body>\r\n'  # lower-case hex
    result = rewrite_encoded(body, LINKS, RewriteOptions(pixel=False))
    assert result.html == rewrite('<body>café <a href="https://s.test/">x</a></body>', LINKS, RewriteOptions(pixel=False)).html
