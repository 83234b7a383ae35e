"""Why each product was chosen, kept for the preview (never shown to the customer).

Each pick gets one reason code (:data:`REASONS`): for a customer without
history, that they are new (and whether the pick was a bestseller or new
in); for an exploration pick, the category they never bought from;
otherwise the strongest of its affinity, brand, popularity and newness
contributions. :func:`describe` turns a code and a product into a line a
person reads in the preview.
"""

from __future__ import annotations

import numpy as np

from mailer.personalise.catalogue import Catalogue
from mailer.personalise.scoring import TERMS

__all__ = ["REASONS", "describe", "reason_codes"]

REASONS = ("", "affinity", "brand", "popular", "new", "exploration", "cold_start_bestseller", "cold_start_new")
_DOMINANT = (TERMS.index("affinity"), TERMS.index("brand"), TERMS.index("popularity"), TERMS.index("newness"))
_POPULARITY, _NEWNESS = TERMS.index("popularity"), TERMS.index("newness")


def reason_codes(
    values: np.ndarray, weights: tuple[float, ...], *, warm: np.ndarray, explore: np.ndarray, picked: np.ndarray
) -> np.ndarray:
    """Codes for picks: ``values`` is ``(len(TERMS), B, n)``, ``warm`` ``(B,)``, ``explore`` and ``picked`` ``(B, n)``.

    >>> v = np.zeros((8, 1, 2)); v[0, 0, 0] = 0.9; v[4, 0, 1] = 0.8
    >>> reason_codes(v, (3.0, 1.0, 1.5, 1.0, 1.0, 0.5, 0.5, 0.25), warm=np.array([True]),
    ...              explore=np.zeros((1, 2), bool), picked=np.ones((1, 2), bool)).tolist()
    [[1, 3]]
    """
    contributions = np.stack([weights[i] * values[i] for i in _DOMINANT])
    codes = (np.argmax(contributions, axis=0) + 1).astype(np.uint8)
    codes = np.where(explore, REASONS.index("exploration"), codes)
    cold = np.where(
        weights[_NEWNESS] * values[_NEWNESS] > weights[_POPULARITY] * values[_POPULARITY],
        REASONS.index("cold_start_new"),
        REASONS.index("cold_start_bestseller"),
    )
    codes = np.where(warm[:, None], codes, cold)
    return np.where(picked, codes, 0).astype(np.uint8)


def describe(code: int, product: int, catalogue: Catalogue) -> str:
    """A line for the preview.

    >>> from decimal import Decimal
    >>> from mailer.content.money import Money
    >>> from mailer.inputs.products import Product
    >>> cat = Catalogue.from_products([Product(id="D1", title="Dress", price=Money(Decimal("60"), "GBP"),
    ...     link="https://s.test/d1", category=("Women", "Dresses", "Midi"), brand="Hollis & Wren")])
    >>> describe(1, 0, cat), describe(2, 0, cat), describe(5, 0, cat)
    ('buys Women > Dresses', 'buys Hollis & Wren', 'exploration: never bought Women')
    """
    name = REASONS[code]
    if name == "affinity":
        band = int(catalogue.band[product])
        return f"buys {catalogue.categories.names[band]}" if band >= 0 else "buys similar"
    if name == "brand":
        brand = int(catalogue.brand[product])
        return f"buys {catalogue.brands[brand]}" if brand >= 0 else "buys similar"
    if name == "exploration":
        top = int(catalogue.path[product, 0])
        return f"exploration: never bought {catalogue.categories.names[top]}" if top >= 0 else "exploration"
    return {
        "popular": "bestseller",
        "new": "new in",
        "cold_start_bestseller": "new customer: bestseller",
        "cold_start_new": "new customer: new in",
        "": "",
    }[name]
