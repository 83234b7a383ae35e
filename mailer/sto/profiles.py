"""Engagement profiles: each customer's rate of engaging in each local hour.

A profile is a 24-bin rhythm in the customer's local time.  It is learnt as a
Poisson rate per hour, ``engagements / exposure``, where exposure (from the
:mod:`delay kernel <mailer.sto.kernel>`) is how much chance the customer's
messages gave them to engage in that hour.  Opens that merely follow our own
send times are thus divided by the heavy exposure right after those times.

Most customers have few engagements, so rates are shrunk, with a
Gamma-Poisson posterior, toward a *segment* (time zone × engagement tier),
which is shrunk toward its *time zone*, which is shrunk toward the whole
*population*.  Each strength is the number of pseudo-engagements the prior
is worth, chosen on held-out messages: a random share of the history is set
aside, profiles are fitted on the rest, and the strength with the best
held-out log-likelihood of *the hour of each engagement, given when its
message was sent* wins.  Machine openers (see :mod:`mailer.sto.machine`)
are learnt from their clicks only.
"""

from __future__ import annotations

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
_MIN_VALIDATION = 500  # fewer held-out engagements than this: keep the default strengths
_POPULATION_PRIOR = 24.0  # pseudo-engagements, spread evenly, behind the population profile
GRID = {
    "zone": (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4),
    "segment": (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4),
    "personal": (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0),
    "bandwidth": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
}


@dataclass(frozen=True)
class Shrinkage:
    """Prior strengths, in pseudo-engagements, of each level of the hierarchy.

    ``bandwidth`` (hours) spreads each customer's counts and exposure over
    neighbouring hours with a circular Gaussian before shrinking: habits are
    smooth, and a 19:40 open says something about 20:00.

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
            if not (isinstance(value, (int, float)) and value > 0 and np.isfinite(value)):
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
    """Gamma-Poisson posterior mean rates: ``strength`` pseudo-engagements spread as ``prior``."""
    total_n = n.sum(axis=-1)
    total_e = exposure.sum(axis=-1)
    prior_rate = np.maximum(prior_rate, 1e-12)
    rate = (total_n + _NU) / (total_e + _NU / prior_rate)
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


class _Hierarchy:
    """Population → zone → segment → customer posteriors from per-customer statistics."""

    def __init__(self, stats: _Stats, zone: np.ndarray, n_zones: int) -> None:
        self.stats = stats
        self.zone = zone.astype(np.int64)
        self.n_zones = n_zones
        self.total = stats.n.sum(axis=1)
        self.tier = _tiers(self.total)
        self.pop_n = stats.n.sum(axis=0)
        self.pop_e = stats.exposure.sum(axis=0)
        self.pop_rate = max(self.pop_n.sum(), _NU) / max(self.pop_e.sum(), 1e-12)
        uniform = np.full(24, 1.0 / 24)
        self.population = _posterior(self.pop_n, self.pop_e, uniform, _POPULATION_PRIOR, np.array(self.pop_rate))
        self.zone_n = self._sum(stats.n, self.zone, n_zones)
        self.zone_e = self._sum(stats.exposure, self.zone, n_zones)
        key = self.zone * 4 + self.tier
        self.seg_n = self._sum(stats.n, key, n_zones * 4).reshape(n_zones, 4, 24)
        self.seg_e = self._sum(stats.exposure, key, n_zones * 4).reshape(n_zones, 4, 24)

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
        return rates, _level_rate(self.seg_n, self.seg_e, zone_level[:, None])

    def customers(self, s: Shrinkage, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        seg_rates, seg_level = self.segments(s)
        if rows is None:  # everyone, a block at a time to bound memory
            out = np.empty((self.zone.shape[0], 24), dtype=np.float32)
            smooth = s.smoothing()
            for lo in range(0, out.shape[0], _CHUNK):
                block = slice(lo, lo + _CHUNK)
                z, t = self.zone[block], self.tier[block]
                n, exposure = self.stats.n[block] @ smooth, self.stats.exposure[block] @ smooth
                out[block] = _posterior(n, exposure, _normalise(seg_rates[z, t]), s.personal, seg_level[z, t])
            return out, seg_rates
        z, t = self.zone[rows], self.tier[rows]
        prior = _normalise(seg_rates[z, t])
        n, exposure = self._smoothed(s.bandwidth, rows)
        rates = _posterior(n, exposure, prior, s.personal, seg_level[z, t])
        return rates, seg_rates

    def _smoothed(self, bandwidth: float, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts and exposure of ``rows`` spread over neighbouring hours (kept for the last rows asked)."""
        key = (bandwidth, id(rows))
        if getattr(self, "_cache_key", None) != key:
            smooth = Shrinkage(bandwidth=bandwidth).smoothing()
            self._cache = (self.stats.n[rows] @ smooth, self.stats.exposure[rows] @ smooth)
            self._cache_key = key
        return self._cache


def _heldout_loglik(rates: np.ndarray, hour: np.ndarray, exposure: np.ndarray) -> float:
    """Mean log-probability of each engagement's hour, given its message's exposure by hour."""
    weights = rates * exposure
    picked = weights[np.arange(hour.shape[0]), hour]
    return float(np.mean(np.log(np.maximum(picked, 1e-300) / weights.sum(axis=1))))


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
    of messages (chosen with ``seed``), keeping the defaults when fewer than
    500 engagements are held out; ``kernel=None`` estimates the delay
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
        known = history.sent_minute >= 0
        kernel = DelayKernel.estimate(history.sent_minute[known] // STEP, delay[known])
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
        shrinkage, tuning = _tune(_Hierarchy(kept, zone, len(history.zones)), history, records, hour, kernel)
        tuning = replace(tuning, validation_share=validation_share)
        kept = kept + heldout
    del heldout

    hierarchy = _Hierarchy(kept, zone, len(history.zones))
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
    chosen = Shrinkage()
    curves: dict[str, tuple[tuple[float, float], ...]] = {}
    if records.size < _MIN_VALIDATION:
        return chosen, Tuning(chosen, curves, int(records.size), 0.0)
    z, t = train.zone[customer], train.tier[customer]
    uniq, inverse = np.unique(customer, return_inverse=True)

    def score(level: str, value: float) -> float:
        trial = replace(chosen, **{level: value})
        if level == "zone":
            rates = train.zones(value)[0][z]
        elif level == "segment":
            rates = train.segments(trial)[0][z, t]
        else:
            rates = train.customers(trial, uniq)[0][inverse]
        return _heldout_loglik(rates, hours, exposure)

    for level in ("zone", "segment", "personal", "bandwidth", "personal"):
        curve = tuple((value, score(level, value)) for value in GRID[level])
        curves[level if level not in curves else f"{level} (again)"] = curve
        best = max(curve, key=lambda item: item[1])[0]
        chosen = replace(chosen, **{level: best})
    return chosen, Tuning(chosen, curves, int(records.size), 0.0)
