"""One scenario per row of CONTRACT section 5's posting table: events in (as a POS sends
them), journal lines and stock moves out. Each case reads as given / when / then."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from posledger.domain.posting import Parked, Posted
from tests.support.books import Books
from tests.support.builders import (
    MASTER,
    cash_moved,
    closed,
    line,
    opened,
    receive,
    register_event,
    return_,
    sale,
    stock_event,
    tender,
)

Journal = list[tuple[str, str, int, int]]  # store, account, debit, credit
Moves = list[tuple[str, str, int, int]]  # sku, location, qty, value


@dataclass
class Case:
    name: str
    given: list[dict[str, Any]]
    when: dict[str, Any]
    journal: Journal
    moves: Moves = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


def A(qty: int = 1, **kw: Any) -> dict[str, Any]:
    """SKU A (1299, STD 8.875 % in NY): one unit is 1299 + 115 tax = 1414."""
    return line("A", qty, 1299, tax=kw.pop("tax", round(qty * 1299 * 0.08875 + 1e-9)), **kw)


CARD = {"scheme": "visa", "last4": "4242", "auth_code": "X1", "terminal_id": "T1"}

CASES = [
    Case("sale: tenders debited, 4010 discount, 4000 gross, 2100 tax; 5000/1300 at average cost",
         given=[receive("A", 10, 600), opened(0)],
         when=sale([A(2, discount=200, promo_id="P10", tax=213)],
                   [tender("cash", 2000, tendered=2000, change=0), tender("card", 611, card=CARD)]),
         journal=[("S1", "1000", 2000, 0), ("S1", "1100", 611, 0), ("S1", "4010", 200, 0),
                  ("S1", "4000", 0, 2598), ("S1", "2100", 0, 213), ("S1", "5000", 1200, 0),
                  ("S1", "1300", 0, 1200)],
         moves=[("A", "S1", -2, -1200)]),
    Case("sale: wallet 1110, gift card 2200, on account 1200; no stock: standard cost, negative_stock",
         given=[],
         when=sale([line("B", 1, 1000, tax=40, tax_code="RED")],
                   [tender("wallet", 500), tender("gift_card", 300), tender("on_account", 240)]),
         journal=[("S1", "1110", 500, 0), ("S1", "2200", 300, 0), ("S1", "1200", 240, 0),
                  ("S1", "4000", 0, 1000), ("S1", "2100", 0, 40), ("S1", "5000", 400, 0),
                  ("S1", "1300", 0, 400)],
         moves=[("B", "S1", -1, -400)], findings=["negative_stock"]),
    Case("sale: tenders short of the document total: the difference is debited to 1999",
         given=[receive("A", 10, 600)],
         when=sale([A()], [tender("card", 1400)]),
         journal=[("S1", "1100", 1400, 0), ("S1", "1999", 14, 0), ("S1", "4000", 0, 1299),
                  ("S1", "2100", 0, 115), ("S1", "5000", 600, 0), ("S1", "1300", 0, 600)],
         moves=[("A", "S1", -1, -600)], findings=["tender_mismatch"]),
    Case("sale: tenders above the document total: the difference is credited to 1999",
         given=[receive("A", 10, 600)],
         when=sale([A()], [tender("card", 1420)]),
         journal=[("S1", "1100", 1420, 0), ("S1", "1999", 0, 6), ("S1", "4000", 0, 1299),
                  ("S1", "2100", 0, 115), ("S1", "5000", 600, 0), ("S1", "1300", 0, 600)],
         moves=[("A", "S1", -1, -600)], findings=["tender_mismatch"]),
    Case("sale in a tax-inclusive store: net = incl - tax, discount_ex = round(discount/(1+rate))",
         given=[receive("A", 5, 500, location="S3", store="S3")],
         when=sale([line("A", 1, 1200, discount=120, tax=180)], [tender("card", 1080)],
                   register="S3-R1"),
         journal=[("S3", "1100", 1080, 0), ("S3", "4010", 100, 0), ("S3", "4000", 0, 1000),
                  ("S3", "2100", 0, 180), ("S3", "5000", 500, 0), ("S3", "1300", 0, 500)],
         moves=[("A", "S3", -1, -500)]),
    Case("order.fulfilled posts as a sale",
         given=[receive("A", 10, 600)],
         when=sale([A()], [tender("card", 1414)], event_type="order.fulfilled",
                   payload={"order_id": "WEB-1", "channel": "click_and_collect"}),
         journal=[("S1", "1100", 1414, 0), ("S1", "4000", 0, 1299), ("S1", "2100", 0, 115),
                  ("S1", "5000", 600, 0), ("S1", "1300", 0, 600)],
         moves=[("A", "S1", -1, -600)]),
    Case("return with receipt: 4020 net, 2100 tax, tenders credited; restock at the sale's unit cost",
         given=[receive("A", 10, 600), sale([A(2)], [tender("card", 2828)], receipt_no="R-1"),
                receive("A", 10, 900)],
         when=return_([A()], [tender("card", 1414)], original="R-1"),
         journal=[("S1", "4020", 1299, 0), ("S1", "2100", 115, 0), ("S1", "1100", 0, 1414),
                  ("S1", "1300", 600, 0), ("S1", "5000", 0, 600)],
         moves=[("A", "S1", 1, 600)]),
    Case("return without receipt, restocked: a gain at the current average cost",
         given=[receive("A", 10, 600), receive("A", 10, 900)],
         when=return_([A()], [tender("card", 1414)]),
         journal=[("S1", "4020", 1299, 0), ("S1", "2100", 115, 0), ("S1", "1100", 0, 1414),
                  ("S1", "1300", 750, 0), ("S1", "5000", 0, 750)],
         moves=[("A", "S1", 1, 750)]),
    Case("return, damaged: no stock entry",
         given=[receive("A", 10, 600)],
         when=return_([A()], [tender("card", 1414)], disposition="damaged"),
         journal=[("S1", "4020", 1299, 0), ("S1", "2100", 115, 0), ("S1", "1100", 0, 1414)]),
    Case("return: refunds above the document total: the difference is debited to 1999",
         given=[receive("A", 10, 600)],
         when=return_([A()], [tender("card", 1500)], disposition="damaged"),
         journal=[("S1", "4020", 1299, 0), ("S1", "2100", 115, 0), ("S1", "1999", 86, 0),
                  ("S1", "1100", 0, 1500)],
         findings=["tender_mismatch"]),
    Case("exchange: a return plus a sale in one entry, tenders signed",
         given=[receive("A", 10, 600), receive("C", 10, 1000),
                sale([A()], [tender("card", 1414)], receipt_no="R-1")],
         when=register_event("exchange.completed", {
             "receipt_no": "X-1", "currency": "USD", "original": {"store_id": "S1", "receipt_no": "R-1"},
             "return_lines": [{**A(), "disposition": "restock"}],
             "sale_lines": [line("C", 1, 2500, tax=222)],
             "tenders": [tender("card", 1308)]}),
         journal=[("S1", "4020", 1299, 0), ("S1", "2100", 115, 0), ("S1", "2100", 0, 222),
                  ("S1", "4000", 0, 2500), ("S1", "1100", 1308, 0), ("S1", "1300", 600, 0),
                  ("S1", "5000", 0, 600), ("S1", "5000", 1000, 0), ("S1", "1300", 0, 1000)],
         moves=[("A", "S1", 1, 600), ("C", "S1", -1, -1000)]),
    Case("exchange with a refund to the customer: a negative tender is a credit",
         given=[receive("A", 10, 600), receive("C", 10, 1000)],
         when=register_event("exchange.completed", {
             "receipt_no": "X-2", "currency": "USD", "original": None,
             "return_lines": [{**line("C", 1, 2500, tax=222), "disposition": "damaged"}],
             "sale_lines": [A()], "tenders": [tender("card", -1308)]}),
         journal=[("S1", "4020", 2500, 0), ("S1", "2100", 222, 0), ("S1", "2100", 0, 115),
                  ("S1", "4000", 0, 1299), ("S1", "1100", 0, 1308), ("S1", "5000", 600, 0),
                  ("S1", "1300", 0, 600)],
         moves=[("A", "S1", -1, -600)]),
    Case("exchange, even: a zero cash tender is valid, and the swap posts its stock and revenue",
         given=[receive("A", 10, 600), opened(0)],
         when=register_event("exchange.completed", {
             "receipt_no": "X-3", "currency": "USD", "original": None,
             "return_lines": [{**A(), "disposition": "restock"}], "sale_lines": [A()],
             "tenders": [tender("cash", 0)]}),
         journal=[("S1", "4020", 1299, 0), ("S1", "2100", 115, 0), ("S1", "2100", 0, 115),
                  ("S1", "4000", 0, 1299), ("S1", "1300", 600, 0), ("S1", "5000", 0, 600),
                  ("S1", "5000", 600, 0), ("S1", "1300", 0, 600)],
         moves=[("A", "S1", 1, 600), ("A", "S1", -1, -600)]),
    Case("void: the exact reversal of the voided sale's entries and stock moves",
         given=[receive("A", 10, 600), opened(0),
                sale([A(2, discount=200, promo_id="P10", tax=213)],
                     [tender("cash", 2000), tender("card", 611)], receipt_no="R-9")],
         when=register_event("sale.voided", {"receipt_no": "R-9", "reason": "wrong item",
                                             "approved_by": "M1"}),
         journal=[("S1", "1000", 0, 2000), ("S1", "1100", 0, 611), ("S1", "4010", 0, 200),
                  ("S1", "4000", 2598, 0), ("S1", "2100", 213, 0), ("S1", "5000", 0, 1200),
                  ("S1", "1300", 1200, 0)],
         moves=[("A", "S1", 2, 1200)]),
    Case("register.opened: 1000 opening float from 1010",
         given=[], when=opened(10000),
         journal=[("S1", "1000", 10000, 0), ("S1", "1010", 0, 10000)]),
    Case("cash.moved drop: 1010 from 1000",
         given=[opened(10000)], when=cash_moved("drop", 3000),
         journal=[("S1", "1010", 3000, 0), ("S1", "1000", 0, 3000)]),
    Case("cash.moved float_add: 1000 from 1010",
         given=[opened(10000)], when=cash_moved("float_add", 2000),
         journal=[("S1", "1000", 2000, 0), ("S1", "1010", 0, 2000)]),
    Case("cash.moved paid_out: 6900 from 1000",
         given=[opened(10000)], when=cash_moved("paid_out", 500),
         journal=[("S1", "6900", 500, 0), ("S1", "1000", 0, 500)]),
    Case("register.closed short: 1010 counted, 6200 short, 1000 expected "
         "(float + cash sales - refunds + adds - drops - paid outs)",
         given=[receive("A", 10, 600), opened(10000), sale([A(2)], [tender("cash", 2828)]),
                return_([A()], [tender("cash", 1414)], disposition="damaged"),
                cash_moved("drop", 3000), cash_moved("float_add", 2000), cash_moved("paid_out", 500)],
         when=closed(9814),
         journal=[("S1", "1010", 9814, 0), ("S1", "6200", 100, 0), ("S1", "1000", 0, 9914)]),
    Case("register.closed over: 6200 credited",
         given=[opened(10000)], when=closed(10100),
         journal=[("S1", "1010", 10100, 0), ("S1", "6200", 0, 100), ("S1", "1000", 0, 10000)]),
    Case("register.closed more than 500 short without approval raises cash_variance",
         given=[opened(10000)], when=closed(9499),
         journal=[("S1", "1010", 9499, 0), ("S1", "6200", 501, 0), ("S1", "1000", 0, 10000)],
         findings=["cash_variance"]),
    Case("register.closed more than 500 short with approved_by raises nothing",
         given=[opened(10000)], when=closed(9000, approved_by="M1"),
         journal=[("S1", "1010", 9000, 0), ("S1", "6200", 1000, 0), ("S1", "1000", 0, 10000)]),
    Case("stock.received: 1300 qty x unit_cost from 2000",
         given=[], when=receive("A", 10, 605),
         journal=[("S1", "1300", 6050, 0), ("S1", "2000", 0, 6050)],
         moves=[("A", "S1", 10, 6050)]),
    Case("stock.transferred: source 1310/1300 at its average cost, destination 1300/1310 the same",
         given=[receive("A", 10, 600), receive("A", 10, 700)],
         when=stock_event("stock.transferred", {"from_location_id": "S1", "to_location_id": "S2",
                                                "reference": "T-1", "lines": [{"sku": "A", "qty": 4}]}),
         journal=[("S1", "1310", 2600, 0), ("S1", "1300", 0, 2600),
                  ("S2", "1300", 2600, 0), ("S2", "1310", 0, 2600)],
         moves=[("A", "S1", -4, -2600), ("A", "S2", 4, 2600)]),
    Case("stock.adjusted loss: 5100 from 1300 at average cost",
         given=[receive("A", 10, 600)],
         when=stock_event("stock.adjusted", {"location_id": "S1", "reason": "damaged",
                                             "lines": [{"sku": "A", "qty_delta": -3}]}),
         journal=[("S1", "5100", 1800, 0), ("S1", "1300", 0, 1800)],
         moves=[("A", "S1", -3, -1800)]),
    Case("stock.adjusted gain: 1300 from 5100 at average cost",
         given=[receive("A", 10, 600)],
         when=stock_event("stock.adjusted", {"location_id": "S1", "reason": "found",
                                             "lines": [{"sku": "A", "qty_delta": 2}]}),
         journal=[("S1", "1300", 1200, 0), ("S1", "5100", 0, 1200)],
         moves=[("A", "S1", 2, 1200)]),
    Case("stock.counted below on-hand: a loss",
         given=[receive("A", 10, 600, location="S1-BACK")],
         when=stock_event("stock.counted", {"location_id": "S1-BACK", "lines": [{"sku": "A", "counted_qty": 7}]}),
         journal=[("S1", "5100", 1800, 0), ("S1", "1300", 0, 1800)],
         moves=[("A", "S1-BACK", -3, -1800)]),
    Case("stock.counted above on-hand: a gain",
         given=[receive("A", 10, 600)],
         when=stock_event("stock.counted", {"location_id": "S1", "lines": [{"sku": "A", "counted_qty": 12}]}),
         journal=[("S1", "1300", 1200, 0), ("S1", "5100", 0, 1200)],
         moves=[("A", "S1", 2, 1200)]),
]


def _journal(posted: Posted) -> Journal:
    return sorted((entry.store_id, line.account, line.debit, line.credit)
                  for entry in posted.entries for line in entry.lines)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_posting_rule(case: Case) -> None:
    books = Books(MASTER)
    for event in case.given:
        assert isinstance(books.post(event), Posted), event
    outcome = books.post(case.when)
    assert isinstance(outcome, Posted)
    assert _journal(outcome) == sorted(case.journal)
    assert [(m.sku, m.location_id, m.qty, m.value) for m in outcome.moves] == case.moves
    assert sorted(f.type for f in outcome.findings) == sorted(case.findings)
    for entry in outcome.entries:
        assert sum(ln.debit for ln in entry.lines) == sum(ln.credit for ln in entry.lines)


def test_after_a_close_the_register_cash_account_nets_to_zero() -> None:
    books = Books(MASTER)
    for event in [receive("A", 10, 600), opened(10000), sale([A()], [tender("cash", 1414)]),
                  cash_moved("paid_out", 300), closed(11114)]:
        books.post(event)
    cash_lines = [ln for e in books.entries if e.register_id == "S1-R1" for ln in e.lines if ln.account == "1000"]
    assert sum(ln.debit - ln.credit for ln in cash_lines) == 0


def test_a_credit_note_for_a_return_names_the_original_invoice() -> None:
    books = Books(MASTER)
    books.post(receive("A", 10, 600))
    books.post(sale([A()], [tender("card", 1414)], receipt_no="R-7"))
    books.post(return_([A()], [tender("card", 1414)], original="R-7"))
    (invoice_number, invoice), (_, credit_note) = books.documents
    assert invoice.kind == "invoice" and credit_note.kind == "credit_note"
    assert credit_note.original_number == invoice_number
    assert credit_note.total == 1414


def test_a_void_of_a_sale_not_yet_posted_waits_for_it() -> None:
    books = Books(MASTER)
    outcome = books.post(register_event("sale.voided", {"receipt_no": "R-404", "reason": "x",
                                                        "approved_by": None}))
    assert isinstance(outcome, Parked)
    assert outcome.type == "original_not_found" and outcome.wait_key == "receipt:S1/R-404"


def test_a_second_void_of_the_same_sale_posts_nothing() -> None:
    books = Books(MASTER)
    books.post(sale([A()], [tender("card", 1414)], receipt_no="R-2"))
    void = {"receipt_no": "R-2", "reason": "x", "approved_by": None}
    assert isinstance(books.post(register_event("sale.voided", void)), Posted)
    outcome = books.post(register_event("sale.voided", void))
    assert isinstance(outcome, Parked) and outcome.type == "already_voided"
