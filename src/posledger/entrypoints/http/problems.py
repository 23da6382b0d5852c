"""RFC 9457 problem details: every error names what is wrong, and where."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from posledger.domain.pan import redact_long_digit_runs
from posledger.entrypoints.http.access_log import current_request_id


def echoable(text: str) -> str:
    """What an error or a log line may repeat of a request: no long digit run, and text JSON can
    encode (a lone surrogate written as an escape)."""
    return redact_long_digit_runs(text).encode("utf-8", "backslashreplace").decode("utf-8")

PROBLEM_JSON = "application/problem+json"

# The one shared Problem of the OpenAPI document (entrypoints/http/schemas.py).
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _PROBLEM_CONTENT}
    for status, description in (
        (400, "Malformed request"), (401, "No or unknown token"), (403, "Role or store not allowed"),
        (404, "Not found"), (405, "Method not allowed"), (406, "No acceptable media type"), (409, "Conflict"), (413, "Body or batch too large"),
        (429, "Over the token's rate, or too many failed authentications: wait Retry-After seconds"),
        (422, "Invalid input; the problem names the field"), (500, "Internal error"),
        (503, "Not ready"))
}


class ProblemError(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str, field: str | None = None,
                 *, headers: dict[str, str] | None = None, errors: list[dict[str, str]] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.errors = errors
        self.headers = headers or {}
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.extra = extra


def problem_body(status: int, code: str, title: str, detail: str, field: str | None = None,
                 errors: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    # An identifier with a run of 13 or more digits is never echoed (CONTRACT section 8): it
    # may be a card number written in a way the card-data check does not read as one.
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": echoable(title),
                            "status": status, "detail": echoable(detail), "code": code}
    if field is not None:
        body["field"] = echoable(field)
        if errors is None:
            errors = [{"field": field, "code": code, "detail": detail}]
    if errors:
        body["errors"] = [{key: echoable(value) for key, value in error.items()} for error in errors]
    request_id = current_request_id()
    if request_id is not None:  # to quote when reporting it; the X-Request-Id header says the same
        body["request_id"] = request_id
    body.update({key: echoable(value) if isinstance(value, str) else value
                 for key, value in extra.items()})
    return body


def problem_response(error: ProblemError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem_body(error.status, error.code, error.title, error.detail, error.field,
                                     error.errors, **error.extra),
                        status_code=error.status, media_type=PROBLEM_JSON, headers={**error.headers, **(headers or {})})


def field_errors(error: Any) -> list[dict[str, str]]:
    """An ``InvalidInput``'s errors as a problem's ``errors`` entries."""
    return [{"field": e.field, "code": e.type, "detail": e.detail} for e in error.errors]
