"""Tracking consent: the customer's answer, else a default per country."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from mailer.errors import ConfigError, CustomerError
from mailer.tracking.consent import ConsentPolicy, Decision, parse_consent

POLICY = ConsentPolicy()


@pytest.mark.parametrize("country", ["FR", "fr", " It ", "IT"])
def test_without_an_answer_france_and_italy_default_to_aggregate(country: str) -> None:
    decision = POLICY.decide(None, country)
    assert decision.recording == "aggregate" and not decision.personal


@pytest.mark.parametrize("country", ["DE", "GB", "US", "JP"])
def test_without_an_answer_elsewhere_defaults_to_personal(country: str) -> None:
    assert POLICY.decide("", country) == Decision("personal", f"no answer; the default for {country} is personal")


@pytest.mark.parametrize("country", [None, "", "France", "F", "ÉÉ", "1A"])
def test_an_unknown_country_takes_the_policy_default(country: str | None) -> None:
    assert POLICY.decide(None, country).reason == "no answer; the default where the country is unknown is personal"
    assert ConsentPolicy(default="aggregate").decide(None, country).recording == "aggregate"


@pytest.mark.parametrize("country", ["FR", "DE", None])
def test_the_customers_answer_beats_every_default(country: str | None) -> None:
    assert POLICY.decide(True, country).recording == "personal"
    assert POLICY.decide("yes", country).recording == "personal"
    assert POLICY.decide(False, country).recording == "aggregate"
    assert POLICY.decide("FALSE", country).reason == "the customer declined"


def test_defaults_are_configurable() -> None:
    policy = ConsentPolicy(default="aggregate", countries={"us": "personal", "FR": "personal"})
    assert policy.decide(None, "US").recording == "personal"
    assert policy.decide(None, "FR").recording == "personal"
    assert policy.decide(None, "DE").recording == "aggregate"
    assert dict(policy.countries) == {"US": "personal", "FR": "personal"}


def test_an_unrecognised_answer_records_nothing_personal() -> None:
    assert POLICY.decide("maybe", "DE").recording == "aggregate"


@pytest.mark.parametrize(("value", "answer"), [("true", True), ("1", True), (" Y ", True), ("no", False), ("0", False),
                                               ("", None), ("  ", None), ("null", None), (None, None), (True, True)])
def test_consent_values_parse(value: object, answer: bool | None) -> None:
    assert parse_consent(value) is answer  # type: ignore[arg-type]


def test_an_unparseable_consent_value_names_its_field() -> None:
    with pytest.raises(CustomerError) as caught:
        parse_consent("perhaps", field="email_tracking")
    assert caught.value.field == "email_tracking"


@pytest.mark.parametrize("bad", [dict(default="none"), dict(countries={"FRA": "aggregate"}), dict(countries={"FR": "off"}),
                                 dict(countries={3: "aggregate"})])
def test_bad_policies_are_a_config_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ConsentPolicy(**bad)


def test_hostile_strings_never_raise(hostile: list[str]) -> None:
    for string in hostile:
        decision = POLICY.decide(string, string)
        assert decision.recording in ("personal", "aggregate")
        if string.strip().lower() not in ("", "1", "0", "true", "false", "null", "none", "yes", "no", "y", "n", "on", "off",
                                          "t", "f", "unknown", "n/a", "na", "-"):
            assert decision.recording == "aggregate"
        unparseable = decision.reason.startswith("the consent field")
        with pytest.raises(CustomerError) if unparseable else contextlib.nullcontext():
            parse_consent(string)
