"""Click and pixel tokens: round trips, tampering, rotation, no open redirect."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import ConfigError, MailerError
from mailer.tokens import InvalidToken
from mailer.tracking.links import (
    HONEYPOT,
    MAX_DESTINATION,
    PIXEL_GIF,
    TAG_BYTES,
    AnonymousClick,
    AnonymousOpen,
    Click,
    InvalidTrackingToken,
    LinkSigner,
    Open,
    TrackingUrls,
    UntrackableLink,
    check_destination,
)

OLD = ("2026a", b"old key, thirty-two bytes long!!")
NEW = ("2026b", b"new key, thirty-two bytes long!!")
SIGNER = LinkSigner([OLD])
URLS = TrackingUrls("https://t.shop.test", SIGNER)
PRODUCT = "https://www.shop.test/p/WD1001-S?colour=sage&size=s"


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Round trips

paths = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs")), max_size=60)


@given(st.integers(0, 2**63 - 1), st.integers(0, 2**32), paths)
def test_a_click_token_round_trips(message: int, link: int, path: str) -> None:
    destination = check_destination("https://www.shop.test/" + path)
    assert SIGNER.verify(SIGNER.click(message, link, destination)) == Click(message, link, destination, "2026a")


@given(st.integers(0, 2**63 - 1))
def test_an_open_token_round_trips(message: int) -> None:
    assert SIGNER.verify(SIGNER.open(message)) == Open(message, "2026a")


@given(st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode("utf-8", "surrogatepass")) <= 255), st.integers(0, 999))
def test_anonymous_tokens_round_trip(campaign: str, link: int) -> None:
    try:
        campaign.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(ConfigError):
            SIGNER.anonymous_open(campaign)
        return
    assert SIGNER.verify(SIGNER.anonymous_click(campaign, link, PRODUCT)) == AnonymousClick(campaign, link, PRODUCT, "2026a")
    assert SIGNER.verify(SIGNER.anonymous_open(campaign, b"\x00\xff\x10\x01")) == AnonymousOpen(campaign, "2026a")


def test_a_click_url_resolves_to_its_destination() -> None:
    url = URLS.personal(123_456).click(4, PRODUCT)
    assert url.startswith("https://t.shop.test/c/")
    assert URLS.resolve(url.removeprefix(URLS.base)) == Click(123_456, 4, PRODUCT, "2026a")


def test_an_open_url_is_a_gif_path() -> None:
    url = URLS.personal(9).open()
    assert url.startswith("https://t.shop.test/o/") and url.endswith(".gif")
    assert URLS.resolve(url.removeprefix(URLS.base)) == Open(9, "2026a")


def test_a_base_url_with_a_path_is_kept_in_urls() -> None:
    urls = TrackingUrls("https://shop.test/t/", SIGNER)
    url = urls.personal(1).click(1, PRODUCT)
    assert url.startswith("https://shop.test/t/c/")
    assert urls.resolve("/t/c/" + url.rpartition("/")[2]) == Click(1, 1, PRODUCT, "2026a")


def test_tokens_are_url_safe_and_compact() -> None:
    click = SIGNER.click(1_000_000, 12, "https://www.shop.test/p/WD1001-S")
    opened = SIGNER.open(1_000_000)
    assert set(click + opened) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(opened) <= 32  # with a five-character key id
    # Everything but the destination (without its scheme) fits in 34 characters.
    assert len(click) <= 34 + len("www.shop.test/p/WD1001-S") * 4 / 3


def test_the_tag_is_at_least_96_bits() -> None:
    assert TAG_BYTES * 8 >= 96
    token = SIGNER.open(5)
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify(encode(raw(token)[:-1]))


# Tampering


def test_any_flipped_bit_is_refused() -> None:
    token = SIGNER.click(77, 3, PRODUCT)
    data = raw(token)
    for index in range(len(data)):
        for bit in range(8):
            forged = bytearray(data)
            forged[index] ^= 1 << bit
            with pytest.raises(InvalidTrackingToken):
                SIGNER.verify(encode(bytes(forged)))


def test_any_changed_character_is_refused() -> None:
    token = SIGNER.open(77)
    for index in range(len(token)):
        for replacement in "A_-9z":
            if token[index] != replacement:
                with pytest.raises(InvalidTrackingToken):
                    SIGNER.verify(token[:index] + replacement + token[index + 1 :])


def test_a_second_spelling_of_the_same_bytes_is_refused() -> None:
    # 16 bytes of token take 22 characters; the last one has 4 unused bits.
    token = SIGNER.open(1)
    data = raw(token)
    assert len(data) % 3 != 0
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    variants = [token[:-1] + c for c in alphabet if c != token[-1] and raw(token[:-1] + c) == data]
    assert variants
    for variant in variants:
        with pytest.raises(InvalidTrackingToken):
            SIGNER.verify(variant)


@pytest.mark.parametrize(
    "garbage",
    ["", "=", "A", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "EQJrMQcBAA==", "a.b", "%00", "ЁЖ", "A" * 5000, "\x00"],
)
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify(garbage)


def test_the_error_is_an_invalid_token_and_a_value_error() -> None:
    assert issubclass(InvalidTrackingToken, InvalidToken)
    assert issubclass(InvalidTrackingToken, MailerError)
    assert issubclass(InvalidTrackingToken, ValueError)


def test_a_click_token_is_not_an_open_token_and_back() -> None:
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify_open(SIGNER.click(1, 1, PRODUCT))
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify_click(SIGNER.open(1))
    with pytest.raises(InvalidTrackingToken):
        URLS.resolve("/o/" + SIGNER.click(1, 1, PRODUCT) + ".gif")
    with pytest.raises(InvalidTrackingToken):
        URLS.resolve("/c/" + SIGNER.open(1))


@pytest.mark.parametrize("path", ["/", "/c/", "/o/", "/x/abc", "/o/abc", "c", "", "/c/../o/x.gif"])
def test_paths_that_are_not_tracking_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidTrackingToken):
        URLS.resolve(path)


def test_a_kind_byte_changed_and_re_signed_with_another_key_is_refused() -> None:
    data = bytearray(raw(LinkSigner([("2026a", b"x" * 32)]).click(1, 1, PRODUCT)))
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify(encode(bytes(data)))


# No open redirect


def test_a_token_whose_destination_was_changed_is_refused() -> None:
    token = SIGNER.click(77, 3, "https://www.shop.test/p/1")
    data = raw(token)
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    forged = body.replace(b"www.shop.test", b"evil.example!") + tag
    assert forged != data
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify(encode(forged))


def test_a_query_parameter_cannot_choose_the_destination() -> None:
    url = URLS.personal(1).click(1, PRODUCT)
    path = url.removeprefix(URLS.base)
    with pytest.raises(InvalidTrackingToken):
        URLS.resolve(path + "?url=https://evil.example/")
    assert URLS.resolve(path) == Click(1, 1, PRODUCT, "2026a")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/",
        "/relative",
        "mailto:a@b.test",
        "https://",
        "https:///path",
        "https://shop.test:99999/",
        "https://[::1/",
        "https://shop.test/\x00",
        "https://shop.test/\x1b[31m",
        "https://shop.test/a\x7f",
        "https://sh<op.test/",
        "https://shop test/",
        "https://shop.test/" + "a" * MAX_DESTINATION,
    ],
)
def test_destinations_a_click_cannot_redirect_to_are_refused(url: str) -> None:
    with pytest.raises(UntrackableLink):
        SIGNER.click(1, 1, url)


def test_a_destination_never_holds_a_line_break_or_space() -> None:
    # Browsers drop tabs and line breaks from URLs; a Location header must never hold one.
    assert check_destination("https://shop.test/a\r\nSet-Cookie: x=1") == "https://shop.test/aSet-Cookie:%20x=1"


def test_an_internationalised_destination_becomes_ascii() -> None:
    assert check_destination("https://bücher.test:8443/straße") == "https://xn--bcher-kva.test:8443/stra%C3%9Fe"
    assert check_destination("https://user@bücher.test/") == "https://user@xn--bcher-kva.test/"


# Rotation


def test_mail_signed_with_the_old_key_still_verifies_after_rotation() -> None:
    token = LinkSigner([OLD]).click(5, 2, PRODUCT)
    rotated = LinkSigner([NEW, OLD])
    assert rotated.verify(token) == Click(5, 2, PRODUCT, "2026a")
    assert rotated.verify(rotated.click(5, 2, PRODUCT)).key_id == "2026b"
    assert rotated.key_id == "2026b"


def test_once_the_old_key_is_removed_its_tokens_fail() -> None:
    token = LinkSigner([OLD]).open(5)
    with pytest.raises(InvalidTrackingToken, match="key no longer held"):
        LinkSigner([NEW]).verify(token)


def test_a_token_claiming_a_held_key_id_but_signed_with_another_key_fails() -> None:
    impostor = LinkSigner([("2026a", b"not the real 2026a key at all!!!")])
    with pytest.raises(InvalidTrackingToken, match="signature"):
        SIGNER.verify(impostor.open(5))


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [("k1", b"short")],
        [("k1", "a string, not bytes, of length")],
        [("", b"k" * 32)],
        [("has space", b"k" * 32)],
        [("x" * 17, b"k" * 32)],
        [("k1", b"k" * 32), ("k1", b"j" * 32)],
        [("k1",)],
    ],
)
def test_bad_keys_are_a_config_error(keys: list[Any]) -> None:
    with pytest.raises(ConfigError):
        LinkSigner(keys)


@pytest.mark.parametrize(
    "base",
    ["http://t.shop.test", "https://", "https://t.shop.test/?x=1", "https://t.shop.test/#x", "ftp://t.shop.test",
     "https://user@t.shop.test", "https://t.shop.test/a b", "https://t.shop.test/\"x", "https://t.shop.test:x/"],
)
def test_bad_base_urls_are_a_config_error(base: str) -> None:
    with pytest.raises(ConfigError):
        TrackingUrls(base, SIGNER)


def test_plain_http_is_allowed_for_localhost_only() -> None:
    assert TrackingUrls("http://localhost:8000/", SIGNER).base == "http://localhost:8000"


# Anonymous tokens identify nobody


def test_anonymous_click_urls_are_the_same_for_every_recipient() -> None:
    first = URLS.anonymous("autumn", nonce=b"\x01\x02\x03\x04")
    second = URLS.anonymous("autumn", nonce=b"\x09\x08\x07\x06")
    assert first.click(3, PRODUCT) == second.click(3, PRODUCT)
    found = URLS.resolve(first.click(3, PRODUCT).removeprefix(URLS.base))
    assert found == AnonymousClick("autumn", 3, PRODUCT, "2026a")
    assert not hasattr(found, "message")


def test_anonymous_pixels_carry_a_fresh_nonce_and_no_message() -> None:
    pixels = {URLS.anonymous("autumn").open() for _ in range(20)}
    assert len(pixels) == 20
    assert all(URLS.resolve(p.removeprefix(URLS.base)) == AnonymousOpen("autumn", "2026a") for p in pixels)


def test_a_nonce_that_is_too_long_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SIGNER.anonymous_open("autumn", b"x" * 17)


@pytest.mark.parametrize("message", [-1, 2**63, 1.5, True, "7"])
def test_message_ids_are_non_negative_integers(message: object) -> None:
    with pytest.raises(ConfigError):
        SIGNER.open(message)  # type: ignore[arg-type]


def test_the_honeypot_is_link_zero() -> None:
    assert HONEYPOT == 0
    assert SIGNER.verify_click(SIGNER.click(1, HONEYPOT, "https://shop.test/")).link == 0


def test_the_pixel_is_a_one_by_one_gif() -> None:
    assert PIXEL_GIF.startswith(b"GIF89a") and PIXEL_GIF.endswith(b";")
    assert struct.unpack("<HH", PIXEL_GIF[6:10]) == (1, 1)


# Hostile input


def test_hostile_strings_as_tokens_raise_only_the_documented_error(hostile: list[str]) -> None:
    token = SIGNER.open(1)
    for string in hostile:
        for candidate in {string, string + token, token + string} - {token}:
            with pytest.raises(InvalidTrackingToken):
                SIGNER.verify(candidate)
        for path in ("/c/" + string, "/o/" + string + ".gif", string):
            with pytest.raises(InvalidTrackingToken):
                URLS.resolve(path)


def test_hostile_strings_as_destinations_raise_only_the_documented_error(hostile: list[str]) -> None:
    for string in hostile:
        for url in (string, "https://shop.test/" + string, "https://" + string, "https://shop.test/?q=" + string):
            try:
                token = SIGNER.click(1, 1, url)
            except UntrackableLink:
                continue
            found = SIGNER.verify_click(token)
            destination = found.destination
            assert destination.isascii() and destination.isprintable() and " " not in destination


def test_hostile_strings_as_campaign_ids_raise_only_a_config_error(hostile: list[str]) -> None:
    for string in hostile:
        try:
            token = SIGNER.anonymous_click(string, 1, PRODUCT)
        except ConfigError:
            continue
        assert SIGNER.verify(token).campaign == string  # type: ignore[union-attr]


@given(st.text(max_size=200))
def test_any_string_as_a_token_raises_only_the_documented_error(token: str) -> None:
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify(token)


@given(st.binary(min_size=0, max_size=120))
def test_any_bytes_as_a_token_raise_only_the_documented_error(data: bytes) -> None:
    with pytest.raises(InvalidTrackingToken):
        SIGNER.verify(encode(data))


@given(st.text(max_size=120))
def test_any_string_as_a_destination_raises_only_the_documented_error(text: str) -> None:
    for url in (text, "https://shop.test/" + text):
        try:
            checked = check_destination(url)
        except UntrackableLink:
            continue
        assert checked.isascii() and checked.isprintable() and " " not in checked
