"""mailer.lint.clients: the email clients a campaign is checked against."""

from __future__ import annotations

import pytest

from mailer.errors import ConfigError
from mailer.lint.caniemail import CanIEmail, parse_caniemail
from mailer.lint.clients import DEFAULT_CLIENTS, ClientTarget, default_targets, parse_clients


@pytest.fixture(scope="module")
def data() -> CanIEmail:
    stats = {"gmail": {"ios": {"2020": "y"}, "android": {"2020": "y"}}, "outlook": {"windows": {"2019": "n"}}}
    return parse_caniemail({"data": [{"slug": "html-div", "title": "<div>", "category": "html", "stats": stats}]})


@pytest.mark.parametrize(("value", "target"), [
    ("gmail", ClientTarget("gmail")),
    ("outlook.windows", ClientTarget("outlook", "windows")),
    ("apple-mail.ios", ClientTarget("apple-mail", "ios")),
    ("  Apple-Mail.IOS ", ClientTarget("apple-mail", "ios")),
])  # fmt: skip
def test_parse(value: str, target: ClientTarget) -> None:
    assert ClientTarget.parse(value) == target


@pytest.mark.parametrize("value", ["", "outlook.", ".ios", "outlook.windows.2019", "outlook windows", "gmail/ios"])
def test_malformed_targets_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match="expected a family such as 'gmail'"):
        ClientTarget.parse(value)


def test_str_round_trips() -> None:
    assert [str(ClientTarget.parse(v)) for v in ("gmail", "outlook.windows")] == ["gmail", "outlook.windows"]


def test_parse_clients_splits_commas_and_drops_duplicates() -> None:
    assert parse_clients(["gmail,outlook.windows", " gmail ", ""]) == (
        ClientTarget("gmail"), ClientTarget("outlook", "windows"),
    )  # fmt: skip


def test_known_targets_pass_with_the_data(data: CanIEmail) -> None:
    assert parse_clients(["gmail.ios", "outlook"], data) == (ClientTarget("gmail", "ios"), ClientTarget("outlook"))


def test_an_unknown_family_lists_the_known_ones(data: CanIEmail) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_clients(["gmial"], data)
    assert str(caught.value) == "unknown email client 'gmial' (did you mean 'gmail'?); known: gmail, outlook"


def test_an_unknown_platform_lists_the_family_s_platforms(data: CanIEmail) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_clients(["gmail.web"], data)
    assert str(caught.value) == "email client 'gmail' has no platform 'web'; known: ios, android"


def test_without_data_only_the_syntax_is_checked() -> None:
    assert parse_clients(["no-such-client"]) == (ClientTarget("no-such-client"),)


def test_defaults() -> None:
    assert DEFAULT_CLIENTS == ("gmail", "outlook", "apple-mail", "yahoo")
    assert default_targets() == tuple(ClientTarget(f) for f in DEFAULT_CLIENTS)


def test_a_target_covers_the_family_s_platforms_or_one() -> None:
    assert ClientTarget("outlook").platforms(["windows", "macos"]) == ("windows", "macos")
    assert ClientTarget("outlook", "macos").platforms(["windows", "macos"]) == ("macos",)
    assert ClientTarget("outlook", "ios").platforms(["windows"]) == ()
