"""Every bad input is refused with the name of the field at fault."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from posledger.domain.codec import parse_event
from posledger.domain.errors import InvalidInput, PanDetected
from posledger.domain.events import Sale
from posledger.domain.pan import luhn_valid
from tests.support.builders import line, sale, stock_event, tender


def good_sale() -> dict[str, Any]:
    return sale([line("A", 2, 1299, discount=200, tax=213)],
                [tender("card", 2611, card={"scheme": "visa", "last4": "4242", "auth_code": "A1",
                                            "terminal_id": "T1"})])


def mutated(path: list[Any], value: Any, delete: bool = False) -> dict[str, Any]:
    document = copy.deepcopy(good_sale())
    target = document
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def test_a_good_sale_parses_into_typed_values() -> None:
    event = parse_event(good_sale())
    assert isinstance(event.payload, Sale)
    assert event.payload.lines[0].qty == 2
    assert event.envelope.occurred_at.utcoffset() is not None


@pytest.mark.parametrize(("path", "value", "field"), [
    (["type"], "sale.exploded", "type"),
    (["event_id"], "has space", "event_id"),
    (["event_id"], "x" * 65, "event_id"),
    (["store_id"], 12, "store_id"),
    (["seq"], 0, "seq"),
    (["seq"], "42", "seq"),
    (["seq"], 4.2, "seq"),
    (["occurred_at"], "2026-11-22T10:15:03", "occurred_at"),
    (["occurred_at"], "yesterday", "occurred_at"),
    (["business_day"], "2026-13-01", "business_day"),
    (["payload", "currency"], "usd", "payload.currency"),
    (["payload", "receipt_no"], "R\x001", "payload.receipt_no"),
    (["payload", "currency"], "XYZ", "payload.currency"),
    (["payload", "lines", 0, "qty"], 0, "payload.lines[0].qty"),
    (["payload", "lines", 0, "qty"], -1, "payload.lines[0].qty"),
    (["payload", "lines", 0, "qty"], 1.5, "payload.lines[0].qty"),
    (["payload", "lines", 0, "unit_price"], 12.99, "payload.lines[0].unit_price"),
    (["payload", "lines", 0, "unit_price"], "1299", "payload.lines[0].unit_price"),
    (["payload", "lines", 0, "unit_price"], True, "payload.lines[0].unit_price"),
    (["payload", "lines", 0, "tax"], -5, "payload.lines[0].tax"),
    (["payload", "lines", 0, "discount"], 99999, "payload.lines[0].discount"),
    (["payload", "lines"], [], "payload.lines"),
    (["payload", "lines"], "many", "payload.lines"),
    (["payload", "tenders", 0, "tender"], "cheque", "payload.tenders[0].tender"),
    (["payload", "tenders", 0, "amount"], 26.11, "payload.tenders[0].amount"),
    (["payload", "tenders", 0, "card", "track2"], "x", "payload.tenders[0].card.track2"),
    (["payload", "tenders", 0, "card", "last4"], "42", "payload.tenders[0].card.last4"),
    (["payload"], "not an object", "payload"),
])
def test_a_bad_field_is_named(path: list[Any], value: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_event(mutated(path, value))
    assert raised.value.field == field
    assert raised.value.detail


@pytest.mark.parametrize(("path", "field"), [
    (["event_id"], "event_id"), (["type"], "type"), (["register_id"], "register_id"),
    (["seq"], "seq"), (["occurred_at"], "occurred_at"), (["payload"], "payload"),
    (["payload", "receipt_no"], "payload.receipt_no"), (["payload", "currency"], "payload.currency"),
    (["payload", "lines", 0, "sku"], "payload.lines[0].sku"),
    (["payload", "lines", 0, "tax_code"], "payload.lines[0].tax_code"),
])
def test_a_missing_field_is_named(path: list[Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_event(mutated(path, None, delete=True))
    assert raised.value.field == field
    assert "required" in raised.value.detail


def test_a_stock_event_must_not_carry_a_register_or_seq() -> None:
    event = stock_event("stock.received", {"location_id": "S1", "lines": [{"sku": "A", "qty": 1, "unit_cost": 5}]})
    parse_event(event)
    with pytest.raises(InvalidInput) as raised:
        parse_event({**event, "seq": 3})
    assert raised.value.field == "seq"


def test_an_adjustment_of_zero_is_refused() -> None:
    event = stock_event("stock.adjusted", {"location_id": "S1", "lines": [{"sku": "A", "qty_delta": 0}]})
    with pytest.raises(InvalidInput) as raised:
        parse_event(event)
    assert raised.value.field == "payload.lines[0].qty_delta"


def test_a_return_line_needs_a_disposition_on_the_line_or_the_payload() -> None:
    event = sale([line()], [], event_type="return.completed")
    with pytest.raises(InvalidInput) as raised:
        parse_event(event)
    assert raised.value.field == "payload.lines[0].disposition"


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")


@pytest.mark.parametrize(("path", "value"), [
    (["payload", "tenders", 0, "card", "pan"], "4242424242424242"),
    (["payload", "customer_id"], "4111 1111 1111 1111"),
    (["payload", "cashier_id"], "card 5555-5555-5555-4444 ok"),
    (["payload", "lines", 0, "note"], 4242424242424242),
    (["payload", "tenders", 0, "cvv"], "123"),
    (["payload", "tenders", 0, "CVC2"], "123"),
])
def test_card_numbers_and_cvv_anywhere_are_refused_as_pan_detected(path: list[Any], value: Any) -> None:
    with pytest.raises(PanDetected) as raised:
        parse_event(mutated(path, value))
    assert raised.value.type == "pan_detected"
    assert str(value) not in str(raised.value)


def test_digit_runs_that_fail_luhn_or_are_short_are_not_card_numbers() -> None:
    parse_event(mutated(["payload", "customer_id"], "4242424242424241"))
    parse_event(mutated(["payload", "customer_id"], "424242424242"))
