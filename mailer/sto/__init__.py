"""Send-time optimisation: each recipient's best hour, learnt from their history.

``history`` reads who was sent what and when they engaged; ``kernel`` models
how engagement fades after a message lands; ``machine`` spots recipients
whose opens are automatic; ``profiles`` learns a 24-hour rhythm per customer,
shrunk toward their segment; ``windows`` and ``schedule`` turn profiles into
UTC send times within local windows and quiet hours, across DST, with
exploration and per-hour capacity.  ``simulate`` makes audiences whose truth
is known.  Everything between reading and writing is numpy over plain arrays.
"""

from __future__ import annotations

from mailer.sto.history import History, history_from_rows, read_history
from mailer.sto.kernel import DelayKernel
from mailer.sto.machine import MachineOpens, detect_machine_opens
from mailer.sto.profiles import SOURCES, Profiles, Shrinkage, Tuning, fit_profiles

__all__ = [
    "SOURCES",
    "DelayKernel",
    "History",
    "MachineOpens",
    "Profiles",
    "Shrinkage",
    "Tuning",
    "detect_machine_opens",
    "fit_profiles",
    "history_from_rows",
    "read_history",
]
