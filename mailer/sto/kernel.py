"""The delay kernel: how engagement fades after a message arrives.

A message is most likely to be opened soon after it lands, while it sits near
the top of the inbox, and less and less later.  The chance of an engagement
at some moment is modelled as *rhythm × kernel*: the recipient's activity at
that local hour times a hazard that depends only on the time since sending.

The kernel does two jobs.  It measures **exposure** — how much opportunity a
message gave to engage in each local hour — so that opens clustered after
past send times are not mistaken for habits; and it **scores** a candidate
send time by the chance of an engagement within the following days.

Time is cut into 10-minute bins: 144 send slots per day and 1008 delay bins
(seven days).  :meth:`DelayKernel.estimate` learns the hazard from a history
jointly with the population's rhythm; :meth:`DelayKernel.default` is a
kernel matching published figures (21 % of opens within an hour of sending,
half within six hours, 73 % within a day) used when the history is small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

STEP = 10  # minutes per bin
SLOTS = 1440 // STEP  # send slots per day
HORIZON = 7 * 1440 // STEP  # delay bins considered
_PER_HOUR = 60 // STEP
_BIN_HOURS = STEP / 60

# Coarser groups (edges in minutes) within which the estimated hazard is constant.
_GROUP_EDGES = np.array(
    [0, 10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 180, 240, 300, 360, 480, 600, 720, 960, 1200, 1440]
    + list(range(1440 + 240, 2880 + 1, 240))
    + list(range(2880 + 720, HORIZON * STEP + 1, 720))
)
_GROUP = np.searchsorted(_GROUP_EDGES, np.arange(HORIZON) * STEP, side="right") - 1

# Published open-delay figures fit by a mixture of exponentials (weights, scales in hours).
_DEFAULT_WEIGHTS = np.array([0.092, 0.375, 0.533])
_DEFAULT_SCALES = np.array([0.3, 3.0, 36.0])


def mixture_hazard(weights: np.ndarray, scales_hours: np.ndarray) -> np.ndarray:
    """A hazard per delay bin from a mixture of exponential delay densities (per hour)."""
    mid = (np.arange(HORIZON) + 0.5) * _BIN_HOURS
    w = np.asarray(weights, dtype=float)[:, None]
    s = np.asarray(scales_hours, dtype=float)[:, None]
    return (w / s * np.exp(-mid / s)).sum(axis=0)


def hour_of(slot: np.ndarray | int, delay_bin: np.ndarray | int) -> np.ndarray:
    """Local hour (0-23) reached ``delay_bin`` bins after send slot ``slot``."""
    return ((np.asarray(slot) + np.asarray(delay_bin)) // _PER_HOUR) % 24


@dataclass(frozen=True, eq=False)
class DelayKernel:
    """Relative engagement hazard (per hour) in each 10-minute delay bin.

    >>> k = DelayKernel.default()
    >>> [round(float(x), 2) for x in k.cumulative_share([60, 360, 1440])]
    [0.21, 0.5, 0.73]
    >>> k.exposure.shape  # send slot x local hour
    (144, 24)
    """

    hazard: np.ndarray
    engagements: int = 0
    rhythm: np.ndarray = field(default_factory=lambda: np.ones(24))

    @classmethod
    def default(cls) -> DelayKernel:
        """The kernel implied by published open-delay figures."""
        return cls(mixture_hazard(_DEFAULT_WEIGHTS, _DEFAULT_SCALES))

    def cumulative_share(self, minutes: list[int] | np.ndarray) -> np.ndarray:
        """Share of engagements within ``minutes`` of sending, for a flat daily rhythm."""
        mass = np.cumsum(self.hazard) * _BIN_HOURS
        index = np.clip(np.asarray(minutes) // STEP - 1, 0, HORIZON - 1)
        return mass[index] / mass[-1]

    @cached_property
    def exposure(self) -> np.ndarray:
        """``(144, 24)``: hazard mass falling in each local hour after sending in each slot."""
        return self.tail[:, 0, :]

    @cached_property
    def tail(self) -> np.ndarray:
        """``(144, 1009, 24)``: the hazard mass from delay bin ``k`` on, per local hour."""
        slots = np.arange(SLOTS)[:, None]
        bins = np.arange(HORIZON)[None, :]
        hours = hour_of(slots, bins)
        onehot = np.zeros((SLOTS, HORIZON + 1, 24), dtype=np.float32)
        s_idx = np.broadcast_to(slots, hours.shape)
        k_idx = np.broadcast_to(bins, hours.shape)
        onehot[s_idx, k_idx, hours] = np.broadcast_to(self.hazard * _BIN_HOURS, hours.shape)
        return np.cumsum(onehot[:, ::-1, :], axis=1)[:, ::-1, :].copy()

    @classmethod
    def estimate(
        cls,
        slot: np.ndarray,
        delay_minutes: np.ndarray,
        *,
        prior: DelayKernel | None = None,
        prior_engagements: float = 200.0,
        iterations: int = 30,
    ) -> DelayKernel:
        """Learn the hazard from messages sent in ``slot`` (0-143) with engagement delays.

        ``delay_minutes`` is NaN for messages with no engagement.  The
        population's rhythm and the kernel are estimated in turn (each is a
        ratio of counts to exposure under the other); within coarse delay
        groups the hazard keeps the prior's shape, scaled by a ratio shrunk by
        ``prior_engagements`` pseudo-engagements toward 1, so small histories
        fall back to the published shape.
        """
        prior = prior or cls.default()
        slot = np.asarray(slot, dtype=np.int64)
        delay = np.asarray(delay_minutes, dtype=np.float64)
        engaged = ~np.isnan(delay)
        kbin = np.where(engaged, np.minimum(np.nan_to_num(delay) // STEP, HORIZON), HORIZON).astype(np.int64)
        sent = np.bincount(slot, minlength=SLOTS).astype(np.float64)
        counts = np.bincount(slot * (HORIZON + 1) + kbin, minlength=SLOTS * (HORIZON + 1))
        counts = counts.reshape(SLOTS, HORIZON + 1).astype(np.float64)
        found = counts[:, :HORIZON]  # engagements in each (slot, bin); the last column is "none"
        at_risk = sent[:, None] - np.concatenate([np.zeros((SLOTS, 1)), np.cumsum(found, axis=1)[:, :-1]], axis=1)
        hours = hour_of(np.arange(SLOTS)[:, None], np.arange(HORIZON)[None, :])
        n_groups = int(_GROUP.max()) + 1
        group_found = np.bincount(_GROUP, weights=found.sum(axis=0), minlength=n_groups)
        engaged_by_hour = np.bincount(hours.ravel(), weights=found.ravel(), minlength=24)
        rhythm = np.ones(24)
        hazard = prior.hazard.copy()
        total = float(found.sum())
        for _ in range(iterations):
            risk = (at_risk * rhythm[hours]).sum(axis=0) * _BIN_HOURS
            prior_risk = np.bincount(_GROUP, weights=risk * prior.hazard, minlength=n_groups)
            level = total / max(prior_risk.sum(), 1e-300)
            expected = level * prior_risk
            pseudo = prior_engagements * expected / max(expected.sum(), 1e-300)
            ratio = (group_found + pseudo) / np.maximum(expected + pseudo, 1e-300)
            hazard = level * prior.hazard * ratio[_GROUP]
            exposure = np.bincount(hours.ravel(), weights=(at_risk * hazard).ravel(), minlength=24) * _BIN_HOURS
            # A day's worth of pseudo-engagements, spread evenly, keeps empty hours finite.
            mean_rate = max(total, 1.0) / max(exposure.sum(), 1e-300)
            rhythm = (engaged_by_hour + 1.0) / (exposure + 1.0 / mean_rate)
            rhythm = rhythm / rhythm.mean()
        return cls(hazard=hazard, engagements=int(total), rhythm=rhythm)
