"""Customers as a retailer knows them: sign-up data plus purchase history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Customer:
    """One recipient. ``locale`` is normalised to Babel form (``de_DE``),
    ``currency`` to an upper-case ISO 4217 code, ``timezone`` an IANA name."""

    id: str
    email: str
    name: str
    locale: str
    currency: str
    timezone: str
    gender: str | None = None
    birthday: date | None = None
