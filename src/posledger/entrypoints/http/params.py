"""Query and path parameters as every route reads them (CONTRACT section 7): dates, cursors,
page sizes, and 404 for a name master data does not know."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, date
from typing import Annotated, Any

from fastapi import Depends, Query

from posledger.app.access import Principal
from posledger.app.ports import UnitOfWork
from posledger.domain.errors import InvalidInput
from posledger.domain.fields import parse_day, parse_timestamp
from posledger.entrypoints.http.auth import principal_of
from posledger.entrypoints.http.problems import ProblemError

__all__ = ["MAX_ID", "Auth", "PageLimit", "day_param", "require_known", "one_of", "line_cursor", "id_cursor",
           "page_of", "opaque_cursor", "pair_cursor", "parts_cursor", "since_param"]


MAX_ID = 2**62  # integers the databases can hold (64-bit signed)


Auth = Annotated[Principal, Depends(principal_of)]


def day_param(value: str | None, name: str) -> date | None:
    """A query parameter's date; a bad one is ``invalid_request`` (a parameter, not an event)."""
    try:
        return parse_day(value, name) if value else None
    except InvalidInput as error:
        raise ProblemError(422, "invalid_request", "Invalid query parameter", error.detail, name) from None


_NOUNS = {"stores": "store", "registers": "register", "locations": "location", "items": "SKU"}


def require_known(uow: UnitOfWork, kind: str, key: str | None, field: str) -> None:
    """404 ``not_found`` for a store, register, location or SKU a path or a filter names that
    master data does not know (CONTRACT section 7: never an empty 200). A store is its own
    default location."""
    if key is None or uow.master.body_of(kind, key) is not None:
        return
    if kind == "locations" and uow.master.body_of("stores", key) is not None:
        return
    raise ProblemError(404, "not_found", f"No such {_NOUNS[kind]}", f"no {_NOUNS[kind]} {key} in master data", field)


def one_of(value: str | None, allowed: tuple[str, ...], field: str) -> None:
    if value is not None and value not in allowed:
        raise ProblemError(422, "invalid_request", "Invalid query parameter",
                           f"must be one of {', '.join(allowed)}", field)


def line_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return (0, 0)
    entry, _, line = cursor.partition(".")
    if not entry.isdigit() or not line.isdigit() or int(entry) > MAX_ID or int(line) > MAX_ID:
        raise ProblemError(422, "invalid_request", "Invalid cursor", "use next_cursor from the previous page",
                           "cursor")
    return (int(entry), int(line))


PageLimit = Annotated[int, Query(ge=1, le=1000, description="Items a page (CONTRACT section 7: at most 1,000)")]


def id_cursor(cursor: str | None) -> int:
    """An id cursor (opaque to clients: what next_cursor said)."""
    if not cursor:
        return 0
    if not cursor.isdigit() or int(cursor) > MAX_ID:
        raise ProblemError(422, "invalid_request", "Invalid cursor", "use next_cursor from the previous page",
                           "cursor")
    return int(cursor)


def page_of(items: list[Any], limit: int, last: Callable[[Any], str]) -> dict[str, Any]:
    """CONTRACT section 7's list shape: ``items`` and ``next_cursor`` (None on the last page)."""
    return {"items": items, "next_cursor": last(items[-1]) if len(items) == limit else None}


def opaque_cursor(parts: list[str]) -> str:
    """A cursor of several keys, opaque to clients (base64url of their JSON)."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def parts_cursor(cursor: str | None, count: int) -> tuple[str, ...] | None:
    """An opaque cursor of ``count`` keys (what ``opaque_cursor`` made), or None for the first page."""
    if not cursor:
        return None
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        parts = None
    if not (isinstance(parts, list) and len(parts) == count and all(isinstance(part, str) for part in parts)):
        raise ProblemError(422, "invalid_request", "Invalid cursor", "use next_cursor from the previous page",
                           "cursor")
    return tuple(parts)


def pair_cursor(cursor: str | None) -> tuple[str, str] | None:
    parts = parts_cursor(cursor, 2)
    return None if parts is None else (parts[0], parts[1])


def since_param(value: str | None) -> str | None:
    """An RFC 3339 time as the log writes accepted_at (UTC, milliseconds), to compare as text."""
    if value is None:
        return None
    try:
        moment = parse_timestamp(value, "since")
    except InvalidInput as error:
        raise ProblemError(422, "invalid_request", "Invalid query parameter", error.detail, "since") from None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
