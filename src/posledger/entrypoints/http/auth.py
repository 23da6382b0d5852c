"""Bearer-token authentication as a FastAPI dependency.

Tokens are looked up on every request (a primary-key read), not cached: a revoked or expired
token fails from the next request on, on every node (CONTRACT section 15)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from posledger.app.access import Principal, TokenUse, authenticate, token_hash
from posledger.entrypoints.http.access_log import REQUEST_LOG, request_id_of, with_request_id
from posledger.entrypoints.http.limits import TokenBuckets
from posledger.entrypoints.http.problems import PROBLEM_JSON, ProblemError, problem_body

log = logging.getLogger("posledger.access")

MONITOR_PATHS = frozenset({"/metrics", "/health"})

__all__ = ["TokenUse", "principal_of", "MONITOR_PATHS", "RateGate"]


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def principal_of(request: Request) -> Principal:
    """Who is calling. Failed authentications and 403s are logged with the client address and
    the token's id (never the token)."""
    state = request.app.state
    client = client_of(request)  # an address held off for failed authentications never got here (RateGate)
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
        # Keyed by the token's hash, which the gate computes without a lookup (``rate_gate``).
        wait = state.rate_limits.take(token_hash(token.strip()), principal.token_id)
        if wait:
            raise _too_many(wait, over_rate(state.rate_limits))
    return principal


def over_rate(buckets: TokenBuckets) -> str:
    return f"over this token's rate of {buckets.rate:g} requests a second"


def _too_many(seconds: float, detail: str) -> ProblemError:
    return ProblemError(429, "rate_limited", "Too many requests", detail,
                        headers={"Retry-After": retry_after(seconds)})


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class RateGate:
    """Refuses, before anything else is done, a request from an address held off for failed
    authentications or with a token whose bucket is empty: a flood of refused requests costs a
    hash and a dictionary read each, not a database lookup, a body read and a thread hop, so
    that it cannot slow other stores' requests (CONTRACT section 15). A token is rate-limited
    only once it has authenticated (unknown tokens have no bucket), so refusing it unread
    reveals nothing; the full checks still run for every request let through."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state
        self._refused: dict[str, int] = {}
        self._summed_at = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                request_id = request_id_of(scope)
                with with_request_id(request_id):
                    await _send_problem(send, refusal, request_id)
                self._count_refusal(refusal)
                return
        await self.app(scope, receive, send)

    def _count_refusal(self, refusal: ProblemError) -> None:
        """Refused requests are summed in the access log, a line per second for each token or
        address refused: one line each would let a flood fill the log as fast as it is refused."""
        key = refusal.extra.get("refused", "address")
        self._refused[key] = self._refused.get(key, 0) + 1
        now = time.monotonic()
        if now - self._summed_at >= 1.0:
            if REQUEST_LOG.isEnabledFor(logging.INFO):
                for who, count in self._refused.items():
                    REQUEST_LOG.info(json.dumps({"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                                                 "token_id": who, "status": 429, "route": "(refused at the gate)",
                                                 "refused": count, "seconds": round(now - self._summed_at, 1)},
                                                separators=(",", ":")))
            self._refused.clear()
            self._summed_at = now

    def _refusal(self, scope: Scope) -> ProblemError | None:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        held = self.state.failed_auth.blocked(address)
        if held:
            refusal = _too_many(held, "too many failed authentications from this address; wait and retry")
            refusal.extra["refused"] = f"address {address}"
            return refusal
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                token = token.strip()
                if scheme.lower() == b"bearer" and token:
                    hashed = hashlib.sha256(token).hexdigest()
                    wait = self.state.rate_limits.waiting(hashed)
                    if wait:
                        refusal = _too_many(wait, over_rate(self.state.rate_limits))
                        refusal.extra["refused"] = self.state.rate_limits.label(hashed)
                        return refusal
                return None
        return None


async def _send_problem(send: Send, error: ProblemError, request_id: str) -> None:
    body = json.dumps(problem_body(error.status, error.code, error.title, error.detail, error.field)).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer"), (b"x-request-id", request_id.encode()),
               # A client told to wait that sends again at once has to connect again first: a
               # flood slows itself down rather than the server (a client that waits loses a
               # keep-alive connection, nothing else).
               (b"connection", b"close")]
    headers.extend((name.lower().encode(), value.encode()) for name, value in error.headers.items())
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
