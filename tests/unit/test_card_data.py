"""The card-data rule (CONTRACT section 8) against a corpus of the forms a card number takes in
the wild: every one is found, in a string, a number or a key; the near misses are not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from posledger.domain.errors import PanDetected
from posledger.domain.pan import (
    card_key,
    card_number_in,
    find_card_data,
    gtin_valid,
    has_long_digit_run,
    luhn_valid,
    may_hold_card_data,
    refuse_card_data,
)

VISA = "4111000001346236"  # Luhn-valid, starts with 4
assert luhn_valid(VISA)

CARD_TEXTS = [
    VISA,
    "4111 0000 0134 6236",
    "4111-0000-0134-6236",
    "4111.0000.0134.6236",
    "4111/0000/0134/6236",
    "4111_0000_0134_6236",
    "4111\t0000\t0134\t6236",
    "4111\u00a00000\u00a00134\u00a06236",  # no-break spaces
    "４１１１０００００１３４６２３６",  # fullwidth digits (NFKC)
    "٤١١١٠٠٠٠٠١٣٤٦٢٣٦",  # Arabic-Indic digits
    "۴۱۱۱۰۰۰۰۰۱۳۴۶۲۳۶",  # Extended Arabic-Indic digits
    "card 4111 0000 0134 6236 exp 12/29",
    "4 1 1 1 0 0 0 0 0 1 3 4 6 2 3 6",
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # Amex, 15 digits
    "6011111111111117",  # Discover
    "4222222222222",  # 13 digits
    "x4111000001346236x",
]

NOT_CARD_TEXTS = [
    "4111000001346237",  # fails Luhn
    "411100000134623",  # 15 digits, fails Luhn
    "1111000001346232",  # passes Luhn, but no card scheme's numbers start with 1
    "9111000001346235",  # passes Luhn, starts with 9
    "2000000000000006",  # passes Luhn, 2-series below 2221
    "4111  0000  0134  6236",  # double separators: two-digit groups are separate runs
    "41110000013462361",  # 17 digits that fail Luhn as a whole (a PAN buried in a longer run)
    "2026-11-27T10:15:03-05:00",
    "S001-R1-000042",
    "12345",
]


@pytest.mark.parametrize("text", CARD_TEXTS)
def test_every_form_of_a_card_number_is_found(text: str) -> None:
    assert card_number_in(text)
    document = {"payload": {"customer_id": text}}
    assert find_card_data(document) == "payload.customer_id"
    assert may_hold_card_data(json.dumps(document, ensure_ascii=False))
    assert may_hold_card_data(json.dumps(document))


@pytest.mark.parametrize("text", NOT_CARD_TEXTS)
def test_near_misses_are_not_card_numbers(text: str) -> None:
    assert not card_number_in(text)
    assert find_card_data({"note": text}) is None


def test_the_near_misses_by_scheme_pass_luhn() -> None:
    """So that they test the scheme rule, not Luhn."""
    for text in ("1111000001346232", "9111000001346235", "2000000000000006"):
        assert luhn_valid(text)
    assert not luhn_valid("41110000013462361")
    assert card_number_in("41110000013462362")  # 17 digits passing Luhn as a whole: a card number


@pytest.mark.parametrize("number", [4111000001346236, 4111000001346236.0, 4.111000001346236e15, -4111000001346236])
def test_a_json_number_counts_in_any_form(number: Any) -> None:
    assert find_card_data({"payload": {"lines": [{"qty": 1, "note": number}]}}) == "payload.lines[0].note"
    text = json.dumps({"note": number})
    assert may_hold_card_data(text)


def test_numbers_that_are_not_card_numbers_pass() -> None:
    assert find_card_data({"a": 4111000001346237, "b": 1.5e20, "c": 12826, "d": True, "e": float("inf")}) is None


@pytest.mark.parametrize("key", ["cvv", "CVV2", "cvc_code", "card_cvv", "cvv_number", "card-CSC", "security_code",
                                 "SecurityCode", "card_verification_value", "pin", "PIN", "pin_block", "pinBlock",
                                 "track1", "track2", "track_data", "magstripe", "expiry", "expiry_date",
                                 "card_expiration", "cid", "exp", "e.x.p"])
def test_card_security_keys_are_found_by_name(key: str) -> None:
    assert card_key(key)
    document = {"payload": {"tenders": [{"ext": {key: "123"}}]}}
    assert find_card_data(document) == f"payload.tenders[0].ext.{key}"
    assert may_hold_card_data(json.dumps(document))


@pytest.mark.parametrize("key", ["receipt_no", "shipping", "expected_tax", "express", "pinned", "cidr", "expense",
                                 "tax_code", "description", "spin", "explanation"])
def test_ordinary_keys_are_not_card_keys(key: str) -> None:
    assert not card_key(key)


def test_a_gtin_sku_or_gtin_is_a_barcode_but_the_same_digits_elsewhere_are_not() -> None:
    ean = "4006381333924"
    assert gtin_valid(ean) and card_number_in(ean)
    assert find_card_data({"lines": [{"sku": ean}]}) is None
    assert find_card_data({"lines": [{"gtin": ean}]}) is None
    assert find_card_data({"lines": [{"name": ean}]}) == "lines[0].name"
    assert find_card_data({"lines": [{"sku": "4006381333908"}]}) == "lines[0].sku"  # not a GTIN


def test_a_card_number_as_a_key_is_found_but_never_named() -> None:
    found = find_card_data({"payload": {VISA: 1}})
    assert found == "payload"
    with pytest.raises(PanDetected) as raised:
        refuse_card_data({VISA: 1})
    assert VISA not in str(raised.value) and VISA not in raised.value.field


def test_the_pre_check_lets_an_ordinary_sale_through_without_a_walk() -> None:
    sale = {"event_id": "S001-R1-000042", "type": "sale.completed", "store_id": "S001", "register_id": "S001-R1",
            "seq": 42, "occurred_at": "2026-11-22T10:15:03.120-05:00",
            "payload": {"receipt_no": "S001-R1-42", "cashier_id": "C1", "customer_id": None, "currency": "USD",
                        "lines": [{"line_no": 1, "sku": "SKU-00291", "qty": 2, "unit_price": 2537, "discount": 0,
                                   "promo_id": None, "tax_code": "STD", "tax": 225}],
                        "tenders": [{"tender": "card", "amount": 5299,
                                     "card": {"scheme": "visa", "last4": "4242", "auth_code": "A1B2",
                                              "terminal_id": "T-1", "first6": "424242"}}]}}
    assert not may_hold_card_data(json.dumps(sale, separators=(",", ":"), sort_keys=True))


def test_long_digit_runs_are_recognised_for_scrubbing() -> None:
    assert has_long_digit_run("no event 4111000001346237 was received")
    assert has_long_digit_run("١٢٣٤٥٦٧٨٩٠١٢٣")
    assert not has_long_digit_run("no event S001-R1-000042 was received")


def test_no_name_the_event_schema_has_is_a_card_key() -> None:
    """What lets the pre-check leave keys outside ``ext`` to the codec."""
    from posledger.domain.codec import _KNOWN_NAMES

    assert _KNOWN_NAMES and not [name for name in _KNOWN_NAMES if card_key(name)]


@pytest.mark.parametrize("path", [["payload", "cvv_number"], ["payload", "tenders", 0, "card", "track2"],
                                  ["payload", "lines", 0, "PIN"], ["expiry"]])
def test_a_card_key_outside_ext_is_pan_detected_not_an_unknown_field(path: list[Any]) -> None:
    from posledger.app.ingest import canonical_json
    from posledger.domain.codec import parse_event
    from tests.unit.test_event_validation import mutated

    document = mutated(path, "123")
    body = canonical_json(document)
    with pytest.raises(PanDetected):
        parse_event(document, json_text=body, raw=body)


def test_a_card_number_after_a_prefix_is_found_though_the_joined_run_is_not_one() -> None:
    assert card_number_in("S1-R1-4539160000000004")  # the joined run 14539160000000004 starts with 1
    assert not card_number_in("S1-R1-000042")
    assert not card_number_in("9" + VISA + "9")  # buried in a longer run of digits: not found


def test_a_float_too_long_to_hold_its_digits_is_refused_as_a_card_number_might_be() -> None:
    assert find_card_data({"n": 6212526018159083015.0}) == "n"  # 19 digits, rounded on decoding
    assert find_card_data({"n": 37126613186091394.0}) == "n"
    assert find_card_data({"n": 1.5e20}) is None and find_card_data({"n": 12826.5}) is None


def test_card_keys_are_read_after_nfkc() -> None:
    assert card_key("ＣＶＶ") and card_key("ｐｉｎ")
