"""What the posting rules read (``PostingState``) and what they return (``Posted`` or ``Parked``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import msgspec

from posledger.domain.costing import StockPosition
from posledger.domain.journal import JournalEntry, JournalLine
from posledger.domain.master import MasterData

__all__ = [
    "PostingState", "StockMove", "Finding", "DocumentDraft", "SoldLine", "SaleRecord", "Drawer",
    "Posted", "Parked", "Outcome", "StockKey",
]

StockKey = tuple[str, str]  # (sku, location_id)


class StockMove(msgspec.Struct, frozen=True, gc=False):
    """One movement in the stock ledger. ``qty`` and ``value`` are signed (out is negative)."""

    sku: str
    location_id: str
    store_id: str
    qty: int
    value: int
    kind: str  # sale, return, void, receipt, transfer_out, transfer_in, adjustment, count
    business_day: date


class Finding(msgspec.Struct, frozen=True, gc=False):
    """A sales-audit or integration exception raised while posting, e.g. ``tax_mismatch``."""

    type: str
    detail: dict[str, Any]


class DocumentDraft(msgspec.Struct, frozen=True, gc=False):
    """An invoice or credit note before the hub gives it its gapless number."""

    kind: str  # "invoice" | "credit_note"
    store_id: str
    business_day: date
    original_number: str | None
    total: int
    tax: int
    body: dict[str, Any]


def document_number(series: str, sequence: int) -> str:
    """A document's number: its series and its place in it (``S001-INV-00000042``)."""
    return f"{series}-{sequence:08d}"


def parse_document_number(number: str) -> tuple[str, int] | None:
    """The (series, sequence) a number was written from; None for anything no document has."""
    series, _, digits = number.rpartition("-")
    if not series or not digits.isascii() or not digits.isdigit():
        return None
    sequence = int(digits)
    return (series, sequence) if document_number(series, sequence) == number else None


class SoldLine(msgspec.Struct, frozen=True, gc=False):
    line_no: int
    sku: str
    qty: int
    cogs: int
    returned_qty: int = 0
    # As invoiced, so that a void's credit note carries the voided lines (CONTRACT section 16);
    # sales posted before this knew them have zeros here.
    unit_price: int = 0
    discount: int = 0
    tax_code: str = ""
    rate: str = ""
    net: int = 0
    tax: int = 0


class SaleRecord(msgspec.Struct, frozen=True, gc=False):
    """What later events need of a sale: returns (line costs), voids (its postings)."""

    store_id: str
    receipt_no: str
    event_id: str
    business_day: date
    register_id: str | None
    invoice_number: str | None
    total: int
    tax: int
    cash: int
    lines: tuple[SoldLine, ...]
    journal_lines: tuple[JournalLine, ...]
    moves: tuple[StockMove, ...]
    voided: bool = False

    def numbered(self, invoice_number: str | None) -> SaleRecord:
        """This record with its invoice number."""
        return msgspec.structs.replace(self, invoice_number=invoice_number)


class Drawer(msgspec.Struct, frozen=True, gc=False):
    """A register's cash drawer and its current (or last) session.

    ``cash_expected`` is the session's expected cash: opening float + cash sales - cash refunds
    + float adds - drops - paid outs, of the events inside the session. A close posts it away,
    so after a close account 1000 for the register nets to zero. Cash outside any session (a
    cash sale after the close, a drop naming another session) is posted to 1000 but belongs to
    no session: a closed session's figures never change (CONTRACT 2.1 section 11).
    """

    register_id: str
    store_id: str
    cash_expected: int = 0
    session_id: str | None = None
    session_status: str | None = None  # "open" | "closed"
    business_day: date | None = None
    opening_float: int = 0
    cash_sales: int = 0
    cash_refunds: int = 0
    float_adds: int = 0
    drops: int = 0
    paid_outs: int = 0
    counted: int | None = None
    over_short: int | None = None
    approved_by: str | None = None
    opened_at: str | None = None  # RFC 3339, the register.opened event's occurred_at
    closed_at: str | None = None
    # The register.opened event that began the session: with the register and the session id,
    # its identity (a POS that reuses a session id opens another session, never reopens one).
    open_event_id: str = ""

    @property
    def session_open(self) -> bool:
        return self.session_status == "open"

    def with_cash(self, delta: int, **figures: int) -> Drawer:
        changes: dict[str, Any] = {"cash_expected": self.cash_expected + delta}
        for name, amount in figures.items():
            changes[name] = getattr(self, name) + amount
        return msgspec.structs.replace(self, **changes)


class PostingState(Protocol):
    """Read access to everything a posting rule may consult. Implemented by the application
    over its unit of work; reads see the effects of earlier events in the same batch."""

    @property
    def master(self) -> MasterData: ...

    def stock(self, sku: str, location_id: str) -> StockPosition: ...

    def sale(self, store_id: str, receipt_no: str) -> SaleRecord | None: ...

    def drawer(self, register_id: str, store_id: str) -> Drawer: ...


class Posted(msgspec.Struct, gc=False):
    """Everything one event posts. The application writes all of it in one transaction."""

    entries: list[JournalEntry] = msgspec.field(default_factory=list)
    moves: list[StockMove] = msgspec.field(default_factory=list)
    positions: dict[StockKey, tuple[str, StockPosition]] = msgspec.field(default_factory=dict)
    documents: list[DocumentDraft] = msgspec.field(default_factory=list)
    findings: list[Finding] = msgspec.field(default_factory=list)
    sales: list[SaleRecord] = msgspec.field(default_factory=list)  # new or updated sale records
    drawer: Drawer | None = None
    consumed_order_id: str | None = None
    business_day: date | None = None
    # What a sale, return, exchange or void took (+) or refunded (-) per tender, from its
    # entry's lines on the tender accounts: the day summary's tenders, kept at posting.
    tenders: list[tuple[str, int]] = msgspec.field(default_factory=list)


class Parked(msgspec.Struct, frozen=True, gc=False):
    """The event cannot be posted yet (or at all without a person). It is kept, not lost.

    ``wait_key`` names what it waits for: ``"master"`` (any master-data change retries it),
    ``"receipt:S001/R1-000042"`` (a sale not yet posted), or None (a person must resolve it).
    """

    type: str
    wait_key: str | None
    detail: dict[str, Any]


Outcome = Posted | Parked
