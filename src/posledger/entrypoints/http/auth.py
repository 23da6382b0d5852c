"""Bearer-token authentication as a FastAPI dependency."""

from __future__ import annotations

from fastapi import Request

from posledger.app.access import Principal, authenticate
from posledger.entrypoints.http.problems import ProblemError


def principal_of(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "unauthorized", "Authentication required",
                           "send Authorization: Bearer <token>", "Authorization")
    state = request.app.state
    principal = authenticate(state.posledger.uow, token.strip(), state.admin_token)
    if principal is None:
        raise ProblemError(401, "unauthorized", "Unknown or revoked token",
                           "the bearer token is not valid", "Authorization")
    return principal
