"""RFM segments: how recently, how often and for how much each customer buys.

:func:`rfm` scores every customer of a purchase history 1-5 on recency (days
since their last purchase), frequency (orders, counted as distinct purchase
days) and monetary value (spend in the catalogue's currency), against the
configurable edges of :class:`RFMThresholds`, and names a segment:

* ``prospect``: no purchase at all (a customer absent from the history);
* ``new``: first purchase within ``new_days``;
* ``lapsed``: no purchase for more than ``lapsed_days``;
* then the first matching :class:`SegmentRule` (by default ``champions``,
  ``loyal``, ``promising``, ``at_risk``), else ``regular``.

An :class:`Audience` turns segments (and scores) into a campaign filter:
``Audience(segments=("lapsed",))`` is "only lapsed customers". Layouts and
campaigns read the names; :func:`choose_by_segment` picks a layout or
variant per customer ("top tier gets the premium layout").

Unlike selection, RFM counts sensitive purchases too: it says when and for
how much a customer bought, never what.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mailer.errors import ConfigError
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.ragged import take_rows

__all__ = [
    "DEFAULT_SEGMENTS",
    "SEGMENT_NAMES",
    "Audience",
    "RFMThresholds",
    "SegmentRule",
    "Segments",
    "choose_by_segment",
    "rfm",
]


@dataclass(frozen=True, kw_only=True)
class RFMThresholds:
    """Score edges: a customer scores 5 within the first recency edge (days), and 1 beyond the last;
    frequency and monetary score 1 below their first edge and 5 from their last.

    >>> RFMThresholds().recency_score(np.array([3, 45, 400, np.inf])).tolist()
    [5, 4, 1, 0]
    >>> RFMThresholds(frequency=(5, 2))
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: rfm.frequency must be four increasing numbers, got (5, 2)
    """

    recency_days: tuple[float, ...] = (30, 90, 180, 365)
    frequency: tuple[float, ...] = (2, 3, 5, 10)
    monetary: tuple[float, ...] = (50, 150, 400, 1000)
    new_days: int = 30
    lapsed_days: int = 365
    window_days: int = 730

    def __post_init__(self) -> None:
        for name in ("recency_days", "frequency", "monetary"):
            edges = getattr(self, name)
            ok = (
                len(edges) == 4
                and all(isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e) for e in edges)
                and all(a < b for a, b in zip(edges, edges[1:]))
            )
            if not ok:
                raise ConfigError(f"rfm.{name} must be four increasing numbers, got {edges!r}")
        for name in ("new_days", "lapsed_days", "window_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"rfm.{name} must be a whole number of days, at least 1, got {value!r}")

    def recency_score(self, days: np.ndarray) -> np.ndarray:
        """5 (recent) to 1 (long ago); 0 for never."""
        score = 5 - np.searchsorted(np.asarray(self.recency_days, float), days, side="left")
        return np.where(np.isfinite(days), np.maximum(score, 1), 0).astype(np.int8)

    def score(self, values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
        """1 (below the first edge) to 5 (from the last)."""
        return (1 + np.searchsorted(np.asarray(edges, float), values, side="right")).astype(np.int8)


@dataclass(frozen=True)
class SegmentRule:
    """A named segment: inclusive ranges of the R, F and M scores.

    >>> SegmentRule("loyal", frequency=(4, 5)).matches(np.array([1]), np.array([4]), np.array([2])).tolist()
    [True]
    """

    name: str
    recency: tuple[int, int] = (1, 5)
    frequency: tuple[int, int] = (1, 5)
    monetary: tuple[int, int] = (1, 5)

    def matches(self, r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
        return (
            (self.recency[0] <= r) & (r <= self.recency[1])
            & (self.frequency[0] <= f) & (f <= self.frequency[1])
            & (self.monetary[0] <= m) & (m <= self.monetary[1])
        )  # fmt: skip


DEFAULT_SEGMENTS = (
    SegmentRule("champions", recency=(4, 5), frequency=(4, 5), monetary=(4, 5)),
    SegmentRule("loyal", recency=(3, 5), frequency=(3, 5)),
    SegmentRule("promising", recency=(4, 5), frequency=(1, 2)),
    SegmentRule("at_risk", recency=(1, 2), frequency=(3, 5)),
)
#: The built-in names, before any configured rule: codes 0-2, then the rules, then ``regular``.
SEGMENT_NAMES = ("prospect", "new", "lapsed")


@dataclass(frozen=True, eq=False)
class Segments:
    """RFM values, scores and segment per customer of a history (rows of ``customer_ids``)."""

    customer_ids: np.ndarray
    recency_days: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray
    r: np.ndarray
    f: np.ndarray
    m: np.ndarray
    code: np.ndarray
    names: tuple[str, ...]

    def rows_of(self, customer_ids: np.ndarray | Sequence[str]) -> np.ndarray:
        ids = np.asarray(customer_ids, dtype=str)
        n = self.customer_ids.shape[0]
        if n == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.customer_ids, ids), n - 1)
        return np.where(self.customer_ids[at] == ids, at, -1)

    def segment_of(self, customer_ids: np.ndarray | Sequence[str]) -> np.ndarray:
        """Each customer's segment name (``prospect`` for one without purchases)."""
        rows = self.rows_of(customer_ids)
        codes = np.where(rows >= 0, self.code[np.maximum(rows, 0)] if self.code.size else 0, 0)
        return np.asarray(self.names, dtype=object)[codes]

    def scores_of(self, customer_ids: np.ndarray | Sequence[str]) -> np.ndarray:
        """``(N, 3)`` R, F and M scores (0 for a prospect)."""
        rows = self.rows_of(customer_ids)
        table = np.stack([self.r, self.f, self.m], axis=1).astype(np.float64)
        return take_rows(table, rows, 0.0).astype(np.int8)


