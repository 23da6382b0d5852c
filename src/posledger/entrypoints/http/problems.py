"""RFC 9457 problem details: every error names what is wrong, and where."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.extra = extra


def problem_body(status: int, code: str, title: str, detail: str, field: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status,
                            "detail": detail, "code": code}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


def problem_response(error: ProblemError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem_body(error.status, error.code, error.title, error.detail, error.field,
                                     **error.extra),
                        status_code=error.status, media_type=PROBLEM_JSON, headers=headers)
