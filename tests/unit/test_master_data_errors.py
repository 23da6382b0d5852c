"""Master data lists every error of a document at once and refuses fields the contract does not
define (CONTRACT sections 6 and 7): issue 14's silent typos."""

from __future__ import annotations

import pytest

from posledger.app.master_data import _validate_document
from posledger.domain.errors import InvalidInput
from posledger.domain.master import parse_entry
from tests.support.builders import MASTER


def test_a_typo_in_a_store_field_is_refused_with_a_did_you_mean() -> None:
    store = {**MASTER["stores"][0], "prices_incl_tax": True}
    store.pop("prices_include_tax", None)
    with pytest.raises(InvalidInput) as refused:
        parse_entry("stores", store, "stores[0]")
    assert refused.value.type == "unknown_field"
    assert refused.value.field == "stores[0].prices_incl_tax"
    assert 'did you mean "prices_include_tax"?' in refused.value.detail


def test_nine_mistakes_in_a_file_are_nine_errors_in_one_answer() -> None:
    document = {
        "stores": [{"store_id": "S9", "timezone": "Mars/Olympus", "currency": "usd", "tax_region": "NY",
                    "prices_incl_tax": True, "day_cutoff": "25:00"}],
        "registers": [{"register_id": "S9-R1"}],
        "items": [{"sku": "X", "tax_code": "STD", "price": -1, "nmae": "typo"},
                  {"sku": "Y", "price": 100}],
        "tax_rule": [],
    }
    with pytest.raises(InvalidInput) as refused:
        _validate_document(document)
    fields = [e.field for e in refused.value.errors]
    assert fields == [
        "stores[0].prices_incl_tax", "stores[0].timezone", "stores[0].currency", "stores[0].day_cutoff",
        "registers[0].store_id", "items[0].nmae", "items[0].price", "items[1].tax_code", "tax_rule"]
    assert refused.value.field == fields[0]
    codes = {e.field: e.type for e in refused.value.errors}
    assert codes["tax_rule"] == "unknown_field" and 'did you mean "tax_rules"' in refused.value.errors[-1].detail
    assert codes["items[0].nmae"] == "unknown_field"


def test_master_data_has_no_ext_and_entries_stored_by_an_earlier_release_still_read() -> None:
    item = {"sku": "Z", "tax_code": "STD", "price": 100, "gtin": "4006381333931"}
    assert parse_entry("items", item, "items[0]").sku == "Z"
    with pytest.raises(InvalidInput) as refused:  # CONTRACT 2.1 section 2: closed, no ext
        parse_entry("items", {**item, "ext": {"colour": "red"}}, "items[0]")
    assert refused.value.field == "items[0].ext" and refused.value.type == "unknown_field"
    old = {"sku": "Z", "tax_code": "STD", "price": 100, "colour": "red"}
    assert parse_entry("items", old, "items", stored=True).price == 100
