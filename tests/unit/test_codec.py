"""The event codec, type by type: every required field, every optional one, wrong types and
unknown fields, each answered with its field path; and the contract's version-2 input rules."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posledger.domain.codec import UnknownField, decode_event, parse_event
from posledger.domain.errors import InvalidInput, PanDetected
from posledger.domain.events import EVENT_TYPES

ENVELOPE = {"event_id": "S1-R1-1", "store_id": "S1", "register_id": "S1-R1", "seq": 1,
            "occurred_at": "2026-11-22T10:15:03-05:00"}
STOCK_ENVELOPE = {"event_id": "S1-STK-1", "store_id": "S1", "register_id": None,
                  "occurred_at": "2026-11-22T06:00:00-05:00"}
LINE = {"line_no": 1, "sku": "SKU-1", "qty": 2, "unit_price": 1299, "discount": 200, "promo_id": "BF-10",
        "tax_code": "STD", "tax": 213}
CARD = {"scheme": "visa", "last4": "4242", "auth_code": "A1B2C3", "terminal_id": "T-1", "first6": "424242",
        "psp_reference": "PSP-881"}
SALE = {"receipt_no": "R1-42", "cashier_id": "C7", "customer_id": None, "currency": "USD", "channel": "store",
        "lines": [LINE], "tenders": [{"tender": "cash", "amount": 2000, "tendered": 2000, "change": 0},
                                     {"tender": "card", "amount": 611, "card": CARD}],
        "totals": {"net": 2398, "tax": 213, "gross": 2611}}
RETURN_LINE = {**LINE, "reason": "too small", "disposition": "restock"}

PAYLOADS: dict[str, dict[str, Any]] = {
    "sale.completed": SALE,
    "order.fulfilled": {**SALE, "order_id": "WEB-1"},
    "return.completed": {"receipt_no": "RT-1", "currency": "USD", "reason": "changed mind",
                         "disposition": "damaged", "lines": [RETURN_LINE], "tenders": [{"tender": "cash", "amount": 100}],
                         "original": {"store_id": "S1", "receipt_no": "R1-42"}},
    "exchange.completed": {"receipt_no": "X-1", "currency": "USD", "return_lines": [RETURN_LINE],
                           "sale_lines": [LINE], "tenders": [{"tender": "cash", "amount": -50}],
                           "original": {"store_id": "S1", "receipt_no": "R1-42"}},
    "sale.voided": {"receipt_no": "R1-42", "reason": "mistake", "approved_by": "M1"},
    "register.opened": {"session_id": "SES-1", "cashier_id": "C7", "opening_float": 20000},
    "cash.moved": {"session_id": "SES-1", "kind": "drop", "amount": 5000, "reason": "safe"},
    "register.closed": {"session_id": "SES-1", "counted": {"cash": 123400}, "approved_by": None},
    "stock.received": {"location_id": "S1", "reference": "PO-1",
                       "lines": [{"sku": "SKU-1", "qty": 10, "unit_cost": 600}]},
    "stock.transferred": {"from_location_id": "S1", "to_location_id": "S2", "reference": "TR-1",
                          "lines": [{"sku": "SKU-1", "qty": 3}]},
    "stock.adjusted": {"location_id": "S1", "reason": "breakage", "lines": [{"sku": "SKU-1", "qty_delta": -2}]},
    "stock.counted": {"location_id": "S1", "lines": [{"sku": "SKU-1", "counted_qty": 7}]},
}


def event(event_type: str) -> dict[str, Any]:
    envelope = STOCK_ENVELOPE if event_type.startswith("stock.") else ENVELOPE
    return copy.deepcopy({**envelope, "type": event_type, "payload": PAYLOADS[event_type]})


def paths(document: Any, prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    """Every key path in ``document``: (contract field path, list of keys to reach it)."""
    if isinstance(document, dict):
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path, [key]
            for child, keys in paths(value, path):
                yield child, [key, *keys]
    elif isinstance(document, list):
        for index, value in enumerate(document):
            for child, keys in paths(value, f"{prefix}[{index}]"):
                yield child, [index, *keys]


def at(document: Any, keys: list[Any]) -> Any:
    for key in keys:
        document = document[key]
    return document


CASES = [(event_type, path, keys) for event_type in EVENT_TYPES for path, keys in paths(event(event_type))]
# Without its type an event has no known payload; its absence is tested among the bounds below.
TYPED_CASES = [(event_type, path, keys) for event_type, path, keys in CASES if keys != ["type"]]


def test_every_type_has_a_complete_example() -> None:
    assert set(PAYLOADS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_type_decodes_from_bytes_and_from_objects_alike(event_type: str) -> None:
    document = event(event_type)
    from_bytes = decode_event(json.dumps(document).encode())
    from_object = parse_event(document)
    assert from_bytes == from_object
    assert from_bytes.envelope.type == event_type


@pytest.mark.parametrize(("event_type", "path", "keys"), TYPED_CASES)
def test_a_missing_field_is_optional_or_named_as_required(event_type: str, path: str, keys: list[Any]) -> None:
    document = event(event_type)
    del at(document, keys[:-1])[keys[-1]]
    try:
        parse_event(document)
    except InvalidInput as error:
        assert error.field == path, error
        assert "required" in error.detail
        assert not isinstance(error, UnknownField)


@pytest.mark.parametrize(("event_type", "path", "keys"), CASES)
def test_a_value_of_the_wrong_type_is_named(event_type: str, path: str, keys: list[Any]) -> None:
    document = event(event_type)
    value = at(document, keys)
    at(document, keys[:-1])[keys[-1]] = "text" if isinstance(value, dict | list) else {"an": "object"}
    with pytest.raises(InvalidInput) as raised:
        parse_event(document)
    assert raised.value.field == path
    assert raised.value.detail


@pytest.mark.parametrize(("event_type", "path", "keys"),
                         [(t, p, k) for t, p, k in CASES if isinstance(at(event(t), k), dict)]
                         + [(t, "", []) for t in EVENT_TYPES])
def test_an_unknown_field_anywhere_is_refused_by_name(event_type: str, path: str, keys: list[Any]) -> None:
    document = event(event_type)
    target = at(document, keys)
    target["colour"] = "red"
    with pytest.raises(UnknownField) as raised:
        parse_event(document)
    assert raised.value.field == (f"{path}.colour" if path else "colour")
    assert raised.value.type == "unknown_field"


def test_a_misspelt_field_is_refused_with_the_name_it_resembles() -> None:
    document = event("sale.completed")
    document["payload"]["lines"][0]["discout"] = document["payload"]["lines"][0].pop("discount")
    with pytest.raises(UnknownField) as raised:
        parse_event(document)
    assert raised.value.field == "payload.lines[0].discout"
    assert 'did you mean "discount"' in raised.value.detail


def test_ext_objects_are_kept_out_of_the_way_up_to_4_kb() -> None:
    document = event("sale.completed")
    document["ext"] = {"pos_build": "7.1"}
    document["payload"]["ext"] = {"loyalty": {"points": 12}}
    document["payload"]["lines"][0]["ext"] = {"aisle": 4}
    document["payload"]["tenders"][0]["ext"] = {"drawer": 2}
    parse_event(document)
    document["payload"]["ext"] = {"blob": "x" * 5000}
    with pytest.raises(InvalidInput) as raised:
        parse_event(document)
    assert raised.value.field == "ext"


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d.update(type="sale.exploded"), "type"),
    (lambda d: d.pop("type"), "type"),
    (lambda d: d.update(seq=0), "seq"),
    (lambda d: d.update(seq=True), "seq"),
    (lambda d: d.update(occurred_at="2026-11-22T10:15:03"), "occurred_at"),
    (lambda d: d.update(event_id="has space"), "event_id"),
    (lambda d: d["payload"]["lines"][0].update(qty=1_000_001), "payload.lines[0].qty"),
    (lambda d: d["payload"]["lines"][0].update(unit_price=10**12 + 1), "payload.lines[0].unit_price"),
    (lambda d: d["payload"].update(receipt_no="x" * 257), "payload.receipt_no"),
    (lambda d: d["payload"].update(cashier_id="C\x07"), "payload.cashier_id"),
    (lambda d: d["payload"].update(currency="XYZ"), "payload.currency"),
    (lambda d: d["payload"]["lines"].append({**LINE}), "payload.lines[1].line_no"),
])
def test_bounds_and_cross_field_rules_name_the_field(mutate: Any, field: str) -> None:
    document = event("sale.completed")
    mutate(document)
    with pytest.raises(InvalidInput) as raised:
        parse_event(document)
    assert raised.value.field == field


def test_a_zero_amount_tender_is_valid() -> None:
    document = event("exchange.completed")
    document["payload"]["tenders"] = [{"tender": "cash", "amount": 0}]
    assert parse_event(document).payload.tenders[0].amount == 0  # type: ignore[union-attr]
    sale = event("sale.completed")
    sale["payload"]["tenders"].append({"tender": "gift_card", "amount": 0})
    parse_event(sale)


def test_a_gtin_sku_that_passes_luhn_is_not_a_card_number_but_a_card_number_elsewhere_is() -> None:
    document = event("sale.completed")
    ean = "4006381333924"  # EAN-13 with a valid GS1 check digit that also passes Luhn
    document["payload"]["lines"][0]["sku"] = ean
    parse_event(document)
    document["payload"]["lines"][0]["sku"] = "4006381333908"  # Luhn-valid, no GS1 check digit: a card number
    with pytest.raises(PanDetected):
        parse_event(document)
    document = event("sale.completed")
    document = event("sale.completed")
    document["payload"]["receipt_no"] = "4111111111111111"
    with pytest.raises(PanDetected) as raised:
        parse_event(document)
    assert raised.value.field == "payload.receipt_no"


# ------------------------------------------------------------------------------ properties

_MUTATIONS = ("delete", "wrong_type", "unknown_field")


@given(st.sampled_from(EVENT_TYPES), st.data())
def test_random_mutations_get_the_verdict_and_field_path_the_contract_says(event_type: str, data: Any) -> None:
    """A wrong type or an unknown field is refused naming exactly that field; a deleted field is
    either optional (the event is accepted) or refused as required, by name."""
    document = event(event_type)
    path, keys = data.draw(st.sampled_from(list(paths(document))))
    mutation = data.draw(st.sampled_from(_MUTATIONS))
    holder, key = at(document, keys[:-1]), keys[-1]
    if mutation == "delete":
        if key == "type":
            return
        del holder[key]
    elif mutation == "wrong_type":
        containers = isinstance(holder[key], dict | list)
        holder[key] = data.draw(st.sampled_from(["text", 1.5, True] if containers else [{"k": 1}, [1], 1.5]))
    else:
        target = at(document, keys)
        if not isinstance(target, dict):
            return
        target["zz_unknown"] = 1
        path = f"{path}.zz_unknown"
    try:
        parse_event(document)
    except InvalidInput as error:
        assert error.field == path, (mutation, error)
        assert isinstance(error, UnknownField) == (mutation == "unknown_field")
        if mutation == "delete":
            assert "required" in error.detail
        return
    assert mutation == "delete", f"{mutation} of {path} was accepted"


# ------------------------------------------------------------------------------ review fixes

@pytest.mark.parametrize("value", ["4111111111111111", "1234567890123", "S3CR3T-VALUE"])
def test_an_error_never_repeats_the_value_that_was_sent(value: str) -> None:
    from posledger.domain.codec import convert_event

    for mutate in (lambda d: d["payload"]["tenders"][0].update(tender=value),
                   lambda d: d.update(type=value)):
        document = event("sale.completed")
        mutate(document)
        with pytest.raises(InvalidInput) as raised:
            convert_event(document)
        assert value not in raised.value.detail and value not in raised.value.field
    document = event("sale.completed")
    document["payload"]["lines"][0][value] = 1  # an unknown field is named, unless it is a long digit run
    with pytest.raises(InvalidInput) as raised:
        convert_event(document)
    assert "1234567890123" not in str(raised.value) and "4111111111111111" not in str(raised.value)


@pytest.mark.parametrize(("path", "blank"), [
    (["payload", "receipt_no"], ""), (["payload", "receipt_no"], "   "),
    (["payload", "lines", 0, "sku"], " "), (["payload", "lines", 0, "tax_code"], ""),
])
def test_a_required_name_may_not_be_empty_or_blank(path: list[Any], blank: str) -> None:
    document = event("sale.completed")
    at(document, path[:-1])[path[-1]] = blank
    with pytest.raises(InvalidInput) as raised:
        parse_event(document)
    assert raised.value.field == ".".join(str(p) for p in path).replace(".0.", "[0].")


def test_a_stock_event_may_say_seq_null() -> None:
    document = event("stock.received")
    document["seq"] = None
    parse_event(document)


def test_a_stored_event_with_a_field_since_refused_still_decodes_for_posting() -> None:
    """Bodies accepted when unknown fields were ignored must still post after the upgrade."""
    from posledger.domain.codec import decode_stored_event

    document = event("sale.completed")
    document["payload"]["note"] = "legacy"
    document["payload"]["lines"][0]["aisle"] = 4
    decoded = decode_stored_event(json.dumps(document))
    assert decoded.payload.lines[0].qty == 2  # type: ignore[union-attr]
    document["payload"]["lines"][0]["qty"] = 0
    with pytest.raises(InvalidInput):
        decode_stored_event(json.dumps(document))


# ------------------------------------------------ the fast path agrees with the full decoder

_AWKWARD_TEXT = ["", " ", "  ", "\u00a0", " \u00a0", "\u2028", "\u3000", "\x85", "\x7f", "a\x7f", "\t", "a\nb",
                 "\u200b", "\ufeff", "x", " x", "x ", "é", "\u1680", "\u202f", "\x1c", "a" * 257, "a" * 65,
                 '"', "\\", "\u0000", "日本"]
_AWKWARD_VALUES = [None, 0, -1, True, [], {}, 1.5, 10**13, "USD"]
_RENDERINGS = [{}, {"ensure_ascii": False}, {"separators": (",", ":"), "ensure_ascii": False},
               {"indent": 1, "ensure_ascii": False}, {"separators": (" , ", " : ")}]


def _full_decode(raw: str) -> Any:
    """What the full decoder (every pattern) makes of ``raw``: the event, or the error."""
    import msgspec

    from posledger.domain import codec

    try:
        return codec._to_domain(codec._DECODER.decode(raw))
    except msgspec.ValidationError as error:
        found = codec._invalid(error)
        return (type(found).__name__, found.field, found.detail)
    except InvalidInput as error:
        return (type(error).__name__, error.field, error.detail)


def _decoded(raw: str) -> Any:
    try:
        return decode_event(raw)
    except InvalidInput as error:
        return (type(error).__name__, error.field, error.detail)


@settings(max_examples=500)  # a decode costs microseconds: many examples, little time
@given(st.sampled_from(EVENT_TYPES), st.lists(st.tuples(st.integers(0, 10**6), st.booleans(),
                                                         st.sampled_from(_AWKWARD_TEXT + _AWKWARD_VALUES)),
                                               max_size=3),
       st.sampled_from(range(len(_RENDERINGS))))
def test_the_pattern_free_fast_path_decides_as_the_full_decoder(event_type: str, edits: list[tuple[int, bool, Any]],
                                                               rendering: int) -> None:
    """``decode_event`` skips the per-string patterns when the text shows none can fail; over
    valid events with awkward strings (blank, NBSP, DEL, line separators, escapes, overlong)
    put anywhere, in any JSON spacing, it decides exactly as the full decoder: the same event,
    or the same error at the same field."""
    document = event(event_type)
    for where, delete, value in edits:
        places = list(paths(document))
        _, keys = places[where % len(places)]
        holder = at(document, keys[:-1])
        if delete and isinstance(holder, dict):
            del holder[keys[-1]]
        else:
            holder[keys[-1]] = value
    raw = json.dumps(document, **_RENDERINGS[rendering])
    assert _decoded(raw) == _full_decode(raw)


def test_a_time_outside_1970_to_9000_is_refused_so_that_posting_can_place_it() -> None:
    for moment in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"):
        document = event("sale.completed")
        document["occurred_at"] = moment
        with pytest.raises(InvalidInput) as raised:
            parse_event(document)
        assert raised.value.field == "occurred_at"
