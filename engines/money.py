"""Money helpers shared by every engine: the one definition of a month and Decimal rounding.

Prices arrive as $/hour (EC2) or $/GB-month (EBS); everything the product shows is $/month.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# AWS bills and quotes monthly estimates with 730 hours (365 * 24 / 12); defined once here.
HOURS_PER_MONTH = Decimal(730)
CENT = Decimal("0.01")
ZERO = Decimal(0)


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert a price to Decimal through its string form, so 0.096 stays 0.096 and not 0.0959999…"""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def monthly_from_hourly(hourly: Decimal, count: int | Decimal = 1) -> Decimal:
    """Monthly cost of `count` units billed `hourly` $/hour, rounded to the cent."""
    return quantize(hourly * HOURS_PER_MONTH * Decimal(count))


def quantize(amount: Decimal) -> Decimal:
    """Round money to the cent, half up, as a bill would."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
