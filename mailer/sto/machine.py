"""Machine opens: recipients whose "opens" are fetched by a proxy, not read.

Apple Mail Privacy Protection downloads every message, tracking pixel
included, within minutes of delivery.  Such opens say when *we* sent, not
when the person reads, so their owners must be learnt from clicks (or the
prior) instead.  A provider's ``machine_open`` flag is used when present;
otherwise recipients are told apart by how many of their opens come within
``fast_minutes`` of sending: a two-component binomial mixture (machine
openers: nearly all opens fast; people: a few) is fitted to all recipients
by EM, and each gets the posterior probability of being a machine opener.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mailer.sto.history import History


@dataclass(frozen=True, eq=False)
class MachineOpens:
    """Who opens by machine, and the fitted mixture behind the verdict.

    >>> import numpy as np
    >>> h = History.from_arrays(
    ...     ["m"] * 4 + ["p"] * 4,
    ...     sent_at=np.array(["2024-05-01T08:00"] * 8, "datetime64[s]"),
    ...     opened_at=np.array(["2024-05-01T08:01"] * 4 + ["2024-05-01T19:00"] * 3 + ["2024-05-01T08:03"],
    ...                        "datetime64[s]"),
    ...     default_timezone="UTC")
    >>> detect_machine_opens(h).customer.tolist()
    [True, False]
    """

    customer: np.ndarray  # (C,) bool: treat this recipient's opens as automatic
    probability: np.ndarray  # (C,) posterior probability of being a machine opener
    share: float  # fitted share of machine openers among recipients with opens
    fast_machine: float  # share of a machine opener's opens that are fast
    fast_human: float  # share of a person's opens that are fast
    fast_minutes: float


def detect_machine_opens(
    history: History,
    *,
    fast_minutes: float = 10.0,
    threshold: float = 0.5,
    iterations: int = 50,
) -> MachineOpens:
    """Classify each customer as a machine opener (flags first, else the fast-open mixture)."""
    c = history.n_customers
    flag = history.machine_open
    timed = (history.open_minute >= 0) & ~np.isnan(history.open_delay) & (flag != 1)
    fast = timed & (history.open_delay < fast_minutes)
    n = np.bincount(history.customer, weights=timed, minlength=c)
    k = np.bincount(history.customer, weights=fast, minlength=c)
    flagged = np.bincount(history.customer, weights=(history.open_minute >= 0) & (flag >= 0), minlength=c)
    flagged_machine = np.bincount(history.customer, weights=(history.open_minute >= 0) & (flag == 1), minlength=c)

    share, p_machine, p_human = 0.2, 0.9, 0.1
    has = n > 0
    kk, nn = k[has], n[has]
    posterior = np.zeros(c)
    if kk.size:
        for _ in range(iterations):
            log_m = kk * np.log(p_machine) + (nn - kk) * np.log1p(-p_machine) + np.log(share)
            log_h = kk * np.log(p_human) + (nn - kk) * np.log1p(-p_human) + np.log1p(-share)
            r = 1.0 / (1.0 + np.exp(np.clip(log_h - log_m, -700, 700)))
            share = float(np.clip(r.mean(), 1e-4, 1 - 1e-4))
            p_machine = float(np.clip((r * kk).sum() / max((r * nn).sum(), 1e-12), 1e-4, 1 - 1e-4))
            p_human = float(np.clip(((1 - r) * kk).sum() / max(((1 - r) * nn).sum(), 1e-12), 1e-4, 1 - 1e-4))
            if p_human > p_machine:  # keep the labels: machines are the fast ones
                p_machine, p_human, share = p_human, p_machine, 1.0 - share
        log_m = kk * np.log(p_machine) + (nn - kk) * np.log1p(-p_machine) + np.log(share)
        log_h = kk * np.log(p_human) + (nn - kk) * np.log1p(-p_human) + np.log1p(-share)
        posterior[has] = 1.0 / (1.0 + np.exp(np.clip(log_h - log_m, -700, 700)))
    by_flag = flagged > 0
    posterior[by_flag] = flagged_machine[by_flag] / flagged[by_flag]
    return MachineOpens(
        customer=posterior >= threshold,
        probability=posterior,
        share=share,
        fast_machine=p_machine,
        fast_human=p_human,
        fast_minutes=fast_minutes,
    )
