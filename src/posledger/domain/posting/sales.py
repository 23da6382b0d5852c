"""Posting rules for sales documents: sale, order fulfilment, return, exchange, void.

CONTRACT section 5. Every rule writes signed amounts into one ``EntryBuilder`` (positive =
debit), so the entry balances by construction and a stray rounding shows as a residual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from posledger.domain import accounts as acc
from posledger.domain import costing
from posledger.domain.events import (
    Exchange,
    OriginalRef,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    Tender,
    Totals,
    Void,
)
from posledger.domain.journal import EntryBuilder
from posledger.domain.money import Rate, apply_rate, divide_by_one_plus, round_half_up
from posledger.domain.posting.context import EventContext
from posledger.domain.posting.model import DocumentDraft, Parked, SaleRecord, SoldLine, StockMove

__all__ = ["PricedLine", "price_line", "post_sale", "post_return", "post_exchange", "post_void"]


class PricedLine(msgspec.Struct, frozen=True, gc=False):
    """A document line in the ledger's terms (CONTRACT section 5, "Per line").

    ``gross`` and ``discount`` are tax-exclusive; ``total`` is what the customer pays for the
    line (net + tax); ``tax`` is what the POS charged, ``expected_tax`` what master data says.
    """

    line: SaleLine
    rate: Rate
    gross: int
    discount: int
    net: int
    tax: int
    total: int
    expected_tax: int


def price_line(line: SaleLine, rate: Rate, prices_include_tax: bool) -> PricedLine:
    if prices_include_tax:
        inclusive = line.qty * line.unit_price - line.discount
        net = inclusive - line.tax
        discount = divide_by_one_plus(line.discount, rate)
        expected_tax = inclusive - divide_by_one_plus(inclusive, rate)
        return PricedLine(line, rate, net + discount, discount, net, line.tax, inclusive, expected_tax)
    gross = line.qty * line.unit_price
    net = gross - line.discount
    return PricedLine(line, rate, gross, line.discount, net, line.tax, net + line.tax,
                      apply_rate(net, rate))


class Priced(list[PricedLine]):
    """A document's priced lines and their sums, added up once."""

    __slots__ = ("gross", "discount", "net", "tax", "total")

    def __init__(self, lines: list[PricedLine]) -> None:
        super().__init__(lines)
        gross = discount = net = tax = total = 0
        for line in lines:
            gross += line.gross
            discount += line.discount
            net += line.net
            tax += line.tax
            total += line.total
        self.gross, self.discount, self.net, self.tax, self.total = gross, discount, net, tax, total


def _price(ctx: EventContext, lines: Sequence[SaleLine]) -> Priced:
    region = ctx.store.tax_region
    inclusive = ctx.store.prices_include_tax
    rules = ctx.master.tax_rules
    return Priced([price_line(line, rules[(region, line.tax_code)].rate, inclusive) for line in lines])


def _audit_lines(ctx: EventContext, priced: Sequence[PricedLine], part: str) -> None:
    """Tax recomputed from master data, promotions, inactive items: sales-audit findings."""
    tax_issues: list[dict[str, Any]] = []
    for p in priced:
        item = ctx.item(p.line.sku)
        if p.tax != p.expected_tax or item.tax_code != p.line.tax_code:
            tax_issues.append(_tax_issue(p, item.tax_code, str(float(p.rate)), part))
        if not item.active:
            ctx.find("inactive_item", part=part, line_no=p.line.line_no, sku=p.line.sku)
        if p.line.promo_id is not None:
            _audit_promotion(ctx, p.line, part)
    if tax_issues:
        ctx.find("tax_mismatch", lines=tax_issues)


def _tax_issue(p: PricedLine, item_tax_code: str, rate_text: str, part: str) -> dict[str, Any]:
    return {"part": part, "line_no": p.line.line_no, "sku": p.line.sku, "tax_code": p.line.tax_code,
            "item_tax_code": item_tax_code, "rate": rate_text, "charged": p.tax, "expected": p.expected_tax}


