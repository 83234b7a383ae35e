"""Product slot selection: six products for a million customers from a 10,000-product catalogue.

Compares, in one run, on the same generated shop (``tests.support.synthetic``):

* ``mailer``: :class:`mailer.personalise.Selector` over batches of customers
  (profiles fitted once, candidate pools, vectorised scoring and greedy
  diversity; no Python loop per customer or product);
* the straightforward way: :func:`tests.support.reference.select_reference`,
  one customer at a time, scoring every product in a Python loop. It is run
  on a subset and its time *extrapolated* to all customers (it would take
  hours), and labelled so.

Reports customers per second, peak resident memory of the whole process and
of the selection phase alone (which runs in batches, so it stays flat as
customers grow), and how close the pooled picks are to the full scan's on
the subset (identical picks, and total score without the noise term).

    python bench/personalise.py [--customers 1000000] [--products 10000] [--naive 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mailer.personalise import Catalogue, PurchaseTable, Recipients, Selector, fit_profiles  # noqa: E402
from mailer.personalise.candidates import eligible_products  # noqa: E402
from tests.support.reference import select_reference  # noqa: E402
from mailer.personalise.scoring import score, terms, weight_vector  # noqa: E402
from tests.support.synthetic import generate  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so a phase's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=6)
    parser.add_argument("--naive", type=int, default=200, help="customers the per-customer loop runs on")
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    t0 = time.perf_counter()
    shop = generate(args.products, args.customers, seed=args.seed)
    t_generate = time.perf_counter() - t0
    print(f"generated {len(shop.products):,} products, {args.customers:,} customers, "
          f"{shop.purchase_product.size:,} order lines in {t_generate:.1f} s")  # fmt: skip

    t0 = time.perf_counter()
    catalogue = Catalogue.from_products(shop.products, added=shop.added)
    purchases = PurchaseTable.from_arrays(
        catalogue,
        shop.customer_ids[shop.purchase_customer],
        product=shop.purchase_product,
        day=shop.purchase_day,
        quantity=shop.purchase_quantity,
        price=shop.purchase_price,
        markets=shop.markets[shop.purchase_customer],
    )
    recipients = Recipients.from_arrays(shop.customer_ids, genders=shop.genders, markets=shop.markets)
    t_tables = time.perf_counter() - t0
    t0 = time.perf_counter()
    profiles = fit_profiles(catalogue, purchases, now=shop.today)
    t_fit = time.perf_counter() - t0
    del purchases
    slots = {"picks": args.slots}
    selector = Selector(profiles, slots)
    t_pools = time.perf_counter() - t0 - t_fit
    print(f"arrays {t_tables:.1f} s, fit profiles {t_fit:.1f} s, pools {t_pools:.2f} s "
          f"({int(eligible_products(profiles, selector.rules).sum()):,} showable products); RSS {rss_mb():,.0f} MB")  # fmt: skip

    picks = np.empty((len(recipients), args.slots), dtype=np.int32)
    before = rss_mb()
    phase_peak = reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(recipients), args.chunk):
        batch = selector(recipients.take(slice(start, start + args.chunk)))
        picks[start : start + len(batch)] = batch.picks["picks"]
    t_select, c_select = time.perf_counter() - t0, time.process_time() - c0
    select_peak = peak_mb()
    total = t_tables + t_fit + t_pools + t_select
    rate = len(recipients) / t_select

    n = min(args.naive, len(recipients))
    sample = recipients.take(slice(0, n))
    t0 = time.perf_counter()
    slow = select_reference(profiles, sample, slots)
    t_naive = time.perf_counter() - t0
    naive_rate = n / t_naive
    naive_total = len(recipients) / naive_rate

    features = profiles.features(sample, rules=selector.rules, total_slots=args.slots)
    everything = np.broadcast_to(np.arange(len(catalogue)), (n, len(catalogue)))
    no_noise = list(weight_vector(selector.rules.weights))
    no_noise[-1] = 0.0
    full = score(terms(profiles, features, everything, selector.rules, selector.columns).values, tuple(no_noise))
    rows = np.arange(n)[:, None]

    def total_score(chosen: np.ndarray) -> float:
        return float(np.where(chosen >= 0, full[rows, np.maximum(chosen, 0)], 0.0).sum())

    fast = picks[:n]
    same = float((fast == slow.picks["picks"]).mean())
    ratio = total_score(fast) / total_score(slow.picks["picks"])
    filled = float((picks >= 0).mean())

    print()
    print(f"| {args.slots} products × {len(recipients):,} customers, {len(catalogue):,}-product catalogue, one core | time | customers/s |")
    print("|---|---|---|")
    print(f"| mailer: selection (batches of {args.chunk}) | {t_select:.1f} s ({c_select:.1f} s CPU) | {rate:,.0f} |")
    print(f"| mailer: arrays + fit + pools + selection | {total:.1f} s | {len(recipients) / total:,.0f} |")
    print(f"| per-customer Python loop, measured on {n} customers | {t_naive:.1f} s | {naive_rate:,.1f} |")
    print(f"| per-customer Python loop, **extrapolated** to {len(recipients):,} | {naive_total / 3600:.1f} h | {naive_rate:,.1f} |")
    print(f"| ratio (loop ÷ mailer selection) | {naive_total / t_select:,.0f}× | |")
    print()
    growth = (select_peak - before) if phase_peak else float("nan")
    print(f"memory: {before:,.0f} MB resident before selection (shop, arrays, profiles); selection phase peak "
          f"{select_peak:,.0f} MB ({growth:+,.0f} MB: batches keep it flat); whole-process peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB (getrusage, generation and the "
          "full-scan check included)")  # fmt: skip
    print(f"slots filled: {filled:.1%}; on the {n}-customer subset, pooled picks equal the full scan's "
          f"{same:.1%} of the time and reach {ratio:.1%} of its total score (noise term left out)")


if __name__ == "__main__":
    main()
