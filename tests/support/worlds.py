"""A family of simulated worlds, each made differently, for judging send-time estimates away from home.

The estimator was tuned on one simulator (:mod:`tests.support.simulate`).  A
world is a seeded recipe built from the same parts but with other choices:
where customers live, the *shapes* of their daily rhythms (narrow or wide
peaks, one or two a day, nearly flat), the *hours* they keep (office hours,
night owls, rotating shifts), whether their weekends differ, how many never
open (dormant) and how many read through Mail Privacy Protection (every
message "opened" by a proxy at delivery), how the history was sent (fixed
times, an earlier optimiser's choices, random times), the audience's size,
and the weekday the next campaign goes out.

Every world knows its truth: each customer's chance of opening a message
sent at each local hour of the campaign day (:attr:`World.truth`), so the
oracle's hour is its argmax.  :func:`policy_hours`, :func:`lift_shares` and
:func:`loglik_by_bucket` score estimates against it.

>>> world = build_world(WORLDS["owls"], seed=1, customers=300)
>>> world.truth.shape, world.population.n
((300, 24), 300)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np

from mailer.sto.history import History
from mailer.sto.kernel import SLOTS, STEP, DelayKernel, mixture_hazard
from tests.support.simulate import VISIBILITY, ZONES, Population, Simulated, simulate_history, week_exposure

HOURS = np.arange(24) * 60
"""Candidate send times: the top of every local hour."""

BUCKETS = ((0, 1, "0"), (1, 5, "1-4"), (5, 20, "5-19"), (20, 10**9, "20+"))
"""History buckets (engagements in the history) for held-out log-likelihood."""

POLICIES = (
    "fixed 10:00",
    "population best hour",
    "modal open hour",
    "median open hour",
    "mailer.sto",
    "oracle",
)

_START = date(2024, 1, 1)  # a Monday
_SLEEP_HOURS = 7.0
_SLEEP_DAMPING = 0.12


@dataclass(frozen=True)
class Habit:
    """One kind of daily rhythm: von Mises bumps at ``peaks`` (local hours) over a ``floor``.

    Each person of this kind draws a concentration from ``concentration``
    (higher is narrower), shifts all their hours by a normal amount of sd
    ``spread`` (plus their zone's shift), and sleeps seven hours from about
    ``sleep``.  ``rotations`` are whole-rhythm moves (in hours) of which each
    person gets one at random: shift work.
    """

    peaks: tuple[float, ...]
    weights: tuple[float, ...]
    share: float
    concentration: tuple[float, float] = (2.0, 8.0)
    spread: float = 1.0
    sleep: float = 23.5
    floor: float = 0.15
    rotations: tuple[float, ...] = (0.0,)


@dataclass(frozen=True)
class WorldSpec:
    """How one world is made.

    ``zones`` are (zone, share of customers, hours later than usual its
    people keep).  ``weekend_share`` of customers follow ``weekend_habits``
    on Saturdays and Sundays; everyone else is ``weekend_level`` times as
    active on weekends.  ``history`` is how past campaigns were sent:
    ``"fixed"`` at ``send_times`` (weekday, local minute) every week,
    ``"optimised"`` on the weekdays of ``send_times`` at each customer's own
    minute as an earlier optimiser chose it (their true best, off by a
    normal error of sd ``optimiser_error`` minutes; dormant customers at the
    population's best), or ``"random"`` (``random_sends`` messages at random
    local times).  ``mpp_share`` of customers read through Mail Privacy
    Protection; ``dormant_share`` never open.  The next campaign goes out on
    ``campaign_weekday`` (Monday 0), and :attr:`World.truth` is for that day.
    """

    name: str
    summary: str
    customers: int
    zones: tuple[tuple[str, float, float], ...]
    habits: tuple[Habit, ...]
    mpp_share: float
    dormant_share: float
    history: Literal["fixed", "optimised", "random"]
    send_times: tuple[tuple[int, int], ...]
    campaign_weekday: int
    weekend_habits: tuple[Habit, ...] = ()
    weekend_share: float = 0.0
    weekend_level: float = 1.0
    random_sends: int = 0
    optimiser_error: float = 90.0
    weeks: int = 16
    mean_log_responsiveness: float = -2.2
    heldout_sends: int = 8


@dataclass(frozen=True, eq=False)
class World:
    """A world drawn from its spec: the people, the history they left, held-out sends and the truth."""

    spec: WorldSpec
    seed: int
    population: Population
    train: Simulated  # the history estimators learn from
    heldout: Simulated  # random-time sends in the following weeks, for held-out log-likelihood
    truth: np.ndarray  # (n, 24) chance of a human open when sent at each local hour of the campaign day

    @property
    def history(self) -> History:
        return self.train.history

    @property
    def oracle_hour(self) -> np.ndarray:
        """Each customer's best local hour on the campaign day."""
        return np.argmax(self.truth, axis=1)


def _draw_rhythms(rng: np.random.Generator, habits: tuple[Habit, ...], shift: np.ndarray) -> np.ndarray:
    """``(n, 24)`` activity by local hour (mean 1) for people shifted by ``shift`` hours."""
    n = shift.shape[0]
    shares = np.array([h.share for h in habits])
    kind = rng.choice(len(habits), size=n, p=shares / shares.sum())
    hours = np.arange(24) + 0.5
    activity = np.zeros((n, 24))
    for k, habit in enumerate(habits):
        rows = np.flatnonzero(kind == k)
        m = rows.size
        personal = shift[rows] + rng.normal(0.0, habit.spread, size=m)
        personal += rng.choice(np.array(habit.rotations), size=m)
        concentration = rng.uniform(*habit.concentration, size=m)
        bumps = np.zeros((m, 24))
        for peak, weight in zip(habit.peaks, habit.weights):
            centre = peak + personal + rng.normal(0.0, 0.5, size=m)
            angle = (hours[None, :] - centre[:, None]) * 2 * np.pi / 24
            bumps += weight * np.exp(concentration[:, None] * (np.cos(angle) - 1))
        sleep_start = habit.sleep + personal + rng.normal(0.0, 0.7, size=m)
        asleep = ((hours[None, :] - sleep_start[:, None]) % 24) < _SLEEP_HOURS
        activity[rows] = (bumps + habit.floor) * np.where(asleep, _SLEEP_DAMPING, 1.0)
    return activity / activity.mean(axis=1, keepdims=True)


def _draw_population(spec: WorldSpec, rng: np.random.Generator, n: int) -> Population:
    names = tuple(z for z, _, _ in spec.zones)
    shares = np.array([s for _, s, _ in spec.zones])
    zone_shift = np.array([h for _, _, h in spec.zones])
    zone_of = rng.choice(len(names), size=n, p=shares / shares.sum())
    daily = _draw_rhythms(rng, spec.habits, zone_shift[zone_of])
    week = None
    if spec.weekend_share > 0 or spec.weekend_level != 1.0:
        weekend = daily * spec.weekend_level
        different = rng.random(n) < spec.weekend_share
        if different.any():
            weekend[different] = _draw_rhythms(rng, spec.weekend_habits, zone_shift[zone_of[different]])
        week = np.concatenate([daily] * 5 + [weekend] * 2, axis=1)
        week /= week.mean(axis=1, keepdims=True)
        rhythm = week.reshape(n, 7, 24).mean(axis=1)
    else:
        rhythm = daily
    responsiveness = np.exp(rng.normal(spec.mean_log_responsiveness, 1.1, size=n))
    responsiveness[rng.random(n) < spec.dormant_share] = 0.0
    return Population(
        zones=names,
        zone=zone_of.astype(np.int16),
        rhythm=rhythm,
        responsiveness=responsiveness,
        click_rate=rng.beta(2.0, 8.0, size=n),
        machine=rng.random(n) < spec.mpp_share,
        tenure_weeks=rng.integers(1, spec.weeks + 1, size=n),
        kernel=DelayKernel(mixture_hazard(np.array(VISIBILITY[0]), np.array(VISIBILITY[1]))),
        week=None if week is None else week.astype(np.float32),
    )


def _optimised_minutes(spec: WorldSpec, population: Population, rng: np.random.Generator) -> np.ndarray:
    """Each customer's send minute as an imperfect earlier optimiser chose it."""
    slots = np.arange(0, 1440, 10)
    days = sorted({d for d, _ in spec.send_times})
    truth = np.mean([population.open_probability(slots, weekday=d) for d in days], axis=0)
    best = slots[np.argmax(truth, axis=1)]
    popular = slots[np.argmax(truth.sum(axis=0))]
    best = np.where(population.dormant, popular, best)
    error = rng.normal(0.0, spec.optimiser_error, size=population.n)
    return (np.round((best + error) / 10) * 10).astype(np.int64) % 1440


def build_world(spec: WorldSpec, seed: int, *, customers: int | None = None) -> World:
    """Draw a world: ``customers`` overrides the spec's audience size (for quick tests).

    The same spec and seed always give the same world; different specs with
    the same seed are drawn independently.
    """
    n = spec.customers if customers is None else customers
    streams = np.random.SeedSequence([seed, zlib.crc32(spec.name.encode())]).spawn(4)
    rng = np.random.default_rng(streams[0])
    population = _draw_population(spec, rng, n)
    history_seed = int(np.random.default_rng(streams[1]).integers(2**31))
    heldout_seed = int(np.random.default_rng(streams[2]).integers(2**31))
    if spec.history == "random":
        train = simulate_history(population, seed=history_seed, weeks=spec.weeks, random_times=spec.random_sends)
    else:
        minutes = None
        if spec.history == "optimised":
            minutes = _optimised_minutes(spec, population, np.random.default_rng(streams[3]))
        train = simulate_history(
            population, seed=history_seed, weeks=spec.weeks, schedule=spec.send_times, send_minute=minutes
        )
    later = _START + timedelta(weeks=spec.weeks)
    heldout = simulate_history(population, seed=heldout_seed, start=later, weeks=4, random_times=spec.heldout_sends)
    truth = population.open_probability(HOURS, weekday=spec.campaign_weekday)
    return World(spec=spec, seed=seed, population=population, train=train, heldout=heldout, truth=truth)


# --- scoring -------------------------------------------------------------------------------


def open_hour_counts(history: History) -> np.ndarray:
    """``(customers, 24)`` recorded opens (machine ones included) by local hour."""
    opened = history.open_minute >= 0
    key = history.customer[opened].astype(np.int64) * 24 + history.open_minute[opened] // 60
    return np.bincount(key, minlength=history.n_customers * 24).reshape(-1, 24)


def median_hour(counts: np.ndarray, fallback: int) -> np.ndarray:
    """Each row's median hour of ``counts`` (``fallback`` for empty rows).

    >>> median_hour(np.array([[0, 2, 1, 1] + [0] * 20, [0] * 24]), 9).tolist()
    [1, 9]
    """
    total = counts.sum(axis=1)
    cumulative = np.cumsum(counts, axis=1)
    median = np.argmax(cumulative * 2 >= total[:, None], axis=1)
    return np.where(total > 0, median, fallback)


def profile_hours(profiles) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``mailer.sto``'s choice: each customer's local hour with the best engagement chance."""
    return np.argmax(profiles.engagement_probability(HOURS), axis=1)


def policy_hours(  # type: ignore[no-untyped-def]
    history: History, truth: np.ndarray, profiles
) -> dict[str, np.ndarray]:
    """The local hour each policy of :data:`POLICIES` sends at, per customer.

    The population's best hour has the most recorded opens; the modal and
    median open hours fall back to it for customers without opens.
    """
    counts = open_hour_counts(history)
    population_best = int(np.argmax(counts.sum(axis=0)))
    has_opens = counts.sum(axis=1) > 0
    n = truth.shape[0]
    return {
        "fixed 10:00": np.full(n, 10),
        "population best hour": np.full(n, population_best),
        "modal open hour": np.where(has_opens, np.argmax(counts, axis=1), population_best),
        "median open hour": median_hour(counts, population_best),
        "mailer.sto": profile_hours(profiles),
        "oracle": np.argmax(truth, axis=1),
    }


def informed_hours(world: World, *, candidates: int = 1500, seed: int = 0) -> np.ndarray:
    """A yardstick: the best hour for each customer as a Bayesian who knows how the world was made.

    It knows the world's population as an unlabelled crowd (``candidates``
    people drawn from it: their weekly rhythms, responsiveness and click
    rates), the true delay kernel and who reads through Mail Privacy
    Protection, but not who is who.  Each customer's history (human opens,
    or clicks only for MPP readers, against each message's exposure by hour
    of the week) weighs the crowd by Poisson likelihood, and the hour with the
    best expected true open chance on the campaign day is chosen.  What it
    misses of the oracle's lift, the history did not say.
    """
    pop, sim = world.population, world.train
    rng = np.random.default_rng(seed)
    crowd = rng.choice(pop.n, size=min(candidates, pop.n), replace=False)
    table = week_exposure(pop.kernel)
    week_slot = ((_START.weekday() + sim.columns["day"]) % 7) * SLOTS + sim.sent_minute.astype(np.int64) // STEP
    machine = pop.machine[sim.customer]
    delay = np.where(machine, _click_delay(sim), sim.human_delay)
    engaged = ~np.isnan(delay)
    hour = ((week_slot[engaged] * STEP + delay[engaged]).astype(np.int64) // 60) % 168
    counts = np.bincount(sim.customer[engaged] * 168 + hour, minlength=pop.n * 168).reshape(pop.n, 168)
    exposure = np.zeros((pop.n, 168))
    np.add.at(exposure, sim.customer, table[week_slot])
    rate = pop.week_rhythm(crowd) * pop.responsiveness[crowd, None]
    truth = world.truth[crowd]
    choice = np.empty(pop.n, dtype=np.int64)
    for is_machine in (False, True):
        rows = np.flatnonzero(pop.machine == is_machine)
        seen = rate * pop.click_rate[crowd, None] if is_machine else rate
        log_seen = np.log(np.maximum(seen, 1e-300))
        for lo in range(0, rows.size, 2000):
            r = rows[lo : lo + 2000]
            loglik = counts[r] @ log_seen.T - exposure[r] @ seen.T
            impossible = (counts[r].sum(axis=1)[:, None] > 0) & (seen.sum(axis=1)[None, :] == 0)
            loglik = np.where(impossible, -np.inf, loglik)
            weight = np.exp(loglik - loglik.max(axis=1, keepdims=True))
            choice[r] = np.argmax(weight @ truth, axis=1)
    return choice


def _click_delay(sim: Simulated) -> np.ndarray:
    """Minutes from sending to each row's click (NaN if none)."""
    clicked, sent = sim.columns["clicked_at"], sim.columns["sent_at"]
    seconds = (clicked - sent).astype("timedelta64[s]").astype(np.float64)
    return np.where(np.isnat(clicked), np.nan, seconds / 60)


