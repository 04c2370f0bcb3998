"""An order line's revenue, in integer cents: price × quantity, rounded once per line.

The KPIs sum cents (Redis ``HINCRBY``), never floats, so a total is exact whatever the order of the lines, and
``recs simulate``'s ledger, which sums the same function's values, equals it to the cent.
"""

from __future__ import annotations

CENTS_PER_UNIT = 100


def line_cents(price: float, quantity: int) -> int:
    """Revenue of one order line in cents: ``round(price × quantity × 100)`` (half to even)."""
    return round(price * quantity * CENTS_PER_UNIT)


def amount(cents: int) -> float:
    """Cents as an amount of money (two decimals)."""
    return cents / CENTS_PER_UNIT
