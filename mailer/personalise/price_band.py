"""Price bands: what each customer pays, per category, learnt from what they paid.

Showing a £1,000 handbag to a customer whose bags cost £30 insults them and
wastes the slot. For each customer and each category at the band level
(``SelectionRules.band_depth``, e.g. ``Accessories > Bags``) they bought
from, :func:`learn_price_bands` keeps the recency-weighted mean log price
they paid (the *centre*) and the most they paid (the *top*). Across
categories it keeps their *price index*: how far above or below each
category's median catalogue price they usually buy (in log units).

Selection then, per product (see :func:`band_limits`):

* in a category they bought from, never shows a product dearer than
  ``top × (1 + price_headroom)``;
* in one they never bought from, centres their band on that category's
  median price moved by their price index, and never shows a product above
  ``centre × exp(band_width) × (1 + price_headroom)``;
* without any priced purchase, knows nothing and limits nothing.

Prices far from the centre also lose score (``weights.price``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mailer.personalise.affinity import purchase_weights
from mailer.personalise.catalogue import Catalogue
from mailer.personalise.purchases import PurchaseTable
from mailer.personalise.ragged import Ragged, sum_by_key, take_rows
from mailer.personalise.rules import SelectionRules

__all__ = ["PriceBands", "band_limits", "learn_price_bands"]


@dataclass(frozen=True, eq=False)
class PriceBands:
    """Per-customer bands (ragged over band-level category codes, log prices) and price index (NaN: unknown)."""

    bands: Ragged
    category: np.ndarray
    centre: np.ndarray
    top: np.ndarray
    index: np.ndarray


def learn_price_bands(
    purchases: PurchaseTable, catalogue: Catalogue, *, rules: SelectionRules, today: int
) -> PriceBands:
    """Bands from the priced, non-sensitive purchases up to day ``today``."""
    n = purchases.n_customers
    weight = purchase_weights(purchases, today=today, half_life=rules.affinity_half_life)
    band = purchases.path[:, rules.band_depth - 1]
    keep = (weight > 0) & np.isfinite(purchases.price) & (purchases.price > 0) & (band >= 0)
    rows, band, w = purchases.customer[keep], band[keep], weight[keep]
    log_price = np.log(purchases.price[keep])
    n_codes = max(len(catalogue.categories), 1)
    b_rows, b_codes, w_sum = sum_by_key(rows, band, w, n_codes)
    _, _, wp_sum = sum_by_key(rows, band, w * log_price, n_codes)
    centre = wp_sum / w_sum

    keys = rows.astype(np.int64) * n_codes + band
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if keys.size else np.zeros(0, np.int64)
    top = np.maximum.reduceat(log_price[order], starts) if keys.size else np.zeros(0)

    reference = catalogue.band_reference[band] if band.size else np.zeros(0)
    known = np.isfinite(reference)
    w_known = np.bincount(rows[known], weights=w[known], minlength=n)
    d_known = np.bincount(rows[known], weights=(w * (log_price - np.where(known, reference, 0.0)))[known], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(w_known > 0, d_known / w_known, np.nan)
    return PriceBands(
        bands=Ragged.from_rows(b_rows, n_rows=n),
        category=b_codes.astype(np.int32),
        centre=centre.astype(np.float32),
        top=top.astype(np.float32),
        index=index.astype(np.float32),
    )


def band_limits(
    bands: PriceBands, catalogue: Catalogue, rows: np.ndarray, *, rules: SelectionRules
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ``(B, V + 1)`` centre and ceiling (log prices) for customer rows (-1: none).

    Column ``V`` (also reached by code -1) is for uncategorised products:
    NaN centre, no ceiling. A NaN centre means no price preference.
    """
    rows = np.asarray(rows, dtype=np.int64)
    b = rows.shape[0]
    v = len(catalogue.categories)
    headroom = math.log1p(rules.price_headroom)
    index = take_rows(bands.index, rows, np.nan)
    centre = np.full((b, v + 1), np.nan)
    centre[:, :v] = catalogue.band_reference[None, :] + index[:, None]
    ceiling = centre + rules.band_width + headroom
    owner, flat = bands.bands.gather(rows)
    codes = bands.category[flat]
    centre[owner, codes] = bands.centre[flat].astype(np.float64)
    ceiling[owner, codes] = bands.top[flat].astype(np.float64) + headroom
    ceiling[np.isnan(ceiling)] = np.inf
    return centre, ceiling
