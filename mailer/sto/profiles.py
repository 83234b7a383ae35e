"""Engagement profiles: each customer's rate of engaging in each local hour.

A profile is a 24-bin rhythm in the customer's local time.  It is learnt as a
Poisson rate per hour, ``engagements / exposure``, where exposure (from the
:mod:`delay kernel <mailer.sto.kernel>`) is how much chance the customer's
messages gave them to engage in that hour.  Opens that merely follow our own
send times are thus divided by the heavy exposure right after those times.

Most customers have few engagements, so rates are shrunk, with a
Gamma-Poisson posterior, toward a prior of their own: the rhythm of their
*segment* (time zone × engagement tier, shrunk toward its *time zone*,
shrunk toward the whole *population*), reweighted by the *habits* — a dozen
typical shapes of the day learnt from everyone — that their engagements fit.
Each strength is the number of pseudo-engagements the prior is worth,
chosen on held-out messages: a random share of the history is set aside,
profiles are fitted on the rest, and the strength with the best held-out
log-likelihood of *the hour of each engagement, given when its message was
sent* wins.  A zone or segment keeps a rhythm of its own only when that
rhythm predicts customers it was not learnt from better, by more than the
noise, than the level above.  Machine openers (see :mod:`mailer.sto.machine`)
are learnt from their clicks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from mailer.errors import ConfigError
from mailer.sto.history import History
from mailer.sto.kernel import HORIZON, STEP, DelayKernel
from mailer.sto.machine import MachineOpens, detect_machine_opens

SOURCES = ("personal", "segment", "population")
"""What a customer's profile mostly rests on, by ``Profiles.source`` code."""

TIER_EDGES = (1, 5, 20)
"""Engagement tiers: 0, 1-4, 5-19 and 20+ engagements."""

_NU = 1.0  # pseudo-engagements behind each customer's overall responsiveness
_CHUNK = 1 << 20
_MAX_VALIDATION = 100_000  # held-out engagements scored per strength tried: plenty to rank them
_MIN_VALIDATION = 500  # fewer held-out engagements than this: no tuning, UNTUNED strengths
_POPULATION_PRIOR = 24.0  # pseudo-engagements, spread evenly, behind the population profile
_HABITS = 13  # typical rhythm shapes: twelve one-peaked ones around the clock to start from, and a flat one
_HABIT_SAMPLE = 20_000  # engaged customers the shapes are learnt from
_HABIT_BANDWIDTH = 0.5  # hours: a little smoothing keeps the shapes from fitting noise
GRID = {
    "zone": (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, math.inf),
    "segment": (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, math.inf),
    "personal": (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0),
    "bandwidth": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
}


@dataclass(frozen=True)
class Shrinkage:
    """Prior strengths, in pseudo-engagements, of each level of the hierarchy.

    ``bandwidth`` (hours) spreads each customer's counts and exposure over
    neighbouring hours with a circular Gaussian before shrinking: habits are
    smooth, and a 19:40 open says something about 20:00.  A ``zone`` or
    ``segment`` strength of ``math.inf`` pools that level entirely: its
    rhythm is the level above's (only its overall rate is its own).

    >>> Shrinkage(personal=3.0)
    Shrinkage(zone=100.0, segment=100.0, personal=3.0, bandwidth=1.5)
    >>> Shrinkage(personal=-1)
    Traceback (most recent call last):
    ...
    mailer.errors.ConfigError: shrinkage strengths must be positive, got personal=-1
    """

    zone: float = 100.0
    segment: float = 100.0
    personal: float = 6.0
    bandwidth: float = 1.5

    def __post_init__(self) -> None:
        for name in ("zone", "segment", "personal"):
            value = getattr(self, name)
            pooled = name != "personal" and value == math.inf
            if not (isinstance(value, (int, float)) and value > 0 and (np.isfinite(value) or pooled)):
                raise ConfigError(f"shrinkage strengths must be positive, got {name}={value}")
        if not (isinstance(self.bandwidth, (int, float)) and 0 <= self.bandwidth <= 12):
            raise ConfigError(f"bandwidth must be between 0 and 12 hours, got {self.bandwidth}")

    def smoothing(self) -> np.ndarray:
        """``(24, 24)`` circular Gaussian smoothing matrix (identity for bandwidth 0)."""
        if self.bandwidth == 0:
            return np.eye(24)
        gap = (np.arange(24)[:, None] - np.arange(24)[None, :]) % 24
        gap = np.minimum(gap, 24 - gap)
        weights = np.exp(-0.5 * (gap / self.bandwidth) ** 2)
        return weights / weights.sum(axis=0, keepdims=True)


