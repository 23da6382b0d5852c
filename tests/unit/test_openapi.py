"""The OpenAPI document describes events as the codec decodes them, so that an integrator can
generate a typed client and schemathesis can send valid events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posledger.bootstrap import bootstrap
from posledger.config import Settings
from posledger.domain.events import EVENT_TYPES
from posledger.entrypoints.http import create_app


def test_the_events_body_is_the_codecs_tagged_union(tmp_path: Path) -> None:
    application = bootstrap(Settings(db_path=str(tmp_path / "openapi.db"), posting_process=False))
    schema = create_app(application).openapi()
    application.close()
    body = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0] == {"$ref": "#/components/schemas/Event"}
    assert body["oneOf"][1]["maxItems"] == 1000
    components = schema["components"]["schemas"]
    tags = {components[ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["enum"][0]
            for ref in components["Event"]["oneOf"]}
    assert tags == set(EVENT_TYPES)
    line = components["LineData"]
    assert line["properties"]["qty"]["minimum"] == 1 and "discount" not in line["required"]
    assert line["additionalProperties"] is False
    assert "\\Z" not in str(components), "JSON Schema regexes end with $, not Python's \\Z"


def _schema(tmp_path: Path) -> dict[str, object]:
    application = bootstrap(Settings(db_path=str(tmp_path / "openapi.db"), posting_process=False))
    try:
        return create_app(application).openapi()
    finally:
        application.close()


def test_every_body_is_a_named_type_and_every_error_the_one_problem(tmp_path: Path) -> None:
    from posledger.entrypoints.http.schemas import EXAMPLES, REQUESTS, RESPONSES

    schema: Any = _schema(tmp_path)
    components = schema["components"]["schemas"]
    untyped, seen = [], set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            name = operation["operationId"]
            seen.add(name)
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    body = content["schema"]
                    if name == "getHealth" and status == "503":
                        assert body == {"$ref": "#/components/schemas/Health"}  # not ready: its own shape
                    elif status[0] in "45":
                        assert body == {"$ref": "#/components/schemas/Problem"}, (name, status)
                    elif media == "application/json" and "$ref" not in body and "oneOf" not in body:
                        untyped.append(f"{method.upper()} {path} {status}")
            request = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if request is not None and "$ref" not in request["schema"] and "oneOf" not in request["schema"]:
                untyped.append(f"{method.upper()} {path} request")
    assert not untyped, untyped
    assert set(RESPONSES) <= seen and set(REQUESTS) <= seen and set(EXAMPLES) <= seen
    assert "HTTPValidationError" not in components  # FastAPI's own 422 shape is never answered
    assert components["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
    assert components["Store"]["additionalProperties"] is False  # master data refuses unknown fields
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_examples_are_what_the_routes_accept(tmp_path: Path) -> None:
    """Each request example validates against its own type, so /docs never shows a bad one."""
    import jsonschema_rs

    from posledger.entrypoints.http.schemas import EXAMPLES

    schema: Any = _schema(tmp_path)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            request = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if request is None or operation["operationId"] not in EXAMPLES:
                continue
            body = {"components": schema["components"], **request["schema"]}
            errors = [e.message for e in jsonschema_rs.validator_for(body).iter_errors(request["example"])]
            assert not errors, (path, errors)

