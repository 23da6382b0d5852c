"""Builders for contract-shaped events, so tests read as scenarios."""

from __future__ import annotations

import itertools
from typing import Any

MASTER: dict[str, Any] = {
    "stores": [
        {"store_id": "S1", "kind": "store", "name": "Exclusive", "timezone": "America/New_York",
         "currency": "USD", "prices_include_tax": False, "day_cutoff": "04:00", "tax_region": "NY"},
        {"store_id": "S2", "kind": "store", "name": "Second", "timezone": "America/Chicago",
         "currency": "USD", "prices_include_tax": False, "tax_region": "NY"},
        {"store_id": "S3", "kind": "store", "name": "Inclusive", "timezone": "Europe/Paris",
         "currency": "USD", "prices_include_tax": True, "tax_region": "FR"},
        {"store_id": "W1", "kind": "warehouse", "name": "Warehouse", "timezone": "America/New_York",
         "currency": "USD", "prices_include_tax": False, "tax_region": "NY"},
    ],
    "registers": [
        {"register_id": "S1-R1", "store_id": "S1"}, {"register_id": "S1-R2", "store_id": "S1"},
        {"register_id": "S2-R1", "store_id": "S2"}, {"register_id": "S3-R1", "store_id": "S3"},
    ],
    "locations": [{"location_id": "S1-BACK", "store_id": "S1"}],
    "items": [
        {"sku": "A", "name": "Scarf", "category": "acc", "tax_code": "STD", "price": 1299,
         "standard_cost": 600, "active": True},
        {"sku": "B", "name": "Beans", "category": "food", "tax_code": "RED", "price": 1000,
         "standard_cost": 400, "active": True},
        {"sku": "C", "name": "Gloves", "category": "acc", "tax_code": "STD", "price": 2500,
         "standard_cost": 1000, "active": True},
    ],
    "tax_rules": [
        {"tax_region": "NY", "tax_code": "STD", "rate": "0.08875"},
        {"tax_region": "NY", "tax_code": "RED", "rate": "0.04"},
        {"tax_region": "FR", "tax_code": "STD", "rate": "0.2"},
        {"tax_region": "FR", "tax_code": "RED", "rate": "0.055"},
    ],
    "promotions": [
        {"promo_id": "P10", "valid_from": "2026-11-01", "valid_to": "2026-11-30", "max_discount_pct": "10"},
    ],
}

_ids = itertools.count(1)
_seqs: dict[str, itertools.count[int]] = {}
TIME = "2026-11-22T10:15:03-05:00"


def reset_sequences() -> None:
    _seqs.clear()


def register_event(event_type: str, payload: dict[str, Any], *, register: str = "S1-R1",
                   store: str | None = None, seq: int | None = None, at: str = TIME,
                   event_id: str | None = None) -> dict[str, Any]:
    if seq is None:
        seq = next(_seqs.setdefault(register, itertools.count(1)))
    return {"event_id": event_id or f"{register}-{next(_ids):06d}", "type": event_type,
            "store_id": store or register.rsplit("-", 1)[0], "register_id": register, "seq": seq,
            "occurred_at": at, "payload": payload}


def stock_event(event_type: str, payload: dict[str, Any], *, store: str = "S1", at: str = TIME,
                event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or f"{store}-STK-{next(_ids):06d}", "type": event_type,
            "store_id": store, "register_id": None, "occurred_at": at, "payload": payload}


def line(sku: str = "A", qty: int = 1, unit_price: int = 1299, discount: int = 0, tax: int = 0,
         tax_code: str = "STD", line_no: int = 1, promo_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"line_no": line_no, "sku": sku, "qty": qty, "unit_price": unit_price, "discount": discount,
            "promo_id": promo_id, "tax_code": tax_code, "tax": tax, **extra}


def tender(kind: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {"tender": kind, "amount": amount, **extra}


def sale(lines: list[dict[str, Any]], tenders: list[dict[str, Any]], *, receipt_no: str = "R-1",
         register: str = "S1-R1", event_type: str = "sale.completed", **kw: Any) -> dict[str, Any]:
    payload = {"receipt_no": receipt_no, "cashier_id": "C7", "customer_id": None, "currency": "USD",
               "channel": "store", "lines": lines, "tenders": tenders}
    payload.update(kw.pop("payload", {}))
    return register_event(event_type, payload, register=register, **kw)


def return_(lines: list[dict[str, Any]], tenders: list[dict[str, Any]], *, receipt_no: str = "RT-1",
            original: str | None = None, original_store: str = "S1", disposition: str = "restock",
            register: str = "S1-R1", **kw: Any) -> dict[str, Any]:
    payload = {"receipt_no": receipt_no, "currency": "USD", "reason": "changed mind",
               "disposition": disposition, "lines": lines, "tenders": tenders,
               "original": {"store_id": original_store, "receipt_no": original} if original else None}
    return register_event("return.completed", payload, register=register, **kw)


def receive(sku: str, qty: int, unit_cost: int, location: str = "S1", store: str = "S1") -> dict[str, Any]:
    return stock_event("stock.received", {"location_id": location, "reference": "PO-1",
                                          "lines": [{"sku": sku, "qty": qty, "unit_cost": unit_cost}]},
                       store=store)


def opened(opening_float: int, session: str = "SES-1", register: str = "S1-R1") -> dict[str, Any]:
    return register_event("register.opened", {"session_id": session, "cashier_id": "C7",
                                              "opening_float": opening_float}, register=register)


def cash_moved(kind: str, amount: int, session: str = "SES-1", register: str = "S1-R1") -> dict[str, Any]:
    return register_event("cash.moved", {"session_id": session, "kind": kind, "amount": amount,
                                         "reason": "test"}, register=register)


def closed(counted: int, session: str = "SES-1", approved_by: str | None = None,
           register: str = "S1-R1") -> dict[str, Any]:
    return register_event("register.closed", {"session_id": session, "counted": {"cash": counted},
                                              "approved_by": approved_by}, register=register)
