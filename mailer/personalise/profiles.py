"""Profiles: everything selection knows from history, as of the day of the email.

:func:`fit_profiles` learns, from a :class:`~mailer.personalise.purchases.PurchaseTable`
and a :class:`~mailer.personalise.catalogue.Catalogue`, each customer's
affinity, price bands and recent purchases, and each product's popularity
and newness. It is done once per send; selection then reads it for batches of
recipients through :meth:`Profiles.features`, which lays a batch's sparse
rows out densely (one row per recipient, one column per category, brand,
gender or age group), ready for scoring candidates with array indexing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from mailer.errors import ConfigError
from mailer.personalise.affinity import Affinity, learn_affinity
from mailer.personalise.catalogue import AGE_GROUPS, GENDERS, Catalogue, day_number, same_catalogue_rules
from mailer.personalise.exclusions import RecentPurchases, ShownLog, excluded_keys, recent_purchases
from mailer.personalise.popularity import Popularity, learn_popularity, newness
from mailer.personalise.price_band import PriceBands, band_limits, learn_price_bands
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.ragged import take_rows
from mailer.personalise.recipients import Recipients
from mailer.personalise.rules import SelectionRules
from mailer.personalise.seeding import uniform

__all__ = ["Features", "Profiles", "fit_profiles"]

#: Pseudo-purchases a declared gender is worth, before purchases say otherwise.
GENDER_PRIOR = 2.0
#: Pseudo-purchases of adult products everyone starts with.
AGE_PRIOR = 1.0
_ADULT = AGE_GROUPS.index("adult")
#: Salt for the per-recipient draw that rounds the exploration share.
EXPLORE_SALT = 0x5EED_E8F1_07E5


@dataclass(frozen=True, eq=False)
class Profiles:
    """Learnt state for one catalogue, one history and one day (``today``, a day number)."""

    catalogue: Catalogue
    customer_ids: np.ndarray
    rules: SelectionRules
    today: int
    affinity: Affinity
    bands: PriceBands
    recent: RecentPurchases
    popularity: Popularity
    newness: np.ndarray
    is_new: np.ndarray

    def rows_of(self, customer_ids: np.ndarray) -> np.ndarray:
        """Each id's row, -1 for a customer without history."""
        ids = np.asarray(customer_ids, dtype=str)
        n = self.customer_ids.shape[0]
        if n == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.customer_ids, ids), n - 1)
        return np.where(self.customer_ids[at] == ids, at, -1).astype(np.int64)

    def features(
        self, recipients: Recipients, *, rules: SelectionRules, total_slots: int, shown: ShownLog | None = None
    ) -> Features:
        """Dense per-recipient features for one batch."""
        cat = self.catalogue
        rows = self.rows_of(recipients.ids)
        b = rows.shape[0]
        weight = take_rows(self.affinity.weight, rows, 0.0)
        warm = weight > 0

        shares = np.zeros((b, len(cat.categories) + 1))
        owner, flat = self.affinity.categories.gather(rows)
        shares[owner, self.affinity.category[flat]] = self.affinity.category_share[flat]
        brand_shares = np.zeros((b, len(cat.brands) + 1))
        owner, flat = self.affinity.brands.gather(rows)
        brand_shares[owner, self.affinity.brand[flat]] = self.affinity.brand_share[flat]

        gw = take_rows(self.affinity.gender_weight, rows, 0.0)
        prior = np.zeros((b, len(GENDERS)))
        prior[:, 1:] = 0.5
        declared = recipients.gender > 0
        prior[declared, 1:] = 0.0
        prior[declared, recipients.gender[declared]] = GENDER_PRIOR
        num = gw[:, 1:] + prior[:, 1:]
        gender_fit = np.ones((b, len(GENDERS)))
        gender_fit[:, 1:] = num / num.sum(axis=1, keepdims=True)

        aw = take_rows(self.affinity.age_weight, rows, 0.0)
        aw[:, _ADULT] += AGE_PRIOR
        age_fit = np.ones((b, len(AGE_GROUPS)))
        age_fit[:, 1:] = aw[:, 1:] / aw[:, 1:].sum(axis=1, keepdims=True)

        centre, ceiling = band_limits(self.bands, cat, rows, rules=rules)
        u = uniform(rules.seed, recipients.hash, EXPLORE_SALT)
        explore_allowed = np.where(
            warm, np.floor(rules.exploration_share * total_slots + u), total_slots
        ).astype(np.int64)
        if rules.require_affinity:
            codes = cat.category_codes(rules.categories)
            audience = np.asarray((shares[:, codes] > 0).any(axis=1)) if codes.size else np.zeros(b, dtype=bool)
        else:
            audience = np.ones(b, dtype=bool)
        return Features(
            rows=rows,
            warm=warm,
            hash=recipients.hash,
            market=self.popularity.column(recipients.market),
            shares=shares,
            brand_shares=brand_shares,
            gender_fit=gender_fit,
            age_fit=age_fit,
            centre=centre,
            ceiling=ceiling,
            explore_allowed=explore_allowed,
            audience=audience,
            excluded=excluded_keys(self.recent, rows, recipients.ids, cat, shown),
        )


