"""UTM parameters: added to destinations, never overwriting what is there."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import ConfigError
from mailer.tracking.utm import Utm, add_utm

UTM = Utm(source="newsletter", campaign="autumn-newsletter-2026")


def test_utm_never_overwrites_and_keeps_the_fragment() -> None:
    url = add_utm("https://shop.test/p?utm_source=ads&utm_campaign=spring&x=1#reviews", UTM, "hero")
    assert url == "https://shop.test/p?utm_source=ads&utm_campaign=spring&x=1&utm_medium=email&utm_content=hero#reviews"


def test_utm_on_a_url_without_query() -> None:
    assert add_utm("https://shop.test/p", UTM, "3") == (
        "https://shop.test/p?utm_source=newsletter&utm_medium=email&utm_campaign=autumn-newsletter-2026&utm_content=3"
    )
    assert add_utm("https://shop.test/p?", UTM, "3").startswith("https://shop.test/p?utm_source=")
    assert add_utm("https://shop.test/p?a=1&", UTM, "3").startswith("https://shop.test/p?a=1&utm_source=")


def test_utm_values_are_encoded_and_names_compared_decoded() -> None:
    utm = Utm(source="news letter", campaign="été&co")
    url = add_utm("https://shop.test/?utm%5Fsource=x", utm, "a/b")
    assert url == "https://shop.test/?utm%5Fsource=x&utm_medium=email&utm_campaign=%C3%A9t%C3%A9%26co&utm_content=a%2Fb"


def test_utm_can_be_limited_to_the_shops_hosts() -> None:
    utm = Utm(source="n", campaign="c", hosts=("example-shop.test",))
    assert "utm_" in add_utm("https://www.example-shop.test/", utm, "1")
    assert add_utm("https://instagram.test/shop", utm, "1") == "https://instagram.test/shop"


@pytest.mark.parametrize("bad", [dict(source=""), dict(campaign=" "), dict(medium=3), dict(hosts="shop.test"), dict(campaign="\ud800")])
def test_bad_utm_is_a_config_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Utm(**{"source": "n", "campaign": "c", **bad})


@given(st.text(max_size=80), st.text(max_size=20))
def test_any_url_keeps_its_text_before_the_fragment_and_never_raises(url: str, content: str) -> None:
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        return
    result = add_utm(url, UTM, content)
    assert result.startswith(url.partition("#")[0].partition("?")[0])
    assert result.endswith(url.partition("#")[1] + url.partition("#")[2])


def test_hostile_strings_as_urls_never_raise(hostile: list[str]) -> None:
    for string in hostile:
        for url in (string, "https://shop.test/?" + string, "https://shop.test/#" + string):
            add_utm(url, Utm(source="n", campaign="c", hosts=("shop.test",)), string)
