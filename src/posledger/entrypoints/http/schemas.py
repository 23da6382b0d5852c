"""The request and response bodies of the HTTP API as types, for the OpenAPI document
(CONTRACT 2.1 section 16: the schema is the documentation, and a generated client is typed).

The routes build their answers as plain dicts (the hot path stays free of validation); these
Structs describe them. schemathesis checks every answer against them (tests/e2e), so the two
cannot drift apart silently. Response types leave unknown keys allowed (an answer may grow);
request types refuse them, as the routes do (CONTRACT section 2)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["NON_PROBLEM_ANSWERS", "REQUESTS", "RESPONSES", "EXAMPLES", "schema_components", "response_schema", "FieldError", "Problem"]


class _Body(msgspec.Struct, kw_only=True):
    pass


class _Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


# ------------------------------------------------------------------ problems


class FieldError(_Body, kw_only=True):
    field: str
    code: str
    detail: str


class Problem(_Body, kw_only=True):
    """RFC 9457 problem details: ``type`` is ``/problems/{code}``, a page saying what it means."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[FieldError] = []
    request_id: str | None = None


# ------------------------------------------------------------------ events


class EventResult(_Body, kw_only=True):
    event_id: str | None
    status: Literal["accepted", "duplicate", "rejected", "conflict"]
    problem: Problem | None = None


class IngestResponse(_Body, kw_only=True):
    results: list[EventResult]
    accepted: int
    duplicate: int
    rejected: int
    conflict: int


class EventSummary(_Body, kw_only=True):
    event_id: str
    store_id: str
    type: str
    status: Literal["accepted", "posted", "exception"]
    register_id: str | None
    seq: int | None
    offset: int
    accepted_at: str
    self: str


class EventPage(_Body, kw_only=True):
    items: list[EventSummary]
    next_cursor: str | None


class JournalLine(_Body, kw_only=True):
    entry_id: int
    line_no: int
    event_id: str
    account: str
    debit: int
    credit: int
    store_id: str
    business_day: str
    register_id: str | None
    memo: str


class StockMove(_Body, kw_only=True):
    sku: str
    location_id: str
    store_id: str
    qty: int
    value: int
    kind: str
    business_day: str


class ExceptionRecord(_Body, kw_only=True):
    id: int
    type: str
    status: Literal["open", "resolved"]
    store_id: str | None
    register_id: str | None
    event_id: str | None
    business_day: str | None
    detail: dict[str, Any]
    created_at: str
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None


class EventLinks(_Body, kw_only=True):
    self: str
    journal_entries: str
    invoices: list[str]


class EventStatus(_Body, kw_only=True):
    """An event's status and what it posted; a rejected one has its ``problem`` instead."""

    event_id: str
    store_id: str
    status: Literal["accepted", "posted", "exception", "rejected"]
    type: str | None = None
    offset: int | None = None
    accepted_at: str | None = None
    journal_entries: list[int] = []
    journal_lines: list[JournalLine] = []
    stock_moves: list[StockMove] = []
    documents: list[str] = []
    exceptions: list[ExceptionRecord] = []
    problem: Problem | None = None
    received_at: str | None = None
    links: EventLinks | None = None


# ------------------------------------------------------------------ master data


class Store(_Request, kw_only=True):
    store_id: str
    kind: Literal["store", "warehouse"] = "store"
    name: str | None = None
    timezone: str
    currency: str
    prices_include_tax: bool
    day_cutoff: str = "04:00"
    tax_region: str


class Register(_Request, kw_only=True):
    register_id: str
    store_id: str


class Location(_Request, kw_only=True):
    location_id: str
    store_id: str


class Item(_Request, kw_only=True):
    sku: str
    name: str | None = None
    category: str | None = None
    tax_code: str
    price: int
    standard_cost: int = 0
    active: bool = True
    gtin: str | None = None


class TaxRule(_Request, kw_only=True):
    tax_region: str
    tax_code: str
    rate: str | float  # a decimal below 1: "0.08875" is 8.875 %