@dataclass(frozen=True, eq=False)
class Features:
    """One batch of ``B`` recipients, laid out densely.

    ``shares`` (``B × (V+1)``) and ``brand_shares`` (``B × (brands+1)``) end in
    a zero column, which code -1 (no category, no brand) reads. ``gender_fit``
    and ``age_fit`` are 1 in column 0 (a unisex or ageless product fits
    anyone). ``centre``/``ceiling`` are log-price bands (NaN centre: no
    preference; ``inf`` ceiling: no limit). ``excluded`` holds sorted
    ``position * n_groups + group`` keys.
    """

    rows: np.ndarray
    warm: np.ndarray
    hash: np.ndarray
    market: np.ndarray
    shares: np.ndarray
    brand_shares: np.ndarray
    gender_fit: np.ndarray
    age_fit: np.ndarray
    centre: np.ndarray
    ceiling: np.ndarray
    explore_allowed: np.ndarray
    audience: np.ndarray
    excluded: np.ndarray


_FIT_FIELDS = ("affinity_half_life", "recent_days", "popular_days", "new_days", "newness_half_life")


def fit_profiles(
    catalogue: Catalogue,
    purchases: PurchaseTable,
    *,
    now: date | datetime,
    rules: SelectionRules | None = None,
) -> Profiles:
    """Learn everything selection needs as of ``now`` (purchases after it are ignored).

    ``rules`` must describe the catalogue the same way (depth, band level,
    sensitive and consumable lists) as the rules it was built with.
    """
    rules = rules or catalogue.rules
    if not same_catalogue_rules(rules, catalogue.rules):
        raise ConfigError(
            "the catalogue was built with other category depth, sensitive or consumable lists; rebuild it"
        )
    today = day_number(now)
    value, is_new = newness(catalogue, today=today, rules=rules)
    return Profiles(
        catalogue=catalogue,
        customer_ids=purchases.customer_ids,
        rules=rules,
        today=today,
        affinity=learn_affinity(purchases, catalogue, rules=rules, today=today),
        bands=learn_price_bands(purchases, catalogue, rules=rules, today=today),
        recent=recent_purchases(purchases, rules=rules, today=today),
        popularity=learn_popularity(purchases, catalogue, rules=rules, today=today),
        newness=value,
        is_new=is_new,
    )


def check_fit_rules(profiles: Profiles, rules: SelectionRules) -> None:
    """Refuse selection rules that change what was learnt at fit time (refit instead)."""
    if not same_catalogue_rules(rules, profiles.rules):
        raise ConfigError("these rules describe the catalogue differently from the fitted profiles; refit")
    for name in _FIT_FIELDS:
        if getattr(rules, name) != getattr(profiles.rules, name):
            raise ConfigError(f"{name} was {getattr(profiles.rules, name)} when profiles were fitted; refit to change it")

