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
        cohort: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        prior: DelayKernel | None = None,
        prior_engagements: float = 200.0,
        iterations: int = 30,
    ) -> DelayKernel:
        """Learn the hazard from messages sent in ``slot`` (0-143) with engagement delays.

        ``delay_minutes`` is NaN for messages with no engagement.  The
        recipients' rhythm and the kernel are estimated in turn (each is a
        ratio of counts to exposure under the other); within coarse delay
        groups the hazard keeps the prior's shape, scaled by a ratio shrunk by
        ``prior_engagements`` pseudo-engagements toward 1, so small histories
        fall back to the published shape.

        ``cohort`` (a small whole number per message) groups messages whose
        recipients may keep different hours, each group with its own rhythm
        (shrunk toward the pooled one by a pseudo-engagement per hour).  When
        past sends already followed each recipient's habits, one shared
        rhythm would credit the kernel with the opens that come soon after
        every send only because each was sent at its recipient's good hour;
        grouping recipients by their usual send hour keeps the kernel honest.

        ``weight`` is each message's recipient's responsiveness relative to
        the average.  Keen recipients engage early, so the messages still
        waiting late are mostly unresponsive recipients'; a kernel that
        counted every waiting message alike would fade too fast.
        """
        prior = prior or cls.default()
        slot = np.asarray(slot, dtype=np.int64)
        delay = np.asarray(delay_minutes, dtype=np.float64)
        group = np.zeros(slot.shape[0], np.int64) if cohort is None else np.asarray(cohort, dtype=np.int64)
        cohorts = int(group.max()) + 1 if group.size else 1
        engaged = ~np.isnan(delay)
        kbin = np.where(engaged, np.minimum(np.nan_to_num(delay) // STEP, HORIZON), HORIZON).astype(np.int64)
        key = group * SLOTS + slot
        cell = key * (HORIZON + 1) + kbin
        shape = (cohorts, SLOTS, HORIZON + 1)
        counts = np.bincount(cell, minlength=cohorts * SLOTS * (HORIZON + 1)).reshape(shape).astype(np.float64)
        found = counts[:, :, :HORIZON]  # engagements in each (cohort, slot, bin); the last column is "none"
        # Responsiveness still waiting after each delay bin: weighted sends less the weighted engaged.
        weighted = counts if weight is None else np.bincount(cell, weights=weight, minlength=counts.size).reshape(shape)
        sent = weighted.sum(axis=2)
        gone = np.cumsum(weighted[:, :, : HORIZON - 1], axis=2)
        at_risk = sent[:, :, None] - np.concatenate([np.zeros((cohorts, SLOTS, 1)), gone], axis=2)
        hours = hour_of(np.arange(SLOTS)[:, None], np.arange(HORIZON)[None, :])
        cohort_hours = (np.arange(cohorts)[:, None, None] * 24 + hours[None, :, :]).ravel()
        # What is still waiting after each delay bin, by the local hour it then is: (cohort, bin, hour).
        # Both halves of each iteration below are sums of it against the rhythm or the hazard.
        cohort_bin = np.arange(cohorts)[:, None, None] * HORIZON + np.arange(HORIZON)[None, None, :]
        cell_hour = (cohort_bin * 24 + hours).ravel()
        waiting = np.bincount(cell_hour, weights=at_risk.ravel(), minlength=cohorts * HORIZON * 24)
        waiting = waiting.reshape(cohorts, HORIZON, 24)
        n_groups = int(_GROUP.max()) + 1
        group_found = np.bincount(_GROUP, weights=found.sum(axis=(0, 1)), minlength=n_groups)
        engaged_by_hour = np.bincount(cohort_hours, weights=found.ravel(), minlength=cohorts * 24).reshape(cohorts, 24)
        rhythm = np.ones((cohorts, 24))
        pooled = np.ones(24)
        hazard = prior.hazard.copy()
        total = float(found.sum())
        for _ in range(iterations):
            risk = np.einsum("jkh,jh->k", waiting, rhythm) * _BIN_HOURS
            prior_risk = np.bincount(_GROUP, weights=risk * prior.hazard, minlength=n_groups)
            level = total / max(prior_risk.sum(), 1e-300)
            expected = level * prior_risk
            pseudo = prior_engagements * expected / max(expected.sum(), 1e-300)
            ratio = (group_found + pseudo) / np.maximum(expected + pseudo, 1e-300)
            hazard = level * prior.hazard * ratio[_GROUP]
            exposure = np.einsum("jkh,k->jh", waiting, hazard) * _BIN_HOURS
            # A day's worth of pseudo-engagements, spread evenly, keeps empty hours finite.
            mean_rate = max(total, 1.0) / max(exposure.sum(), 1e-300)
            pooled = (engaged_by_hour.sum(axis=0) + 1.0) / (exposure.sum(axis=0) + 1.0 / mean_rate)
            pooled = pooled / pooled.mean()
            if cohorts > 1:
                rhythm = (engaged_by_hour + pooled) / (exposure + 1.0 / mean_rate)
                rhythm = rhythm / rhythm.mean(axis=1, keepdims=True)
            else:
                rhythm = pooled[None, :]
        return cls(hazard=hazard, engagements=int(total), rhythm=pooled)
