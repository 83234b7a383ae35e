"""Tests for mailer.content.mime: every message is parsed back with the standard library."""

from __future__ import annotations

import json
import os
import quopri
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailer.errors import HeaderInjectionError, MessageError
from mailer.content.mime import MessageTemplate, addr_spec, message_id, quoted_printable

REPO = Path(__file__).resolve().parent.parent.parent
SHARED = Path(os.environ.get("MAILER_SHARED_DIR", REPO.parent / "shared"))
BLNS = SHARED / "hostile" / "blns.json"

TEMPLATE = MessageTemplate(from_address="news@shop.example", from_name="Shop GmbH")
SENT = datetime(2026, 3, 1, 9, 30, 15, tzinfo=timezone(timedelta(hours=1)))
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
}
# Every character that could end a header line or hide in one: C0, DEL, C1, LS, PS.
CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + ["\u2028", "\u2029"]
HEADER_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="".join(CONTROLS))


def inputs(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "to_address": "anna@example.com",
        "to_name": "Anna Müller",
        "subject": "Ihre Empfehlungen für März ❄️",
        "text": "Hallo Anna,\n\nneue Winterjacken: 49,99 €.\n",
        "html": '<p style="color:#333">Hallo Anna,</p>\n<p>neue Winterjacken: 49,99 €.</p>\n',
        "message_id": message_id("spring", "c-1", "shop.example"),
        "date": SENT,
        "unsubscribe_url": "https://shop.example/u/c-1?t=abc",
        "unsubscribe_mailto": "unsubscribe+c-1@shop.example",
        "recipient_id": "c-1",
    }
    values.update(overrides)
    return values


def build(template: MessageTemplate = TEMPLATE, **overrides: Any) -> bytes:
    return template.build(**inputs(**overrides))


