"""Hits: addresses truncated at capture, everything bounded and storable."""

from __future__ import annotations

import pytest

from mailer.tracking.hits import CAPTURED_HEADERS, MAX_USER_AGENT, Hit, capture, truncate_ip


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.0", "203.0.113.0/24"),
        ("8.8.8.8", "8.8.8.0/24"),
        (" 198.51.100.255 ", "198.51.100.0/24"),
        ("2001:db8:1234:5678:9abc:def0:1234:5678", "2001:db8:1234::/48"),
        ("2001:DB8:ABCD::1", "2001:db8:abcd::/48"),
        ("[2001:db8::1]", "2001:db8::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("::1", "::/48"),
    ],
)
def test_addresses_are_truncated_to_a_24_or_a_48(address: str, network: str) -> None:
    assert truncate_ip(address) == network


@pytest.mark.parametrize("address", ["", "localhost", "203.0.113", "203.0.113.256", "010.1.1.1", "1.2.3.4:80", "::g", None, 42, "1" * 100])
def test_anything_else_is_no_network(address: object) -> None:
    assert truncate_ip(address) == ""  # type: ignore[arg-type]


def test_the_full_address_never_reaches_the_hit() -> None:
    hit = capture(at=1.0, kind="open", message=3, address="203.0.113.77")
    assert hit.network == "203.0.113.0/24" and "77" not in repr(hit)


def test_only_the_captured_headers_are_kept() -> None:
    hit = capture(at=1.0, kind="click", message=3, link=1,
                  headers=[("Cookie", "session=1"), ("Sec-Purpose", "prefetch"), ("VIA", "1.1 proxy"), ("Authorization", "x")])
    assert dict(hit.headers) == {"sec-purpose": "prefetch", "via": "1.1 proxy"}
    assert set(hit.headers) <= set(CAPTURED_HEADERS)


def test_an_open_has_no_link_and_methods_are_normalised() -> None:
    hit = capture(at=1.0, kind="open", message=3, link=5, method="head")
    assert hit.link is None and hit.method == "HEAD"
    assert capture(at=1.0, kind="click", message=3, link=1, method="G E T\r\n").method == "OTHER"


def test_user_agents_are_cleaned_and_bounded() -> None:
    hit = capture(at=1.0, kind="click", message=3, link=1, user_agent="Mozilla\x00/5.0\ud800\n" + "x" * 5000)
    assert len(hit.user_agent) <= MAX_USER_AGENT
    assert hit.user_agent.startswith("Mozilla /5.0")
    hit.user_agent.encode("utf-8")


def test_a_missing_user_agent_is_empty() -> None:
    assert capture(at=1.0, kind="open", message=1).user_agent == ""


def test_hostile_strings_never_raise_and_give_storable_hits(hostile: list[str]) -> None:
    for string in hostile:
        hit = capture(at=2.0, kind="click", message=1, link=2, method=string, user_agent=string, address=string,
                      headers={"From": string, string: string, "Via": string})
        assert isinstance(hit, Hit)
        for text in (hit.user_agent, hit.method, hit.network, *hit.headers.values()):
            text.encode("utf-8")
            assert "\x00" not in text
