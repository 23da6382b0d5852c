"""Bearer-token authentication as a FastAPI dependency.

Tokens are looked up on every request (a primary-key read), not cached: a revoked or expired
token fails from the next request on, on every node (CONTRACT section 15)."""

from __future__ import annotations

import logging
import math

from fastapi import Request

from posledger.app.access import Principal, TokenUse, authenticate
from posledger.entrypoints.http.problems import ProblemError

log = logging.getLogger("posledger.access")

MONITOR_PATHS = frozenset({"/metrics", "/health"})

__all__ = ["TokenUse", "principal_of", "MONITOR_PATHS"]


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def principal_of(request: Request) -> Principal:
    """Who is calling. Failed authentications and 403s are logged with the client address and
    the token's id (never the token)."""
    state = request.app.state
    client = client_of(request)
    held = state.failed_auth.blocked(client)
    if held:
        raise _too_many(held, "too many failed authentications from this address; wait and retry")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "unauthorized", "Authentication required",
                           "send Authorization: Bearer <token>", "Authorization")
    application = state.posledger
    principal = authenticate(application.uow, token.strip(), state.admin_token, clock=application.clock,
                             use=state.token_use)
    if principal is None:
        state.failed_auth.failed(client)
        log.warning("authentication failed from %s on %s %s", client, request.method, request.url.path)
        raise ProblemError(401, "unauthorized", "Unknown, revoked or expired token",
                           "the bearer token is not valid", "Authorization")
    request.state.principal = principal
    if principal.role == "monitor" and request.url.path not in MONITOR_PATHS:
        raise ProblemError(403, "forbidden", "Not allowed", "a monitor token reads only /metrics and /health")
    if principal.token_id is not None:  # the bootstrap admin token is not limited
        wait = state.rate_limits.take(principal.token_id)
        if wait:
            raise _too_many(wait, f"over this token's rate of {state.rate_limits.rate:g} requests a second")
    return principal


def _too_many(seconds: float, detail: str) -> ProblemError:
    return ProblemError(429, "rate_limited", "Too many requests", detail,
                        headers={"Retry-After": str(max(1, math.ceil(seconds)))})
