"""A store's business day in figures (CONTRACT 2.1 section 11): sales, tax, returns, COGS,
tenders, over/short, tax by rate, and the Z-report of each register session. Pure: the caller
reads the day's balances, documents and sessions; this turns them into the summary."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from posledger.domain import accounts as acc

__all__ = ["add_day_taxes", "day_figures", "tax_by_rate", "z_report"]


def _debit_balance(balances: Mapping[str, tuple[int, int]], account: str) -> int:
    debit, credit = balances.get(account, (0, 0))
    return debit - credit


def day_figures(balances: Mapping[str, tuple[int, int]], tenders: Mapping[str, int]) -> dict[str, Any]:
    """From the day's GL balances of the store (account: (debit, credit)) and what the day's
    sales, returns, exchanges and voids took per tender (tender: amount, refunds negative).

    ``net_sales`` is gross sales less discounts, before returns, without tax (4000 - 4010);
    ``returns`` is 4020 (net of tax); ``tax`` is 2100's movement; ``tenders`` is what each
    tender took net of refunds; ``over_short`` is positive when the drawers held more cash
    than expected (6200's credit balance)."""
    return {
        "net_sales": -_debit_balance(balances, acc.GROSS_SALES) - _debit_balance(balances, acc.DISCOUNTS),
        "tax": -_debit_balance(balances, acc.SALES_TAX_PAYABLE),
        "returns": _debit_balance(balances, acc.RETURNS),
        "cogs": _debit_balance(balances, acc.COGS),
        "tenders": {tender: tenders.get(tender, 0) for tender in acc.TENDER_ACCOUNTS},
        "over_short": -_debit_balance(balances, acc.CASH_OVER_SHORT),
    }


def add_day_taxes(totals: dict[tuple[date, str, str, str], list[int]], document: Any) -> None:
    """Add a document's lines (a ``DocumentDraft``) to ``totals``: (business day, store, tax
    code, rate): [taxable, tax]. An invoice's lines add, a credit note's (return, exchange,
    void) subtract; what posting keeps for the day summary's tax by rate."""
    sign = -1 if document.kind == "credit_note" else 1
    day, store = document.business_day, document.store_id
    for line in document.body.get("lines", ()):  # as posting writes them: rate text, net and tax integers
        tax_code = line.get("tax_code")
        if not tax_code:  # a document of a release that did not keep its lines' tax
            continue
        key = (day, store, tax_code, line["rate"])
        figures = totals.get(key)
        if figures is None:
            totals[key] = [sign * line["net"], sign * line["tax"]]
        else:
            figures[0] += sign * line["net"]
            figures[1] += sign * line["tax"]


def tax_by_rate(rows: Iterable[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    """The day's taxable amount and tax per tax code and rate, from its kept rows (tax code,
    rate, taxable, tax)."""
    return [{"tax_code": code, "rate": rate, "taxable": taxable, "tax": tax}
            for code, rate, taxable, tax in sorted(rows)]


def z_report(session: Any) -> dict[str, Any]:
    """One register session's Z-report row, from its stored figures (an ``app.ports.SessionRow``)."""
    return {
        "session_id": session.session_id, "status": session.status,
        "opened_at": session.opened_at, "closed_at": session.closed_at,
        "opening_float": session.opening_float, "cash_sales": session.cash_sales,
        "cash_refunds": session.cash_refunds, "float_adds": session.float_adds,
        "paid_out": session.paid_outs, "drops": session.drops, "expected": session.expected,
        "counted": session.counted, "over_short": session.over_short, "approved_by": session.approved_by,
    }
