"""Privacy-sensitive categories: what selection must never learn from or target.

Some purchases reveal a life event (pregnancy, a baby, an illness, adult
products). Marketing that reacts to them ("congratulations on your bump")
tells the customer, and anyone reading over their shoulder, what the shop
inferred. So, by default (``SelectionRules.sensitive_categories`` and
``sensitive_age_groups`` change the lists):

* a purchase in a sensitive category contributes to no affinity, brand,
  gender/age fit, price band, popularity, recent-purchase rule or promotion
  response: selection for a customer is exactly what it would be had the
  purchase never happened;
* a sensitive product is never chosen for a slot;
* a campaign cannot restrict itself to customers with affinity to a
  sensitive category (:func:`check_targeting` refuses it).

RFM segments (:mod:`mailer.personalise.segments`) still count what such a
purchase was worth, as they count any spend: recency, frequency and money say
nothing about what was bought.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailer.errors import ConfigError
from mailer.personalise.categories import path_matches, split_path
from mailer.personalise.rules import SelectionRules

__all__ = ["check_targeting", "is_sensitive"]


def is_sensitive(path: Sequence[str], age_group: str | None, rules: SelectionRules) -> bool:
    """Whether a product (category path and Google ``age_group``) is privacy-sensitive.

    >>> rules = SelectionRules()
    >>> is_sensitive(("Women", "Maternity", "Dresses"), "adult", rules)
    True
    >>> is_sensitive(("Kids", "Coats"), "kids", rules), is_sensitive(("Kids", "Sleepsuits"), "newborn", rules)
    (False, True)
    """
    if age_group and age_group.strip().casefold() in {a.casefold() for a in rules.sensitive_age_groups}:
        return True
    return path_matches(path, rules.sensitive_categories)


def check_targeting(rules: SelectionRules) -> None:
    """Refuse affinity targeting of a sensitive category.

    >>> check_targeting(SelectionRules(categories=("Baby",), require_affinity=True))
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: category 'Baby' is privacy-sensitive: a campaign cannot target customers by affinity to it
    """
    if not rules.require_affinity:
        return
    for name in rules.categories:
        if path_matches(split_path(name), rules.sensitive_categories):
            raise ConfigError(
                f"category {name!r} is privacy-sensitive: a campaign cannot target customers by affinity to it"
            )
