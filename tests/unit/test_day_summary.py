"""The day summary's pure parts (domain/day_summary.py): figures from the day's balances and
tenders, taxes by rate kept from documents (credit notes subtract)."""

from __future__ import annotations

from datetime import date

from posledger.domain.day_summary import add_day_taxes, day_figures, tax_by_rate
from posledger.domain.posting.model import DocumentDraft

DAY = date(2026, 11, 22)


def _document(kind: str, *lines: tuple[str, str, int, int]) -> DocumentDraft:
    return DocumentDraft(kind, "S1", DAY, None, 0, 0, {"lines": [
        {"tax_code": code, "rate": rate, "net": net, "tax": tax} for code, rate, net, tax in lines]})


def test_taxes_by_rate_add_invoices_and_subtract_credit_notes() -> None:
    totals: dict[tuple[date, str, str, str], list[int]] = {}
    add_day_taxes(totals, _document("invoice", ("STD", "0.08875", 2598, 231), ("RED", "0.04", 1000, 40)))
    add_day_taxes(totals, _document("invoice", ("STD", "0.08875", 2250, 200)))
    add_day_taxes(totals, _document("credit_note", ("RED", "0.04", 1000, 40)))
    add_day_taxes(totals, DocumentDraft("credit_note", "S1", DAY, None, 0, 0, {"lines": [{"sku": "A"}]}))
    assert totals == {(DAY, "S1", "STD", "0.08875"): [4848, 431], (DAY, "S1", "RED", "0.04"): [0, 0]}
    assert tax_by_rate([("STD", "0.08875", 4848, 431), ("RED", "0.04", 0, 0)]) == [
        {"tax_code": "RED", "rate": "0.04", "taxable": 0, "tax": 0},
        {"tax_code": "STD", "rate": "0.08875", "taxable": 4848, "tax": 431}]


def test_day_figures_read_the_accounts_with_their_signs() -> None:
    balances = {"4000": (0, 6098), "4010": (250, 0), "4020": (1000, 0), "2100": (40, 471), "5000": (2600, 400),
                "6200": (29, 0)}
    figures = day_figures(balances, {"cash": 2829, "card": 2450})
    assert figures == {"net_sales": 5848, "tax": 431, "returns": 1000, "cogs": 2200,
                       "tenders": {"cash": 2829, "card": 2450, "wallet": 0, "gift_card": 0, "on_account": 0},
                       "over_short": -29}
