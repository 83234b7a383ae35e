"""Addresses as reports write them, reduced to ``local@domain``."""

from __future__ import annotations

import pytest

from mailer.feedback.addresses import field_address, find_addresses, normalise, unique


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<Ann@Example.COM>:", ["ann@example.com"]),
        ("ann@example.com<mailto:ann@example.com>", ["ann@example.com", "ann@example.com"]),
        ("host 192.0.2.1 said: 550 5.1.1 <a.b+tag@mail.example.co.jp>...", ["a.b+tag@mail.example.co.jp"]),
        ("no address here, nor @ here, nor a@b", []),
        ("zoë@bücher.example", ["zoë@bücher.example"]),
    ],
)
def test_addresses_are_found_in_running_text(text: str, expected: list[str]) -> None:
    assert list(find_addresses(text)) == expected


def test_a_field_s_address_type_is_dropped() -> None:
    assert field_address("rfc822; <Ann@Example.com>") == "ann@example.com"


def test_a_field_address_on_a_local_host_is_kept() -> None:
    assert field_address("rfc822;kijitora@mailhub0") == "kijitora@mailhub0"


@pytest.mark.parametrize("value", ["", "rfc822;", "rfc822; |/usr/bin/procmail", "rfc822; a b@c", "rfc822; <nekochan>"])
def test_a_field_without_an_address_gives_none(value: str) -> None:
    assert field_address(value) is None


def test_normalise_and_unique() -> None:
    assert normalise(" <A@B.C> ") == "a@b.c"
    assert unique(["a@b.c", "x@y.z", "a@b.c"]) == ("a@b.c", "x@y.z")
