"""Read side: trial balance, journal drill-down, stock, exceptions, event status, invariants."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import msgspec

from posledger.app.clock import Clock
from posledger.app.master_data import snapshot
from posledger.app.ports import ExceptionRecord, StockRow, UnitOfWork, UnitOfWorkFactory
from posledger.domain.accounts import account_name
from posledger.domain.errors import InvalidInput
from posledger.domain.fields import plain_text
from posledger.domain.money import round_half_up
from posledger.domain.pan import refuse_card_text

__all__ = ["stock_json", "EXCEPTION_TYPES", "EXCEPTION_STATUSES", "trial_balance", "stock_report", "list_exceptions", "resolve_exception",
           "event_status", "check_invariants", "InvariantReport", "exception_json"]

# Kept here for the callers that import them from the read side.
from posledger.app.checks import InvariantReport, check_invariants  # noqa: E402


def trial_balance(uow: UnitOfWork, store_id: str | None = None, day_from: date | None = None,
                  day_to: date | None = None) -> dict[str, Any]:
    """The contract's trial balance: per store, or consolidated when ``store_id`` is None.

    A consolidated balance across stores of different currencies would add dollars to euros,
    so it is refused; ask per store instead (docs/concepts/posting.md)."""
    master = snapshot(uow, ("stores",))
    if store_id is not None:
        stores = [store_id]
        currencies = {master.stores[store_id].currency} if store_id in master.stores else set()
    else:
        stores = None
        currencies = {store.currency for store in master.stores.values()}
    if len(currencies) > 1:
        raise InvalidInput("store_id", "stores use different currencies ("
                           + ", ".join(sorted(currencies)) + "); ask for one store at a time")
    rows = uow.queries.trial_balance(stores, day_from, day_to)
    accounts = [{"account": row.account, "name": account_name(row.account), "debit": row.debit,
                 "credit": row.credit, "balance": row.debit - row.credit} for row in rows]
    return {
        "store_id": store_id,
        "from": day_from.isoformat() if day_from else None,
        "to": day_to.isoformat() if day_to else None,
        "currency": next(iter(currencies)) if len(currencies) == 1 else None,
        "accounts": accounts,
        "totals": {"debit": sum(a["debit"] for a in accounts),
                   "credit": sum(a["credit"] for a in accounts)},
    }


def _unit_cost(on_hand: int, value: int, last_value: int, last_qty: int) -> int:
    if on_hand > 0:
        return round_half_up(value, on_hand)
    if last_qty > 0:
        return round_half_up(last_value, last_qty)
    return 0


def stock_report(uow: UnitOfWork, sku: str | None = None, location_id: str | None = None) -> dict[str, Any]:
    return {"stock": [stock_json(row) for row in uow.queries.stock(sku, location_id)]}


def stock_json(row: StockRow, *, with_store: bool = False) -> dict[str, Any]:
    """A stock position as the contract's stock report shows it (``with_store``: and its store,
    as the stock list does)."""
    p = row.position
    found: dict[str, Any] = {"sku": row.sku, "location_id": row.location_id}
    if with_store:
        found["store_id"] = row.store_id
    return found | {"on_hand": p.on_hand, "reserved": row.reserved, "atp": p.on_hand - row.reserved,
                    "unit_cost": _unit_cost(p.on_hand, p.value, p.last_cost_value, p.last_cost_qty),
                    "value": p.value}


def exception_json(record: ExceptionRecord) -> dict[str, Any]:
    return msgspec.structs.asdict(record)


# Every exception type the hub raises (docs/concepts/exceptions.md); a filter naming another is a
# 422, never an empty list (CONTRACT section 7). tests/unit/test_codes_are_documented.py keeps it whole.
EXCEPTION_TYPES = (
    "already_voided", "cash_variance", "currency_mismatch", "inactive_item", "invalid_stored_event",
    "negative_stock", "no_open_session", "original_line_not_found", "original_not_found", "original_voided",
    "posting_failed", "promo_mismatch", "return_exceeds_original", "sequence_duplicate", "sequence_gap",
    "session_already_open", "session_mismatch", "tax_mismatch", "tender_mismatch", "totals_mismatch",
    "unknown_master_data", "void_not_same_day",
)
EXCEPTION_STATUSES = ("open", "resolved")


def list_exceptions(uow: UnitOfWork, *, status: str | None = None, type: str | None = None,
                    store_id: str | None = None, limit: int = 1000, after: int = 0) -> list[dict[str, Any]]:
    return [exception_json(r) for r in uow.exceptions.list(status=status, type=type,
                                                            store_id=store_id, limit=limit, after=after)]


def resolve_exception(uow_factory: UnitOfWorkFactory, exception_id: int, *, by: str,
                      reason: str, retry: bool = False, clock: Clock, actor: str | None = None) -> dict[str, Any]:
    """Close an exception with who and why. ``retry`` also re-queues the event it parked."""
    plain_text(reason, "reason", 1000)
    refuse_card_text(reason, "reason")
    if not reason.strip():
        raise InvalidInput("reason", "is required")
    now = clock.now()

    def work(uow: UnitOfWork) -> ExceptionRecord:
        record = uow.exceptions.get(exception_id)
        if record is None:
            raise LookupError(f"exception {exception_id} not found")
        if retry and record.event_id and record.store_id and record.detail.get("parked"):
            stored = uow.events.get(record.store_id, record.event_id)
            if stored is not None:
                uow.parking.park(stored.offset, stored.store_id, f"retry:{exception_id}", exception_id)
                uow.parking.release(f"retry:{exception_id}")
        uow.exceptions.resolve(exception_id, now, by, reason)
        updated = uow.exceptions.get(exception_id)
        assert updated is not None
        uow.audit.add(now, actor or by, "exception.resolve", f"exception/{exception_id}",
                      json.dumps({"status": record.status}),
                      json.dumps({"status": updated.status, "reason": reason, "by": by, "retry": retry}))
        return updated

    return exception_json(uow_factory.run(work, operation="resolve exception"))


def event_status(uow: UnitOfWork, store_id: str, event_id: str) -> dict[str, Any] | None:
    """The event ``(store_id, event_id)``: its status and what it posted; or its last rejection;
    or None when the store never sent that id."""
    stored = uow.events.get(store_id, event_id)
    if stored is None:
        rejection = uow.events.last_rejection(store_id, event_id)
        if rejection is None:
            return None
        return {"event_id": event_id, "store_id": store_id, "status": "rejected",
                "problem": {"type": rejection.problem_type, "field": rejection.field,
                            "detail": rejection.detail,
                            "errors": json.loads(rejection.errors) if rejection.errors else None},
                "received_at": rejection.received_at}
    lines = uow.queries.entry_lines(account=None, store_id=None, business_day=None,
                                    event_offset=stored.offset, after=(0, 0), limit=10_000)
    return {
        "event_id": event_id, "type": stored.type, "store_id": stored.store_id,
        "status": stored.status, "offset": stored.offset, "accepted_at": stored.accepted_at,
        "journal_entries": sorted({line.entry_id for line in lines}),
        "journal_lines": [msgspec.structs.asdict(line) for line in lines],
        "stock_moves": [msgspec.structs.asdict(move) | {"business_day": move.business_day.isoformat()}
                        for move in uow.queries.moves_for_event(stored.offset)],
        "documents": [doc.number for doc in uow.queries.documents_for_event(stored.offset)],
        "exceptions": [exception_json(e) for e in uow.exceptions.list(event_id=event_id, store_id=store_id)],
    }
