"""Read side of a store's business day: the day summary with its Z-report (CONTRACT 2.1
section 11) and a register's sessions (section 16)."""

from __future__ import annotations

from datetime import date
from typing import Any

from posledger.app.master_data import snapshot
from posledger.app.ports import ExceptionRecord, SessionRow, UnitOfWork
from posledger.domain.day_summary import day_figures, tax_by_rate, z_report

__all__ = ["day_summary", "session_json", "LATE_TYPES"]

# Findings whose event's cash was posted to account 1000 but belongs to no session.
LATE_TYPES = ("no_open_session", "session_mismatch")
_PAGE = 1000


def _all_exceptions(uow: UnitOfWork, store_id: str, day: date, **filters: str) -> list[ExceptionRecord]:
    found: list[ExceptionRecord] = []
    after = 0
    while True:
        page = uow.exceptions.list(store_id=store_id, business_day=day, limit=_PAGE, after=after, **filters)
        found += page
        if len(page) < _PAGE:
            return found
        after = page[-1].id


def session_json(session: SessionRow) -> dict[str, Any]:
    """A session as ``GET /v1/registers/{id}/sessions`` lists it: its Z-report row, and where."""
    return {"register_id": session.register_id, "store_id": session.store_id,
            "business_day": session.business_day, **z_report(session)}


def _late(record: ExceptionRecord) -> dict[str, Any] | None:
    cash = record.detail.get("cash")
    if not isinstance(cash, int):  # a close of another session posts no cash
        return None
    return {"event_id": record.event_id, "register_id": record.register_id, "cash": cash,
            "exception_id": record.id, "exception_type": record.type, "status": record.status}


def day_summary(uow: UnitOfWork, store_id: str, day: date) -> dict[str, Any]:
    """The day summary of ``store_id`` on business day ``day``, read from what posting kept: the
    daily balances, the day's tenders and taxes by rate, and the register sessions opened that
    day. Its cost is the day's keys (accounts, tenders, rates, sessions), not its documents."""
    store = snapshot(uow, ("stores",)).stores.get(store_id)
    figures = day_figures(uow.queries.day_balances(store_id, day), uow.queries.day_tenders(store_id, day))
    registers: dict[str, list[dict[str, Any]]] = {}
    for session in uow.queries.sessions(store_id=store_id, business_day=day):
        registers.setdefault(session.register_id, []).append(z_report(session))
    late = [row for kind in LATE_TYPES for record in _all_exceptions(uow, store_id, day, type=kind)
            if (row := _late(record)) is not None]
    return {
        "store_id": store_id, "business_day": day.isoformat(),
        "currency": store.currency if store is not None else None,
        # Closing a day is CONTRACT section 11's next part (POST .../close): until then a day is open.
        "status": "open",
        **figures,
        "exceptions_open": uow.queries.day_open_exceptions(store_id, day),
        "closed_by": None, "closed_at": None,
        "tax_by_rate": tax_by_rate(uow.queries.day_taxes(store_id, day)),
        "registers": [{"register_id": register_id, "sessions": sessions}
                      for register_id, sessions in sorted(registers.items())],
        "late": sorted(late, key=lambda row: row["exception_id"]),
    }
