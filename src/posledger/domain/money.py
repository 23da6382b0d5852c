"""Integer money and exact decimal rates.

Money is always an ``int`` of minor units. Rates (tax rates, percentages) are kept as exact
fractions parsed from decimal strings, so that every rounding is done once, half up, on an
exact value.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["Rate", "parse_rate", "round_half_up", "apply_rate", "divide_by_one_plus"]

Rate = Fraction


def round_half_up(numerator: int, denominator: int) -> int:
    """Round ``numerator / denominator`` to the nearest integer, ties away from zero.

    This is ROUND_HALF_UP as Python's ``decimal`` module means it, on exact integers, so no
    float ever touches money.
    """
    if denominator == 0:
        raise ZeroDivisionError("round_half_up with a zero denominator")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return sign * magnitude


def parse_rate(text: str) -> Rate:
    """Parse a decimal string such as ``"0.08875"`` into an exact rate.

    Raises ``ValueError`` for anything that is not a finite, non-negative decimal.
    """
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as error:
        raise ValueError(f"not a decimal string: {text!r}") from error
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a finite non-negative decimal: {text!r}")
    return Fraction(value)


def apply_rate(amount: int, rate: Rate) -> int:
    """``round(amount * rate)``, half up."""
    return round_half_up(amount * rate.numerator, rate.denominator)


def divide_by_one_plus(amount: int, rate: Rate) -> int:
    """``round(amount / (1 + rate))``, half up: the tax-exclusive part of an inclusive amount."""
    return round_half_up(amount * rate.denominator, rate.denominator + rate.numerator)
