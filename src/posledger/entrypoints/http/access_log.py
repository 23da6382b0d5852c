"""Request ids and the access log (CONTRACT section 16, operations).

``RequestLog`` is the outermost middleware: it takes the client's ``X-Request-Id`` (when it is a
plain token of at most 128 characters) or makes one, echoes it on the response, makes it known
to every problem body (``current_request_id``), and writes one JSON line per request to the
``posledger.requests`` logger: time, request id, token id, method, route, status, duration and
events accepted. The token itself, bodies and query strings are never logged (a query may hold
what a client should not have sent).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestLog", "current_request_id", "request_id_of", "with_request_id", "REQUEST_LOG"]

REQUEST_LOG = logging.getLogger("posledger.requests")
_REQUEST_ID: ContextVar[str | None] = ContextVar("posledger_request_id", default=None)
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def current_request_id() -> str | None:
    """The id of the request being served (None outside one)."""
    return _REQUEST_ID.get()


class RequestLog:
    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = _REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _REQUEST_ID.reset(token)
            if self.enabled and REQUEST_LOG.isEnabledFor(logging.INFO):
                REQUEST_LOG.info(_line(scope, request_id, status, time.perf_counter() - started))


def request_id_of(scope: Scope) -> str:
    """The client's X-Request-Id when it is a plain token of at most 128 characters, else a new one."""
    return _request_id(scope)


def with_request_id(request_id: str) -> Any:
    """A context in which problem bodies carry ``request_id``."""
    return _RequestIdContext(request_id)


class _RequestIdContext:
    def __init__(self, request_id: str) -> None:
        self._request_id = request_id
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = _REQUEST_ID.set(self._request_id)

    def __exit__(self, *_: object) -> None:
        _REQUEST_ID.reset(self._token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _CLIENT_ID.fullmatch(value):
                return str(value.decode())
            break
    return uuid.uuid4().hex


def _line(scope: Scope, request_id: str, status: int, seconds: float) -> str:
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    route = scope.get("route")
    line: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "token_id": getattr(principal, "token_id", None) or (getattr(principal, "actor", None) if principal else None),
        "method": scope.get("method"),
        "route": getattr(route, "path", None) or "unmatched",
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if "events_accepted" in state:
        line["events_accepted"] = state["events_accepted"]
    return json.dumps(line, separators=(",", ":"))