def _audit_promotion(ctx: EventContext, line: SaleLine, part: str) -> None:
    promo = ctx.master.promotions.get(line.promo_id or "")
    where = {"part": part, "line_no": line.line_no, "sku": line.sku, "promo_id": line.promo_id}
    if promo is None:
        ctx.find("promo_mismatch", problem="unknown promotion", **where)
        return
    for bound, too_early in ((promo.valid_from, True), (promo.valid_to, False)):
        if bound is None:
            continue
        moment: Any = ctx.business_day if not hasattr(bound, "hour") else ctx.envelope.occurred_at
        if (too_early and moment < bound) or (not too_early and moment > bound):
            ctx.find("promo_mismatch", problem="promotion not valid at this time", **where)
            return
    list_amount = line.qty * line.unit_price
    if line.discount * 100 > promo.max_discount_pct * list_amount:
        ctx.find("promo_mismatch", problem="discount above the promotion's maximum",
                 discount=line.discount, max_discount_pct=str(float(promo.max_discount_pct)), **where)


def _audit_totals(ctx: EventContext, totals: Totals | None, net: int, tax: int, gross: int) -> None:
    if totals is None or ((totals.net is None or totals.net == net) and (totals.tax is None or totals.tax == tax)
                          and (totals.gross is None or totals.gross == gross)):
        return
    computed = {"net": net, "tax": tax, "gross": gross}
    sent = {"net": totals.net, "tax": totals.tax, "gross": totals.gross}
    ctx.find("totals_mismatch", totals={k: {"sent": v, "lines": computed[k]} for k, v in sent.items()
                                        if v is not None and v != computed[k]})


def _post_tenders(ctx: EventContext, entry: EntryBuilder, tenders: Sequence[Tender], sign: int,
                  document_total: int) -> int:
    """Debit each tender account with its signed amount; post a difference to suspense.

    Returns the signed cash amount (what it does to the drawer)."""
    tendered = 0
    cash = 0
    for tender in tenders:
        amount = sign * tender.amount
        entry.debit(acc.TENDER_ACCOUNTS[tender.tender], amount)
        tendered += amount
        if tender.tender == "cash":
            cash += amount
    difference = tendered - document_total
    if difference:
        entry.credit(acc.SUSPENSE, difference)
        ctx.find("tender_mismatch", tendered=tendered, document_total=document_total,
                 difference=difference)
    return cash


class Sold(NamedTuple):
    """Sold lines as posted: the document's sums, its invoice lines, what returns need."""

    net: int
    tax: int
    document_lines: list[dict[str, Any]]
    sold: list[SoldLine]

    @property
    def total(self) -> int:
        return self.net + self.tax


def _sell(ctx: EventContext, entry: EntryBuilder, lines: Sequence[SaleLine], part: str) -> Sold:
    """Revenue, discount, tax and cost of goods for sold lines, in one pass over them (the hot
    path: a sale): each line priced, audited, issued from stock at average cost and written as
    an invoice line. Findings come in the order the return path raises them: the lines' own
    (inactive item, promotion), then ``tax_mismatch``, then ``negative_stock``."""
    store = ctx.store
    items, rules = ctx.master.items, ctx.master.tax_rules
    region, inclusive, location_id = store.tax_region, store.prices_include_tax, store.store_id
    result = ctx.result
    staged, stock, moves, day = result.positions, ctx.state.stock, result.moves, ctx.business_day
    rates: dict[str, tuple[Rate, str]] = {}  # tax code -> rate and its text, once per event
    gross_sum = discount_sum = net_sum = tax_sum = cogs_in = cogs_out = 0
    document_lines: list[dict[str, Any]] = []
    sold: list[SoldLine] = []
    tax_issues: list[dict[str, Any]] = []
    negatives: list[tuple[str, int]] = []
    for line in lines:
        code = line.tax_code
        known = rates.get(code)
        if known is None:
            rate = rules[(region, code)].rate
            known = rates[code] = (rate, str(rate.numerator / rate.denominator))
        rate, rate_text = known
        if inclusive:
            p = price_line(line, rate, inclusive)
            gross, discount, net, tax, total, expected_tax = p.gross, p.discount, p.net, p.tax, p.total, p.expected_tax
        else:  # price_line's tax-exclusive case, inline: the hot path builds no PricedLine
            tax, discount = line.tax, line.discount
            gross = line.qty * line.unit_price
            net = gross - discount
            total = net + tax
            expected_tax = apply_rate(net, rate)
        gross_sum += gross
        discount_sum += discount
        net_sum += net
        tax_sum += tax
        sku = line.sku
        item = items[sku]
        if tax != expected_tax or item.tax_code != code:
            tax_issues.append(_tax_issue(PricedLine(line, rate, gross, discount, net, tax, total, expected_tax),
                                         item.tax_code, rate_text, part))
        if not item.active:
            ctx.find("inactive_item", part=part, line_no=line.line_no, sku=sku)
        if line.promo_id is not None:
            _audit_promotion(ctx, line, part)
        key = (sku, location_id)
        before = staged.get(key)
        movement = costing.issue(before[1] if before is not None else stock(sku, location_id), line.qty,
                                 item.standard_cost)
        staged[key] = (location_id, movement.position)
        moves.append(StockMove(sku, location_id, location_id, movement.qty, movement.value, "sale", day))
        if movement.position.on_hand < 0:
            negatives.append((sku, movement.position.on_hand))
        cost = -movement.value
        if cost > 0:
            cogs_in += cost
        else:
            cogs_out += cost
        sold.append(SoldLine(line.line_no, sku, line.qty, cost, 0, line.unit_price, line.discount, code, rate_text,
                             net, tax))
        document_lines.append({"line_no": line.line_no, "sku": sku, "qty": line.qty, "unit_price": line.unit_price,
                               "discount": line.discount, "tax_code": code, "rate": rate_text, "net": net,
                               "tax": tax, "total": total})  # as _document_line
    if tax_issues:
        ctx.find("tax_mismatch", lines=tax_issues)
    for sku, on_hand in negatives:
        ctx.find("negative_stock", sku=sku, location_id=location_id, on_hand=on_hand)
    entry.credit(acc.GROSS_SALES, gross_sum)
    entry.debit(acc.DISCOUNTS, discount_sum)
    entry.credit(acc.SALES_TAX_PAYABLE, tax_sum)
    entry.debit(acc.COGS, cogs_in)  # costs of either sign, as per-line debits would sum them
    entry.credit(acc.INVENTORY, cogs_in)
    entry.debit(acc.COGS, cogs_out)
    entry.credit(acc.INVENTORY, cogs_out)
    return Sold(net_sum, tax_sum, document_lines, sold)


