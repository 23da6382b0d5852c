"""A store's business day over HTTP: the day summary with its Z-report (CONTRACT 2.1 section
11) and a register's sessions (section 16)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from posledger.app.day_report import day_summary, session_json
from posledger.app.ports import SessionRow, UnitOfWork
from posledger.bootstrap import App
from posledger.entrypoints.http.params import (
    Auth,
    PageLimit,
    day_param,
    opaque_cursor,
    parts_cursor,
    require_known,
)
from posledger.entrypoints.http.problems import ProblemError

__all__ = ["day_routes"]


def day_routes(api: FastAPI, application: App) -> None:
    @api.get("/v1/stores/{store_id}/days/{business_day}", operation_id="getDaySummary",
             summary="A business day's summary: sales, tax by rate, tenders and each register session's Z-report")
    def get_day(store_id: str, business_day: str, principal: Auth) -> dict[str, Any]:
        principal.require("manager", "finance", "admin")
        principal.require_read(store_id)
        day = day_param(business_day, "business_day")
        if day is None:
            raise ProblemError(422, "invalid_request", "Invalid path parameter", "a business day is required",
                               "business_day")

        def work(uow: UnitOfWork) -> dict[str, Any]:
            require_known(uow, "stores", store_id, "store_id")
            return day_summary(uow, store_id, day)

        return application.uow.run(work, read_only=True, operation="day summary")

    @api.get("/v1/registers/{register_id}/sessions", operation_id="listRegisterSessions",
             summary="A register's sessions with their cash figures, oldest first (cursor paginated)")
    def list_sessions(register_id: str, principal: Auth, business_day: str | None = None,
                      cursor: str | None = None, limit: PageLimit = 100) -> dict[str, Any]:
        principal.require("manager", "finance", "admin")
        day = day_param(business_day, "business_day")
        after = parts_cursor(cursor, 3)  # the last session's opened_at, id and opening event

        def work(uow: UnitOfWork) -> list[SessionRow]:
            register = uow.master.body_of("registers", register_id)
            # Another store's register is as absent as one that does not exist.
            if register is None or not principal.may_read_store(json.loads(register).get("store_id")):
                raise ProblemError(404, "not_found", "No such register",
                                   f"no register {register_id} in master data", "register_id")
            return uow.queries.sessions(register_id=register_id, business_day=day, limit=limit,
                                        after=(register_id, after[0], after[1], after[2]) if after else None)

        sessions = application.uow.run(work, read_only=True, operation="sessions")
        # The cursor holds the last session's key, which its answer does not show (its opening event).
        last = sessions[-1] if len(sessions) == limit else None
        return {"items": [session_json(s) for s in sessions],
                "next_cursor": opaque_cursor([last.opened_at or "", last.session_id, last.open_event_id])
                if last else None}
