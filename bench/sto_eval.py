"""Send-time optimisation against its baselines, on a simulated audience with known truth.

A simulated audience (``tests.support.simulate``: daily rhythms in nine time zones,
Apple-MPP machine openers, many sparse customers) receives 16 weeks of
fixed-time campaigns (09:00, 18:00 and 09:00 local on three weekdays).  Every
send-time policy is learnt from that history alone, with no provider flags, and
is scored by the *true* chance that each customer opens a message sent at the
chosen local hour:

* fixed 10:00 local;
* the population's best hour (the hour with most recorded opens);
* each customer's modal open hour and median open hour (the population's best
  hour when they have no opens);
* ``mailer.sto`` (``fit_profiles`` + the kernel score);
* the oracle, which knows every customer's truth.

Then ``profile`` is scored on held-out engagements: eight messages per customer
sent at uniformly random local times in a later period (so their hours show the
rhythm, not our send times), by history bucket.  Last, capacity spreading is
compared with the naive fix, and an exploration run shows that the recorded
propensities give unbiased estimates of other policies.

    python bench/sto_eval.py [--customers 100000] [--seed 2024]

For the same policies in differently made worlds, see ``bench/sto_worlds.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.sto.kernel import STEP  # noqa: E402
from mailer.sto.profiles import fit_profiles  # noqa: E402
from mailer.sto.schedule import best_send_times  # noqa: E402
from tests.support.simulate import simulate_history, simulate_population  # noqa: E402
from tests.support.worlds import BUCKETS, HOURS, median_hour, open_hour_counts  # noqa: E402
from tests.support.worlds import profile_hours as best_hour  # noqa: E402


def circular_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 24
    return np.minimum(d, 24 - d)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    started = time.perf_counter()
    outcomes = np.random.default_rng(args.seed + 99)  # independent of every draw the policies make

    population = simulate_population(args.customers, seed=args.seed)
    train = simulate_history(population, seed=args.seed + 1)
    test = simulate_history(population, seed=args.seed + 2, random_times=8)
    history = train.history
    n = population.n
    rows = np.arange(n)
    print(f"simulated {n} customers, {len(history)} training rows, {len(test.customer)} held-out sends "
          f"({time.perf_counter() - started:.0f}s)")

    # Calibration against published figures.
    delays = train.human_delay[~np.isnan(train.human_delay)]
    recorded = (history.open_minute >= 0).sum()
    print("\nCalibration (human opens of the training campaigns; published: 21% / 50% / 73%)")
    print(f"  opened within 1 h of sending  {np.mean(delays < 60):6.1%}")
    print(f"  opened within 6 h             {np.mean(delays < 360):6.1%}")
    print(f"  opened within 24 h            {np.mean(delays < 1440):6.1%}")
    print(f"  machine share of recorded opens {train.machine_opened.sum() / recorded:6.1%}   "
          f"(customers using MPP: {population.machine.mean():.1%})")
    print(f"  human open rate per message   {np.mean(~np.isnan(train.human_delay)):6.1%}")

    t = time.perf_counter()
    profiles = fit_profiles(history, seed=args.seed)
    fit_seconds = time.perf_counter() - t
    s = profiles.shrinkage
    print(f"\nfit_profiles: {fit_seconds:.1f}s; machine openers found {profiles.machine.sum()} "
          f"(true {population.machine.sum()}, {np.mean(profiles.machine == population.machine):.1%} agree)")
    print(f"Shrinkage chosen on held-out messages ({profiles.tuning.validation_engagements} engagements, "
          f"{profiles.tuning.validation_share:.0%} of sends): zone={s.zone:g}  segment={s.segment:g}  "
          f"personal={s.personal:g}  bandwidth={s.bandwidth:g} h")
    for level, curve in profiles.tuning.curves.items():
        print(f"  {level:<17}" + "  ".join(f"{v:g}:{ll:.4f}" for v, ll in curve))

    truth = population.open_probability(HOURS)  # (n, 24)
    counts = open_hour_counts(history)
    population_best = int(np.argmax(counts.sum(axis=0)))
    has_opens = counts.sum(axis=1) > 0
    choices = {
        "fixed 10:00 local": np.full(n, 10),
        f"population best hour ({population_best:02d}:00)": np.full(n, population_best),
        "per-customer modal open hour": np.where(has_opens, np.argmax(counts, axis=1), population_best),
        "per-customer median open hour": median_hour(counts, population_best),
        "mailer.sto": best_hour(profiles),
        "oracle": np.argmax(truth, axis=1),
    }
    ablations = {
        "  without exposure normalisation": fit_profiles(history, exposure=False, seed=args.seed),
        "  without machine-open detection": fit_profiles(history, machine="ignore", seed=args.seed),
        "  no smoothing, prior of 1 engagement": fit_profiles(
            history, shrinkage=replace(profiles.shrinkage, personal=1.0, bandwidth=0.0), kernel=profiles.kernel
        ),
    }
    fixed = truth[:, 10].mean()
    oracle = truth.max(axis=1).mean()

    def row(name: str, hour: np.ndarray) -> tuple[float, float]:
        rate = truth[rows, hour].mean()
        share = (rate - fixed) / (oracle - fixed)
        print(f"{name:<40} {rate:8.2%} {rate / fixed - 1:+8.1%} {share:9.1%}")
        return rate, share

    print("\nExpected open rate of one message per customer, by send-time policy")
    print(f"{'policy':<40} {'opens':>8} {'vs 10:00':>8} {'of oracle lift':>9}")
    shares = {name: row(name, hour)[1] for name, hour in choices.items()}
    for name, fitted in ablations.items():
        shares[name] = row(name, best_hour(fitted))[1]
    prior_only = np.argmax(_prior_scores(profiles), axis=1)
    shares["prior"] = row("  segment prior only (no personal data)", prior_only)[1]

    # Held-out log-likelihood and hit@±1h by history bucket.
    engaged = ~np.isnan(test.human_delay)
    who, hour = test.customer[engaged], test.human_minute[engaged] // 60
    mine = profiles.distribution()
    prior = profiles.population_rates / profiles.population_rates.sum()
    bucket_of = profiles.engagements
    print("\nHeld-out engagements (random-time sends in a later period), by engagements in the history")
    print(f"{'bucket':<7} {'customers':>9} {'engagements':>11}   {'log-lik profile':>15} {'prior':>8}   "
          f"{'hit@±1h profile':>15} {'prior':>7} {'modal hour':>10}")
    worse = []
    modal = choices["per-customer modal open hour"]
    for lo, hi, label in BUCKETS:
        in_bucket = (bucket_of[who] >= lo) & (bucket_of[who] < hi)
        c, h = who[in_bucket], hour[in_bucket]
        ll_mine = np.log(mine[c, h]).mean()
        ll_prior = np.log(prior[h]).mean()
        hit_mine = (circular_gap(np.argmax(mine[c], axis=1), h) <= 1).mean()
        hit_prior = (circular_gap(np.full(h.shape, np.argmax(prior)), h) <= 1).mean()
        hit_modal = (circular_gap(modal[c], h) <= 1).mean()
        customers = int(((bucket_of >= lo) & (bucket_of < hi)).sum())
        print(f"{label:<7} {customers:>9} {h.size:>11}   {ll_mine:>15.4f} {ll_prior:>8.4f}   "
              f"{hit_mine:>15.1%} {hit_prior:>7.1%} {hit_modal:>10.1%}")
        if ll_mine < ll_prior - 1e-4:
            worse.append(label)

    # Capacity: a tenth of the audience per UTC hour at most, on one day.
    subset = rows[: min(n, 50_000)]
    ids = profiles.customer_ids[subset]
    free = best_send_times(profiles, "2024-06-12", customer_ids=ids)
    capacity = int(len(subset) * 0.06)
    t = time.perf_counter()
    capped = best_send_times(profiles, "2024-06-12", customer_ids=ids, capacity_per_hour=capacity)
    capacity_seconds = time.perf_counter() - t
    true_slots = population.open_probability(np.arange(0, 1440, STEP))[subset]

    def true_opens(minutes: np.ndarray) -> float:
        return float(true_slots[np.arange(len(subset)), (minutes % 1440) // STEP].sum())

    spilled = spill(free, capacity)
    print(f"\nCapacity: {len(subset)} customers, at most {capacity} sends per UTC hour "
          f"(busiest free hour: {peak_load(free)})")
    print(f"  expected opens, no limit                 {true_opens(free.local_minute.astype(np.int64)):10.1f}")
    print(f"  expected opens, priced assignment        {true_opens(capped.local_minute.astype(np.int64)):10.1f}   "
          f"busiest hour {peak_load(capped)}, moved {np.mean(capped.local_minute != free.local_minute):.1%}, "
          f"bound on shortfall {capped.capacity_gap:.3f}, {capacity_seconds:.1f}s")
    print(f"  expected opens, spill surplus to next hour {true_opens(spilled):8.1f}")

    # Exploration: unbiased estimates of other policies from one exploring send.
    plan = best_send_times(profiles, "2024-06-12", exploration=0.1, seed=args.seed)
    sent_hour = plan.local_minute.astype(np.int64) // 60
    opened = outcomes.random(n) < truth[rows, sent_hour]
    print("\nExploration 10%: one send each, then inverse-propensity estimates of other policies")
    for name in ("fixed 10:00 local", "per-customer modal open hour", "oracle"):
        target = choices[name]
        weight = (sent_hour == target) / plan.propensity
        estimate = np.mean(weight * opened)
        error = np.std(weight * opened) / np.sqrt(n)
        print(f"  {name:<32} estimated {estimate:7.2%} ± {error:.2%}   true {truth[rows, target].mean():7.2%}")
    print(f"  explored {plan.explored.mean():.1%} of customers; the plan's own expected opens "
          f"{truth[rows, sent_hour].mean():.2%} vs {truth[rows, choices['mailer.sto']].mean():.2%} without exploring")

    ours, mode = shares["mailer.sto"], shares["per-customer modal open hour"]
    print("\nTargets")
    print(f"  share of oracle lift >= 60%:                 {ours:.1%}  {'met' if ours >= 0.6 else 'NOT met'}")
    print(f"  >= 15 points above the modal open hour:      {100 * (ours - mode):+.1f} points  "
          f"{'met' if ours - mode >= 0.15 else 'NOT met'}")
    print(f"  never below the population prior (log-lik):  {'met' if not worse else 'NOT met in ' + ', '.join(worse)}")
    print(f"\ntotal {time.perf_counter() - started:.0f}s")
    return 0


def _prior_scores(profiles) -> np.ndarray:  # type: ignore[no-untyped-def]
    from mailer.sto.profiles import engagement_probability

    return engagement_probability(profiles.prior_rates().astype(np.float64), profiles.kernel, HOURS)


def peak_load(plan) -> int:  # type: ignore[no-untyped-def]
    _, load = np.unique(plan.send_at[~np.isnat(plan.send_at)].astype("datetime64[h]"), return_counts=True)
    return int(load.max())


def spill(plan, capacity: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Local send minutes after filling UTC hours in order, pushing each hour's surplus to the next."""
    hour = plan.send_at.astype("datetime64[h]").astype(np.int64)
    delay = np.zeros(len(plan), dtype=np.int64)
    waiting = np.zeros(0, dtype=np.int64)
    h = int(hour.min())
    while h <= hour.max() or waiting.size:
        arriving = np.flatnonzero(hour == h)
        waiting = np.concatenate([waiting, arriving[np.argsort(-plan.expected[arriving])]])
        served, waiting = waiting[:capacity], waiting[capacity:]
        delay[served] = h - hour[served]
        h += 1
    return plan.local_minute.astype(np.int64) + 60 * delay


if __name__ == "__main__":
    sys.exit(main())
