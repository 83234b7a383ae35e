"""Selection rules: validated once, readable from a campaign's [selection] table."""

from __future__ import annotations

import pytest

from mailer.errors import ConfigError
from mailer.personalise import SelectionRules, Weights


def test_campaign_table_becomes_rules() -> None:
    rules = SelectionRules.from_mapping(
        {"strategy": "personal", "exploration_share": 0, "max_per_brand": 1, "categories": ["Beauty"],
         "weights": {"newness": 2}, "seed": 9}  # fmt: skip
    )
    assert (rules.exploration_share, rules.max_per_brand, rules.categories, rules.seed) == (0.0, 1, ("Beauty",), 9)
    assert rules.weights == Weights(newness=2.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"exploration_share": 2}, "exploration_share must be between 0 and 1"),
        ({"max_per_brand": 0}, "max_per_brand must be a whole number"),
        ({"categories": "Beauty"}, "categories must be a list"),
        ({"weights": {"love": 1}}, r"weights: unknown key\(s\) \['love'\]"),
        ({"require_affinity": True}, "require_affinity needs categories"),
        ({"allow_above_band": "yes"}, "allow_above_band must be true or false"),
    ],
)
def test_bad_values_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SelectionRules.from_mapping(table)


def test_a_category_campaign_goes_to_the_categorys_buyers_by_default() -> None:
    assert SelectionRules(categories=("Beauty",)).require_affinity is True
    assert SelectionRules(categories=("Beauty",), require_affinity=False).require_affinity is False
    assert SelectionRules().require_affinity is False


def test_a_sensitive_category_is_never_targeted_by_default() -> None:
    assert SelectionRules(categories=("Baby",)).require_affinity is False
