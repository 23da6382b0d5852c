"""The contract's events (CONTRACT sections 2 and 3), parsed and validated.

``parse_event`` turns a decoded JSON object into an ``Event``: the envelope plus a typed
payload. Anything that breaks the contract raises ``InvalidInput`` naming the field, so an
integrator can fix the POS mapping from the message alone.

Decisions where the contract is silent (docs/concepts/events.md):
- unknown keys are ignored, except inside ``card``, which may carry only the listed fields;
- a return line may carry its own ``reason`` and ``disposition``; else the payload's apply;
- ``totals`` is optional; when present it is compared with the lines (``totals_mismatch``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from posledger.domain import fields as f
from posledger.domain.errors import InvalidInput
from posledger.domain.pan import refuse_card_data

__all__ = [
    "EVENT_TYPES", "REGISTER_EVENT_TYPES", "STOCK_EVENT_TYPES", "TENDER_KINDS",
    "Envelope", "Event", "Card", "Tender", "SaleLine", "ReturnLine", "OriginalRef", "Totals",
    "Sale", "Return", "Exchange", "Void", "RegisterOpened", "CashMoved", "RegisterClosed",
    "StockLine", "StockReceived", "StockTransferLine", "StockTransferred", "StockAdjustLine",
    "StockAdjusted", "StockCountLine", "StockCounted", "Payload", "parse_event",
]

STOCK_EVENT_TYPES = ("stock.received", "stock.transferred", "stock.adjusted", "stock.counted")
REGISTER_EVENT_TYPES = (
    "sale.completed", "return.completed", "exchange.completed", "sale.voided",
    "register.opened", "cash.moved", "register.closed", "order.fulfilled",
)
EVENT_TYPES = REGISTER_EVENT_TYPES + STOCK_EVENT_TYPES
TENDER_KINDS = ("cash", "card", "wallet", "gift_card", "on_account")
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CARD_KEYS = frozenset({"scheme", "last4", "auth_code", "terminal_id", "first6"})


class Card(NamedTuple):
    scheme: str | None
    last4: str | None
    auth_code: str | None
    terminal_id: str | None
    first6: str | None


class Tender(NamedTuple):
    """One tender. ``amount`` is what is applied to the document (cash net of change);
    on an exchange it is signed, negative meaning a refund to the customer."""

    tender: str
    amount: int
    tendered: int | None = None
    change: int | None = None
    card: Card | None = None


class SaleLine(NamedTuple):
    line_no: int
    sku: str
    qty: int
    unit_price: int
    discount: int
    promo_id: str | None
    tax_code: str
    tax: int


class ReturnLine(NamedTuple):
    line: SaleLine
    reason: str | None
    disposition: str  # "restock" | "damaged"


@dataclass(frozen=True, slots=True)
class OriginalRef:
    store_id: str
    receipt_no: str


@dataclass(frozen=True, slots=True)
class Totals:
    net: int | None
    tax: int | None
    gross: int | None


@dataclass(frozen=True, slots=True)
class Sale:
    """``sale.completed``, and ``order.fulfilled`` when ``order_id`` is set."""

    receipt_no: str
    cashier_id: str | None
    customer_id: str | None
    currency: str
    channel: str
    lines: tuple[SaleLine, ...]
    tenders: tuple[Tender, ...]
    totals: Totals | None
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Return:
    receipt_no: str
    cashier_id: str | None
    customer_id: str | None
    currency: str
    lines: tuple[ReturnLine, ...]
    tenders: tuple[Tender, ...]
    original: OriginalRef | None
    reason: str | None
    totals: Totals | None


@dataclass(frozen=True, slots=True)
class Exchange:
    receipt_no: str
    cashier_id: str | None
    customer_id: str | None
    currency: str
    return_lines: tuple[ReturnLine, ...]
    sale_lines: tuple[SaleLine, ...]
    tenders: tuple[Tender, ...]
    original: OriginalRef | None


@dataclass(frozen=True, slots=True)
class Void:
    receipt_no: str
    reason: str | None
    approved_by: str | None


@dataclass(frozen=True, slots=True)
class RegisterOpened:
    session_id: str
    cashier_id: str | None
    opening_float: int


@dataclass(frozen=True, slots=True)
class CashMoved:
    session_id: str
    kind: str  # "drop" | "float_add" | "paid_out"
    amount: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class RegisterClosed:
    session_id: str
    counted_cash: int
    approved_by: str | None


class StockLine(NamedTuple):
    sku: str
    qty: int
    unit_cost: int


@dataclass(frozen=True, slots=True)
class StockReceived:
    location_id: str
    reference: str | None
    lines: tuple[StockLine, ...]


class StockTransferLine(NamedTuple):
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class StockTransferred:
    from_location_id: str
    to_location_id: str
    reference: str | None
    lines: tuple[StockTransferLine, ...]


class StockAdjustLine(NamedTuple):
    sku: str
    qty_delta: int


@dataclass(frozen=True, slots=True)
class StockAdjusted:
    location_id: str
    reason: str | None
    lines: tuple[StockAdjustLine, ...]


class StockCountLine(NamedTuple):
    sku: str
    counted_qty: int


@dataclass(frozen=True, slots=True)
class StockCounted:
    location_id: str
    lines: tuple[StockCountLine, ...]


Payload = (Sale | Return | Exchange | Void | RegisterOpened | CashMoved | RegisterClosed
           | StockReceived | StockTransferred | StockAdjusted | StockCounted)


@dataclass(frozen=True, slots=True)
class Envelope:
    event_id: str
    type: str
    store_id: str
    register_id: str | None
    seq: int | None
    occurred_at: datetime
    business_day: date | None


@dataclass(frozen=True, slots=True)
class Event:
    envelope: Envelope
    payload: Payload


# ---------------------------------------------------------------- parsing


def parse_event(document: Any, *, check_card_data: bool = True, json_text: str | None = None) -> Event:
    """Validate a decoded JSON event and return it typed. Raises ``InvalidInput``.

    ``json_text`` (the same document as JSON) makes the card-data check cheap."""
    root = f.obj(document, "(body)")
    if check_card_data:
        refuse_card_data(root, json_text)
    envelope = _parse_envelope(root)
    payload_doc = f.obj(root.get("payload"), "payload") if "payload" in root else None
    if payload_doc is None:
        raise InvalidInput("payload", "is required")
    payload = _PAYLOAD_PARSERS[envelope.type](payload_doc, "payload")
    return Event(envelope, payload)


def _parse_envelope(root: Mapping[str, Any]) -> Envelope:
    event_id = f.req_text(root, "event_id", "", max_length=64)
    if not _EVENT_ID.match(event_id):
        raise InvalidInput("event_id", "must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    event_type = f.req_text(root, "type", "")
    if event_type not in EVENT_TYPES:
        raise InvalidInput("type", f"unknown event type {event_type!r}; expected one of "
                           + ", ".join(EVENT_TYPES))
    store_id = f.req_text(root, "store_id", "", max_length=64)
    if event_type in STOCK_EVENT_TYPES:
        if root.get("register_id") is not None:
            raise InvalidInput("register_id", f"must be null for {event_type}")
        if root.get("seq") is not None:
            raise InvalidInput("seq", f"must be absent for {event_type}")
        register_id, seq = None, None
    else:
        register_id = f.req_text(root, "register_id", "", max_length=64)
        seq = f.integer(root, "seq", "", minimum=1, what="a positive integer")
    occurred_at = f.timestamp(root, "occurred_at", "")
    assert occurred_at is not None
    business_day = f.day(root, "business_day", "")
    return Envelope(event_id, event_type, store_id, register_id, seq, occurred_at, business_day)


def _card(value: Any, path: str) -> Card | None:
    if value is None:
        return None
    card = f.obj(value, path)
    for key in card:
        if key not in _CARD_KEYS:
            raise InvalidInput(f"{path}.{key}", "is not allowed in card data; only scheme, "
                               "first6, last4, auth_code and terminal_id")
    last4 = f.text(card, "last4", path, required=False)
    if last4 is not None and not re.fullmatch(r"\d{4}", last4):
        raise InvalidInput(f"{path}.last4", "must be 4 digits")
    first6 = f.text(card, "first6", path, required=False)
    if first6 is not None and not re.fullmatch(r"\d{6}", first6):
        raise InvalidInput(f"{path}.first6", "must be 6 digits")
    return Card(f.text(card, "scheme", path, required=False), last4,
                f.text(card, "auth_code", path, required=False),
                f.text(card, "terminal_id", path, required=False), first6)


def _tenders(source: Mapping[str, Any], path: str, *, signed: bool) -> tuple[Tender, ...]:
    result = []
    for index, raw in enumerate(f.array(source, "tenders", path, max_items=100)):
        item_path = f"{path}.tenders[{index}]"
        item = f.obj(raw, item_path)
        kind = f.choice(item, "tender", item_path, TENDER_KINDS)
        assert kind is not None
        amount = f.req_money(item, "amount", item_path, signed=signed)
        if signed and amount == 0:
            raise InvalidInput(f"{item_path}.amount", "must not be zero")
        result.append(Tender(kind, amount, f.money(item, "tendered", item_path, required=False),
                             f.money(item, "change", item_path, required=False),
                             _card(item.get("card"), f"{item_path}.card")))
    return tuple(result)


def _sale_line(raw: Any, path: str) -> SaleLine:
    line = f.obj(raw, path)
    line_no = f.integer(line, "line_no", path, minimum=1, what="a positive integer")
    qty = f.integer(line, "qty", path, minimum=1, what="a positive integer number of units")
    unit_price = f.req_money(line, "unit_price", path)
    discount = f.money(line, "discount", path, required=False) or 0
    assert line_no is not None and qty is not None
    if discount > qty * unit_price:
        raise InvalidInput(f"{path}.discount", f"{discount} exceeds qty * unit_price "
                           f"({qty * unit_price})")
    tax = f.req_money(line, "tax", path)
    return SaleLine(line_no, f.req_text(line, "sku", path, max_length=64), qty, unit_price,
                    discount, f.text(line, "promo_id", path, required=False),
                    f.req_text(line, "tax_code", path, max_length=32), tax)


def _sale_lines(source: Mapping[str, Any], key: str, path: str, min_items: int = 1) -> tuple[SaleLine, ...]:
    raw_lines = f.array(source, key, path, min_items=min_items, max_items=1000,
                        required=min_items > 0)
    lines = tuple(_sale_line(raw, f"{path}.{key}[{i}]") for i, raw in enumerate(raw_lines))
    seen: set[int] = set()
    for index, line in enumerate(lines):
        if line.line_no in seen:
            raise InvalidInput(f"{path}.{key}[{index}].line_no", f"duplicate line_no {line.line_no}")
        seen.add(line.line_no)
    return lines


def _return_lines(source: Mapping[str, Any], key: str, path: str, min_items: int = 1) -> tuple[ReturnLine, ...]:
    default_disposition = f.choice(source, "disposition", path, ("restock", "damaged"), required=False)
    default_reason = f.text(source, "reason", path, required=False)
    result = []
    for index, line in enumerate(_sale_lines(source, key, path, min_items)):
        raw = source[key][index]
        line_path = f"{path}.{key}[{index}]"
        disposition = f.choice(raw, "disposition", line_path, ("restock", "damaged"),
                               required=False) or default_disposition
        if disposition is None:
            raise InvalidInput(f"{line_path}.disposition",
                               "is required (restock or damaged), on the line or the payload")
        reason = f.text(raw, "reason", line_path, required=False) or default_reason
        result.append(ReturnLine(line, reason, disposition))
    return tuple(result)


def _original(source: Mapping[str, Any], path: str) -> OriginalRef | None:
    raw = source.get("original")
    if raw is None:
        return None
    original = f.obj(raw, f"{path}.original")
    return OriginalRef(f.req_text(original, "store_id", f"{path}.original", max_length=64),
                       f.req_text(original, "receipt_no", f"{path}.original"))


def _totals(source: Mapping[str, Any], path: str) -> Totals | None:
    raw = source.get("totals")
    if raw is None:
        return None
    totals = f.obj(raw, f"{path}.totals")
    tpath = f"{path}.totals"
    return Totals(f.money(totals, "net", tpath, required=False),
                  f.money(totals, "tax", tpath, required=False),
                  f.money(totals, "gross", tpath, required=False))


def _parse_sale(source: Mapping[str, Any], path: str, order: bool = False) -> Sale:
    return Sale(
        receipt_no=f.req_text(source, "receipt_no", path),
        cashier_id=f.text(source, "cashier_id", path, required=False),
        customer_id=f.text(source, "customer_id", path, required=False),
        currency=f.currency(source, "currency", path),
        channel=f.text(source, "channel", path, required=False) or ("online" if order else "store"),
        lines=_sale_lines(source, "lines", path),
        tenders=_tenders(source, path, signed=False),
        totals=_totals(source, path),
        order_id=f.req_text(source, "order_id", path) if order else None,
    )


def _parse_order(source: Mapping[str, Any], path: str) -> Sale:
    return _parse_sale(source, path, order=True)


def _parse_return(source: Mapping[str, Any], path: str) -> Return:
    return Return(
        receipt_no=f.req_text(source, "receipt_no", path),
        cashier_id=f.text(source, "cashier_id", path, required=False),
        customer_id=f.text(source, "customer_id", path, required=False),
        currency=f.currency(source, "currency", path),
        lines=_return_lines(source, "lines", path),
        tenders=_tenders(source, path, signed=False),
        original=_original(source, path),
        reason=f.text(source, "reason", path, required=False),
        totals=_totals(source, path),
    )


def _parse_exchange(source: Mapping[str, Any], path: str) -> Exchange:
    return_lines = _return_lines(source, "return_lines", path, min_items=0)
    sale_lines = _sale_lines(source, "sale_lines", path, min_items=0)
    if not return_lines and not sale_lines:
        raise InvalidInput(f"{path}.return_lines", "an exchange needs return_lines or sale_lines")
    return Exchange(
        receipt_no=f.req_text(source, "receipt_no", path),
        cashier_id=f.text(source, "cashier_id", path, required=False),
        customer_id=f.text(source, "customer_id", path, required=False),
        currency=f.currency(source, "currency", path),
        return_lines=return_lines,
        sale_lines=sale_lines,
        tenders=_tenders(source, path, signed=True),
        original=_original(source, path),
    )


def _parse_void(source: Mapping[str, Any], path: str) -> Void:
    return Void(f.req_text(source, "receipt_no", path),
                f.text(source, "reason", path, required=False),
                f.text(source, "approved_by", path, required=False))


def _parse_opened(source: Mapping[str, Any], path: str) -> RegisterOpened:
    return RegisterOpened(f.req_text(source, "session_id", path),
                          f.text(source, "cashier_id", path, required=False),
                          f.req_money(source, "opening_float", path))


def _parse_cash_moved(source: Mapping[str, Any], path: str) -> CashMoved:
    kind = f.choice(source, "kind", path, ("drop", "float_add", "paid_out"))
    assert kind is not None
    amount = f.integer(source, "amount", path, minimum=1,
                       what="a positive integer number of minor units")
    assert amount is not None
    return CashMoved(f.req_text(source, "session_id", path), kind, amount,
                     f.text(source, "reason", path, required=False))


def _parse_closed(source: Mapping[str, Any], path: str) -> RegisterClosed:
    counted = f.obj(source.get("counted"), f"{path}.counted")
    return RegisterClosed(f.req_text(source, "session_id", path),
                          f.req_money(counted, "cash", f"{path}.counted"),
                          f.text(source, "approved_by", path, required=False))


def _stock_lines(source: Mapping[str, Any], path: str) -> list[tuple[Mapping[str, Any], str, str]]:
    result = []
    for index, raw in enumerate(f.array(source, "lines", path, min_items=1, max_items=10_000)):
        line_path = f"{path}.lines[{index}]"
        line = f.obj(raw, line_path)
        result.append((line, line_path, f.req_text(line, "sku", line_path, max_length=64)))
    return result


def _positive_qty(line: Mapping[str, Any], key: str, path: str) -> int:
    qty = f.integer(line, key, path, minimum=1, what="a positive integer number of units")
    assert qty is not None
    return qty


def _parse_received(source: Mapping[str, Any], path: str) -> StockReceived:
    lines = tuple(StockLine(sku, _positive_qty(line, "qty", lp), f.req_money(line, "unit_cost", lp))
                  for line, lp, sku in _stock_lines(source, path))
    return StockReceived(f.req_text(source, "location_id", path, max_length=64),
                         f.text(source, "reference", path, required=False), lines)


def _parse_transferred(source: Mapping[str, Any], path: str) -> StockTransferred:
    origin = f.req_text(source, "from_location_id", path, max_length=64)
    destination = f.req_text(source, "to_location_id", path, max_length=64)
    if origin == destination:
        raise InvalidInput(f"{path}.to_location_id", "must differ from from_location_id")
    lines = tuple(StockTransferLine(sku, _positive_qty(line, "qty", lp))
                  for line, lp, sku in _stock_lines(source, path))
    return StockTransferred(origin, destination, f.text(source, "reference", path, required=False), lines)


def _parse_adjusted(source: Mapping[str, Any], path: str) -> StockAdjusted:
    lines = []
    for line, lp, sku in _stock_lines(source, path):
        delta = f.integer(line, "qty_delta", lp, nonzero=True, what="a non-zero integer")
        assert delta is not None
        lines.append(StockAdjustLine(sku, delta))
    return StockAdjusted(f.req_text(source, "location_id", path, max_length=64),
                         f.text(source, "reason", path, required=False), tuple(lines))


def _parse_counted(source: Mapping[str, Any], path: str) -> StockCounted:
    lines = []
    for line, lp, sku in _stock_lines(source, path):
        counted = f.integer(line, "counted_qty", lp, minimum=0, what="a non-negative integer")
        assert counted is not None
        lines.append(StockCountLine(sku, counted))
    return StockCounted(f.req_text(source, "location_id", path, max_length=64), tuple(lines))


_PAYLOAD_PARSERS: dict[str, Any] = {
    "sale.completed": _parse_sale,
    "order.fulfilled": _parse_order,
    "return.completed": _parse_return,
    "exchange.completed": _parse_exchange,
    "sale.voided": _parse_void,
    "register.opened": _parse_opened,
    "cash.moved": _parse_cash_moved,
    "register.closed": _parse_closed,
    "stock.received": _parse_received,
    "stock.transferred": _parse_transferred,
    "stock.adjusted": _parse_adjusted,
    "stock.counted": _parse_counted,
}
