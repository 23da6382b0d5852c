"""Bearer-token authentication as a FastAPI dependency."""

from __future__ import annotations

import threading
import time

from fastapi import Request

from posledger.app.access import Principal, authenticate
from posledger.entrypoints.http.problems import ProblemError


class TokenCache:
    """Recently seen tokens, so that a request does not wait for the database (and its write
    lock) just to learn who is calling. A revoked token stops working within ``ttl`` seconds."""

    def __init__(self, ttl: float = 10.0, capacity: int = 10_000) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        with self._lock:
            found = self._entries.get(token)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, token: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self._capacity:
                self._entries.clear()
            self._entries[token] = (time.monotonic() + self._ttl, principal)


def principal_of(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "unauthorized", "Authentication required",
                           "send Authorization: Bearer <token>", "Authorization")
    state = request.app.state
    token = token.strip()
    cache: TokenCache = state.token_cache
    principal = cache.get(token)
    if principal is None:
        principal = authenticate(state.posledger.uow, token, state.admin_token)
        if principal is not None:
            cache.put(token, principal)
    if principal is None:
        raise ProblemError(401, "unauthorized", "Unknown or revoked token",
                           "the bearer token is not valid", "Authorization")
    return principal
