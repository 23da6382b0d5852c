"""The OpenAPI document describes events as the codec decodes them, so that an integrator can
generate a typed client and schemathesis can send valid events."""

from __future__ import annotations

from pathlib import Path

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
