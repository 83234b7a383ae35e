"""mailer.sto.schedule: best send times in UTC from local profiles, windows, DST, exploration, capacity."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from mailer.errors import ConfigError
from mailer.sto.kernel import DelayKernel
from mailer.sto.profiles import Profiles, Shrinkage
from mailer.sto.schedule import REASONS, best_send_times, nearest_allowed


def peaked(hour: float, width: float = 1.0) -> np.ndarray:
    hours = np.arange(24) + 0.5
    gap = (hours - hour + 12) % 24 - 12
    return 0.01 + np.exp(-0.5 * (gap / width) ** 2)


def profiles_of(rows: list[tuple[str, str, np.ndarray]], engagements: int = 10) -> Profiles:
    """Profiles with given (id, zone, rates per local hour), sorted by id as fitted ones are."""
    rows = sorted(rows)
    zones = tuple(sorted({z for _, z, _ in rows}))
    n = len(rows)
    rates = np.array([r for _, _, r in rows], dtype=np.float32) * 0.02
    population = np.full(24, 0.02 / 24 * 24)
    return Profiles(
        customer_ids=np.array([i for i, _, _ in rows]),
        zones=zones,
        customer_zone=np.array([zones.index(z) for _, z, _ in rows], dtype=np.int16),
        rates=rates,
        engagements=np.full(n, engagements, dtype=np.int32),
        source=np.zeros(n, dtype=np.int8),
        machine=np.zeros(n, dtype=bool),
        tier=np.full(n, 2, dtype=np.int8),
        segment_rates=np.tile(population, (len(zones), 4, 1)),
        population_rates=population,
        kernel=DelayKernel.default(),
        shrinkage=Shrinkage(),
    )


def utc_clock(plan, i: int) -> str:  # type: ignore[no-untyped-def]
    return datetime.fromtimestamp(int(plan.send_at[i].astype(np.int64)), timezone.utc).strftime("%Y-%m-%d %H:%M")


def local_clock(plan, i: int) -> str:  # type: ignore[no-untyped-def]
    m = int(plan.local_minute[i])
    return f"{m // 60:02d}:{m % 60:02d}"


@pytest.mark.parametrize(
    "zone, day, local, utc",
    [
        ("Europe/London", "2024-03-30", "10:00", "2024-03-30 10:00"),  # GMT
        ("Europe/London", "2024-03-31", "10:00", "2024-03-31 09:00"),  # BST from 01:00 UTC today
        ("Europe/London", "2024-10-27", "10:00", "2024-10-27 10:00"),  # back to GMT
        ("America/New_York", "2024-03-10", "10:00", "2024-03-10 14:00"),
        ("America/New_York", "2024-11-03", "10:00", "2024-11-03 15:00"),
        ("Australia/Sydney", "2024-04-07", "10:00", "2024-04-07 00:00"),  # AEST after 03:00 AEDT
        ("Australia/Sydney", "2024-10-06", "10:00", "2024-10-05 23:00"),  # AEDT after 02:00 AEST
        ("Asia/Kolkata", "2024-03-31", "10:00", "2024-03-31 04:30"),
    ],
)
def test_same_local_time_across_dst_changes(zone: str, day: str, local: str, utc: str) -> None:
    plan = best_send_times(profiles_of([("a", zone, peaked(11.0))]), day)
    assert (local_clock(plan, 0), utc_clock(plan, 0), REASONS[plan.reason[0]]) == (local, utc, "best")


def test_skipped_hour_moves_to_the_nearest_existing_time() -> None:
    plan = best_send_times(profiles_of([("a", "Europe/London", peaked(1.6, 0.4))]), "2024-03-31")
    assert local_clock(plan, 0) in ("00:50", "02:00")
    assert REASONS[plan.reason[0]] == "nearest-edge"
    normal_day = best_send_times(profiles_of([("a", "Europe/London", peaked(1.6, 0.4))]), "2024-03-30")
    assert local_clock(normal_day, 0).startswith("01:")


def test_quiet_hours_send_at_the_nearest_allowed_edge() -> None:
    profiles = profiles_of(
        [("late", "Europe/Berlin", peaked(23.5)), ("night", "Europe/Berlin", peaked(4.5)), ("noon", "Europe/Berlin", peaked(12.5))]
    )
    plan = best_send_times(profiles, "2024-06-12", quiet_hours="21:00-08:00")
    got = {plan.customer_ids[i]: (local_clock(plan, i), REASONS[plan.reason[i]]) for i in range(len(plan))}
    assert got["late"] == ("20:50", "nearest-edge")  # best ~23:00 → just before quiet hours start
    assert got["night"] == ("08:00", "nearest-edge")  # best ~04:00 → as quiet hours end
    assert got["noon"][1] == "best" and got["noon"][0].startswith("12:")
    assert plan.expected[0] <= plan.best_expected[0]


def test_send_window_in_local_time() -> None:
    profiles = profiles_of([("a", "America/Los_Angeles", peaked(20.5)), ("b", "Asia/Tokyo", peaked(7.0))])
    plan = best_send_times(profiles, "2024-06-12", window="09:30-17:00")
    assert [local_clock(plan, i) for i in range(2)] == ["16:50", "09:30"]


def test_nearest_allowed_prefers_the_earlier_time_on_a_tie() -> None:
    allowed = np.zeros((1, 144), bool)
    allowed[0, [10, 30]] = True
    assert nearest_allowed(np.array([20]), allowed).tolist() == [10]
    assert nearest_allowed(np.array([20]), np.zeros((1, 144), bool)).tolist() == [-1]


def test_every_customer_gets_a_row_including_unknown_ones() -> None:
    profiles = profiles_of([("a", "Europe/London", peaked(9.0))])
    plan = best_send_times(profiles, "2024-06-12", customer_ids=["a", "new"], timezones=["Europe/London", "Asia/Tokyo"])
    assert plan.customer_ids.tolist() == ["a", "new"]
    assert list(plan.zones[z] for z in plan.zone) == ["Europe/London", "Asia/Tokyo"]
    assert plan.source.tolist() == [0, 2]  # personal, population
    assert not np.isnat(plan.send_at).any()


def many(n: int, zone: str = "Europe/London", hour: float = 19.0) -> Profiles:
    return profiles_of([(f"c{i:05d}", zone, peaked(hour, 2.0)) for i in range(n)])


def test_exploration_share_and_exact_propensities() -> None:
    n = 20000
    plan = best_send_times(many(n), "2024-06-12", exploration=0.1, seed=7, quiet_hours="22:00-07:00")
    explored = plan.explored
    assert abs(explored.mean() - 0.1) < 0.01
    exploit_hour = plan.local_minute[~explored][0] // 60
    assert (plan.local_minute[~explored] // 60 == exploit_hour).all()
    assert np.allclose(plan.propensity[~explored], 0.9)
    hours = plan.local_minute[explored] // 60
    assert not (hours == exploit_hour).any()  # exploring never repeats the exploit hour
    assert not np.isin(hours, [22, 23, 0, 1, 2, 3, 4, 5, 6]).any()  # and respects quiet hours
    # Everyone has the same profile, so the recorded propensity of each hour is the policy's
    # chance of choosing it: the observed frequencies must match.
    for hour in np.unique(hours):
        recorded = plan.propensity[explored][hours == hour][0]
        observed = (hours == hour).sum() / n
        assert abs(observed - recorded) < 4 * np.sqrt(recorded / n) + 1e-4, hour
    assert plan.propensity.min() > 0


def test_thompson_exploration_records_its_sampling_distribution() -> None:
    plan = best_send_times(many(3000), "2024-06-12", exploration=0.2, exploration_mode="thompson", seed=3)
    explored = plan.explored
    assert 0.15 < explored.mean() < 0.25
    assert ((plan.propensity[explored] > 0) & (plan.propensity[explored] <= 0.2)).all()
    # Thompson draws stay near the peak far more often than uniform exploration would.
    hours = plan.local_minute[explored] // 60
    assert np.isin(hours, [15, 16, 17, 18, 19, 20, 21]).mean() > 0.6


def test_capacity_spreads_sends_without_exceeding_it() -> None:
    profiles = profiles_of(
        [(f"c{i:04d}", zone, peaked(19.0 + (i % 5) * 0.2, 1.5)) for i, zone in enumerate(["Europe/London", "Europe/Berlin"] * 300)]
    )
    free = best_send_times(profiles, "2024-06-12")
    capped = best_send_times(profiles, "2024-06-12", capacity_per_hour=80)
    hours = capped.send_at.astype("datetime64[h]")
    _, load = np.unique(hours, return_counts=True)
    assert load.max() <= 80 and not np.isnat(capped.send_at).any()
    assert (capped.reason == REASONS.index("capacity")).sum() > 0
    assert capped.expected.sum() < free.expected.sum()
    # No assignment could lose much less (the bound comes from the hour prices) ...
    assert capped.capacity_gap < 0.02 * capped.expected_loss()
    # ... and the naive fix, spilling each full hour's surplus into the next hour, loses more.
    assert capped.expected_loss() < spill_loss(profiles, free, 80)


def spill_loss(profiles: Profiles, plan, capacity: int) -> float:  # type: ignore[no-untyped-def]
    """Expected loss of filling UTC hours in order and pushing the surplus one hour later."""
    from mailer.sto.profiles import engagement_probability

    order = np.argsort(plan.send_at, kind="stable")
    hour = plan.send_at.astype("datetime64[h]").astype(np.int64)
    delay = np.zeros(len(plan), dtype=np.int64)
    load: dict[int, int] = {}
    for i in order:
        h = int(hour[i])
        while load.get(h + delay[i], 0) >= capacity:
            delay[i] += 1
        load[h + delay[i]] = load.get(h + delay[i], 0) + 1
    minutes = (plan.local_minute.astype(np.int64) + 60 * delay) % 1440
    got = engagement_probability(profiles.rates.astype(np.float64), profiles.kernel, minutes[:, None])[:, 0]
    return float(np.sum(plan.best_expected - got))


def test_options_are_validated() -> None:
    profiles = many(3)
    for kwargs in (
        {"window": "9-5"},
        {"quiet_hours": "25:00-08:00"},
        {"capacity_per_hour": 0},
        {"exploration": 1.5},
        {"exploration_mode": "greedy"},
        {"default_timezone": "Atlantis/Capital"},
    ):
        with pytest.raises(ConfigError):
            best_send_times(profiles, "2024-06-12", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        best_send_times(profiles, "12/06/2024")