def lift_shares(truth: np.ndarray, hours: dict[str, np.ndarray]) -> dict[str, float]:
    """Each policy's share of the oracle's lift over fixed 10:00 sending, by the true open chance.

    >>> truth = np.tile(np.r_[np.zeros(10), 0.25, np.zeros(9), 0.75, np.zeros(3)], (2, 1))
    >>> lift_shares(truth, {"ten": np.array([10, 10]), "half": np.array([10, 20]), "best": np.array([20, 20])})
    {'ten': 0.0, 'half': 0.5, 'best': 1.0}
    """
    rows = np.arange(truth.shape[0])
    fixed = truth[:, 10].mean()
    oracle = truth.max(axis=1).mean()
    return {name: float((truth[rows, hour].mean() - fixed) / (oracle - fixed)) for name, hour in hours.items()}


@dataclass(frozen=True)
class BucketFit:
    """Held-out log-likelihood of engagement hours in one history bucket."""

    label: str
    customers: int
    engagements: int
    profile: float  # mean log-probability under each customer's profile
    prior: float  # ... under the population prior

    @property
    def margin(self) -> float:
        return self.profile - self.prior


def loglik_by_bucket(profiles, heldout: Simulated) -> list[BucketFit]:  # type: ignore[no-untyped-def]
    """Profiles against the population prior on held-out human engagements, by engagements in the history.

    ``heldout`` sends at random local times, so the hours of its engagements
    show each customer's rhythm rather than the send times.
    """
    engaged = ~np.isnan(heldout.human_delay)
    who, hour = heldout.customer[engaged], heldout.human_minute[engaged].astype(np.int64) // 60
    mine = profiles.distribution()
    prior = profiles.population_rates / profiles.population_rates.sum()
    out = []
    for lo, hi, label in BUCKETS:
        inside = (profiles.engagements[who] >= lo) & (profiles.engagements[who] < hi)
        c, h = who[inside], hour[inside]
        customers = int(((profiles.engagements >= lo) & (profiles.engagements < hi)).sum())
        if h.size == 0:
            out.append(BucketFit(label, customers, 0, float("nan"), float("nan")))
            continue
        fit = BucketFit(label, customers, int(h.size), float(np.log(mine[c, h]).mean()), float(np.log(prior[h]).mean()))
        out.append(fit)
    return out