class Promotion(_Request, kw_only=True):
    promo_id: str
    valid_from: str | None = None
    valid_to: str | None = None
    max_discount_pct: str | float


class MasterDataDocument(_Request, kw_only=True):
    """The bulk master-data document: every key optional (CONTRACT section 7)."""

    stores: list[Store] = []
    registers: list[Register] = []
    locations: list[Location] = []
    items: list[Item] = []
    tax_rules: list[TaxRule] = []
    promotions: list[Promotion] = []


class StorePage(_Body, kw_only=True):
    items: list[Store]
    next_cursor: str | None


class RegisterPage(_Body, kw_only=True):
    items: list[Register]
    next_cursor: str | None


class LocationPage(_Body, kw_only=True):
    items: list[Location]
    next_cursor: str | None


class ItemPage(_Body, kw_only=True):
    items: list[Item]
    next_cursor: str | None


class TaxRulePage(_Body, kw_only=True):
    items: list[TaxRule]
    next_cursor: str | None


class PromotionPage(_Body, kw_only=True):
    items: list[Promotion]
    next_cursor: str | None


class Upserted(_Body, kw_only=True):
    kind: str
    key: str
    changed: bool
    version: int
    released: int


class MasterDataLoaded(_Body, kw_only=True):
    version: int
    changed: dict[str, int]
    unchanged: int
    released: int


class Catalog(_Body, kw_only=True):
    items: list[Item]
    tax_rules: list[TaxRule]
    promotions: list[Promotion]
    version: int
    since: int


# ------------------------------------------------------------------ tokens and audit


class TokenRequest(_Request, kw_only=True):
    role: Literal["device", "manager", "finance", "admin", "monitor"]
    store_id: str | None = None
    name: str | None = None
    expires_at: str | None = None


class Token(_Body, kw_only=True):
    token_id: str
    role: str
    store_id: str | None
    name: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked: bool


class TokenCreated(Token, kw_only=True):
    token: str  # the secret, shown once


class TokenPage(_Body, kw_only=True):
    items: list[Token]
    next_cursor: str | None


class Revoked(_Body, kw_only=True):
    token_id: str
    revoked: bool


class AuditEntry(_Body, kw_only=True):
    id: int
    at: str
    actor: str
    action: str
    subject: str
    before: Any = None
    after: Any = None


class AuditLog(_Body, kw_only=True):
    entries: list[AuditEntry]
    next_since: int


# ------------------------------------------------------------------ ledger and stock


class TrialBalanceAccount(_Body, kw_only=True):
    account: str
    name: str
    debit: int
    credit: int
    balance: int


class Totals(_Body, kw_only=True):
    debit: int
    credit: int


class TrialBalance(_Body, kw_only=True):
    store_id: str | None
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    currency: str | None
    accounts: list[TrialBalanceAccount]
    totals: Totals


class EntryPage(_Body, kw_only=True):
    items: list[JournalLine]
    next_cursor: str | None


class StockPosition(_Body, kw_only=True):
    sku: str
    location_id: str | None
    on_hand: int
    reserved: int
    atp: int
    unit_cost: int
    value: int
    store_id: str | None = None
    locations: list[StockPosition] | None = None  # no location asked: each one


class StockPage(_Body, kw_only=True):
    items: list[StockPosition]
    next_cursor: str | None


class ReservationRequest(_Request, kw_only=True):
    order_id: str
    sku: str
    location_id: str
    qty: int


class Reservation(_Body, kw_only=True):
    order_id: str
    sku: str
    location_id: str
    qty: int
    atp: int


class Released(_Body, kw_only=True):
    order_id: str
    released: int


# ------------------------------------------------------------------ documents


class DocumentSummary(_Body, kw_only=True):
    number: str
    kind: Literal["invoice", "credit_note"]
    store_id: str
    business_day: str
    event_id: str
    original_number: str | None
    total: int
    tax: int
    currency: str | None
    self: str


class DocumentPage(_Body, kw_only=True):
    items: list[DocumentSummary]
    next_cursor: str | None


