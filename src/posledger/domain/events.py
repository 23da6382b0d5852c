"""The contract's events (CONTRACT sections 2 and 3) as the domain reads them: an envelope and
a typed payload. ``codec.py`` decodes and validates the wire format into these.

Decisions where the contract is silent (docs/concepts/events.md):
- a return line may carry its own ``reason`` and ``disposition``; else the payload's apply;
- ``totals`` is optional; when present it is compared with the lines (``totals_mismatch``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

__all__ = [
    "EVENT_TYPES", "REGISTER_EVENT_TYPES", "STOCK_EVENT_TYPES", "TENDER_KINDS",
    "Envelope", "Event", "Card", "Tender", "SaleLine", "ReturnLine", "OriginalRef", "Totals",
    "Sale", "Return", "Exchange", "Void", "RegisterOpened", "CashMoved", "RegisterClosed",
    "StockLine", "StockReceived", "StockTransferLine", "StockTransferred", "StockAdjustLine",
    "StockAdjusted", "StockCountLine", "StockCounted", "Payload",
]

STOCK_EVENT_TYPES = ("stock.received", "stock.transferred", "stock.adjusted", "stock.counted")
REGISTER_EVENT_TYPES = (
    "sale.completed", "return.completed", "exchange.completed", "sale.voided",
    "register.opened", "cash.moved", "register.closed", "order.fulfilled",
)
EVENT_TYPES = REGISTER_EVENT_TYPES + STOCK_EVENT_TYPES
TENDER_KINDS = ("cash", "card", "wallet", "gift_card", "on_account")


class Card(NamedTuple):
    scheme: str | None
    last4: str | None
    auth_code: str | None
    terminal_id: str | None
    first6: str | None
    psp_reference: str | None = None  # the acquirer's id of the transaction (CONTRACT section 9)


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