# --- the worlds ------------------------------------------------------------------------------

_HOUSE_HABITS = (
    Habit((7.0,), (1.0,), 0.14),
    Habit((8.0, 12.5), (0.5, 0.5), 0.12),
    Habit((12.5,), (1.0,), 0.10),
    Habit((20.0,), (1.0,), 0.28),
    Habit((22.5,), (1.0,), 0.12, sleep=25.0),
    Habit((7.5, 20.5), (0.5, 0.5), 0.24),
)

_NARROW = (8.0, 20.0)
_WIDE = (0.5, 2.0)

WORLDS: dict[str, WorldSpec] = {
    spec.name: spec
    for spec in (
        WorldSpec(
            name="house",
            summary="the tuned-on recipe: nine zones, six habits, 12% MPP, 10% dormant, Mon 09/Wed 18/Fri 09",
            customers=20_000,
            zones=ZONES,
            habits=_HOUSE_HABITS,
            mpp_share=0.12,
            dormant_share=0.10,
            history="fixed",
            send_times=((0, 540), (2, 1080), (4, 540)),
            campaign_weekday=2,
        ),
        WorldSpec(
            name="office",
            summary="office hours, narrow peaks, quiet weekends; history 09:00 only (Mon, Wed, Fri); 30% MPP, "
                    "40% dormant",
            customers=10_000,
            zones=(("Europe/London", 0.6, 0.0), ("Europe/Berlin", 0.25, 0.0), ("Europe/Paris", 0.15, 0.0)),
            habits=(
                Habit((8.5,), (1.0,), 0.35, concentration=_NARROW, spread=0.7, sleep=23.0, floor=0.05),
                Habit((12.5,), (1.0,), 0.30, concentration=_NARROW, spread=0.7, sleep=23.0, floor=0.05),
                Habit((16.5,), (1.0,), 0.20, concentration=_NARROW, spread=0.7, sleep=23.0, floor=0.05),
                Habit((8.5, 12.5), (0.5, 0.5), 0.15, concentration=_NARROW, spread=0.7, sleep=23.0, floor=0.05),
            ),
            weekend_level=0.3,
            mpp_share=0.30,
            dormant_share=0.40,
            history="fixed",
            send_times=((0, 540), (2, 540), (4, 540)),
            campaign_weekday=1,
        ),
        WorldSpec(
            name="owls",
            summary="night owls, wide peaks, four US zones; history 07/12/17/21 rotating; no MPP, 20% dormant, 2k",
            customers=2_000,
            zones=(
                ("America/New_York", 0.45, 0.0),
                ("America/Chicago", 0.25, 0.0),
                ("America/Denver", 0.10, 0.0),
                ("America/Los_Angeles", 0.20, 0.0),
            ),
            habits=(
                Habit((23.5,), (1.0,), 0.5, concentration=_WIDE, sleep=3.0),
                Habit((21.0, 1.0), (0.5, 0.5), 0.3, concentration=(1.0, 4.0), sleep=3.0),
                Habit((15.0,), (1.0,), 0.2, concentration=_WIDE, sleep=2.0),
            ),
            mpp_share=0.0,
            dormant_share=0.20,
            history="fixed",
            send_times=((0, 420), (1, 720), (3, 1020), (4, 1260)),
            campaign_weekday=3,
        ),
        WorldSpec(
            name="shifts",
            summary="shift workers on early, late and night shifts (peaks around the clock); history at random times; "
                    "60% MPP, 30% dormant",
            customers=5_000,
            zones=(("Asia/Kolkata", 0.5, 0.0), ("Asia/Singapore", 0.3, 0.0), ("Australia/Sydney", 0.2, 0.0)),
            habits=(
                Habit((7.0, 17.0), (0.5, 0.5), 0.7, concentration=(3.0, 10.0), spread=0.7, sleep=23.0,
                      rotations=(0.0, 8.0, 16.0)),
                Habit((12.0,), (1.0,), 0.3, concentration=(2.0, 6.0), sleep=0.0,
                      rotations=(0.0, 4.0, 8.0, 12.0, 16.0, 20.0)),
            ),
            mpp_share=0.60,
            dormant_share=0.30,
            history="random",
            send_times=(),
            random_sends=48,
            campaign_weekday=0,
        ),
        WorldSpec(
            name="commuters",
            summary="commute + evening, 40% weekend-different; already-optimised history Mon/Thu/Sat; 45% MPP, "
                    "15% dormant, 100k",
            customers=100_000,
            zones=(
                ("Europe/London", 0.3, 0.0),
                ("America/New_York", 0.3, 0.0),
                ("Australia/Sydney", 0.2, 0.0),
                ("Asia/Tokyo", 0.2, 0.0),
            ),
            habits=(
                Habit((7.5, 20.5), (0.5, 0.5), 0.7, concentration=(3.0, 10.0)),
                Habit((20.5,), (1.0,), 0.15, concentration=(3.0, 10.0)),
                Habit((7.5,), (1.0,), 0.15, concentration=(3.0, 10.0)),
            ),
            weekend_habits=(
                Habit((10.5,), (1.0,), 0.6, concentration=(2.0, 5.0), sleep=0.5),
                Habit((15.0,), (1.0,), 0.4, concentration=(2.0, 5.0), sleep=0.5),
            ),
            weekend_share=0.40,
            mpp_share=0.45,
            dormant_share=0.15,
            history="optimised",
            send_times=((0, 0), (3, 0), (5, 0)),
            campaign_weekday=3,
        ),
        WorldSpec(
            name="mixed",
            summary="mixed shapes: 40% flat-ish, 30% narrow, 30% wide two-peaked; history Mon 10/Wed 15/Fri 10; "
                    "20% MPP, 70% dormant, 50k",
            customers=50_000,
            zones=(("Europe/Madrid", 0.5, 0.0), ("Europe/Rome", 0.3, 0.0), ("Europe/Lisbon", 0.2, -0.5)),
            habits=(
                Habit((11.0,), (1.0,), 0.2, concentration=(1.0, 3.0), sleep=0.5, floor=1.5),
                Habit((19.0,), (1.0,), 0.2, concentration=(1.0, 3.0), sleep=0.5, floor=1.5),
                Habit((13.5,), (1.0,), 0.15, concentration=_NARROW, sleep=0.5, floor=0.05),
                Habit((21.5,), (1.0,), 0.15, concentration=_NARROW, sleep=0.5, floor=0.05),
                Habit((9.0, 18.0), (0.5, 0.5), 0.3, concentration=_WIDE, sleep=0.5),
            ),
            mpp_share=0.20,
            dormant_share=0.70,
            history="fixed",
            send_times=((0, 600), (2, 900), (4, 600)),
            campaign_weekday=2,
        ),
        WorldSpec(
            name="weekly",
            summary="the house habits, one Sunday 11:00 newsletter a week for 26 weeks; 25% MPP, 50% dormant, 30k",
            customers=30_000,
            zones=ZONES,
            habits=_HOUSE_HABITS,
            mpp_share=0.25,
            dormant_share=0.50,
            history="fixed",
            send_times=((6, 660),),
            campaign_weekday=6,
            weeks=26,
        ),
    )
}
"""The worlds, by name."""
