"""Bearer-token authentication as a FastAPI dependency.

Tokens are looked up on every request (a primary-key read), not cached: a revoked or expired
token fails from the next request on, on every node (CONTRACT section 15)."""

from __future__ import annotations

from fastapi import Request

from posledger.app.access import Principal, TokenUse, authenticate
from posledger.entrypoints.http.problems import ProblemError

MONITOR_PATHS = frozenset({"/metrics", "/health"})

__all__ = ["TokenUse", "principal_of", "MONITOR_PATHS"]


def principal_of(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "unauthorized", "Authentication required",
                           "send Authorization: Bearer <token>", "Authorization")
    state = request.app.state
    application = state.posledger
    principal = authenticate(application.uow, token.strip(), state.admin_token, clock=application.clock,
                             use=state.token_use)
    if principal is None:
        raise ProblemError(401, "unauthorized", "Unknown, revoked or expired token",
                           "the bearer token is not valid", "Authorization")
    if principal.role == "monitor" and request.url.path not in MONITOR_PATHS:
        raise ProblemError(403, "forbidden", "Not allowed", "a monitor token reads only /metrics and /health")
    return principal