def rfm(
    purchases: PurchaseTable,
    *,
    today: int,
    thresholds: RFMThresholds | None = None,
    rules: Sequence[SegmentRule] = DEFAULT_SEGMENTS,
) -> Segments:
    """Score and segment every customer of ``purchases`` as of day number ``today``.

    >>> from mailer.personalise.catalogue import Catalogue
    >>> from mailer.inputs.products import Product
    >>> from mailer.content.money import Money
    >>> from decimal import Decimal
    >>> cat = Catalogue.from_products([Product(id="P", title="Coat", price=Money(Decimal("120"), "GBP"),
    ...                                        link="https://s.test/p")])
    >>> history = PurchaseTable.from_arrays(cat, ["old", "fan", "fan", "fan", "fan", "fan", "novice"],
    ...                                     product=[0] * 7, day=[100, 600, 800, 900, 950, 998, 990])
    >>> seg = rfm(history, today=1000)
    >>> seg.segment_of(["fan", "old", "novice", "stranger"]).tolist()
    ['champions', 'lapsed', 'new', 'prospect']
    """
    thresholds = thresholds or RFMThresholds()
    names = (*SEGMENT_NAMES, *(r.name for r in rules), "regular")
    if len(set(names)) != len(names):
        raise ConfigError(f"segment names must be distinct, got {list(names)}")
    n = purchases.n_customers
    rows, day = purchases.customer, purchases.day.astype(np.int64)
    past = day <= today
    last = np.full(n, -(1 << 40), dtype=np.int64)
    np.maximum.at(last, rows[past], day[past])
    first = np.full(n, 1 << 40, dtype=np.int64)
    np.minimum.at(first, rows[past], day[past])
    recency = np.where(last > -(1 << 40), today - last, np.inf).astype(np.float64)

    window = past & (today - day < thresholds.window_days)
    orders = np.unique(rows[window].astype(np.int64) * (1 << 32) + day[window])
    frequency = np.bincount((orders >> 32).astype(np.int64), minlength=n)
    spend = np.where(np.isfinite(purchases.price), purchases.price, 0.0) * purchases.quantity
    monetary = np.bincount(rows[window], weights=spend[window], minlength=n)

    r = thresholds.recency_score(recency)
    f = thresholds.score(frequency, thresholds.frequency)
    m = thresholds.score(monetary, thresholds.monetary)
    code = np.full(n, len(names) - 1, dtype=np.int16)
    undecided = np.ones(n, dtype=bool)
    for i, rule in enumerate(rules, start=len(SEGMENT_NAMES)):
        hit = undecided & rule.matches(r, f, m)
        code[hit] = i
        undecided &= ~hit
    code[recency > thresholds.lapsed_days] = names.index("lapsed")
    code[today - first < thresholds.new_days] = names.index("new")
    code[~np.isfinite(recency)] = names.index("prospect")
    f = np.where(np.isfinite(recency), f, 0).astype(np.int8)
    m = np.where(np.isfinite(recency), m, 0).astype(np.int8)
    return Segments(purchases.customer_ids, recency, frequency, monetary, r, f, m, code, names)


