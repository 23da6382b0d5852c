from __future__ import annotations

from fractions import Fraction

import pytest

from posledger.domain.costing import StockPosition, add_at_cost, gain, issue, receive
from posledger.domain.events import SaleLine
from posledger.domain.money import apply_rate, divide_by_one_plus, parse_rate, round_half_up
from posledger.domain.posting.sales import price_line


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    (5, 2, 3), (-5, 2, -3), (7, 2, 4), (4, 3, 1), (5, 3, 2), (-4, 3, -1), (0, 7, 0), (1, -2, -1),
])
def test_round_half_up_rounds_ties_away_from_zero(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_up(numerator, denominator) == expected


def test_rates_are_exact_decimals_not_floats() -> None:
    assert parse_rate("0.08875") == Fraction(8875, 100000)
    assert apply_rate(2398, parse_rate("0.08875")) == 213  # 212.8225
    assert apply_rate(200, parse_rate("0.0025")) == 1  # 0.5 rounds half up
    assert divide_by_one_plus(120, parse_rate("0.2")) == 100


@pytest.mark.parametrize("text", ["abc", "-0.1", "NaN", "Infinity", ""])
def test_a_rate_that_is_not_a_non_negative_decimal_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_tax_is_rounded_half_up_per_line_in_an_exclusive_store() -> None:
    line = SaleLine(1, "A", 1, 250, 0, None, "X", 0)
    assert price_line(line, parse_rate("0.05"), False).expected_tax == 13  # 12.5 -> 13


def test_an_inclusive_line_splits_tax_out_of_the_price() -> None:
    line = SaleLine(1, "A", 3, 1000, 150, None, "X", 475)  # incl 2850 at 20 %: 2375 + 475
    priced = price_line(line, parse_rate("0.2"), True)
    assert (priced.net, priced.expected_tax, priced.discount, priced.gross) == (2375, 475, 125, 2500)
    assert priced.total == 2850


def test_a_receipt_adds_quantity_and_value() -> None:
    moved = receive(StockPosition(), 10, 600)
    assert (moved.position.on_hand, moved.position.value) == (10, 6000)
    assert moved.position.last_cost_qty == 10


def test_an_issue_takes_the_moving_average_rounded_half_up() -> None:
    position = receive(receive(StockPosition(), 1, 100).position, 2, 101).position  # 3 units, 302
    moved = issue(position, 1, 0)
    assert moved.value == -101  # 100.67
    assert moved.position.value == 201


def test_issuing_everything_takes_all_the_value_so_nothing_is_left_behind() -> None:
    position = receive(receive(StockPosition(), 1, 100).position, 2, 101).position
    first = issue(position, 1, 0).position
    last = issue(first, 2, 0)
    assert last.position == StockPosition(0, 0, first.value, first.on_hand)
    assert last.value == -201


def test_issuing_beyond_on_hand_takes_value_plus_extra_units_at_the_last_unit_cost() -> None:
    position = receive(StockPosition(), 2, 300).position
    moved = issue(position, 5, 999)
    assert moved.value == -(600 + 3 * 300)
    assert moved.position.on_hand == -3 and moved.position.value == -900


def test_with_no_stock_ever_an_issue_uses_the_standard_cost() -> None:
    moved = issue(StockPosition(), 2, 450)
    assert moved.value == -900 and moved.position.on_hand == -2


def test_negative_stock_then_a_receipt_follows_the_contract_rules() -> None:
    position = issue(StockPosition(), 2, 450).position  # -2, -900
    moved = receive(position, 5, 500)
    assert (moved.position.on_hand, moved.position.value) == (3, 1600)


def test_a_gain_with_nothing_on_hand_uses_the_last_unit_cost() -> None:
    position = receive(StockPosition(), 3, 700).position
    empty = issue(position, 3, 0).position
    assert gain(empty, 2, 1).value == 1400


def test_a_gain_on_hand_uses_the_current_average() -> None:
    position = receive(receive(StockPosition(), 1, 100).position, 2, 101).position
    assert gain(position, 1, 0).value == 101


def test_a_transfer_in_or_restock_adds_exactly_the_given_cost() -> None:
    moved = add_at_cost(receive(StockPosition(), 1, 100).position, 1, 333)
    assert moved.position.value == 433 and moved.value == 333
