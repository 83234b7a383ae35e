"""Best send times: profiles → one UTC instant per recipient on a given local date.

Candidate send times are every 10 minutes of the recipient's local day.  Each
is scored by the chance of an engagement within the following days (the
profile's rates under the delay kernel), so the best time is usually shortly
before the recipient's most active hour.  Then, in the recipient's zone:

* times outside the send window, inside quiet hours or skipped by a
  spring-forward change are not allowed; when the best time is not allowed,
  the nearest allowed time on the clock is used (the earlier one on a tie,
  so the message is waiting when the recipient arrives);
* a time repeated by a fall-back change means its first occurrence;
* a share of recipients is sent at an exploratory hour, with its propensity
  recorded (:mod:`mailer.sto.exploration`);
* with a per-hour capacity, sends are spread over UTC hours with the least
  expected loss (:mod:`mailer.sto.capacity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
import numpy as np

from mailer.errors import ConfigError, LocaleError
from mailer.sto.capacity import assign
from mailer.sto.exploration import (
    ExplorationMode,
    draw_hours,
    excluding,
    prior_distribution,
    propensity,
    thompson_distribution,
)
from mailer.sto.kernel import SLOTS, STEP, DelayKernel
from mailer.sto.profiles import Profiles, engagement_probability
from mailer.sto.windows import TimeRange, allowed_minutes
from mailer.sto.zones import local_instants, zone as check_zone

REASONS = ("best", "nearest-edge", "explore", "capacity", "unscheduled")
"""Why each recipient got their time, by ``SendPlan.reason`` code."""

_CHUNK = 1 << 16
_PER_HOUR = 60 // STEP
_MINUTES = np.arange(SLOTS) * STEP


@dataclass(frozen=True, eq=False)
class SendPlan:
    """One planned send per recipient (``send_at`` is NaT when none could be planned)."""

    customer_ids: np.ndarray
    zones: tuple[str, ...]
    zone: np.ndarray
    send_at: np.ndarray  # datetime64[s], UTC
    local_minute: np.ndarray  # minute of the local day, -1 when unscheduled
    reason: np.ndarray  # index into REASONS
    source: np.ndarray  # index into profiles.SOURCES
    confidence: np.ndarray
    expected: np.ndarray  # chance of engagement at send_at
    best_expected: np.ndarray  # chance of engagement at the unconstrained best time
    propensity: np.ndarray  # chance the policy picks this local hour
    explored: np.ndarray
    capacity_gap: float = 0.0  # bound on how much better a capacity assignment could do

    def __len__(self) -> int:
        return int(self.customer_ids.shape[0])

    def expected_loss(self) -> float:
        """Total expected engagements given up to windows, exploration and capacity."""
        return float(np.sum(self.best_expected - self.expected))


def _day(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"expected a date YYYY-MM-DD, found {value!r}") from None


def _span(value: TimeRange | str | None, name: str) -> TimeRange | None:
    if value is None or isinstance(value, TimeRange):
        return value
    try:
        return TimeRange.parse(value)
    except ConfigError as err:
        raise ConfigError(f"{name}: {err}") from None


def nearest_allowed(best: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Per row, the allowed column nearest ``best`` on a circular clock (earlier on ties), -1 if none.

    >>> allowed = np.zeros((2, 144), bool); allowed[:, 48:126] = True  # 08:00-21:00
    >>> (nearest_allowed(np.array([135, 15]), allowed) * 10 // 60).tolist()  # 22:30 → 20:50, 02:30 → 08:00
    [20, 8]
    """
    width = allowed.shape[1]
    forward = (np.arange(width)[None, :] - best[:, None]) % width
    backward = width - forward
    # distance * 2, plus 1 for forward moves so the earlier time wins a tie
    key = np.where(backward < forward, backward * 2, forward * 2 + (forward > 0))
    key = np.where(allowed, key, np.iinfo(np.int64).max)
    pick = np.argmin(key, axis=1)
    return np.where(allowed.any(axis=1), pick, -1)


