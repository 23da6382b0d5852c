"""Every field error of a refused event at once (CONTRACT section 7), in the contract's paths,
never echoing a value."""

from __future__ import annotations

from typing import Any

import pytest

from posledger.domain.codec import parse_event
from posledger.domain.errors import InvalidInput
from posledger.domain.every_error import every_error
from tests.support.builders import line, sale, stock_event, tender


def _errors(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidInput) as refused:
        parse_event(document)
    return [(e.type, e.field, e.detail) for e in every_error(document, refused.value)]


def test_five_mistakes_in_a_sale_are_five_errors_the_decoders_first_one_first() -> None:
    event = sale([line("A", 0, 1299, tax=115), line("B", 1, 100)], [tender("cash", 1414)])
    event["seq"] = 0
    event["payload"]["lines"][1]["discout"] = 200
    event["payload"]["orignal"] = None
    event["payload"]["currency"] = 5
    del event["occurred_at"]
    errors = _errors(event)
    assert sorted(field for _, field, _ in errors) == [
        "occurred_at", "payload.currency", "payload.lines[0].qty", "payload.lines[1].discout", "payload.orignal",
        "seq"]
    assert errors[0][1] == "seq"  # the codec's own first error leads
    by_field = {field: (code, detail) for code, field, detail in errors}
    assert by_field["payload.lines[1].discout"] == ("unknown_field", 'is not a field of the contract; did you mean "discount"?')
    assert by_field["payload.orignal"][1].endswith('did you mean "original"?')
    assert by_field["occurred_at"] == ("invalid_event", "is required")
    assert by_field["payload.lines[0].qty"] == ("invalid_event", "must be at least 1")


def test_a_value_is_never_repeated_and_a_nullable_field_says_what_its_value_must_be() -> None:
    event = stock_event("stock.received", {"location_id": "S1", "supplier_ref": "4111111111111111x",
                                           "lines": [{"sku": "A", "qty": "4539160000000004", "unit_cost": 1}]})
    event["business_day"] = "not a day"
    errors = _errors(event)
    assert ("invalid_event", "business_day", "must be a date") in errors
    assert all("4539" not in detail and "4111" not in detail for _, _, detail in errors)


def test_an_unknown_event_type_has_its_one_error() -> None:
    event = sale([line()], [tender("cash", 1299)], event_type="sale.complete")
    assert [field for _, field, _ in _errors(event)] == ["type"]
