"""schemathesis against the served OpenAPI schema: no 5xx, and every response (status, content
type, headers, body) matches what the schema documents."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN, Server

CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_schema_conformance", "response_headers_conformance", "allow_header_conformance",
    "unsupported_method",
])


@pytest.mark.slow
def test_the_served_schema_holds_under_generated_requests(server: Server) -> None:
    executable = shutil.which("schemathesis", path=str(Path(__import__("sys").executable).parent))
    assert executable, "schemathesis is a dev dependency (pyproject.toml)"
    # The schema and the routes are the same on every backend: the full run on SQLite, a shorter
    # one on PostgreSQL (and with NATS) for what their storage answers differently.
    examples, phases = ("10", "coverage,fuzzing") if server.database_url is None else ("8", "fuzzing")
    result = subprocess.run(
        [executable, "run", f"{server.url}/openapi.json", "-H", f"Authorization: Bearer {ADMIN}",
         "-n", examples, "--checks", CHECKS, "--phases", phases, "--no-color"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]