def best_send_times(
    profiles: Profiles,
    day: date | str,
    *,
    customer_ids: Sequence[str] | np.ndarray | None = None,
    timezones: Sequence[str] | np.ndarray | None = None,
    window: TimeRange | str | None = None,
    quiet_hours: TimeRange | str | None = None,
    capacity_per_hour: int | None = None,
    exploration: float = 0.0,
    exploration_mode: ExplorationMode = "prior",
    seed: int | None = None,
    default_timezone: str = "UTC",
) -> SendPlan:
    """Plan one send per customer on local date ``day``.

    ``customer_ids`` defaults to every profiled customer; ids without a
    profile get the population's.  ``timezones`` (aligned with
    ``customer_ids``) overrides the zone learnt from the history;
    ``default_timezone`` is for unknown customers without one.
    ``window`` and ``quiet_hours`` are local ``HH:MM-HH:MM`` spans;
    ``capacity_per_hour`` caps sends per UTC hour; ``exploration`` is the
    share of customers sent at an exploratory hour.

    >>> from mailer.sto.profiles import fit_profiles
    >>> from tests.support.simulate import simulate_population, simulate_history
    >>> profiles = fit_profiles(simulate_history(simulate_population(200, seed=5), seed=6).history)
    >>> plan = best_send_times(profiles, "2024-03-31", quiet_hours="21:00-08:00", exploration=0.1, seed=1)
    >>> bool(np.all(~np.isnat(plan.send_at))), float(plan.propensity.min()) > 0
    (True, True)
    """
    the_day = _day(day)
    window_span, quiet_span = _span(window, "window"), _span(quiet_hours, "quiet hours")
    if not 0.0 <= exploration <= 1.0:
        raise ConfigError(f"exploration must be a share between 0 and 1, got {exploration}")
    if exploration_mode not in ("prior", "thompson"):
        raise ConfigError(f"exploration mode must be 'prior' or 'thompson', got {exploration_mode!r}")
    if capacity_per_hour is not None and (not isinstance(capacity_per_hour, (int, np.integer)) or capacity_per_hour < 1):
        raise ConfigError(f"capacity per hour must be a positive whole number, got {capacity_per_hour!r}")
    try:
        check_zone(default_timezone)
    except LocaleError as err:
        raise ConfigError(f"default time zone: {err}") from None

    if customer_ids is None:
        ids = profiles.customer_ids
        rows = np.arange(len(profiles))
    else:
        ids = np.asarray(customer_ids, dtype=str)
        rows = profiles.rows(ids)
    n = ids.shape[0]
    if timezones is not None:
        names = np.asarray(timezones, dtype=object)
        if names.shape[0] != n:
            raise ConfigError(f"{names.shape[0]} time zones for {n} customers")
        names = np.where(names == "", default_timezone, names).astype(str)
    else:
        known = np.asarray(profiles.zones, dtype=object)
        names = np.where(rows >= 0, known[profiles.customer_zone[np.maximum(rows, 0)]] if len(profiles) else "", default_timezone)
        names = names.astype(str)
    zone_names, zone = np.unique(names, return_inverse=True) if n else (np.array([], str), np.zeros(0, np.int64))
    for name in zone_names.tolist():
        try:
            check_zone(name)
        except LocaleError as err:
            raise ConfigError(str(err)) from None

    # Per zone: the UTC instant of every local 10-minute slot, and whether it exists today.
    utc = np.zeros((len(zone_names), SLOTS), dtype=np.int64)
    exists = np.zeros((len(zone_names), SLOTS), dtype=bool)
    for z, name in enumerate(zone_names.tolist()):
        utc[z], exists[z] = local_instants(name, the_day, _MINUTES)
    allowed_by_zone = exists & allowed_minutes(_MINUTES, window_span, quiet_span)[None, :]

    known_rows = rows >= 0
    rates = np.empty((n, 24), dtype=np.float64)
    rates[known_rows] = profiles.rates[rows[known_rows]]
    rates[~known_rows] = profiles.population_rates
    prior = np.empty((n, 24), dtype=np.float64)
    prior[known_rows] = profiles.prior_rates(rows[known_rows])
    prior[~known_rows] = profiles.population_rates

    found = _candidates(rates, prior, profiles.kernel, allowed_by_zone, zone)
    pick = found.pick
    reason = np.where(pick < 0, 4, np.where(pick == found.best_slot, 0, 1)).astype(np.int8)
    slot = pick.copy()
    rng = np.random.default_rng(seed)
    capacity_gap = 0.0
    distribution = np.zeros((n, 24))
    explored = np.zeros(n, dtype=bool)
    if exploration > 0 and n:
        strength = np.full(n, profiles.shrinkage.personal)
        strength[known_rows] += profiles.engagements[rows[known_rows]]
        distribution, explored, hours = _explore(found, rates, strength, profiles.kernel, exploration, exploration_mode, rng)
        who = np.flatnonzero(explored)
        slot[who] = found.slot[who, hours]
        reason[who] = 2

    if capacity_per_hour is not None and n:
        slot, moved, capacity_gap = _spread(slot, explored, found, zone, utc, capacity_per_hour)
        reason[moved & (slot >= 0)] = 3
        reason[slot < 0] = 4

    scheduled = slot >= 0
    safe = np.maximum(slot, 0)
    send = utc[zone, safe] if n else np.zeros(0, np.int64)
    chosen_p = np.where(scheduled, _probability(rates, profiles, safe), 0.0)
    chosen_hour = np.where(scheduled, safe // _PER_HOUR, -1)
    confidence = np.zeros(n)
    confidence[known_rows] = profiles.confidence(rows[known_rows])
    source = np.full(n, 2, dtype=np.int8)
    source[known_rows] = profiles.source[rows[known_rows]]
    send_at = send.astype("datetime64[s]")
    send_at[~scheduled] = np.datetime64("NaT")
    return SendPlan(
        customer_ids=ids,
        zones=tuple(zone_names.tolist()),
        zone=zone.astype(np.int16),
        send_at=send_at,
        local_minute=np.where(scheduled, safe * STEP, -1).astype(np.int16),
        reason=reason,
        source=source,
        confidence=confidence.astype(np.float32),
        expected=chosen_p,
        best_expected=found.best_p,
        propensity=propensity(exploration, distribution, explored, chosen_hour),
        explored=explored,
        capacity_gap=capacity_gap,
    )


@dataclass(frozen=True, eq=False)
class _Found:
    """Per recipient: the unconstrained best slot, the chosen allowed one, and the best allowed slot of each local hour."""

    best_slot: np.ndarray  # (n,)
    best_p: np.ndarray  # (n,) engagement chance there
    pick: np.ndarray  # (n,) best slot if allowed, else the nearest allowed; -1 if none
    pick_p: np.ndarray  # (n,)
    slot: np.ndarray  # (n, 24) best allowed slot within each local hour, -1 if none
    p: np.ndarray  # (n, 24) engagement chance there, -inf if none
    prior_p: np.ndarray  # (n, 24) the segment prior's chance there


def _candidates(
    rates: np.ndarray, prior: np.ndarray, kernel: DelayKernel, allowed_by_zone: np.ndarray, zone: np.ndarray
) -> _Found:
    """Score every 10-minute slot of the local day, a block of recipients at a time."""
    n = rates.shape[0]
    found = _Found(
        best_slot=np.zeros(n, dtype=np.int64),
        best_p=np.zeros(n),
        pick=np.full(n, -1, dtype=np.int64),
        pick_p=np.zeros(n),
        slot=np.full((n, 24), -1, dtype=np.int16),
        p=np.full((n, 24), -np.inf, dtype=np.float32),
        prior_p=np.zeros((n, 24), dtype=np.float32),
    )
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        p = engagement_probability(rates[sl], kernel, _MINUTES)
        ok = allowed_by_zone[zone[sl]]
        at = np.arange(p.shape[0])
        star = np.argmax(p, axis=1)
        found.best_slot[sl] = star
        found.best_p[sl] = p[at, star]
        chosen = np.where(ok[at, star], star, nearest_allowed(star, ok))
        found.pick[sl] = chosen
        found.pick_p[sl] = np.where(chosen >= 0, p[at, np.maximum(chosen, 0)], 0.0)
        masked = np.where(ok, p, -np.inf).reshape(-1, 24, _PER_HOUR)
        within = np.argmax(masked, axis=2)
        hour_p = np.take_along_axis(masked, within[..., None], axis=2)[..., 0]
        found.p[sl] = hour_p
        found.slot[sl] = np.where(np.isfinite(hour_p), np.arange(24) * _PER_HOUR + within, -1)
        q = engagement_probability(prior[sl], kernel, _MINUTES).reshape(-1, 24, _PER_HOUR)
        found.prior_p[sl] = np.take_along_axis(q, within[..., None], axis=2)[..., 0]
    return found


def _explore(
    found: _Found,
    rates: np.ndarray,
    strength: np.ndarray,
    kernel: DelayKernel,
    share: float,
    mode: ExplorationMode,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who explores, at which local hour, and the distribution each hour was drawn from."""
    n = rates.shape[0]
    hour_ok = np.isfinite(found.p)
    exploit_hour = np.where(found.pick >= 0, found.pick // _PER_HOUR, -1)
    distribution = np.zeros((n, 24))
    planned = found.pick >= 0
    distribution[planned] = excluding(
        prior_distribution(found.prior_p[planned].astype(np.float64), hour_ok[planned]), exploit_hour[planned]
    )
    explored = (rng.random(n) < share) & (distribution.sum(axis=1) > 0)
    who = np.flatnonzero(explored)
    if mode == "thompson" and who.size:
        exposure = kernel.exposure.astype(np.float64)[np.maximum(found.slot[who], 0)]
        others = hour_ok[who].copy()
        others[np.arange(who.size), exploit_hour[who]] = False
        distribution[who] = thompson_distribution(rates[who], strength[who], exposure, others, rng)
    return distribution, explored, draw_hours(rng, distribution[who])


def _probability(rates: np.ndarray, profiles: Profiles, slot: np.ndarray) -> np.ndarray:
    exposure = profiles.kernel.exposure.astype(np.float64)[slot]
    return -np.expm1(-np.einsum("nh,nh->n", rates, exposure))


def _spread(
    slot: np.ndarray,
    explored: np.ndarray,
    found: _Found,
    zone: np.ndarray,
    utc: np.ndarray,
    capacity: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Move sends between local hours so no UTC hour exceeds ``capacity``."""
    cand_slot, cand_p, pick_p = found.slot, found.p, found.pick_p
    n = slot.shape[0]
    rows = np.arange(n)
    hour = np.where(slot >= 0, slot // _PER_HOUR, -1)
    # Utility: the engagement chance, capped at the preferred time's so the
    # preferred (e.g. nearest-edge) time stays first, minus a hair per hour
    # of distance so ties go to the nearest hour.
    distance = np.abs((np.arange(24)[None, :] - hour[:, None] + 12) % 24 - 12)
    utility = np.minimum(cand_p.astype(np.float64), pick_p[:, None]) - 1e-7 * distance
    # Exploratory sends keep their hour first: they are the experiment.
    utility[explored, hour[explored]] = 2.0
    utility = np.where((cand_slot >= 0) & (hour[:, None] >= 0), utility, -np.inf)
    # Break exact ties (alike recipients) the same way on every run.
    utility += np.random.default_rng(0).random(utility.shape) * 1e-6
    instants = utc[zone[:, None], np.maximum(cand_slot, 0)]
    first = int(instants[cand_slot >= 0].min()) // 3600 if (cand_slot >= 0).any() else 0
    bucket = instants // 3600 - first
    bucket = np.where(cand_slot >= 0, bucket, 0)
    size = int(bucket.max()) + 1
    result = assign(utility, bucket, np.full(size, capacity))
    choice = result.choice
    new_slot = np.where(choice >= 0, cand_slot[rows, np.maximum(choice, 0)], -1).astype(np.int64)
    moved = (choice >= 0) & (choice != hour)
    return new_slot, moved, result.gap