def parse(raw: bytes, strict: bool = True) -> EmailMessage:
    msg = BytesParser(policy=policy.strict if strict else policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def canonical(text: str) -> str:
    """``text`` with its line breaks in canonical (CRLF) form, as decoded from the wire."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def parts(msg: EmailMessage) -> list[EmailMessage]:
    return list(msg.iter_parts())  # type: ignore[arg-type]


def header_names(msg: EmailMessage) -> set[str]:
    return {name.lower() for name in msg.keys()}


def assert_wire_form(raw: bytes) -> None:
    """CRLF only, no line starting with a period (nothing to dot-stuff);
    header lines within 78, body lines within 76 characters."""
    assert re.search(rb"[^\r]\n|\r[^\n]", raw) is None, "bare CR or LF"
    assert raw.endswith(b"\r\n")
    assert b"\n." not in raw and not raw.startswith(b"."), "a line starts with a period"
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        assert len(line) <= 78, line
    for line in body.split(b"\r\n"):
        assert len(line) <= 76, line


def rfc2047_display_name(raw: bytes, header: str = "To") -> str:
    """The display name as an RFC 2047 conforming reader decodes it.

    CPython's address parser (before gh-128110) keeps the white space between
    adjacent encoded-words in a display name, which RFC 2047 section 6.2 says
    to drop; the parser is exact only when a name fits one encoded-word.
    """
    value = message_from_bytes(raw, policy=policy.compat32)[header]
    assert isinstance(value, str)
    phrase = re.sub(r"\r\n(?=[ \t])", "", value).strip()
    if not phrase.endswith(">"):
        return ""
    phrase = phrase.rpartition(" <")[0]
    if phrase.startswith("=?"):
        return str(make_header(decode_header(phrase)))
    return parseaddr(f"{phrase} <x@example.com>")[0]


def assert_round_trip(raw: bytes, **given: Any) -> EmailMessage:
    """Parses strictly, with exactly the expected headers and the given contents."""
    values = inputs(**given)
    for strict in (True, False):
        msg = parse(raw, strict=strict)
        assert msg.defects == []
        assert header_names(msg) == EXPECTED_HEADERS
        assert msg.get_content_type() == "multipart/alternative"
        assert str(msg["Subject"]) == values["subject"]
        to = msg["To"].addresses
        assert len(to) == 1
        assert to[0].addr_spec == addr_spec(values["to_address"])
        name = "" if values["to_name"].isspace() else values["to_name"]  # blank names are left out
        words = raw.count(b"=?utf-8?b?", 0, raw.index(b"\r\nSubject:"))
        if words == 0:
            assert to[0].display_name == name
        elif words == 1:
            # CPython re-reads decoded text as folding white space: a space or
            # tab and any white space after it become one space.
            assert to[0].display_name == re.sub(r"[ \t]\s*", " ", name)
        assert rfc2047_display_name(raw) == name
        plain, html = parts(msg)
        assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
        assert plain.defects == html.defects == []
        assert plain.get_content() == canonical(values["text"])
        assert html.get_content() == canonical(values["html"])
    return msg


# Structure and headers


def test_message_is_multipart_alternative_with_plain_then_html() -> None:
    msg = parse(build())
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parts(msg)] == ["text/plain", "text/html"]
    for part in parts(msg):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"


def test_message_parses_strictly_without_defects_and_round_trips() -> None:
    assert_round_trip(build())


def test_message_has_exactly_the_expected_headers() -> None:
    assert header_names(parse(build())) == EXPECTED_HEADERS


def test_message_is_in_canonical_crlf_form_with_short_lines() -> None:
    assert_wire_form(build())


def test_headers_decode_to_the_inputs() -> None:
    msg = parse(build())
    assert msg["From"].addresses[0] == Address("Shop GmbH", addr_spec="news@shop.example")
    assert msg["To"].addresses[0] == Address("Anna Müller", addr_spec="anna@example.com")
    assert msg["Subject"] == "Ihre Empfehlungen für März ❄️"
    assert msg["Date"].datetime == SENT
    assert msg["Message-ID"] == message_id("spring", "c-1", "shop.example")
    assert msg["MIME-Version"] == "1.0"


def test_date_header_is_rfc5322_with_the_given_offset() -> None:
    assert b"\r\nDate: Sun, 01 Mar 2026 09:30:15 +0100\r\n" in build()


def test_naive_date_is_refused() -> None:
    with pytest.raises(MessageError, match="timezone-aware"):
        build(date=datetime(2026, 3, 1, 9, 30))


def test_same_input_gives_identical_bytes() -> None:
    assert build() == build()
    assert build() == MessageTemplate(from_address="news@shop.example", from_name="Shop GmbH").build(**inputs())


def test_boundary_comes_from_message_id() -> None:
    first = parse(build()).get_boundary()
    other = parse(build(message_id=message_id("spring", "c-2", "shop.example"))).get_boundary()
    assert first is not None and other is not None
    assert first != other
    assert first.startswith("=_")


def test_boundary_cannot_occur_in_encoded_bodies() -> None:
    raw = build(message_id="<x@shop.example>")
    boundary = parse(raw).get_boundary()
    assert boundary is not None
    hostile = f"--{boundary}\n--{boundary}--\n=_ =_"
    raw = build(message_id="<x@shop.example>", text=hostile, html=hostile)
    assert raw.count(boundary.encode()) == 4  # parameter, two delimiters, close delimiter
    assert_round_trip(raw, text=hostile, html=hostile, message_id="<x@shop.example>")


def test_ascii_display_name_with_specials_is_quoted() -> None:
    raw = build(to_name="Doe, John", to_address="j@example.com")
    assert b'\r\nTo: "Doe, John" <j@example.com>\r\n' in raw
    assert parse(raw)["To"].addresses[0].display_name == "Doe, John"


def test_quotes_and_backslashes_in_display_names_are_escaped() -> None:
    name = 'Ann "The \\ Boss" O\'Neil'
    raw = build(to_name=name)
    assert b'To: "Ann \\"The \\\\ Boss\\" O\'Neil" <anna@example.com>' in raw
    assert_round_trip(raw, to_name=name)


def test_plain_ascii_display_name_is_written_as_is() -> None:
    assert b"\r\nTo: Anna Schmidt <anna@example.com>\r\n" in build(to_name="Anna Schmidt")


@pytest.mark.parametrize("name", ["", " ", " \xa0\u3000"])
def test_empty_or_blank_display_name_gives_bare_address(name: str) -> None:
    raw = build(to_name=name)
    assert b"\r\nTo: anna@example.com\r\n" in raw
    assert_round_trip(raw, to_name=name)


def test_non_ascii_subject_and_names_are_rfc2047_encoded_words() -> None:
    raw = build()
    head = raw.partition(b"\r\n\r\n")[0]
    assert head.isascii()
    assert b"To: =?utf-8?b?" in head
    assert b"Subject: =?utf-8?b?" in head


def test_ascii_that_looks_like_an_encoded_word_is_encoded() -> None:
    trap = "=?utf-8?q?gotcha?="
    raw = build(subject=trap, to_name=trap)
    assert trap.encode() not in raw
    assert_round_trip(raw, subject=trap, to_name=trap)


def test_long_ascii_subject_is_folded_at_spaces() -> None:
    subject = " ".join(["Winterschlussverkauf"] * 12)
    raw = build(subject=subject)
    assert b"Subject: Winterschlussverkauf Winterschlussverkauf" in raw
    assert b"\r\n Winterschlussverkauf" in raw
    assert_wire_form(raw)
    assert_round_trip(raw, subject=subject)


@pytest.mark.parametrize(
    "subject",
    [
        "ä" * 300,
        "😀" * 100,
        "x" * 200,
        " leading and trailing spaces ",
        "double  spaces",
        "",
        "מבצע סוף עונה – עד 50% הנחה",
        "Ünïcödé " * 20,
    ],
    ids=["latin", "emoji", "long-word", "outer-spaces", "double-space", "empty", "rtl", "many-words"],
)
def test_awkward_subjects_fold_and_round_trip(subject: str) -> None:
    raw = build(subject=subject)
    assert_wire_form(raw)
    assert_round_trip(raw, subject=subject)


def test_long_ascii_display_name_is_quoted_and_folded_not_encoded() -> None:
    name = "Doe, John  (Head of Purchasing, Northern Europe) at Example Trading Company Ltd."
    raw = build(to_name=name)
    head = raw.partition(b"\r\n\r\n")[0]
    assert b'To: "Doe, John  (Head' in head
    assert b"=?" not in head.partition(b"\r\nTo:")[2].partition(b"\r\nSubject:")[0]
    assert_wire_form(raw)
    assert_round_trip(raw, to_name=name)


def test_extra_header_given_twice_is_refused() -> None:
    with pytest.raises(MessageError, match="twice"):
        build(headers={"X-Campaign": "a", "x-campaign": "b"})


@pytest.mark.parametrize("name", ["Ö" * 120, "A" * 90, "Doe, " + "J" * 80, "Zoë Ångström-Øster", "a  b " * 20])
def test_long_display_names_fold_and_round_trip(name: str) -> None:
    raw = build(to_name=name)
    assert_wire_form(raw)
    assert_round_trip(raw, to_name=name)


def test_from_and_reply_to_come_from_the_template() -> None:
    template = MessageTemplate(
        from_address="news@shop.example",
        from_name="Bücher & Co.",
        reply_to="service@shop.example",
        reply_to_name="Kundenservice",
        headers={"List-ID": "Shop Newsletter <newsletter.shop.example>", "X-Campaign": "März"},
    )
    msg = parse(build(template))
    assert msg.defects == []
    assert header_names(msg) == EXPECTED_HEADERS | {"reply-to", "list-id", "x-campaign"}
    assert msg["From"].addresses[0] == Address("Bücher & Co.", addr_spec="news@shop.example")
    assert msg["Reply-To"].addresses[0] == Address("Kundenservice", addr_spec="service@shop.example")
    assert msg["List-ID"] == "Shop Newsletter <newsletter.shop.example>"
    assert msg["X-Campaign"] == "März"


def test_extra_headers_are_written_and_decoded() -> None:
    raw = build(headers={"X-Campaign": "spring", "Feedback-ID": "c-1:spring:shop", "X-Note": "für dich"})
    msg = parse(raw)
    assert header_names(msg) == EXPECTED_HEADERS | {"x-campaign", "feedback-id", "x-note"}
    assert msg["Feedback-ID"] == "c-1:spring:shop"
    assert msg["X-Note"] == "für dich"


@pytest.mark.parametrize("name", ["To", "subject", "Content-Type", "BCC", "List-Unsubscribe", "MIME-Version"])
def test_extra_headers_cannot_replace_generated_ones(name: str) -> None:
    with pytest.raises(MessageError, match="set by the message builder"):
        build(headers={name: "x@example.com"})


def test_extra_headers_cannot_repeat_template_headers() -> None:
    template = MessageTemplate(from_address="news@shop.example", headers={"X-Campaign": "a"})
    with pytest.raises(MessageError, match="set by the message builder or the template"):
        build(template, headers={"x-campaign": "b"})


@pytest.mark.parametrize("name", ["X Campaign", "X-Campaign:", "X-Kampagne-ä", ""])
def test_invalid_extra_header_names_are_refused(name: str) -> None:
    with pytest.raises(MessageError, match="header name"):
        build(headers={name: "x"})


# Addresses


def test_internationalised_domain_is_written_as_punycode() -> None:
    raw = build(to_address="anna@bücher.example")
    assert b"<anna@xn--bcher-kva.example>" in raw
    assert parse(raw)["To"].addresses[0].domain == "xn--bcher-kva.example"


def test_addr_spec_uses_idna_2008() -> None:
    assert addr_spec("x@faß.de") == "x@xn--fa-hia.de"


@pytest.mark.parametrize(
    "address",
    [
        "anna@example.com, eve@example.net",
        "anna@example.com>, <eve@example.net",
        "<anna@example.com>",
        "Anna <anna@example.com>",
        "anna@example.com;eve@example.net",
        "anna@@example.com",
        "anna@example@example.com",
        "anna example@example.com",
        '"anna example"@example.com',
        "anna.@example.com",
        ".anna@example.com",
        "anna..b@example.com",
        "anna@",
        "@example.com",
        "anna",
        "anna@example",
        "anna@-example.com",
        "anna@[192.0.2.1]",
        "anna@exa mple.com",
        "a" * 65 + "@example.com",
    ],
)
def test_only_single_addr_specs_are_accepted(address: str) -> None:
    with pytest.raises(MessageError) as caught:
        build(to_address=address)
    assert not isinstance(caught.value, HeaderInjectionError)


def test_non_ascii_local_part_needs_smtputf8() -> None:
    with pytest.raises(MessageError, match="SMTPUTF8"):
        build(to_address="jürgen@example.com")


def test_smtputf8_template_writes_utf8_local_part() -> None:
    template = MessageTemplate(from_address="news@shop.example", smtputf8=True)
    raw = build(template, to_address="jürgen@bücher.example")
    assert "To: =?utf-8?b?QW5uYSBNw7xsbGVy?= <jürgen@xn--bcher-kva.example>\r\n".encode() in raw
    # RFC 6532 headers are UTF-8 text; BytesParser would read them as surrogate escapes.
    msg = Parser(policy=policy.default).parsestr(raw.decode("utf-8"))
    assert msg["To"].addresses[0].username == "jürgen"
    assert msg["To"].addresses[0].display_name == "Anna Müller"
    head, _, body = raw.partition(b"\r\n\r\n")
    assert body.isascii()
    assert [line for line in head.split(b"\r\n") if not line.isascii()] == [line for line in head.split(b"\r\n") if line.startswith(b"To:")]


def test_template_addresses_are_checked_at_construction() -> None:
    with pytest.raises(MessageError):
        MessageTemplate(from_address="news@shop.example, eve@example.net")
    with pytest.raises(MessageError):
        MessageTemplate(from_address="news@shop.example", reply_to="nobody")


# Message-IDs


def test_message_id_is_hex_at_domain() -> None:
    assert re.fullmatch(r"<[0-9a-f]{32}@shop\.example>", message_id("spring", "c-1", "shop.example"))


def test_message_id_depends_on_campaign_and_recipient_unambiguously() -> None:
    ids = {
        message_id("spring", "c-1", "shop.example"),
        message_id("spring", "c-2", "shop.example"),
        message_id("autumn", "c-1", "shop.example"),
        message_id("spring1", "", "shop.example"),
        message_id("spring", "1", "shop.example"),
    }
    assert len(ids) == 5


def test_message_id_is_stable_across_processes() -> None:
    code = "from mailer.content.mime import message_id; print(message_id('spring', 'c-1', 'shop.example'))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=REPO,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {message_id("spring", "c-1", "shop.example")}


def test_template_message_id_uses_sending_domain() -> None:
    assert TEMPLATE.message_id("spring", "c-1") == message_id("spring", "c-1", "shop.example")
    other = MessageTemplate(from_address="news@shop.example", domain="mail.shop.example")
    assert other.message_id("spring", "c-1").endswith("@mail.shop.example>")


@pytest.mark.parametrize("value", ["abc@shop.example", "<abc>", "<a b@shop.example>", "<abc@shop.example>x"])
def test_malformed_message_ids_are_refused(value: str) -> None:
    with pytest.raises(MessageError, match="Message-ID"):
        build(message_id=value)


# RFC 8058 one-click unsubscribe


def test_list_unsubscribe_headers_follow_rfc8058() -> None:
    msg = parse(build())
    assert msg["List-Unsubscribe"] == "<https://shop.example/u/c-1?t=abc>, <mailto:unsubscribe+c-1@shop.example>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_list_unsubscribe_without_mailto() -> None:
    msg = parse(build(unsubscribe_mailto=None))
    assert msg["List-Unsubscribe"] == "<https://shop.example/u/c-1?t=abc>"


def test_mailto_characters_with_uri_meaning_are_percent_encoded() -> None:
    msg = parse(build(unsubscribe_mailto="u?x=1#y@shop.example"))
    assert msg["List-Unsubscribe"].endswith("<mailto:u%3Fx%3D1%23y@shop.example>")


@pytest.mark.parametrize(
    "url",
    [
        "http://shop.example/u/c-1",
        "javascript:alert(1)",
        "mailto:u@shop.example",
        "https://",
        "https:///path",
        "ftp://shop.example/u",
        "https://shop.example/u/<c-1>",
        "https://shop.example/u c-1",
        'https://shop.example/u/"c-1"',
        "https://shöp.example/u",
        "https://shop.example/" + "a" * 1000,
    ],
)
def test_unsubscribe_url_must_be_https(url: str) -> None:
    with pytest.raises(MessageError, match="https"):
        build(unsubscribe_url=url)


def test_unsubscribe_scheme_is_case_insensitive() -> None:
    assert b"<HTTPS://shop.example/u>" in build(unsubscribe_url="HTTPS://shop.example/u")


# Bodies


BODIES = {
    "empty": "",
    "newline": "\n",
    "long-line": "x" * 1000 + "\n" + "ü" * 1200,
    "long-words": " ".join(["Donaudampfschifffahrtsgesellschaft"] * 60),
    "trailing-space": "trailing space \ntrailing tab\t\nend ",
    "dots": ".\n.leading dot\n..\n. \n.",
    "from-lines": "From here\nFrom \n>From quoted\nfrom lower\n" + "From " * 30,
    "equals": "a=b\n=\n==3D\n=_boundary-like=_\n",
    "emoji": "🎉🛒 Angebote 👩‍👩‍👧‍👦 und 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\n" * 3,
    "rtl": "מבצע סוף עונה – עד 50% הנחה\nخصم يصل إلى ٥٠٪\u200f\n",
    "crlf": "one\r\ntwo\r\n",
    "lone-cr": "one\rtwo\r",
    "mixed": "a\r\nb\nc\rd",
    "controls": "nul\x00 bell\x07 esc\x1b nel\x85 ls\u2028 ps\u2029 ff\x0c vt\x0b",
    "blank-lines": "\n\n\n",
    "long-table-line": "<table><tr>" + "<td>Grüße – 19,99 € =</td>" * 80 + "</tr></table>\n",
    "long-line-ending-in-cut": "<td>" + "x" * 1100 + "</td></td>",
    "cut-then-from": "<p>" + "y" * 1000 + "</td>From here</td>. </td>.",
    "space-at-column-76": "x" * 75 + " \n" + "y" * 75 + "\t\n" + "z" * 75 + " ",
    "pretty-table": "<table>\n" + "  <tr>\n    <td>Grüße</td>\n    <td>From x </td>\n  </tr>\n" * 50 + "</table>",
    "huge-cell": "<td>" + "Zeile ü \n.\nFrom x\n" * 400 + "</td>" + "x" * 5000 + "</td>From y",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_bodies_round_trip_exactly(body: str) -> None:
    raw = build(text=body, html=body)
    assert_wire_form(raw)
    assert_round_trip(raw, text=body, html=body)


def test_lines_starting_with_from_are_protected_from_mbox_mangling() -> None:
    raw = build(text="From the shop\n" + "x" * 74 + " From here", html="<p>\nFrom x</p>")
    assert b"\nFrom " not in raw.partition(b"\r\n\r\n")[2]
    assert b"=46rom the shop" in raw


@given(st.from_regex(r"(From |x|=|ü| |\n|\.){0,200}", fullmatch=True))
def test_from_protection_keeps_lines_short(body: str) -> None:
    encoded = quoted_printable(body)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert b"\nFrom " not in encoded and not encoded.startswith(b"From ")
    assert b"\n." not in encoded and not encoded.startswith(b".")
    assert encoded.isascii()
    assert quopri.decodestring(encoded).decode() == canonical(body)


FRAGMENTS = ["</td>", "From ", "x", "x" * 70, "ü" * 30, "=", " ", "\t", ".", "\n", "z" * 600, "w" * 2500, "🎉"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
@example("z" * 1001 + "</td>" + "x" * 71 + "</td>")  # a 76-character piece, then a soft break
@example("x" * 75 + " \n" + "y" * 74 + "\t")  # b2a_qp writes these lines with 78 characters
@example("z" * 999 + "==</td>" + "x" * 73 + "=</td>")
def test_pieces_of_long_lines_join_to_valid_short_lines(body: str) -> None:
    encoded = quoted_printable(body)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert b"\nFrom " not in encoded and not encoded.startswith(b"From ")
    assert b"\n." not in encoded and not encoded.startswith(b".")
    assert quopri.decodestring(encoded).decode() == canonical(body)
    raw = build(html=body)
    assert_wire_form(raw)
    assert_round_trip(raw, html=body)


def test_lone_surrogate_in_body_is_a_message_error() -> None:
    with pytest.raises(MessageError, match="UTF-8") as caught:
        build(html="bad \ud800 surrogate")
    assert not isinstance(caught.value, HeaderInjectionError)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), html=st.text())
@example(text="x" * 2000, html=" \t \n" * 10)
def test_any_body_round_trips(text: str, html: str) -> None:
    raw = build(text=text, html=html)
    assert_wire_form(raw)
    assert_round_trip(raw, text=text, html=html)


def test_quoted_printable_matches_stdlib_decoding() -> None:
    body = "Grüße – 49,99 €\nFrom me =) \n" + "ß" * 100
    assert quopri.decodestring(quoted_printable(body)).decode() == canonical(body)


# Header injection


INJECTABLE = {
    "subject": "Subject",
    "to_name": "To",
    "to_address": "To",
    "unsubscribe_url": "List-Unsubscribe",
    "unsubscribe_mailto": "List-Unsubscribe",
    "message_id": "Message-ID",
}
CLEAN = {
    "subject": "Hello",
    "to_name": "Anna",
    "to_address": "anna@example.com",
    "unsubscribe_url": "https://shop.example/u/c-1",
    "unsubscribe_mailto": "u@shop.example",
    "message_id": "<abc@shop.example>",
}


@pytest.mark.parametrize("payload", ["\r\nBcc: eve@example.net", "\nBcc: eve@example.net", "\r", "x\r\n\r\nbody"])
@pytest.mark.parametrize("field", INJECTABLE)
def test_cr_lf_in_any_header_value_raises(field: str, payload: str) -> None:
    value = CLEAN[field]
    tainted = value[:-1] + payload + value[-1:] if field != "to_address" else "anna" + payload + "@example.com"
    with pytest.raises(HeaderInjectionError) as caught:
        build(TEMPLATE, **{field: tainted})
    assert caught.value.header == INJECTABLE[field]
    assert caught.value.recipient == "c-1"


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_every_control_character_in_subject_and_name_raises(char: str) -> None:
    with pytest.raises(HeaderInjectionError, match="control character"):
        build(subject=f"Hi{char}there")
    with pytest.raises(HeaderInjectionError):
        build(to_name=f"Anna{char}")


def test_injection_in_extra_header_name_and_value_raises() -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        build(headers={"X-Campaign": "a\r\nBcc: eve@example.net"})
    assert caught.value.header == "X-Campaign"
    with pytest.raises(HeaderInjectionError):
        build(headers={"X-Campaign\r\nBcc": "eve@example.net"})


def test_injection_in_template_raises_at_construction() -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        MessageTemplate(from_address="news@shop.example", from_name="Shop\r\nBcc: eve@example.net")
    assert caught.value.header == "From"
    assert caught.value.recipient is None
    with pytest.raises(HeaderInjectionError):
        MessageTemplate(from_address="news@shop.example", headers={"X-A": "1\n"})


def test_recipient_id_is_optional_in_errors() -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        build(subject="a\nb", recipient_id=None)
    assert caught.value.recipient is None


def test_lone_surrogate_in_header_is_a_message_error_not_injection() -> None:
    with pytest.raises(MessageError, match="surrogate") as caught:
        build(subject="bad \udc80")
    assert not isinstance(caught.value, HeaderInjectionError)


# Property tests and hostile strings


@settings(max_examples=300)
@given(subject=st.text(HEADER_CHARS), name=st.text(HEADER_CHARS))
@example(subject=" ", name=" ")
@example(subject="\xa0", name=" \xa0")
@example(subject='"', name='"')
@example(subject="\\", name="\\")
@example(subject="a" * 80, name="Ä" * 80)
def test_any_subject_and_display_name_round_trip(subject: str, name: str) -> None:
    raw = build(subject=subject, to_name=name)
    assert_wire_form(raw)
    assert_round_trip(raw, subject=subject, to_name=name)


@settings(max_examples=300)
@given(st.text())
def test_any_subject_either_round_trips_or_is_refused_as_injection(subject: str) -> None:
    try:
        raw = build(subject=subject)
    except HeaderInjectionError:
        assert any(c in subject for c in CONTROLS)
        return
    assert_round_trip(raw, subject=subject)


def blns() -> list[str]:
    if not BLNS.exists():
        return []
    strings = json.loads(BLNS.read_text(encoding="utf-8"))
    assert isinstance(strings, list)
    return [s for s in strings if isinstance(s, str)]


@pytest.fixture(scope="module")
def naughty() -> list[str]:
    strings = blns()
    if not strings:
        pytest.skip(f"Big List of Naughty Strings not found at {BLNS} (set MAILER_SHARED_DIR)")
    return strings


@pytest.mark.parametrize("field", ["subject", "to_name"])
def test_naughty_strings_round_trip_or_raise_injection(naughty: list[str], field: str) -> None:
    built = refused = 0
    for string in naughty:
        try:
            raw = build(TEMPLATE, **{field: string})
        except HeaderInjectionError as exc:
            assert exc.header == ("Subject" if field == "subject" else "To")
            assert any(c in string for c in CONTROLS), string
            refused += 1
            continue
        assert_wire_form(raw)
        assert_round_trip(raw, **{field: string})
        built += 1
    assert built > 400 and refused > 0


def test_naughty_strings_in_bodies_round_trip(naughty: list[str]) -> None:
    body = "\n".join(naughty)
    raw = build(text=body, html=body)
    assert_wire_form(raw)
    assert_round_trip(raw, text=body, html=body)


# Against the standard library's own builder


def standard(values: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address("Shop GmbH", addr_spec="news@shop.example")
    msg["To"] = Address(values["to_name"], addr_spec=values["to_address"])
    msg["Subject"] = values["subject"]
    msg["Date"] = values["date"]
    msg["Message-ID"] = values["message_id"]
    msg["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>, <mailto:{values['unsubscribe_mailto']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(values["text"], cte="quoted-printable")
    msg.add_alternative(values["html"], subtype="html", cte="quoted-printable")
    return msg


def drop_final_newline(content: str) -> str:
    # EmailMessage.set_content always ends a text part with a line break.
    return content[:-2] if content.endswith("\r\n") else content


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"to_name": "Doe, John", "subject": "Plain ASCII subject"},
        {"to_name": "", "subject": "x" * 120, "text": "a\n" + "b" * 500, "html": "<p>ü</p>"},
        {"to_name": "王小明", "subject": "限时优惠 🎉", "text": "第一行\n第二行", "html": "<b>限时</b>\n"},
    ],
)
def test_same_headers_and_contents_as_email_message(overrides: dict[str, Any]) -> None:
    values = inputs(**overrides)
    ours = parse(build(**overrides))
    theirs = parse(standard(values).as_bytes())
    assert header_names(ours) == header_names(theirs)
    for name in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version"):
        # EmailMessage folds List-Unsubscribe before its first URL, leaving a leading space.
        assert str(ours[name]) == str(theirs[name]).lstrip(), name
    assert ours["To"].addresses == theirs["To"].addresses
    assert ours["Date"].datetime == theirs["Date"].datetime
    assert ours.get_content_type() == theirs.get_content_type()
    for mine, std in zip(parts(ours), parts(theirs), strict=True):
        assert mine.get_content_type() == std.get_content_type()
        assert mine.get_content_charset() == std.get_content_charset()
        assert mine["Content-Transfer-Encoding"] == std["Content-Transfer-Encoding"]
        assert drop_final_newline(mine.get_content()) == drop_final_newline(std.get_content())


def test_same_instant_in_another_zone_keeps_its_own_offset() -> None:
    utc = SENT.astimezone(timezone.utc)
    assert b"\r\nDate: Sun, 01 Mar 2026 09:30:15 +0100\r\n" in build(date=SENT)
    assert b"\r\nDate: Sun, 01 Mar 2026 08:30:15 +0000\r\n" in build(date=utc)
