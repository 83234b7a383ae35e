"""mailer.sto.export: CSV output of profiles and plans."""

from __future__ import annotations

import csv
import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mailer.sto.export import fixed, rounded_units, write_plan, write_profiles
from mailer.sto.schedule import best_send_times
from mailer.sto.profiles import fit_profiles
from tests.support.simulate import simulate_history, simulate_population


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, (3, 24), elements=st.floats(1e-9, 1.0)))
def test_rounded_rows_sum_exactly_and_stay_close(values: np.ndarray) -> None:
    p = values / values.sum(axis=1, keepdims=True)
    units = rounded_units(p)
    assert (units.sum(axis=1) == 10**6).all()
    assert np.abs(units / 1e6 - p).max() <= 1e-6 + 1e-12


def test_fixed_point() -> None:
    assert fixed(np.array([0.0004, 0.99995, 3.0]), 4).tolist() == [b"0.0004", b"1.0000", b"3.0000"]


def test_written_tables_round_trip() -> None:
    sim = simulate_history(simulate_population(300, seed=71), seed=72)
    profiles = fit_profiles(sim.history)
    out = io.BytesIO()
    write_profiles(out, profiles)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert rows[0] == ["customer_id"] + [f"h{h:02d}" for h in range(24)]
    assert len(rows) == len(profiles) + 1
    values = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
    assert np.abs(values.sum(axis=1) - 1).max() < 1e-9
    assert np.abs(values - profiles.distribution()).max() <= 1e-6
    plan = best_send_times(profiles, "2024-06-12", exploration=0.1, seed=1)
    out = io.BytesIO()
    write_plan(out, plan)
    table = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["customer_id"] for r in table] == profiles.customer_ids.tolist()
    first = table[0]
    assert first["send_at"].endswith("Z") and len(first["local_time"]) == 5
    assert {r["reason"] for r in table} <= {"best", "nearest-edge", "explore", "capacity", "unscheduled"}