@dataclass(frozen=True, kw_only=True)
class Audience:
    """Who a campaign goes to: segments to include (empty: all) and exclude, and minimum R/F/M scores;
    ``layouts`` gives some segments another layout ("top tier gets the premium layout").

    >>> Audience.from_mapping({"segments": ["lapsed", "at_risk"], "min_monetary": 3})
    Audience(segments=('lapsed', 'at_risk'), exclude=(), min_recency=0, min_frequency=0, min_monetary=3, layouts=())
    >>> Audience.from_mapping({"layouts": {"champions": "premium"}}).layouts
    (('champions', 'premium'),)
    """

    segments: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_recency: int = 0
    min_frequency: int = 0
    min_monetary: int = 0
    layouts: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("min_recency", "min_frequency", "min_monetary"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 5:
                raise ConfigError(f"audience.{name} must be a score from 0 to 5, got {value!r}")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, where: str = "audience") -> Audience:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(table) - known
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
        layouts = values.get("layouts", {})
        if not isinstance(layouts, Mapping) or not all(isinstance(v, str) for v in layouts.values()):
            raise ConfigError(f"{where}.layouts must map segment names to layout names")
        values["layouts"] = tuple(layouts.items())
        for key in ("segments", "exclude"):
            if key in values and not all(isinstance(s, str) for s in values[key]):
                raise ConfigError(f"{where}.{key} must be a list of segment names")
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None

    def check(self, segments: Segments) -> None:
        """Refuse names no segment has (a typo would silently send to nobody)."""
        unknown = sorted(set(self.segments + self.exclude + tuple(s for s, _ in self.layouts)) - set(segments.names))
        if unknown:
            raise ConfigError(f"audience: unknown segment(s) {unknown}; known: {list(segments.names)}")

    def mask(self, segments: Segments, customer_ids: np.ndarray | Sequence[str]) -> np.ndarray:
        """Which of these customers the campaign goes to."""
        self.check(segments)
        names = segments.segment_of(customer_ids)
        keep = np.ones(names.shape[0], dtype=bool)
        if self.segments:
            keep &= np.isin(names, self.segments)
        if self.exclude:
            keep &= ~np.isin(names, self.exclude)
        if self.min_recency or self.min_frequency or self.min_monetary:
            scores = segments.scores_of(customer_ids)
            keep &= (scores >= np.array([self.min_recency, self.min_frequency, self.min_monetary])).all(axis=1)
        return keep


    def layout_for(self, segments: Segments, customer_ids: np.ndarray | Sequence[str], default: str) -> np.ndarray:
        """Each customer's layout: their segment's in ``layouts``, else ``default``."""
        return choose_by_segment(segments.segment_of(customer_ids), dict(self.layouts), default)


def choose_by_segment(names: np.ndarray, choices: Mapping[str, str], default: str) -> np.ndarray:
    """Per customer, the choice for their segment (a layout, a variant), else ``default``.

    >>> choose_by_segment(np.array(["champions", "new"]), {"champions": "premium"}, "newsletter").tolist()
    ['premium', 'newsletter']
    """
    out = np.full(np.asarray(names).shape[0], default, dtype=object)
    for name, choice in choices.items():
        out[np.asarray(names) == name] = choice
    return out