UNTUNED = Shrinkage(zone=math.inf, segment=math.inf)
"""Strengths for a history too small to tune on: the default personal strength and bandwidth, and
zones and segments pooled, since without evidence no level earns a rhythm of its own."""


@dataclass(frozen=True)
class Tuning:
    """How :class:`Shrinkage` was chosen: held-out log-likelihood per strength tried."""

    chosen: Shrinkage
    curves: dict[str, tuple[tuple[float, float], ...]]
    validation_engagements: int
    validation_share: float


@dataclass(frozen=True, eq=False)
class Profiles:
    """Fitted engagement rates per customer and local hour, plus what they rest on.

    ``rates`` are posterior mean engagement rates (per unit of kernel
    exposure) by local hour; :meth:`distribution` normalises them.
    """

    customer_ids: np.ndarray  # (C,) sorted
    zones: tuple[str, ...]
    customer_zone: np.ndarray  # (C,) zone code
    rates: np.ndarray  # (C, 24)
    engagements: np.ndarray  # (C,) engagements the profile learnt from
    source: np.ndarray  # (C,) index into SOURCES
    machine: np.ndarray  # (C,) learnt from clicks only
    tier: np.ndarray  # (C,) engagement tier 0-3
    segment_rates: np.ndarray  # (zones, 4, 24) the segment priors
    population_rates: np.ndarray  # (24,)
    kernel: DelayKernel
    shrinkage: Shrinkage
    tuning: Tuning | None = None
    machine_opens: MachineOpens | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.customer_ids.shape[0])

    def rows(self, customer_ids: np.ndarray | list[str]) -> np.ndarray:
        """Row of each customer id, -1 for ids the history did not contain."""
        ids = np.asarray(customer_ids, dtype=str)
        if len(self) == 0:
            return np.full(ids.shape[0], -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.customer_ids, ids), len(self) - 1)
        return np.where(self.customer_ids[at] == ids, at, -1)

    def rates_of(self, customer_ids: np.ndarray | list[str] | None = None) -> np.ndarray:
        """Rates of some customers (unknown ones get the population's)."""
        if customer_ids is None:
            return self.rates
        rows = self.rows(customer_ids)
        out = np.empty((rows.shape[0], 24), dtype=self.rates.dtype)
        out[rows >= 0] = self.rates[rows[rows >= 0]]
        out[rows < 0] = self.population_rates
        return out

    def distribution(self, customer_ids: np.ndarray | list[str] | None = None) -> np.ndarray:
        """``(n, 24)``: probability that each customer's next engagement falls in each local hour.

        "Next engagement" as if a message were always waiting: the rhythm,
        free of when past messages happened to be sent.  Rows sum to 1;
        unknown customers get the population's distribution.
        """
        rates = self.rates_of(customer_ids).astype(np.float64)
        return rates / rates.sum(axis=1, keepdims=True)

    def prior_rates(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The segment prior each customer's profile was shrunk toward."""
        rows = np.arange(len(self)) if rows is None else rows
        return self.segment_rates[self.customer_zone[rows], self.tier[rows]]

    def confidence(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Weight of the customer's own data in their profile, 0-1."""
        n = self.engagements if rows is None else self.engagements[rows]
        return n / (n + self.shrinkage.personal)

    def engagement_probability(self, send_minutes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """``(n, S)``: chance of an engagement within the kernel's horizon when sending at these local minutes.

        ``send_minutes`` is ``(S,)`` (the same for everyone) or ``(n, S)``.
        """
        rates = self.rates if rows is None else self.rates[rows]
        return engagement_probability(rates, self.kernel, send_minutes)


def engagement_probability(rates: np.ndarray, kernel: DelayKernel, send_minutes: np.ndarray) -> np.ndarray:
    """Chance of an engagement within the horizon for rate rows sent at local ``send_minutes``."""
    slots = np.asarray(send_minutes, dtype=np.int64) % 1440 // STEP
    exposure = kernel.exposure.astype(np.float64)
    if slots.ndim == 1:
        load = rates @ exposure[slots].T
    else:
        load = np.einsum("nh,nsh->ns", rates, exposure[slots])
    return -np.expm1(-load)


def _normalise(rates: np.ndarray) -> np.ndarray:
    total = rates.sum(axis=-1, keepdims=True)
    return np.where(total > 0, rates / np.where(total > 0, total, 1), 1.0 / 24)


def _posterior(n: np.ndarray, exposure: np.ndarray, prior: np.ndarray, strength: float, prior_rate: np.ndarray) -> np.ndarray:
    """Gamma-Poisson posterior mean rates: ``strength`` pseudo-engagements spread as ``prior``.

    An infinite ``strength`` gives the limit: the prior's rhythm at this level's own rate.
    """
    total_n = n.sum(axis=-1)
    total_e = exposure.sum(axis=-1)
    prior_rate = np.maximum(prior_rate, 1e-12)
    rate = (total_n + _NU) / (total_e + _NU / prior_rate)
    if math.isinf(strength):
        return 24.0 * rate[..., None] * prior
    return (n + strength * prior) / (exposure + (strength / (24.0 * rate))[..., None])


def _level_rate(n: np.ndarray, exposure: np.ndarray, prior_rate: np.ndarray | float) -> np.ndarray:
    return (n.sum(axis=-1) + _NU) / (exposure.sum(axis=-1) + _NU / np.maximum(prior_rate, 1e-12))


def _tiers(engagements: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(TIER_EDGES), engagements, side="right").astype(np.int8)


@dataclass
class _Stats:
    """Per-customer engagement counts and exposure by local hour."""

    n: np.ndarray  # (C, 24)
    exposure: np.ndarray  # (C, 24)

    def __add__(self, other: _Stats) -> _Stats:
        return _Stats(self.n + other.n, self.exposure + other.exposure)


def usual_send_hour(history: History) -> np.ndarray:
    """Each customer's most frequent local send hour (0 when none is known).

    >>> import numpy as np
    >>> h = History.from_arrays(["a", "a", "a", "b"], np.array(
    ...     ["2024-05-01T08:10", "2024-05-02T19:00", "2024-05-03T08:40", "2024-05-01T21:00"], "datetime64[s]"),
    ...     default_timezone="UTC")
    >>> usual_send_hour(h).tolist()
    [8, 21]
    """
    known = history.sent_minute >= 0
    key = history.customer[known].astype(np.int64) * 24 + history.sent_minute[known] // 60
    counts = np.bincount(key, minlength=history.n_customers * 24).reshape(-1, 24)
    return np.argmax(counts, axis=1)


def responsiveness(customer: np.ndarray, engaged: np.ndarray, n_customers: int) -> np.ndarray:
    """Each customer's engagement rate relative to the average, shrunk by how many messages they had.

    Engagements per message vary far more between customers than chance
    would make them; the spread fixes a Gamma prior (by moments), and each
    customer gets its posterior mean, so one engagement in two messages is
    not taken for a keen customer.

    >>> customer = np.repeat([0, 1, 2], 20)
    >>> engaged = np.r_[np.ones(15), np.zeros(5), np.zeros(20), np.ones(2), np.zeros(18)].astype(bool)
    >>> responsiveness(customer, engaged, 3).round(2).tolist()
    [2.44, 0.13, 0.44]
    """
    messages = np.bincount(customer, minlength=n_customers).astype(np.float64)
    n = np.bincount(customer, weights=engaged, minlength=n_customers)
    rate = n.sum() / max(messages.sum(), 1.0)
    expected = messages * rate
    excess = np.sum((n - expected) ** 2 - expected)
    shape = float(np.clip(np.sum(expected**2) / excess, 0.05, 50.0)) if excess > 0 else 50.0
    return (n + shape) / (expected + shape)


def engagements(history: History, machine: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: whether the person engaged, the local hour and the delay (NaN if unknown).

    An engagement is the first human open or click.  Opens flagged as
    automatic never count; for ``machine`` customers no open counts.
    """
    human_open = (history.open_minute >= 0) & (history.machine_open != 1)
    if machine is not None:
        human_open &= ~machine[history.customer]
    click = history.click_minute >= 0
    engaged = human_open | click
    open_delay = np.where(human_open, history.open_delay, np.inf)
    click_delay = np.where(click, history.click_delay, np.inf)
    # Without a send time the delays are NaN: take the open, which comes first.
    use_click = click & ((click_delay < open_delay) | ~human_open)
    minute = np.where(use_click, history.click_minute, history.open_minute)
    delay = np.where(use_click, history.click_delay, history.open_delay)
    hour = np.where(engaged, minute // 60, -1).astype(np.int8)
    delay = np.where(engaged, delay, np.nan).astype(np.float32)
    return engaged, hour, delay


def _statistics(
    history: History,
    engaged: np.ndarray,
    hour: np.ndarray,
    delay: np.ndarray,
    kernel: DelayKernel,
    held: np.ndarray | None,
    exposure_model: bool,
) -> tuple[_Stats, _Stats]:
    """Counts and exposure per customer and local hour: for the rows kept for fitting, and for the ``held`` ones."""
    c = history.n_customers
    sides = 1 if held is None else 2
    # Held-out rows are accumulated under customer + C; one pass serves both.
    counts = np.zeros((24, sides * c), dtype=np.float32)
    exposure = np.zeros((24, sides * c), dtype=np.float32)
    table = kernel.exposure.T.copy()  # (24, slots): one contiguous row per hour
    tail = kernel.tail
    sent = history.sent_minute
    known_slots = np.bincount(sent[sent >= 0] // STEP, minlength=table.shape[1]).astype(np.float64)
    typical = (table @ known_slots / max(known_slots.sum(), 1.0)).astype(np.float32)
    for lo in range(0, len(history), _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        customer = history.customer[sl].astype(np.int64)
        key = customer if held is None else customer + c * held[sl]
        e, h, d, s = engaged[sl], hour[sl], delay[sl], sent[sl]
        engaged_key, engaged_hour = key[e], h[e]
        for k in range(24):
            counts[k] += np.bincount(engaged_key[engaged_hour == k], minlength=sides * c)
        if exposure_model:
            known = s >= 0
            slot = np.maximum(s, 0) // STEP
            weights = table[:, slot]
            weights[:, ~known] = typical[:, None]
            censored = np.flatnonzero(known & e & (d < HORIZON * STEP))
            bins = np.minimum(d[censored] // STEP + 1, HORIZON).astype(np.int64)
            weights[:, censored] -= tail[slot[censored], bins].T
        else:
            weights = np.full((24, customer.shape[0]), 1.0 / 24, dtype=np.float32)
        for k in range(24):
            exposure[k] += np.bincount(key, weights=weights[k], minlength=sides * c)
    np.maximum(exposure, 0.0, out=exposure)
    kept = _Stats(np.ascontiguousarray(counts[:, :c].T), np.ascontiguousarray(exposure[:, :c].T))
    if held is None:
        return kept, _Stats(np.zeros_like(kept.n), np.zeros_like(kept.exposure))
    return kept, _Stats(np.ascontiguousarray(counts[:, c:].T), np.ascontiguousarray(exposure[:, c:].T))


class _Habits:
    """A few typical shapes of the daily rhythm, learnt from everyone, to read sparse histories by.

    An average prior spreads a customer's first engagements thinly over the
    day; but people are morning, lunch, evening or two-peaked people, and two
    opens at 20:10 and 21:30 say "an evening person" more than they say "a
    little more 20:00-22:00 than average".  The shapes are fitted by EM to
    customers' engagement hours given their exposure (a multinomial mixture,
    started from one-peaked shapes around the clock and a flat one), and a
    customer's prior becomes their segment's rhythm reweighted by how well
    each shape explains their engagements.  Without engagements the prior is
    the segment's rhythm exactly.
    """

    def __init__(self, stats: _Stats, *, iterations: int = 30) -> None:
        n, exposure = stats.n.astype(np.float64), stats.exposure.astype(np.float64)
        active = np.flatnonzero(n.sum(axis=1) > 0)
        if active.size > _HABIT_SAMPLE:  # plenty to learn a dozen shapes from, and bounded time
            active = active[:: -(-active.size // _HABIT_SAMPLE)]
        n, exposure = n[active], exposure[active]
        total = n.sum(axis=1)
        hours = np.arange(24) + 0.5
        centres = np.arange(0, 24, 24 / (_HABITS - 1))
        shapes = np.exp(2.0 * (np.cos((hours[None, :] - centres[:, None]) * 2 * np.pi / 24) - 1)) + 0.05
        shapes = np.vstack([shapes, np.ones(24)])
        shapes /= shapes.sum(axis=1, keepdims=True)
        share = np.full(_HABITS, 1.0 / _HABITS)
        smooth = Shrinkage(bandwidth=_HABIT_BANDWIDTH).smoothing()
        for _ in range(iterations if active.size else 0):
            weight = self._posterior_weights(self._loglik(shapes, n, exposure), share)
            share = (weight.sum(axis=0) + 1.0) / (weight.sum() + _HABITS)
            # Minorise-maximise step of the multinomial likelihood; one pseudo-engagement, spread
            # evenly, keeps every hour of every shape above zero.
            load = weight * (total[:, None] / np.maximum(exposure @ shapes.T, 1e-300))
            shapes = (weight.T @ n + 1.0 / 24) / (load.T @ exposure + 1.0)
            shapes = shapes @ smooth
            shapes /= shapes.sum(axis=1, keepdims=True)
        # A habit kept an hour earlier or later is the same habit: people differ by more than the
        # shapes' spacing, and a customer's engagements may fit a shifted shape best.
        self.shapes = np.vstack([np.roll(shapes, shift, axis=1) for shift in (-1, 0, 1)])

    @staticmethod
    def _loglik(shapes: np.ndarray, n: np.ndarray, exposure: np.ndarray) -> np.ndarray:
        """``(rows, K)``: log-likelihood of each customer's engagement hours, given their exposure, under each shape."""
        return n @ np.log(shapes).T - n.sum(axis=1)[:, None] * np.log(np.maximum(exposure @ shapes.T, 1e-300))

    @staticmethod
    def _posterior_weights(loglik: np.ndarray, share: np.ndarray) -> np.ndarray:
        log_w = loglik + np.log(np.maximum(share, 1e-300))
        log_w -= log_w.max(axis=-1, keepdims=True)
        # Weights below e^-60 are nil; left as subnormal numbers they would slow every product after.
        w = np.exp(np.maximum(log_w, -60.0))
        w[log_w < -60.0] = 0.0
        return w / w.sum(axis=-1, keepdims=True)

    def shares_of(self, rhythm: np.ndarray, iterations: int = 100) -> np.ndarray:
        """Mixture weights of the shapes that best reproduce each ``rhythm`` (rows sum to 1)."""
        target = _normalise(rhythm)
        share = np.full(target.shape[:-1] + (self.shapes.shape[0],), 1.0 / self.shapes.shape[0])
        for _ in range(iterations):
            share = share * ((target / np.maximum(share @ self.shapes, 1e-300)) @ self.shapes.T)
            share /= share.sum(axis=-1, keepdims=True)
        return share

    def prior(self, rhythm: np.ndarray, share: np.ndarray, n: np.ndarray, exposure: np.ndarray) -> np.ndarray:
        """Each customer's prior shape: their segment's ``rhythm`` reweighted by the shapes their engagements fit."""
        loglik = self._loglik(self.shapes, n.astype(np.float64), exposure.astype(np.float64))
        weight = self._posterior_weights(loglik, share)
        tilt = (weight @ self.shapes) / np.maximum(share @ self.shapes, 1e-300)
        return _normalise(rhythm * tilt)


class _Levels:
    """Population → zone → segment posteriors from the sums over some (by default all) customers."""

    def __init__(
        self, stats: _Stats, zone: np.ndarray, tier: np.ndarray, n_zones: int, rows: np.ndarray | None = None
    ) -> None:
        n, exposure = (stats.n, stats.exposure) if rows is None else (stats.n[rows], stats.exposure[rows])
        zone, tier = (zone, tier) if rows is None else (zone[rows], tier[rows])
        self.pop_n = n.sum(axis=0)
        self.pop_e = exposure.sum(axis=0)
        self.pop_rate = max(self.pop_n.sum(), _NU) / max(self.pop_e.sum(), 1e-12)
        uniform = np.full(24, 1.0 / 24)
        self.population = _posterior(self.pop_n, self.pop_e, uniform, _POPULATION_PRIOR, np.array(self.pop_rate))
        self.zone_n = self._sum(n, zone, n_zones)
        self.zone_e = self._sum(exposure, zone, n_zones)
        key = zone * 4 + tier
        self.seg_n = self._sum(n, key, n_zones * 4).reshape(n_zones, 4, 24)
        self.seg_e = self._sum(exposure, key, n_zones * 4).reshape(n_zones, 4, 24)

    @staticmethod
    def _sum(values: np.ndarray, key: np.ndarray, size: int) -> np.ndarray:
        flat = (key[:, None] * 24 + np.arange(24)).ravel()
        return np.bincount(flat, weights=values.ravel(), minlength=size * 24).reshape(size, 24)

    def zones(self, strength: float) -> tuple[np.ndarray, np.ndarray]:
        prior = _normalise(self.population)[None, :]
        rates = _posterior(self.zone_n, self.zone_e, prior, strength, np.array(self.pop_rate))
        return rates, _level_rate(self.zone_n, self.zone_e, self.pop_rate)

    def segments(self, s: Shrinkage) -> tuple[np.ndarray, np.ndarray]:
        zone_rates, zone_level = self.zones(s.zone)
        prior = _normalise(zone_rates)[:, None, :]
        rates = _posterior(self.seg_n, self.seg_e, prior, s.segment, zone_level[:, None])
        level = _level_rate(self.seg_n, self.seg_e, zone_level[:, None])
        # The silent tier has no engagements by definition, not by evidence: its exposure says
        # nothing about when its people engage, so it keeps its zone's rhythm (at its own, low, level).
        rates[:, 0] = 24.0 * level[:, 0, None] * prior[:, 0]
        return rates, level


class _Hierarchy(_Levels):
    """Population → zone → segment → customer posteriors from per-customer statistics."""

    def __init__(self, stats: _Stats, zone: np.ndarray, n_zones: int, habits: _Habits | None = None) -> None:
        self.stats = stats
        self.zone = zone.astype(np.int64)
        self.n_zones = n_zones
        self.total = stats.n.sum(axis=1)
        self.tier = _tiers(self.total)
        super().__init__(stats, self.zone, self.tier, n_zones)
        self.habits = habits or _Habits(stats)

    def levels(self, rows: np.ndarray) -> _Levels:
        """The population, zone and segment levels as learnt from ``rows`` alone."""
        return _Levels(self.stats, self.zone, self.tier, self.n_zones, rows)

    def customers(self, s: Shrinkage, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        seg_rates, seg_level = self.segments(s)
        seg_shape = _normalise(seg_rates)
        seg_share = self.habits.shares_of(seg_shape)
        if rows is None:  # everyone, a block at a time to bound memory
            out = np.empty((self.zone.shape[0], 24), dtype=np.float32)
            smooth = s.smoothing()
            for lo in range(0, out.shape[0], _CHUNK):
                block = slice(lo, lo + _CHUNK)
                z, t = self.zone[block], self.tier[block]
                n, exposure = self.stats.n[block], self.stats.exposure[block]
                prior = self.habits.prior(seg_shape[z, t], seg_share[z, t], n, exposure)
                out[block] = _posterior(n @ smooth, exposure @ smooth, prior, s.personal, seg_level[z, t])
            return out, seg_rates
        z, t = self.zone[rows], self.tier[rows]
        prior = self._prior(s, rows, seg_shape, seg_share)
        n, exposure = self._smoothed(s.bandwidth, rows)
        rates = _posterior(n, exposure, prior, s.personal, seg_level[z, t])
        return rates, seg_rates

    def _prior(self, s: Shrinkage, rows: np.ndarray, seg_shape: np.ndarray, seg_share: np.ndarray) -> np.ndarray:
        """The habit-weighted prior of ``rows`` (kept while the zone and segment strengths stay)."""
        key = (s.zone, s.segment, id(rows))
        if getattr(self, "_prior_key", None) != key:
            z, t = self.zone[rows], self.tier[rows]
            n, exposure = self.stats.n[rows], self.stats.exposure[rows]
            self._prior_cache = self.habits.prior(seg_shape[z, t], seg_share[z, t], n, exposure)
            self._prior_key = key
        return self._prior_cache

    def _smoothed(self, bandwidth: float, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts and exposure of ``rows`` spread over neighbouring hours (kept for the last rows asked)."""
        key = (bandwidth, id(rows))
        if getattr(self, "_cache_key", None) != key:
            smooth = Shrinkage(bandwidth=bandwidth).smoothing()
            self._cache = (self.stats.n[rows] @ smooth, self.stats.exposure[rows] @ smooth)
            self._cache_key = key
        return self._cache


def _record_loglik(rates: np.ndarray, hour: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """Log-probability of each engagement's hour, given its message's exposure by hour."""
    weights = rates * exposure
    picked = weights[np.arange(hour.shape[0]), hour]
    return np.log(np.maximum(picked, 1e-300) / weights.sum(axis=1))


def _pooled_choice(values: tuple[float, ...], scores: list[np.ndarray]) -> float:
    """The strongest pooling whose held-out score is within a standard error of the best.

    A level (zone, segment) earns its own rhythm only when the held-out
    engagements clearly say it differs from the level above; a difference
    within noise would make sparse customers worse off than the plain prior.
    """
    means = [float(np.mean(x)) for x in scores]
    best = int(np.argmax(means))
    for i in range(len(values) - 1, best, -1):
        if values[i] <= values[best]:
            continue
        gap = scores[best] - scores[i]
        if means[best] - means[i] <= np.std(gap) / np.sqrt(gap.shape[0]):
            return values[i]
    return values[best]


def fit_profiles(
    history: History,
    *,
    shrinkage: Shrinkage | None = None,
    kernel: DelayKernel | None = None,
    machine: Literal["detect", "flag", "ignore"] = "detect",
    exposure: bool = True,
    validation_share: float = 0.2,
    seed: int = 0,
) -> Profiles:
    """Fit a profile for every customer in ``history``.

    ``shrinkage=None`` tunes the strengths on a held-out ``validation_share``
    of messages (chosen with ``seed``), falling back on :data:`UNTUNED` when
    fewer than 500 engagements are held out; ``kernel=None`` estimates the delay
    kernel from the history.  ``machine`` picks how automatic opens are
    found: ``"detect"`` (flags, then the fast-open mixture), ``"flag"``
    (provider flags only) or ``"ignore"`` (count every open).
    ``exposure=False`` counts engagements without dividing by exposure (for
    comparison only).

    >>> from tests.support.simulate import simulate_population, simulate_history
    >>> sim = simulate_history(simulate_population(300, seed=3), seed=4)
    >>> profiles = fit_profiles(sim.history)
    >>> profiles.distribution(["c0000007", "no-such-customer"]).sum(axis=1).round(6).tolist()
    [1.0, 1.0]
    """
    if machine not in ("detect", "flag", "ignore"):
        raise ConfigError(f"machine must be 'detect', 'flag' or 'ignore', got {machine!r}")
    if not 0.0 < validation_share < 1.0:
        raise ConfigError(f"validation_share must be between 0 and 1, got {validation_share}")
    machine_opens = detect_machine_opens(history)
    if machine == "detect":
        machine_customer: np.ndarray | None = machine_opens.customer
    elif machine == "flag":
        flagged = np.bincount(history.customer, weights=history.machine_open == 1, minlength=history.n_customers)
        known = np.bincount(history.customer, weights=history.machine_open >= 0, minlength=history.n_customers)
        machine_customer = (known > 0) & (flagged * 2 >= known)
    else:
        machine_customer = None
    engaged, hour, delay = engagements(history, machine_customer)
    if kernel is None:
        sent = history.sent_minute >= 0
        customer = history.customer[sent]
        kernel = DelayKernel.estimate(
            history.sent_minute[sent] // STEP,
            delay[sent],
            cohort=usual_send_hour(history)[customer],
            weight=responsiveness(customer, engaged[sent], history.n_customers)[customer],
        )
    zone = history.customer_zone()
    held = None
    if shrinkage is None:
        rng = np.random.default_rng(seed)
        held = (history.sent_minute >= 0) & (rng.random(len(history)) < validation_share)
    kept, heldout = _statistics(history, engaged, hour, delay, kernel, held, exposure)

    tuning = None
    if shrinkage is None:
        assert held is not None
        records = np.flatnonzero(held & engaged)
        if records.size > _MAX_VALIDATION:
            records = np.sort(rng.choice(records, _MAX_VALIDATION, replace=False))
        train = _Hierarchy(kept, zone, len(history.zones))
        shrinkage, tuning = _tune(train, history, records, hour, kernel)
        tuning = replace(tuning, validation_share=validation_share)
        kept = kept + heldout
        habits: _Habits | None = train.habits  # the same shapes the strengths were tuned with
    else:
        habits = None
    del heldout

    hierarchy = _Hierarchy(kept, zone, len(history.zones), habits)
    rates, segment_rates = hierarchy.customers(shrinkage)
    total = hierarchy.total
    zone_has_data = hierarchy.zone_n.sum(axis=1) > 0
    source = np.where(total > 0, 0, np.where(zone_has_data[hierarchy.zone], 1, 2)).astype(np.int8)
    machine_flags = machine_customer if machine_customer is not None else np.zeros(history.n_customers, bool)
    return Profiles(
        customer_ids=history.customer_ids,
        zones=history.zones,
        customer_zone=zone,
        rates=rates.astype(np.float32),
        engagements=total.astype(np.int32),
        source=source,
        machine=machine_flags,
        tier=hierarchy.tier,
        segment_rates=segment_rates,
        population_rates=hierarchy.population,
        kernel=kernel,
        shrinkage=shrinkage,
        tuning=tuning,
        machine_opens=machine_opens,
    )


def _tune(
    train: _Hierarchy, history: History, records: np.ndarray, hour: np.ndarray, kernel: DelayKernel
) -> tuple[Shrinkage, Tuning]:
    """Choose zone, segment, personal strength and bandwidth in turn by held-out log-likelihood.

    The personal strength is chosen again after the bandwidth, as they interact.
    """
    customer = history.customer[records].astype(np.int64)
    slot = history.sent_minute[records] // STEP
    hours = hour[records].astype(np.int64)
    exposure = kernel.exposure.astype(np.float64)[slot]
    curves: dict[str, tuple[tuple[float, float], ...]] = {}
    if records.size < _MIN_VALIDATION:
        return UNTUNED, Tuning(UNTUNED, curves, int(records.size), 0.0)
    chosen = Shrinkage()
    z, t = train.zone[customer], train.tier[customer]
    uniq, inverse = np.unique(customer, return_inverse=True)
    # Zone and segment rhythms are scored on customers they were not learnt from (two folds of
    # customers), so that they win only by what they say about their level's *other* people:
    # a zone's few customers' own habits are personal data, and tell nothing of its silent ones.
    fold = customer % 2
    crossed = [train.levels(np.flatnonzero(np.arange(train.zone.shape[0]) % 2 != f)) for f in (0, 1)]

    def score(level: str, value: float) -> np.ndarray:
        trial = replace(chosen, **{level: value})
        if level == "personal" or level == "bandwidth":
            return _record_loglik(train.customers(trial, uniq)[0][inverse], hours, exposure)
        out = np.empty(hours.shape[0])
        for f, levels in enumerate(crossed):
            m = fold == f
            rates = levels.zones(value)[0][z[m]] if level == "zone" else levels.segments(trial)[0][z[m], t[m]]
            out[m] = _record_loglik(rates, hours[m], exposure[m])
        return out

    for level in ("zone", "segment", "personal", "bandwidth", "personal"):
        scores = [score(level, value) for value in GRID[level]]
        curve = tuple((value, float(np.mean(x))) for value, x in zip(GRID[level], scores))
        curves[level if level not in curves else f"{level} (again)"] = curve
        if level in ("zone", "segment"):
            best = _pooled_choice(GRID[level], scores)
        else:
            best = max(curve, key=lambda item: item[1])[0]
        chosen = replace(chosen, **{level: best})
    return chosen, Tuning(chosen, curves, int(records.size), 0.0)
