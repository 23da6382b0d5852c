"""Sales-audit findings, unknown master data, business days and master-data validation."""

from __future__ import annotations

import copy
from datetime import date, datetime

import pytest

from posledger.domain.calendar import business_day_of
from posledger.domain.errors import InvalidInput
from posledger.domain.master import parse_entry
from posledger.domain.posting import Parked, Posted
from tests.support.books import Books
from tests.support.builders import MASTER, line, receive, register_event, sale, tender


def findings(outcome: Posted | Parked) -> list[str]:
    assert isinstance(outcome, Posted)
    return sorted(f.type for f in outcome.findings)


def test_tax_is_recomputed_from_master_data_and_a_difference_is_a_tax_mismatch() -> None:
    books = Books(MASTER)
    books.post(receive("A", 5, 600))
    outcome = books.post(sale([line("A", 1, 1299, tax=100)], [tender("card", 1399)]))
    assert findings(outcome) == ["tax_mismatch"]
    assert isinstance(outcome, Posted)
    detail = outcome.findings[0].detail["lines"][0]
    assert (detail["charged"], detail["expected"]) == (100, 115)
    credit_tax = [ln for ln in outcome.entries[0].lines if ln.account == "2100"]
    assert credit_tax[0].credit == 100  # the hub posts what the POS charged


def test_a_line_tax_code_other_than_the_items_is_a_tax_mismatch() -> None:
    books = Books(MASTER)
    books.post(receive("A", 5, 600))
    outcome = books.post(sale([line("A", 1, 1299, tax=52, tax_code="RED")], [tender("card", 1351)]))
    assert findings(outcome) == ["tax_mismatch"]


@pytest.mark.parametrize(("promo", "discount", "at"), [
    ("NOPE", 100, "2026-11-22T10:00:00-05:00"),
    ("P10", 300, "2026-11-22T10:00:00-05:00"),  # 300 > 10 % of 1299
    ("P10", 100, "2026-12-05T10:00:00-05:00"),  # after valid_to
])
def test_a_promotion_misconfiguration_is_a_promo_mismatch(promo: str, discount: int, at: str) -> None:
    books = Books(MASTER)
    books.post(receive("A", 5, 600))
    net = 1299 - discount
    tax = round(net * 0.08875)
    outcome = books.post(sale([line("A", 1, 1299, discount=discount, promo_id=promo, tax=tax)],
                              [tender("card", net + tax)], at=at))
    assert findings(outcome) == ["promo_mismatch"]


def test_totals_that_disagree_with_the_lines_are_a_totals_mismatch() -> None:
    books = Books(MASTER)
    books.post(receive("A", 5, 600))
    outcome = books.post(sale([line("A", 1, 1299, tax=115)], [tender("card", 1414)],
                              payload={"totals": {"net": 1299, "tax": 115, "gross": 1500}}))
    assert findings(outcome) == ["totals_mismatch"]


@pytest.mark.parametrize(("change", "missing"), [
    ({"store_id": "S9", "register_id": "S9-R1"}, ["store S9", "register S9-R1"]),
    ({"register_id": "S1-R9"}, ["register S1-R9"]),
    ({"register_id": "S2-R1"}, ["register S2-R1 in store S1 (it belongs to S2)"]),
])
def test_an_event_naming_unknown_master_data_is_parked_not_lost(change: dict[str, str], missing: list[str]) -> None:
    books = Books(MASTER)
    outcome = books.post({**sale([line("A", 1, 1299, tax=115)], [tender("card", 1414)]), **change})
    assert isinstance(outcome, Parked)
    assert outcome.type == "unknown_master_data" and outcome.wait_key == "master"
    assert outcome.detail["missing"] == missing


def test_an_unknown_sku_and_tax_code_are_both_named() -> None:
    outcome = Books(MASTER).post(sale([line("ZZZ", 1, 100, tax=0, tax_code="LUX")], [tender("card", 100)]))
    assert isinstance(outcome, Parked)
    assert outcome.detail["missing"] == ["sku ZZZ", "tax rule NY/LUX"]


def test_a_sale_in_another_currency_than_the_store_waits() -> None:
    event = sale([line("A", 1, 1299, tax=115)], [tender("card", 1414)], payload={"currency": "EUR"})
    outcome = Books(MASTER).post(event)
    assert isinstance(outcome, Parked) and outcome.type == "currency_mismatch"


def test_the_business_day_applies_the_store_cutoff_in_its_timezone() -> None:
    store = Books(MASTER).master.stores["S1"]  # New York, 04:00
    assert business_day_of(datetime.fromisoformat("2026-11-23T01:30:00-05:00"), store) == date(2026, 11, 22)
    assert business_day_of(datetime.fromisoformat("2026-11-23T04:00:00-05:00"), store) == date(2026, 11, 23)
    assert business_day_of(datetime.fromisoformat("2026-11-23T08:30:00+00:00"), store) == date(2026, 11, 22)


def test_a_business_day_on_the_event_wins() -> None:
    books = Books(MASTER)
    outcome = books.post(register_event("register.opened", {"session_id": "S", "opening_float": 5},
                                        at="2026-11-23T01:30:00-05:00") | {"business_day": "2026-11-20"})
    assert isinstance(outcome, Posted) and outcome.entries[0].business_day == date(2026, 11, 20)


@pytest.mark.parametrize(("kind", "change", "field"), [
    ("stores", {"timezone": "Mars/Olympus"}, "stores[0].timezone"),
    ("stores", {"currency": "DOLLARS"}, "stores[0].currency"),
    ("stores", {"day_cutoff": "25:00"}, "stores[0].day_cutoff"),
    ("stores", {"kind": "kiosk"}, "stores[0].kind"),
    ("items", {"price": 12.5}, "items[0].price"),
    ("tax_rules", {"rate": 0.08}, "tax_rules[0].rate"),
    ("tax_rules", {"rate": "8.875"}, "tax_rules[0].rate"),
    ("promotions", {"max_discount_pct": "150"}, "promotions[0].max_discount_pct"),
])
def test_bad_master_data_names_the_field(kind: str, change: dict[str, object], field: str) -> None:
    entry = copy.deepcopy(MASTER[kind][0]) | change
    with pytest.raises(InvalidInput) as raised:
        parse_entry(kind, entry, f"{kind}[0]")
    assert raised.value.field == field
