"""Amounts of money: a Decimal and an ISO 4217 currency code, never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency.

    >>> Money(Decimal("15.00"), "USD")
    Money(amount=Decimal('15.00'), currency='USD')
    """

    amount: Decimal
    currency: str
