"""Check an answer against its type in the served OpenAPI document (what a generated client
parses), for answers schemathesis cannot reach with real data (a day with sales in it)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs


def assert_matches(openapi: dict[str, Any], component: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": openapi["components"]}
    errors = [f"{'/'.join(map(str, error.instance_path))}: {error.message}"
              for error in jsonschema_rs.validator_for(schema).iter_errors(instance)]
    assert not errors, f"{component}: " + "; ".join(errors)