def _return_part(ctx: EventContext, entry: EntryBuilder, lines: Sequence[ReturnLine],
                 original_ref: OriginalRef | None, part: str) -> tuple[Priced, SaleRecord | None]:
    """Returns and allowances, tax back, and restock at the original sale's cost."""
    priced = _price(ctx, [r.line for r in lines])
    _audit_lines(ctx, priced, part)
    entry.debit(acc.RETURNS, priced.net)
    entry.debit(acc.SALES_TAX_PAYABLE, priced.tax)
    original = _find_original(ctx, original_ref)
    sold = list(original.lines) if original is not None else []
    location_id = ctx.store.store_id
    for returned, p in zip(lines, priced, strict=True):
        sku = p.line.sku
        qty = p.line.qty
        match = _take_from_original(ctx, sold, sku, qty, part, p.line.line_no) if original else None
        if returned.disposition != "restock":
            continue
        position = ctx.position(sku, location_id)
        if match is not None:
            movement = costing.add_at_cost(position, qty, match)
        else:
            movement = costing.gain(position, qty, ctx.item(sku).standard_cost)
        ctx.move(movement, sku, location_id, ctx.store.store_id, "return")
        entry.debit(acc.INVENTORY, movement.value)
        entry.credit(acc.COGS, movement.value)
    if original is not None:
        original = msgspec.structs.replace(original, lines=tuple(sold))
        ctx.result.sales.append(original)
    return priced, original


def _find_original(ctx: EventContext, ref: OriginalRef | None) -> SaleRecord | None:
    if ref is None:
        return None
    for staged in ctx.result.sales:
        if staged.store_id == ref.store_id and staged.receipt_no == ref.receipt_no:
            return staged
    original = ctx.state.sale(ref.store_id, ref.receipt_no)
    if original is None:
        ctx.find("original_not_found", store_id=ref.store_id, receipt_no=ref.receipt_no)
    elif original.voided:
        ctx.find("original_voided", store_id=ref.store_id, receipt_no=ref.receipt_no)
    return original


def _take_from_original(ctx: EventContext, sold: list[SoldLine], sku: str, qty: int,
                        part: str, line_no: int) -> int | None:
    """The restock value of ``qty`` units of ``sku`` from the original sale:
    ``round(original line COGS × returned qty / original qty)``. Marks them returned."""
    for index, line in enumerate(sold):
        if line.sku == sku and line.returned_qty < line.qty:
            if line.returned_qty + qty > line.qty:
                ctx.find("return_exceeds_original", part=part, line_no=line_no, sku=sku,
                         returned=line.returned_qty + qty, sold=line.qty)
            sold[index] = msgspec.structs.replace(line, returned_qty=line.returned_qty + qty)
            return round_half_up(line.cogs * qty, line.qty)
    ctx.find("return_exceeds_original" if any(s.sku == sku for s in sold) else "original_line_not_found",
             part=part, line_no=line_no, sku=sku)
    return None