class DocumentLine(_Body, kw_only=True):
    line_no: int
    sku: str
    qty: int
    unit_price: int
    discount: int
    tax_code: str
    rate: str
    net: int
    tax: int
    total: int


class DocumentTender(_Body, kw_only=True):
    tender: str
    amount: int


class DocumentTotals(_Body, kw_only=True):
    net: int
    tax: int
    gross: int


class Document(_Body, kw_only=True):
    """An invoice or credit note as issued: its number is gapless within its series."""

    number: str
    kind: Literal["invoice", "credit_note"]
    series: str
    sequence: int
    event_id: str
    store_id: str
    business_day: str
    original_number: str | None
    total: int
    tax: int
    receipt_no: str
    currency: str
    issued_at: str
    lines: list[DocumentLine]
    totals: DocumentTotals
    tenders: list[DocumentTender] = []
    register_id: str | None = None
    customer_id: str | None = None
    reason: str | None = None


# ------------------------------------------------------------------ exceptions


class ExceptionPage(_Body, kw_only=True):
    items: list[ExceptionRecord]
    next_cursor: str | None


class Resolution(_Request, kw_only=True):
    reason: str
    retry: bool = False


# ------------------------------------------------------------------ the business day


class Session(_Body, kw_only=True):
    """A register session's Z-report row: expected = opening float + cash sales - cash refunds
    + float adds - paid out - drops; over/short = counted - expected."""

    session_id: str
    status: Literal["open", "closed"]
    opened_at: str | None
    closed_at: str | None
    opening_float: int
    cash_sales: int
    cash_refunds: int
    float_adds: int
    paid_out: int
    drops: int
    expected: int
    counted: int | None
    over_short: int | None
    approved_by: str | None


class RegisterSessions(_Body, kw_only=True):
    register_id: str
    sessions: list[Session]


class RegisterSession(Session, kw_only=True):
    register_id: str
    store_id: str
    business_day: str | None


class SessionPage(_Body, kw_only=True):
    items: list[RegisterSession]
    next_cursor: str | None


class TaxByRate(_Body, kw_only=True):
    tax_code: str
    rate: str
    taxable: int
    tax: int


class Tenders(_Body, kw_only=True):
    cash: int
    card: int
    wallet: int
    gift_card: int
    on_account: int


class LateCash(_Body, kw_only=True):
    """A cash event outside any session: posted to account 1000, in no session's figures."""

    event_id: str | None
    register_id: str | None
    cash: int
    exception_id: int
    exception_type: str
    status: str


class DaySummary(_Body, kw_only=True):
    store_id: str
    business_day: str
    currency: str | None
    status: Literal["open", "closed", "amended"]
    net_sales: int
    tax: int
    returns: int
    cogs: int
    tenders: Tenders
    over_short: int
    exceptions_open: int
    closed_by: str | None
    closed_at: str | None
    tax_by_rate: list[TaxByRate]
    registers: list[RegisterSessions]
    late: list[LateCash]


class Health(_Body, kw_only=True):
    live: bool
    ready: bool
    checks: dict[str, Any] | None = None


# operationId: (status, the body's type, or the types it is one of); every operation answering
# JSON has one. One event posted gets its result; an array gets a result per event.
RESPONSES: dict[str, tuple[int, type[Any] | tuple[type[Any], ...]]] = {
    "postEvents": (202, (IngestResponse, EventResult)), "listEvents": (200, EventPage), "getEvent": (200, EventStatus),
    **{f"put{noun}": (200, Upserted) for noun in ("Store", "Register", "Location", "Item", "Promotion", "TaxRule")},
    "getStore": (200, Store), "listStores": (200, StorePage),
    "getRegister": (200, Register), "listRegisters": (200, RegisterPage),
    "getLocation": (200, Location), "listLocations": (200, LocationPage),
    "getItem": (200, Item), "listItems": (200, ItemPage),
    "getTaxRule": (200, TaxRule), "listTaxRules": (200, TaxRulePage),
    "getPromotion": (200, Promotion), "listPromotions": (200, PromotionPage),
    "postMasterData": (200, MasterDataLoaded), "getCatalog": (200, Catalog),
    "createToken": (201, TokenCreated), "listTokens": (200, TokenPage), "revokeToken": (200, Revoked),
    "getAuditLog": (200, AuditLog),
    "getTrialBalance": (200, TrialBalance), "listEntries": (200, EntryPage),
    "listStock": (200, StockPage), "getStock": (200, StockPosition),
    "postReservation": (201, Reservation), "deleteReservation": (200, Released),
    "listInvoices": (200, DocumentPage), "getInvoice": (200, Document),
    "listExceptions": (200, ExceptionPage), "getException": (200, ExceptionRecord),
    "resolveException": (200, ExceptionRecord),
    "getDaySummary": (200, DaySummary), "listRegisterSessions": (200, SessionPage),
    "getHealth": (200, Health),
}

