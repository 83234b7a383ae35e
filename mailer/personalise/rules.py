"""Selection rules: the knobs a campaign turns, validated once.

:class:`SelectionRules` says how products are scored (:class:`Weights`), which
rules bind every email (exploration share, brand cap, price headroom, repeat
windows), which categories are privacy-sensitive or consumable, and how many
candidates each customer is scored against. Campaign files give the same
names in a ``[selection]`` table; :meth:`SelectionRules.from_mapping` reads it
and names the offending key when a value is wrong.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mailer.errors import ConfigError

__all__ = ["DEFAULT_CONSUMABLE", "DEFAULT_SENSITIVE", "SlotKind", "SelectionRules", "Weights"]

#: Categories that reveal life events (matched against any level of a
#: product's category path, case-insensitively; ``"Home > Pharmacy"`` matches
#: that path prefix). Purchases in them teach selection nothing, and their
#: products are never chosen.
DEFAULT_SENSITIVE = ("Maternity", "Pregnancy", "Baby", "Health", "Adult")
#: Google ``age_group`` values treated like the sensitive categories.
DEFAULT_SENSITIVE_AGE_GROUPS = ("newborn", "infant")
#: Categories whose products a customer buys again (a recent purchase does not block them).
DEFAULT_CONSUMABLE = ("Beauty", "Grocery", "Food", "Coffee & Tea", "Pet Food")

#: ``personal``: best scored; ``new``: only products added within ``new_days``;
#: ``bestsellers``: popularity, fit and price band, without personal affinity.
SlotKind = Literal["personal", "new", "bestsellers"]
SLOT_KINDS: tuple[SlotKind, ...] = ("personal", "new", "bestsellers")


@dataclass(frozen=True, kw_only=True)
class Weights:
    """How much each signal adds to a product's score for a customer.

    Affinity, brand, gender, age, popularity and newness are each in [0, 1];
    price is a penalty up to 4 (two band widths away from the customer's usual
    price); noise is a seeded tie-breaker in [0, 1).

    >>> Weights(brand=2.0).brand
    2.0
    >>> Weights(noise=-1)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: weights.noise must be a finite number >= 0, got -1
    """

    affinity: float = 3.0
    brand: float = 1.0
    gender: float = 1.5
    age: float = 1.0
    popularity: float = 1.0
    newness: float = 0.5
    price: float = 0.5
    noise: float = 0.1

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_number(f"weights.{f.name}", getattr(self, f.name), low=0.0)


@dataclass(frozen=True, kw_only=True)
class SelectionRules:
    """Everything that decides which products fill a customer's slots.

    >>> rules = SelectionRules(exploration_share=0.2, max_per_brand=1, seed=7)
    >>> rules.exploration_share, rules.max_per_brand, rules.weights.affinity
    (0.2, 1, 3.0)
    >>> SelectionRules(exploration_share=1.5)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: exploration_share must be between 0 and 1, got 1.5

    Fields:

    * ``exploration_share``: at most this share of an email's slots (rounded
      up or down at random, seeded, so the average is exact) may hold products
      from top-level categories the customer never bought from.
    * ``max_per_brand``: at most this many products of one brand per email.
    * ``price_headroom``: never show a product dearer than the most the
      customer paid in its category times ``1 + price_headroom``; for a
      category they never bought, than their usual price level there (from
      what they pay relative to others) times ``exp(band_width)`` and the
      headroom. ``allow_above_band`` lifts this.
    * ``band_width``: the width, in natural-log units, of a customer's price
      band; a product this far from their usual price loses ``weights.price``.
    * ``recent_days``: a product (any variant of its item group) bought this
      recently is not shown again, unless consumable.
    * ``shown_emails``: a product shown in the customer's last this many
      emails (from the send log) is not shown again.
    * ``new_days``: a product added this recently counts as new in;
      ``newness_half_life`` (days) is how fast its newness boost fades.
    * ``popular_days``: the purchase window popularity is counted over;
      ``affinity_half_life`` (days) how fast old purchases stop counting.
    * ``categories``: restrict the campaign to these category paths
      (``"Beauty"``, ``"Women > Dresses"``); with ``require_affinity`` (the
      default for a category campaign) only customers who bought from them
      get it. A privacy-sensitive category is never targeted by affinity: its
      campaign goes to everyone unless ``require_affinity`` is set (refused).
    * ``sensitive_categories``, ``sensitive_age_groups``: never used to
      target (see :mod:`mailer.personalise.privacy`).
    * ``consumable_categories``: bought again and again; a consumable bought
      in the last ``consumable_gap_days`` is not offered yet (then it is again).
    * ``seed``: the same inputs and seed always give the same picks.
    * ``pool_*``, ``price_tiers``: how many candidates each customer is
      scored against (see :mod:`mailer.personalise.candidates`).
    """

    weights: Weights = field(default_factory=Weights)
    depth_weights: tuple[float, ...] = (0.2, 0.3, 0.5)
    band_depth: int = 2
    exploration_share: float = 0.1
    max_per_brand: int = 2
    price_headroom: float = 0.5
    band_width: float = 0.5
    allow_above_band: bool = False
    recent_days: int = 90
    consumable_gap_days: int = 21
    shown_emails: int = 3
    new_days: int = 30
    newness_half_life: float = 14.0
    popular_days: int = 90
    affinity_half_life: float = 365.0
    categories: tuple[str, ...] = ()
    require_affinity: bool | None = None
    sensitive_categories: tuple[str, ...] = DEFAULT_SENSITIVE
    sensitive_age_groups: tuple[str, ...] = DEFAULT_SENSITIVE_AGE_GROUPS
    consumable_categories: tuple[str, ...] = DEFAULT_CONSUMABLE
    seed: int = 0
    pool_categories: int = 4
    pool_bands: int = 2
    pool_per_tier: int = 8
    price_tiers: int = 8
    pool_brands: int = 2
    pool_per_brand: int = 8
    pool_discovery: int = 48
    pool_market: int = 24
    pool_new: int = 24

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Weights):
            raise ConfigError(f"weights must be a Weights, got {self.weights!r}")
        if not (1 <= len(self.depth_weights) <= 6):
            raise ConfigError(f"depth_weights needs 1 to 6 numbers, got {len(self.depth_weights)}")
        for i, w in enumerate(self.depth_weights):
            _check_number(f"depth_weights[{i}]", w, low=0.0)
        _check_int("band_depth", self.band_depth, 1, len(self.depth_weights))
        _check_number("exploration_share", self.exploration_share, low=0.0, high=1.0)
        _check_int("max_per_brand", self.max_per_brand, 1, 1000)
        _check_number("price_headroom", self.price_headroom, low=0.0)
        _check_number("band_width", self.band_width, low=1e-3)
        for name in ("recent_days", "consumable_gap_days", "new_days", "popular_days", "shown_emails"):
            _check_int(name, getattr(self, name), 0, 100_000)
        _check_number("newness_half_life", self.newness_half_life, low=1e-3)
        _check_number("affinity_half_life", self.affinity_half_life, low=1e-3)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        for name in ("pool_categories", "pool_bands", "pool_per_tier", "price_tiers", "pool_brands",
                     "pool_per_brand", "pool_discovery", "pool_market", "pool_new"):  # fmt: skip
            _check_int(name, getattr(self, name), 0, 100_000)
        if self.price_tiers < 1:
            raise ConfigError("price_tiers must be at least 1")
        for name in ("categories", "sensitive_categories", "sensitive_age_groups", "consumable_categories"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ConfigError(f"{name} must be a list of non-empty names, got {value!r}")
        if self.require_affinity is None:
            # A category campaign goes to the category's buyers, unless that would target by sensitive data.
            from mailer.personalise.categories import path_matches, split_path

            sensitive = any(path_matches(split_path(c), self.sensitive_categories) for c in self.categories)
            object.__setattr__(self, "require_affinity", bool(self.categories) and not sensitive)
        for name in ("allow_above_band", "require_affinity"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.require_affinity and not self.categories:
            raise ConfigError("require_affinity needs categories (the campaign's categories)")

    @property
    def depth(self) -> int:
        """How many levels of a category path selection looks at."""
        return len(self.depth_weights)

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, where: str = "selection") -> SelectionRules:
        """Rules from a campaign's ``[selection]`` table (``strategy`` is not a rule and is ignored).

        >>> SelectionRules.from_mapping({"exploration_share": 0.2, "weights": {"brand": 2}}).weights.brand
        2.0
        >>> SelectionRules.from_mapping({"exploration": 0.2})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mailer.errors.ConfigError: selection: unknown key 'exploration'; known: affinity_half_life, ...
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key == "strategy":
                continue
            if key not in known:
                raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(known))}")
            if key == "weights":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{where}.weights must be a table of numbers")
                wnames = {f.name for f in dataclasses.fields(Weights)}
                bad = set(value) - wnames
                if bad:
                    raise ConfigError(f"{where}.weights: unknown key(s) {sorted(bad)}; known: {sorted(wnames)}")
                try:
                    value = Weights(**{k: _float(v) for k, v in value.items()})
                except ConfigError as err:
                    raise ConfigError(f"{where}: {err}") from None
            elif isinstance(value, list):
                value = tuple(value)
            elif isinstance(known[key].default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            values[key] = value
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_number(name: str, value: Any, *, low: float, high: float = math.inf) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low:
        bound = f">= {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    if value > high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
