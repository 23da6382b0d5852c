"""Moving weighted-average cost per SKU and location, kept exactly as integers.

CONTRACT section 5 ("Costing"). A position holds on-hand ``on_hand`` units and ``value``
minor units. The *last unit cost* is the average after the most recent movement that left
on-hand positive; it is kept as the pair (value, on_hand) of that moment so that no fraction
is ever rounded before it is multiplied by a quantity.
"""

from __future__ import annotations

import msgspec

from posledger.domain.money import round_half_up

__all__ = ["StockPosition", "Movement", "receive", "gain", "add_at_cost", "issue", "cost_at_last"]


class StockPosition(msgspec.Struct, frozen=True, gc=False):
    on_hand: int = 0
    value: int = 0
    last_cost_value: int = 0
    last_cost_qty: int = 0  # 0: no positive position yet, so the item's standard cost applies


class Movement(msgspec.Struct, frozen=True, gc=False):
    """The result of one movement: the new position and the signed value that moved."""

    position: StockPosition
    qty: int
    value: int


def _after(position: StockPosition, qty: int, value: int) -> Movement:
    on_hand = position.on_hand + qty
    new_value = position.value + value
    if on_hand > 0:
        new = StockPosition(on_hand, new_value, new_value, on_hand)
    else:
        new = StockPosition(on_hand, new_value, position.last_cost_value, position.last_cost_qty)
    return Movement(new, qty, value)


def cost_at_last(position: StockPosition, qty: int, standard_cost: int) -> int:
    """``qty`` units at the last unit cost, else at the item's standard cost."""
    if position.last_cost_qty > 0:
        return round_half_up(qty * position.last_cost_value, position.last_cost_qty)
    return qty * standard_cost


def receive(position: StockPosition, qty: int, unit_cost: int) -> Movement:
    """A purchase receipt: ``Q += q``, ``V += q * c``."""
    return _after(position, qty, qty * unit_cost)


def gain(position: StockPosition, qty: int, standard_cost: int) -> Movement:
    """A gain (adjustment, count) at the current average, else at the last unit cost."""
    if position.on_hand > 0:
        value = round_half_up(position.value * qty, position.on_hand)
    else:
        value = cost_at_last(position, qty, standard_cost)
    return _after(position, qty, value)


def add_at_cost(position: StockPosition, qty: int, value: int) -> Movement:
    """Units coming in at a known cost: a transfer in, a restocked return, a void."""
    return _after(position, qty, value)


def issue(position: StockPosition, qty: int, standard_cost: int) -> Movement:
    """Units going out (sale, transfer out, loss). ``Movement.qty`` and ``.value`` are negative."""
    on_hand = position.on_hand
    if qty <= on_hand:
        cost = position.value if qty == on_hand else round_half_up(position.value * qty, on_hand)
    elif on_hand > 0:
        cost = position.value + cost_at_last(position, qty - on_hand, standard_cost)
    else:
        cost = cost_at_last(position, qty, standard_cost)
    return _after(position, -qty, -cost)
