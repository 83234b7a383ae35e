"""Send-time optimisation: each recipient's best hour, learnt from their history.

``timestamps`` and ``zones`` parse ISO 8601 and convert time zones for whole
arrays; ``history`` reads who was sent what and when they engaged;
``kernel`` models how engagement fades after a message lands; ``machine``
spots recipients whose opens are automatic; ``profiles`` learns a 24-hour
rhythm per customer, shrunk toward their segment; ``windows``,
``exploration``, ``capacity`` and ``schedule`` turn profiles into UTC send
times within local windows and quiet hours, across DST; ``export`` writes
CSV; ``simulate`` makes audiences whose truth is known.  Everything between
reading and writing is numpy over plain arrays.

>>> from pathlib import Path
>>> from mailer.sto import read_history, fit_profiles, best_send_times
>>> sample = Path(__file__).parents[2] / "fixtures" / "sto_history.csv"
>>> profiles = fit_profiles(read_history(sample, default_timezone="Europe/London"))
>>> plan = best_send_times(profiles, "2024-03-31", quiet_hours="21:00-08:00")
>>> len(plan) == len(profiles), profiles.distribution().shape
(True, (12, 24))
"""

from __future__ import annotations

from mailer.sto.history import History, history_from_rows, read_history
from mailer.sto.kernel import DelayKernel
from mailer.sto.machine import MachineOpens, detect_machine_opens
from mailer.sto.profiles import SOURCES, Profiles, Shrinkage, Tuning, fit_profiles
from mailer.sto.schedule import REASONS, SendPlan, best_send_times
from mailer.sto.windows import TimeRange

__all__ = [
    "REASONS",
    "SOURCES",
    "DelayKernel",
    "History",
    "MachineOpens",
    "Profiles",
    "SendPlan",
    "Shrinkage",
    "TimeRange",
    "Tuning",
    "best_send_times",
    "detect_machine_opens",
    "fit_profiles",
    "history_from_rows",
    "read_history",
]