def _document_line(p: PricedLine, rate_text: str) -> dict[str, Any]:
    line = p.line
    return {"line_no": line.line_no, "sku": line.sku, "qty": line.qty, "unit_price": line.unit_price,
            "discount": line.discount, "tax_code": line.tax_code, "rate": rate_text, "net": p.net, "tax": p.tax,
            "total": p.total}


def _document_lines(priced: Sequence[PricedLine]) -> list[dict[str, Any]]:
    return [_document_line(p, str(p.rate.numerator / p.rate.denominator)) for p in priced]


def _document(ctx: EventContext, kind: str, lines: list[dict[str, Any]], net: int, tax: int, receipt_no: str,
              currency: str, customer_id: str | None, original_number: str | None,
              tenders: Sequence[Tender], **extra: Any) -> DocumentDraft:
    body: dict[str, Any] = {
        "receipt_no": receipt_no, "currency": currency, "customer_id": customer_id,
        "store_id": ctx.store.store_id, "register_id": ctx.envelope.register_id,
        "issued_at": ctx.envelope.occurred_at.isoformat(), "lines": lines,
        "totals": {"net": net, "tax": tax, "gross": net + tax},
        "tenders": [{"tender": t.tender, "amount": t.amount} for t in tenders], **extra,
    }
    document = DocumentDraft(kind, ctx.store.store_id, ctx.business_day, original_number,
                             net + tax, tax, body)
    ctx.result.documents.append(document)
    return document


def _finish(ctx: EventContext, entry: EntryBuilder, memo: str) -> None:
    built = entry.build(ctx.store.store_id, ctx.business_day, ctx.envelope.register_id, memo)
    ctx.result.entries.append(built)
    tender_of = acc.TENDER_OF_ACCOUNT
    ctx.result.tenders.extend((tender_of[line.account], line.debit - line.credit)
                              for line in built.lines if line.account in tender_of)


def _drawer_cash(ctx: EventContext, cash: int, **figures: int) -> None:
    if cash == 0:
        return
    assert ctx.envelope.register_id is not None
    drawer = ctx.result.drawer or ctx.state.drawer(ctx.envelope.register_id, ctx.store.store_id)
    if not drawer.session_open:
        # Posted to 1000 all the same, but a closed session's figures never change: the cash
        # belongs to no session and shows in the day's late list (CONTRACT 2.1 section 11).
        ctx.find("no_open_session", register_id=ctx.envelope.register_id, cash=cash,
                 last_session_id=drawer.session_id)
        return
    ctx.result.drawer = drawer.with_cash(cash, **figures)


def post_sale(ctx: EventContext, sale: Sale) -> None:
    """``sale.completed`` and ``order.fulfilled``."""
    entry = EntryBuilder()
    sold = _sell(ctx, entry, sale.lines, "lines")
    total = sold.total
    _audit_totals(ctx, sale.totals, sold.net, sold.tax, total)
    cash = _post_tenders(ctx, entry, sale.tenders, +1, total)
    order_id = sale.order_id
    _finish(ctx, entry, f"order {order_id} {sale.receipt_no}" if order_id else f"sale {sale.receipt_no}")
    extra = {"order_id": order_id} if order_id else {}
    _document(ctx, "invoice", sold.document_lines, sold.net, sold.tax, sale.receipt_no, sale.currency,
              sale.customer_id, None, sale.tenders, channel=sale.channel, **extra)
    ctx.result.sales.append(SaleRecord(
        ctx.store.store_id, sale.receipt_no, ctx.envelope.event_id, ctx.business_day, ctx.envelope.register_id,
        None, total, sold.tax, cash, tuple(sold.sold), ctx.result.entries[-1].lines, tuple(ctx.result.moves)))
    _drawer_cash(ctx, cash, cash_sales=cash)
    ctx.result.consumed_order_id = order_id


