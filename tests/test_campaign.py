"""Campaign files: validated, with errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.campaign import load_campaign, pick_language
from mailer.errors import ConfigError

from .conftest import FIXTURES

MINIMAL = """
id = "c1"
layout = "welcome"
from = "Shop <news@shop.test>"
subject = "Hello"
[links]
unsubscribe = "https://shop.test/u/{token}"
unsubscribe_mailto = "unsubscribe@shop.test"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_campaign_loads() -> None:
    campaign = load_campaign(FIXTURES / "campaign.toml")
    assert campaign.layout == "newsletter"
    assert campaign.send_date is not None and campaign.send_date.tzinfo is not None
    assert campaign.rates_path == FIXTURES / "rates.csv"
    assert campaign.text("subject", ("sv_FI", "sv", "en")).startswith("Nytt för dig")


def test_minimal_campaign_loads(tmp_path: Path) -> None:
    campaign = load_campaign(write(tmp_path, MINIMAL))
    assert campaign.text("subject", ("de_DE", "de", "en")) == "Hello"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('layout = "welcome"\n', ""), "missing required key 'layout'"),
        (lambda t: "colour = 1\n" + t, "unknown key"),
        (lambda t: t.replace("https://shop.test/u", "http://shop.test/u"), "https"),
        (lambda t: t.replace('unsubscribe_mailto = "unsubscribe@shop.test"\n', ""), "unsubscribe_mailto"),
        (lambda t: t.replace('id = "c1"', 'id = "a/b"'), "'id'"),
        (lambda t: "send_date = 2026-01-01T09:00:00\n" + t, "time zone"),
        (lambda t: t + "[slots]\npicks = [1, 2]\n", "slots"),
        (lambda t: t.replace("[links]", "[links\n"), "campaign.toml"),
    ],
)
def test_bad_campaigns_name_the_file_and_problem(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, change(MINIMAL))
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_language_choice_follows_the_chain() -> None:
    assert pick_language({"sv": "Hej", "en": "Hi"}, ("sv_FI", "sv", "en")) == "Hej"
    assert pick_language({"en": "Hi"}, ("da_DK", "da")) == "Hi"
    assert pick_language({"fr": "Salut"}, ("da",), default="en") == "Salut"


def test_dkim_settings_resolve_the_key_beside_the_campaign(tmp_path: Path) -> None:
    text = MINIMAL.replace("[links]", '[delivery]\ndkim_selector = "mail2026"\ndkim_key = "keys/dkim.pem"\n[links]')
    delivery = load_campaign(write(tmp_path, text)).delivery
    assert (delivery.dkim_selector, delivery.dkim_key, delivery.dkim_domain) == ("mail2026", tmp_path / "keys/dkim.pem",
                                                                                None)  # fmt: skip


def test_dkim_domain_is_kept_in_ascii(tmp_path: Path) -> None:
    text = MINIMAL.replace("[links]", '[delivery]\ndkim_selector = "s1"\ndkim_key = "/etc/dkim.pem"\n'
                           'dkim_domain = "Bücher.example"\n[links]')  # fmt: skip
    delivery = load_campaign(write(tmp_path, text)).delivery
    assert (delivery.dkim_domain, delivery.dkim_key) == ("xn--bcher-kva.example", Path("/etc/dkim.pem"))


def test_a_campaign_without_dkim_settings_does_not_sign() -> None:
    delivery = load_campaign(FIXTURES / "campaign.toml").delivery
    assert (delivery.dkim_selector, delivery.dkim_key, delivery.dkim_domain) == (None, None, None)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('dkim_selector = "s1"', "DKIM signing needs both dkim_selector and dkim_key"),
        ('dkim_key = "dkim.pem"', "DKIM signing needs both dkim_selector and dkim_key"),
        ('dkim_domain = "shop.test"', "DKIM signing needs both dkim_selector and dkim_key"),
        ('dkim_selector = "my selector"\ndkim_key = "dkim.pem"', "delivery.dkim_selector: expected DNS labels"),
        ('dkim_selector = "s1"\ndkim_key = ""', "delivery.dkim_key: the private key's PEM file"),
        ('dkim_selector = "s1"\ndkim_key = "k.pem"\ndkim_domain = "shop"', "delivery.dkim_domain: expected a domain"),
        ('dkim_key_file = "k.pem"', "unknown key(s) ['dkim_key_file']"),
    ],
)
def test_bad_dkim_settings_name_the_file_and_key(tmp_path: Path, table: str, message: str) -> None:
    path = write(tmp_path, MINIMAL.replace("[links]", f"[delivery]\n{table}\n[links]"))
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
