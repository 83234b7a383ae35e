"""VERP return paths: a bounce names its message, and nobody can forge one that does."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.content.mime import message_id
from mailer.errors import ConfigError, MessageError
from mailer.feedback.verp import MAX_LOCAL_PART, VerpSigner, parse_verp, verp_address
from mailer.tokens import InvalidToken, Signer
from tests.conftest import shared_path

SIGNER = VerpSigner(b"0123456789abcdef0123456789abcdef")
RETURN_PATH = "bounces@shop.test"
MESSAGE_ID = message_id("autumn-2026", "cust-42", "shop.test")


def test_a_signed_token_round_trips_through_the_return_path() -> None:
    address = verp_address(RETURN_PATH, SIGNER.token(MESSAGE_ID))
    token = parse_verp(address, RETURN_PATH)
    assert token is not None
    assert SIGNER.verify(token) == MESSAGE_ID[1:].partition("@")[0]


@given(st.text(alphabet="0123456789abcdef", min_size=32, max_size=32), st.sampled_from(["shop.test", "mail.example.com"]))
def test_tokens_round_trip_any_message_id(left: str, domain: str) -> None:
    address = verp_address(RETURN_PATH, SIGNER.token(f"<{left}@{domain}>"))
    assert SIGNER.verify(parse_verp(address, RETURN_PATH) or "") == left


def test_the_verp_address_fits_a_local_part() -> None:
    local = verp_address(RETURN_PATH, SIGNER.token(MESSAGE_ID)).rpartition("@")[0]
    assert len(local.encode()) <= MAX_LOCAL_PART


def test_a_relay_that_changes_case_does_not_break_the_token() -> None:
    address = verp_address(RETURN_PATH, SIGNER.token(MESSAGE_ID))
    assert SIGNER.verify(parse_verp(address.upper(), RETURN_PATH) or "") == SIGNER.verify(parse_verp(address, RETURN_PATH) or "")


def test_a_token_with_an_edited_message_key_is_refused() -> None:
    token = SIGNER.token(MESSAGE_ID)
    other = SIGNER.token(message_id("autumn-2026", "cust-43", "shop.test"))
    forged = other.split("-")[0] + "-" + token.split("-")[1]
    with pytest.raises(InvalidToken):
        SIGNER.verify(forged)


def test_a_token_with_one_character_changed_is_refused() -> None:
    token = SIGNER.token(MESSAGE_ID)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    with pytest.raises(InvalidToken):
        SIGNER.verify(flipped)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        VerpSigner(b"another key of enough length!!").verify(SIGNER.token(MESSAGE_ID))


def test_an_unsubscribe_link_token_is_not_a_verp_token() -> None:
    link = Signer(SIGNER.key).sign("cust-42", "autumn-2026")
    with pytest.raises(InvalidToken):
        SIGNER.verify(link)


@pytest.mark.parametrize("garbage", ["", "-", "abc", "abc-", "-abc", "a-b-c", "!!!-???", "rbhf djvn-aaaa", "ä-ö"])
def test_malformed_tokens_are_refused(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.verify(garbage)


def test_a_short_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        VerpSigner(b"short")


def test_a_message_id_that_is_not_hex_cannot_be_signed() -> None:
    with pytest.raises(MessageError):
        SIGNER.token("<not-hex@shop.test>")


def test_a_return_path_too_long_for_a_token_is_refused_with_the_room_left() -> None:
    with pytest.raises(MessageError, match="leaves 31 characters for a VERP token, which needs 43"):
        verp_address("newsletter-bounces-from-the-shop@shop.test", SIGNER.token(MESSAGE_ID))


@pytest.mark.parametrize("token", ["a+b", "a b", "a@b", "a\r\nBcc: x@y", ".a", "a.", "a..b", ""])
def test_tokens_a_local_part_cannot_take_are_refused(token: str) -> None:
    with pytest.raises(MessageError):
        verp_address(RETURN_PATH, token)


def test_a_return_path_that_is_not_one_address_is_refused() -> None:
    with pytest.raises(MessageError):
        verp_address("bounces@shop.test, eve@evil.test", "abc")


@pytest.mark.parametrize(
    "address",
    [
        "bounces@shop.test",
        "bounces+abc@evil.test",
        "other+abc@shop.test",
        "bouncesabc@shop.test",
        "bounces+@shop.test",
        "bounces+a b@shop.test",
        "bounces+abc@shop.test.evil.test",
        "",
        "@",
        "bounces+" + "a" * 100 + "@shop.test",
    ],
)
def test_addresses_that_are_not_a_verp_form_of_the_return_path_give_no_token(address: str) -> None:
    assert parse_verp(address, RETURN_PATH) is None


def test_another_delimiter_can_be_used() -> None:
    address = verp_address(RETURN_PATH, "abc", delimiter="-")
    assert address == "bounces-abc@shop.test"
    assert parse_verp(address, RETURN_PATH, delimiter="-") == "abc"


def test_hostile_strings_never_make_parse_verp_raise() -> None:
    strings = json.loads(shared_path("hostile/blns.json").read_text(encoding="utf-8"))
    for text in strings:
        assert parse_verp(f"bounces+{text}@shop.test", RETURN_PATH) in (None, text)
        assert parse_verp(text, RETURN_PATH) is None or text.lower().startswith("bounces+")
        assert parse_verp("bounces+abc@shop.test", text) in (None, "abc")
        with pytest.raises(InvalidToken):
            SIGNER.verify(text)
