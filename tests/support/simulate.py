"""A synthetic audience with known send-time truth, for evaluation and tests.

Real histories cannot say what *would* have happened at another send time;
a simulator can.  Each simulated person has a daily rhythm in local time
(morning, lunch, evening, late or two-peaked, shifted by country and by
person), a responsiveness, a click rate, and possibly Apple Mail Privacy
Protection, which "opens" every message through a proxy within minutes.
A message is opened at the first event of a process whose rate is
*rhythm × visibility kernel*: it depends on when the message arrives and
how long it stays near the top of the inbox.  Histories come from
fixed-time campaigns (by default 09:00 and 18:00 local, as real ones do);
held-out periods can send at random times.

A person's rhythm can also differ by weekday (``Population.week``, 168
hours from Monday 00:00 local): the seven-day kernel then reads it hour by
hour of the week.  Dormant people never open by themselves (their Mail
Privacy Protection proxy, if any, still does).  ``tests.support.worlds``
builds whole families of differently made audiences from these parts.

Simulated people keep the UTC offset they had when a message was sent for
the following week; real DST is still applied when the history is read.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from os import PathLike

import numpy as np

from mailer.sto.history import History
from mailer.sto.kernel import HORIZON, SLOTS, STEP, DelayKernel, mixture_hazard
from mailer.sto.zones import zone

ZONES = (
    ("Europe/London", 0.22, 0.0),
    ("Europe/Berlin", 0.14, 0.5),
    ("Europe/Madrid", 0.06, 1.5),
    ("America/New_York", 0.18, -0.5),
    ("America/Los_Angeles", 0.10, 0.0),
    ("Australia/Sydney", 0.10, -0.5),
    ("Asia/Kolkata", 0.10, 1.0),
    ("America/Sao_Paulo", 0.05, 1.0),
    ("Asia/Tokyo", 0.05, -1.0),
)
"""(zone, share of customers, how many hours later than usual its people engage)."""

# Daily rhythms: (peak hours, peak weights, share of people).
ARCHETYPES = (
    ((7.0,), (1.0,), 0.14),
    ((8.0, 12.5), (0.5, 0.5), 0.12),
    ((12.5,), (1.0,), 0.10),
    ((20.0,), (1.0,), 0.28),
    ((22.5,), (1.0,), 0.12),
    ((7.5, 20.5), (0.5, 0.5), 0.24),
)

#: The inbox-visibility kernel of the simulated mailbox providers (weights, scales in hours).
VISIBILITY = ((0.045, 0.35, 0.605), (0.3, 4.0, 44.0))


@dataclass(frozen=True, eq=False)
class Population:
    """The truth about ``n`` simulated customers (ids ``c0000000``, ``c0000001``, …)."""

    zones: tuple[str, ...]
    zone: np.ndarray
    rhythm: np.ndarray  # (n, 24), mean 1: activity by local hour
    responsiveness: np.ndarray
    click_rate: np.ndarray
    machine: np.ndarray
    tenure_weeks: np.ndarray
    kernel: DelayKernel
    week: np.ndarray | None = None  # (n, 168) activity by local hour of the week from Monday; None: rhythm daily

    @property
    def n(self) -> int:
        return int(self.zone.shape[0])

    @property
    def dormant(self) -> np.ndarray:
        """Who never opens by themselves."""
        return self.responsiveness <= 0

    def week_rhythm(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(rows, 168)`` activity by local hour of the week (Monday 00:00 first)."""
        if self.week is not None:
            return self.week[rows]
        return np.tile(self.rhythm[rows], (1, 7))

    @property
    def customer_ids(self) -> np.ndarray:
        return np.char.add("c", np.char.zfill(np.arange(self.n).astype(str), 7))

    def _slot_rates(self) -> np.ndarray:
        """``(n, 144)``: expected number of open events within the horizon, per send slot."""
        hazard = self.kernel.hazard * STEP / 60
        fold = np.bincount(np.arange(HORIZON) % SLOTS, weights=hazard, minlength=SLOTS)
        s, r = np.meshgrid(np.arange(SLOTS), np.arange(SLOTS), indexing="ij")
        shift = fold[(r - s) % SLOTS]  # shift[s, r]: weight of slot r for a send in slot s
        fine = np.repeat(self.rhythm, 60 // STEP, axis=1)
        return self.responsiveness[:, None] * (fine @ shift.T)

    def open_probability(self, send_minutes: np.ndarray, weekday: int | None = None) -> np.ndarray:
        """``(n, S)``: the true chance of a human open when sending at these local minutes.

        ``weekday`` (Monday 0) is the local day of sending; ``None`` averages
        over the seven.  Without weekly rhythms every day is the same.

        >>> pop = simulate_population(3, seed=1)
        >>> pop.open_probability(np.array([600, 1200])).shape
        (3, 2)
        >>> bool(np.allclose(pop.open_probability(np.array([600]), weekday=5), pop.open_probability(np.array([600]))))
        True
        """
        slots = np.asarray(send_minutes) // STEP
        if self.week is None and weekday is None:
            return 1.0 - np.exp(-self._slot_rates()[:, slots])
        days = range(7) if weekday is None else (weekday,)
        table = week_exposure(self.kernel)
        out = np.zeros((self.n, slots.shape[0]))
        for lo in range(0, self.n, 1 << 15):
            rows = slice(lo, lo + (1 << 15))
            week = self.week_rhythm(rows)
            for day in days:
                rates = self.responsiveness[rows, None] * (week @ table[day * SLOTS + slots].T)
                out[rows] += -np.expm1(-rates)
        return out / len(days)


def week_exposure(kernel: DelayKernel) -> np.ndarray:
    """``(1008, 168)``: the kernel's hazard mass in each local hour of the week after a send in each week slot.

    >>> table = week_exposure(DelayKernel.default())
    >>> table.shape, bool(np.allclose(table.sum(axis=1), table[0].sum()))
    ((1008, 168), True)
    """
    per_hour = 60 // STEP
    mass = kernel.hazard * STEP / 60
    base = np.zeros((per_hour, 168))
    for r in range(per_hour):
        base[r] = np.bincount((r + np.arange(HORIZON)) % (7 * SLOTS) // per_hour, weights=mass, minlength=168)
    slot = np.arange(7 * SLOTS)
    # A send q hours and r bins into the week sees the r-bin row moved on by q hours.
    hours = (np.arange(168)[None, :] - (slot // per_hour)[:, None]) % 168
    return base[slot % per_hour][np.arange(7 * SLOTS)[:, None], hours]


def simulate_population(
    n: int,
    *,
    seed: int,
    machine_share: float = 0.12,
    weeks: int = 16,
    mean_log_responsiveness: float = -2.2,
    dormant_share: float = 0.0,
) -> Population:
    """Draw ``n`` people: zones, rhythms, responsiveness, clicks, Mail Privacy Protection.

    ``dormant_share`` of them never open by themselves.
    """
    rng = np.random.default_rng(seed)
    names = tuple(z for z, _, _ in ZONES)
    shares = np.array([s for _, s, _ in ZONES])
    zone_shift = np.array([h for _, _, h in ZONES])
    zone_of = rng.choice(len(names), size=n, p=shares / shares.sum())
    kind = rng.choice(len(ARCHETYPES), size=n, p=np.array([a[2] for a in ARCHETYPES]))
    personal = rng.normal(0.0, 1.0, size=n) + zone_shift[zone_of]
    concentration = rng.uniform(2.0, 8.0, size=n)
    hours = np.arange(24) + 0.5
    activity = np.zeros((n, 24))
    for k, (peaks, weights, _) in enumerate(ARCHETYPES):
        rows = kind == k
        for peak, weight in zip(peaks, weights):
            centre = peak + personal[rows] + rng.normal(0.0, 0.5, size=rows.sum())
            angle = (hours[None, :] - centre[:, None]) * 2 * np.pi / 24
            activity[rows] += weight * np.exp(concentration[rows, None] * (np.cos(angle) - 1))
    sleep_start = 23.5 + np.where(kind == 4, 1.5, 0.0) + personal * 0.5 + rng.normal(0, 0.7, size=n)
    asleep = ((hours[None, :] - sleep_start[:, None]) % 24) < 7
    activity = (activity + 0.15) * np.where(asleep, 0.12, 1.0)
    rhythm = activity / activity.mean(axis=1, keepdims=True)
    population = Population(
        zones=names,
        zone=zone_of.astype(np.int16),
        rhythm=rhythm,
        responsiveness=np.exp(rng.normal(mean_log_responsiveness, 1.1, size=n)),
        click_rate=rng.beta(2.0, 8.0, size=n),
        machine=rng.random(n) < machine_share,
        tenure_weeks=rng.integers(1, weeks + 1, size=n),
        kernel=DelayKernel(mixture_hazard(np.array(VISIBILITY[0]), np.array(VISIBILITY[1]))),
    )
    if dormant_share > 0:  # drawn last, so every other draw is as without dormant people
        population.responsiveness[rng.random(n) < dormant_share] = 0.0
    return population


@dataclass(frozen=True, eq=False)
class Simulated:
    """A simulated history and, per row, what really happened."""

    history: History
    customer: np.ndarray  # (N,) index into the population
    sent_minute: np.ndarray  # (N,) local minute of sending
    human_delay: np.ndarray  # (N,) minutes to the person's own open, NaN if none
    human_minute: np.ndarray  # (N,) local minute of that open, -1 if none
    machine_opened: np.ndarray  # (N,) an automatic open was recorded
    columns: dict[str, np.ndarray]  # the rows as a platform would export them

    def write_csv(self, target: str | PathLike[str]) -> None:
        """Write the rows as a history CSV file (with ``machine_open`` and a ``campaign`` column)."""
        cols = self.columns

        def iso(values: np.ndarray) -> list[str]:
            text = np.datetime_as_string(values, unit="s")
            return ["" if np.isnat(v) else t + "Z" for v, t in zip(values, text)]

        sent, opened, clicked = iso(cols["sent_at"]), iso(cols["opened_at"]), iso(cols["clicked_at"])
        with open(target, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["customer_id", "timezone", "campaign", "sent_at", "opened_at", "clicked_at", "machine_open"])
            for i in range(len(sent)):
                writer.writerow(
                    [cols["customer_id"][i], cols["timezone"][i], f"cmp{cols['day'][i]:03d}",
                     sent[i], opened[i], clicked[i], cols["machine_open"][i]]
                )


def _utc_offsets(zones: tuple[str, ...], first: date, days: int) -> np.ndarray:
    """``(zones, days)`` UTC offsets in seconds at local noon."""
    out = np.zeros((len(zones), days), dtype=np.int64)
    for z, name in enumerate(zones):
        tz = zone(name)
        for d in range(days):
            day = first + timedelta(days=d)
            offset = datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
            out[z, d] = int(offset.total_seconds()) if offset is not None else 0
    return out


def simulate_history(
    population: Population,
    *,
    seed: int,
    start: date = date(2024, 1, 1),
    weeks: int = 16,
    schedule: tuple[tuple[int, int], ...] = ((0, 9 * 60), (2, 18 * 60), (4, 9 * 60)),
    jitter_minutes: int = 40,
    random_times: int = 0,
    flag_share: float = 0.0,
    send_minute: np.ndarray | None = None,
) -> Simulated:
    """Send campaigns and record what a mail platform would log.

    ``schedule`` lists (weekday, local minute) of the weekly campaigns each
    customer receives during the last ``tenure_weeks`` of the period;
    ``send_minute`` (one local minute per customer, as an earlier send-time
    optimiser would have chosen) replaces the schedule's minutes.  With
    ``random_times=k`` every customer instead gets ``k`` messages at random
    local times over the period.  ``flag_share`` of rows carry the
    provider's ``machine_open`` flag.
    """
    rng = np.random.default_rng(seed)
    n = population.n
    if random_times:
        customer = np.repeat(np.arange(n), random_times)
        day = rng.integers(0, weeks * 7, size=customer.shape[0])
        minute = rng.integers(0, SLOTS, size=customer.shape[0]) * STEP
    else:
        first_week = weeks - np.minimum(population.tenure_weeks, weeks)
        per_customer = (weeks - first_week) * len(schedule)
        customer = np.repeat(np.arange(n), per_customer)
        position = np.arange(customer.shape[0]) - np.repeat(np.cumsum(per_customer) - per_customer, per_customer)
        week = first_week[customer] + position // len(schedule)
        entry = np.array(schedule)[position % len(schedule)]
        day = week * 7 + entry[:, 0]
        jitter = rng.integers(0, jitter_minutes // STEP + 1, size=customer.shape[0]) * STEP
        base = entry[:, 1] if send_minute is None else np.asarray(send_minute, dtype=np.int64)[customer]
        day = day + (base + jitter) // 1440  # a late send jittered past midnight goes out the next day
        minute = (base + jitter) % 1440
    slot = minute // STEP
    # Slot of the week (from local Monday 00:00) of each send, for weekly rhythms.
    week_slot = ((start.weekday() + day) % 7) * SLOTS + slot
    if population.week is None:
        rates = population._slot_rates()[customer, slot]
    else:
        table = week_exposure(population.kernel)
        rates = np.empty(customer.shape[0])
        for lo in range(0, customer.shape[0], 1 << 16):
            part = slice(lo, lo + (1 << 16))
            c = customer[part]
            rates[part] = population.responsiveness[c] * np.einsum(
                "nh,nh->n", population.week[c], table[week_slot[part]]
            )
    p_open = 1.0 - np.exp(-rates)
    opened = rng.random(customer.shape[0]) < p_open
    human_delay = np.full(customer.shape[0], np.nan)
    rows = np.flatnonzero(opened)
    hazard = population.kernel.hazard * STEP / 60
    week = population.week
    fine = np.repeat(population.rhythm, 60 // STEP, axis=1) if week is None else None
    for lo in range(0, rows.shape[0], 20000):
        batch = rows[lo : lo + 20000]
        c, s = customer[batch], slot[batch]
        target = -np.log1p(-rng.random(batch.shape[0]) * p_open[batch])
        if week is None:
            assert fine is not None
            steps = (s[:, None] + np.arange(HORIZON)[None, :]) % SLOTS
            activity = fine[c[:, None], steps]
        else:
            steps = (week_slot[batch][:, None] + np.arange(HORIZON)[None, :]) % (7 * SLOTS) // (60 // STEP)
            activity = week[c[:, None], steps]
        cum = np.cumsum(activity * hazard, axis=1) * population.responsiveness[c, None]
        k = np.minimum((cum < target[:, None]).sum(axis=1), HORIZON - 1)
        human_delay[batch] = (k + rng.random(batch.shape[0])) * STEP
    human_minute = np.where(opened, (minute + np.nan_to_num(human_delay)).astype(np.int64) % 1440, -1)

    machine = population.machine[customer]
    fate = rng.random(customer.shape[0])
    machine_delay = np.where(fate < 0.9, rng.exponential(3.0, customer.shape[0]), rng.uniform(60, 1440, customer.shape[0]))
    machine_delay[fate >= 0.97] = np.nan
    open_delay = np.where(machine, machine_delay, human_delay)
    clicked = opened & (rng.random(customer.shape[0]) < population.click_rate[customer])
    click_delay = np.where(clicked, human_delay + rng.exponential(2.0, customer.shape[0]), np.nan)

    offsets = _utc_offsets(population.zones, start, weeks * 7 + 1)
    local_midnight = int((np.datetime64(start, "s") - np.datetime64(0, "s")).astype(np.int64)) + day * 86400
    sent = local_midnight + minute * 60 - offsets[population.zone[customer], day]

    def instants(delay: np.ndarray) -> np.ndarray:
        seconds = sent + np.nan_to_num(delay * 60).astype(np.int64)
        return np.where(np.isnan(delay), np.datetime64("NaT"), seconds.astype("datetime64[s]"))

    has_open = ~np.isnan(open_delay)
    flagged = has_open & (rng.random(customer.shape[0]) < flag_share)
    flag = np.where(flagged, np.where(machine, "true", "false"), "")
    columns = {
        "customer_id": population.customer_ids[customer],
        "timezone": np.asarray(population.zones, dtype=object)[population.zone[customer]],
        "sent_at": sent.astype("datetime64[s]"),
        "opened_at": instants(open_delay),
        "clicked_at": instants(click_delay),
        "machine_open": flag.astype(object),
        "day": day,
    }
    history = History.from_arrays(
        columns["customer_id"],
        columns["sent_at"],
        columns["opened_at"],
        columns["clicked_at"],
        timezones=columns["timezone"],
        machine_open=columns["machine_open"],
    )
    return Simulated(
        history=history,
        customer=customer,
        sent_minute=minute.astype(np.int16),
        human_delay=human_delay,
        human_minute=human_minute.astype(np.int16),
        machine_opened=machine & has_open,
        columns=columns,
    )
