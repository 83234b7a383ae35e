"""mailer.sto.machine: telling machine openers (Apple MPP) from people."""

from __future__ import annotations

import numpy as np
import pytest

from mailer.sto.history import History
from mailer.sto.machine import detect_machine_opens
from tests.support.simulate import simulate_history, simulate_population


@pytest.fixture(scope="module")
def simulated():  # type: ignore[no-untyped-def]
    population = simulate_population(4000, seed=51, machine_share=0.3)
    return population, simulate_history(population, seed=52)


def test_finds_machine_openers_without_flags(simulated) -> None:  # type: ignore[no-untyped-def]
    population, sim = simulated
    found = detect_machine_opens(sim.history)
    recall = found.customer[population.machine].mean()
    false_alarm = found.customer[~population.machine].mean()
    assert recall > 0.97 and false_alarm < 0.03
    assert found.fast_machine > 0.8 and found.fast_human < 0.2
    assert abs(found.share - population.machine[np.bincount(sim.customer, minlength=population.n) > 0].mean()) < 0.1


def test_provider_flags_decide_when_present() -> None:
    sent = np.array(["2024-05-01T08:00"] * 6, "datetime64[s]")
    opened = np.array(["2024-05-01T19:00"] * 3 + ["2024-05-01T08:01"] * 3, "datetime64[s]")
    h = History.from_arrays(
        ["slow-but-flagged"] * 3 + ["fast-but-human"] * 3,
        sent,
        opened,
        default_timezone="UTC",
        machine_open=np.array(["true"] * 3 + ["false"] * 3, dtype=object),
    )
    found = detect_machine_opens(h)
    assert dict(zip(h.customer_ids.tolist(), found.customer.tolist())) == {
        "fast-but-human": False,
        "slow-but-flagged": True,
    }