def post_return(ctx: EventContext, document: Return) -> None:
    entry = EntryBuilder()
    priced, original = _return_part(ctx, entry, document.lines, document.original, "lines")
    _audit_totals(ctx, document.totals, priced.net, priced.tax, priced.total)
    total = priced.total
    cash = _post_tenders(ctx, entry, document.tenders, -1, -total)
    _finish(ctx, entry, f"return {document.receipt_no}")
    _document(ctx, "credit_note", _document_lines(priced), priced.net, priced.tax, document.receipt_no,
              document.currency, document.customer_id, original.invoice_number if original else None,
              document.tenders, reason=document.reason,
              original=_original_doc(document.original))
    _drawer_cash(ctx, cash, cash_refunds=-cash)


def _original_doc(ref: OriginalRef | None) -> dict[str, str] | None:
    return None if ref is None else {"store_id": ref.store_id, "receipt_no": ref.receipt_no}


def post_exchange(ctx: EventContext, document: Exchange) -> None:
    entry = EntryBuilder()
    returned, original = _return_part(ctx, entry, document.return_lines, document.original,
                                      "return_lines")
    sold = _sell(ctx, entry, document.sale_lines, "sale_lines")
    balance = sold.total - returned.total
    cash = _post_tenders(ctx, entry, document.tenders, +1, balance)
    _finish(ctx, entry, f"exchange {document.receipt_no}")
    if returned:
        _document(ctx, "credit_note", _document_lines(returned), returned.net, returned.tax, document.receipt_no,
                  document.currency, document.customer_id, original.invoice_number if original else None, (),
                  reason="exchange", original=_original_doc(document.original))
    if sold.sold:
        _document(ctx, "invoice", sold.document_lines, sold.net, sold.tax, document.receipt_no, document.currency,
                  document.customer_id, None, document.tenders, channel="store")
        # A void of an exchange reverses the whole document: its entry and all its moves.
        ctx.result.sales.append(SaleRecord(
            ctx.store.store_id, document.receipt_no, ctx.envelope.event_id, ctx.business_day,
            ctx.envelope.register_id, None, balance, sold.tax - returned.tax, cash, tuple(sold.sold),
            ctx.result.entries[-1].lines, tuple(ctx.result.moves)))
    _drawer_cash(ctx, cash, cash_sales=max(cash, 0), cash_refunds=max(-cash, 0))


def post_void(ctx: EventContext, void: Void) -> Parked | None:
    """The exact reversal of the voided sale's entry and stock moves, and a credit note."""
    store_id = ctx.store.store_id
    sale = ctx.state.sale(store_id, void.receipt_no)
    if sale is None:
        return Parked("original_not_found", f"receipt:{store_id}/{void.receipt_no}",
                      {"store_id": store_id, "receipt_no": void.receipt_no,
                       "problem": "the voided sale has not been posted (yet)"})
    if sale.voided:
        return Parked("already_voided", None, {"store_id": store_id, "receipt_no": void.receipt_no})
    if sale.business_day != ctx.business_day:
        ctx.find("void_not_same_day", receipt_no=void.receipt_no,
                 sale_business_day=sale.business_day.isoformat())
    entry = EntryBuilder()
    for line in sale.journal_lines:
        entry.credit(line.account, line.debit)
        entry.debit(line.account, line.credit)
    for move in sale.moves:
        movement = costing.add_at_cost(ctx.position(move.sku, move.location_id), -move.qty, -move.value)
        ctx.move(movement, move.sku, move.location_id, move.store_id, "void")
    _finish(ctx, entry, f"void {void.receipt_no}")
    ctx.result.documents.append(DocumentDraft(
        "credit_note", store_id, ctx.business_day, sale.invoice_number, sale.total, sale.tax,
        {"receipt_no": void.receipt_no, "store_id": store_id, "currency": ctx.store.currency, "reason": "void",
         "void_reason": void.reason, "approved_by": void.approved_by,
         "issued_at": ctx.envelope.occurred_at.isoformat(),
         # The voided lines, as invoiced (a sale posted by a release that did not keep them has none).
         "lines": [{"line_no": ln.line_no, "sku": ln.sku, "qty": ln.qty, "unit_price": ln.unit_price,
                    "discount": ln.discount, "tax_code": ln.tax_code, "rate": ln.rate, "net": ln.net,
                    "tax": ln.tax, "total": ln.net + ln.tax} for ln in sale.lines if ln.tax_code],
         "totals": {"net": sale.total - sale.tax, "tax": sale.tax, "gross": sale.total}}))
    ctx.result.sales.append(msgspec.structs.replace(sale, voided=True))
    _drawer_cash(ctx, -sale.cash, cash_sales=-sale.cash)
    return None