# operationId: {status: type} for an error status that answers another body than a Problem
# (/health says what is not ready in its own shape).
NON_PROBLEM_ANSWERS: dict[str, dict[int, type[Any]]] = {"getHealth": {503: Health}}

# operationId: the request body's type (the events body is the codec's, see app.py).
REQUESTS: dict[str, type[Any]] = {
    "putStore": Store, "putRegister": Register, "putLocation": Location, "putItem": Item,
    "putPromotion": Promotion, "putTaxRule": TaxRule, "postMasterData": MasterDataDocument,
    "createToken": TokenRequest, "postReservation": ReservationRequest, "resolveException": Resolution,
}

_SALE_EXAMPLE = {
    "event_id": "S1-R1-000123", "type": "sale.completed", "store_id": "S1", "register_id": "S1-R1", "seq": 123,
    "occurred_at": "2026-11-22T10:15:03-05:00",
    "payload": {"receipt_no": "R-1", "cashier_id": "C7", "customer_id": None, "currency": "USD",
                "channel": "store",
                "lines": [{"line_no": 1, "sku": "A", "qty": 2, "unit_price": 1299, "discount": 0,
                           "promo_id": None, "tax_code": "STD", "tax": 231}],
                "tenders": [{"tender": "cash", "amount": 2829}]},
}

# operationId: an example request body, shown by /docs and the generated client's docs.
EXAMPLES: dict[str, Any] = {
    "postEvents": _SALE_EXAMPLE,
    "putStore": {"store_id": "S1", "kind": "store", "name": "Downtown", "timezone": "America/New_York",
                 "currency": "USD", "prices_include_tax": False, "day_cutoff": "04:00", "tax_region": "NY"},
    "putRegister": {"register_id": "S1-R1", "store_id": "S1"},
    "putLocation": {"location_id": "S1-BACK", "store_id": "S1"},
    "putItem": {"sku": "A", "name": "Scarf", "category": "accessories", "tax_code": "STD", "price": 1299,
                "standard_cost": 600, "active": True},
    "putTaxRule": {"tax_region": "NY", "tax_code": "STD", "rate": "0.08875"},
    "putPromotion": {"promo_id": "P10", "valid_from": "2026-11-01", "valid_to": "2026-11-30",
                     "max_discount_pct": "10"},
    "createToken": {"role": "device", "store_id": "S1", "name": "S1 registers"},
    "postReservation": {"order_id": "WEB-1001", "sku": "A", "location_id": "S1", "qty": 1},
    "resolveException": {"reason": "checked with the store: counted again", "retry": False},
}


def response_schema(answer: type[Any] | tuple[type[Any], ...]) -> dict[str, Any]:
    """The OpenAPI schema of an answer: a reference to its type, or one of several."""
    if isinstance(answer, tuple):
        return {"oneOf": [response_schema(one) for one in answer]}
    return {"$ref": f"#/components/schemas/{answer.__name__}"}


def schema_components() -> dict[str, Any]:
    """The components of every request and response type and of ``Problem``, as OpenAPI's."""
    types = [Problem, *REQUESTS.values()]
    for _, answer in RESPONSES.values():
        types.extend(answer if isinstance(answer, tuple) else (answer,))
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    return components
