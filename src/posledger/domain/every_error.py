"""Every field error of a refused event at once (CONTRACT section 7: ``errors[]``).

The codec's decoder stops at the first error, which keeps accepting fast. When it refuses an
event, this second pass (off the hot path: only refused events get here) validates the same
document against the JSON Schema the codec generates for its event type, with
``jsonschema-rs``, and lists every error it finds, in the contract's field paths and words.
No detail ever repeats a value the client sent (a value may be a card number in the wrong
field: CONTRACT section 8).

Checks the schema cannot express (a tender sum, a currency's minor units) are the codec's own
and come one at a time, after the schema's are fixed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema_rs

from posledger.domain import codec
from posledger.domain.errors import InvalidInput

__all__ = ["every_error"]

MAX_ERRORS = 100  # a document could hold thousands; the first hundred say enough


@cache
def _validators() -> dict[str, Any]:
    """A validator per event type, over the codec's own schema."""
    union, components = codec.event_json_schema()
    # Python's \Z (end of text) is JSON Schema's $ (ECMA-262 has no \Z).
    text = json.dumps(components).replace("\\\\Z", "$").replace("#/components/schemas/", "#/$defs/")
    definitions = json.loads(text)
    mapping = union["discriminator"]["mapping"]
    return {event_type: jsonschema_rs.validator_for(
        {"$ref": reference.replace("#/components/schemas/", "#/$defs/"), "$defs": definitions},
        validate_formats=True) for event_type, reference in mapping.items()}


def every_error(document: Any, first: InvalidInput) -> list[InvalidInput]:
    """``first`` (the codec's error), then every other field error of ``document``."""
    found = [first]
    event_type = document.get("type") if isinstance(document, dict) else None
    validator = _validators().get(event_type) if isinstance(event_type, str) else None
    if validator is None:
        return found
    seen = {first.field}
    try:
        errors = list(validator.iter_errors(document))
    except (ValueError, TypeError):  # not JSON-shaped (it came from JSON, so this is defensive)
        return found
    for error in errors:
        for problem in _described(error, _path(error.instance_path)):
            if problem.field not in seen:
                seen.add(problem.field)
                found.append(problem)
            if len(found) >= MAX_ERRORS:
                return found
    return found


def _path(steps: Any) -> str:
    path = ""
    for step in steps:
        path = f"{path}[{step}]" if isinstance(step, int) else codec.join_path(path, str(step))
    return path


def _described(error: Any, path: str) -> list[InvalidInput]:
    kind = error.kind
    name = type(kind).__name__
    here = path or "(body)"
    if name == "Required":
        return [InvalidInput(codec.join_path(path, str(kind.property)), "is required")]
    if name == "AdditionalProperties":
        return [codec.unknown_field(path, str(unexpected)) for unexpected in kind.unexpected]
    if name == "AnyOf":
        # A nullable field (X or null): what is wrong is what X says.
        branches = [list(branch) for branch in kind.context]
        not_null = [branch for branch in branches
                    if not any(type(e.kind).__name__ == "Type" and list(e.kind.types) == ["null"] for e in branch)]
        if len(not_null) == 1:
            return [problem for e in not_null[0] for problem in _described(e, _path(e.instance_path))]
        return [InvalidInput(here, "is not valid here")]
    if name == "Type":
        types = [t for t in kind.types if t != "null"] or list(kind.types)
        return [InvalidInput(here, f"must be {' or '.join(types)}")]
    details: dict[str, Callable[[], str]] = {
        "Minimum": lambda: f"must be at least {kind.limit}",
        "Maximum": lambda: f"must be at most {kind.limit}",
        "ExclusiveMinimum": lambda: f"must be more than {kind.limit}",
        "ExclusiveMaximum": lambda: f"must be less than {kind.limit}",
        "MinLength": lambda: f"must be at least {kind.limit} characters",
        "MaxLength": lambda: f"must be at most {kind.limit} characters",
        "MinItems": lambda: f"must hold at least {kind.limit} items",
        "MaxItems": lambda: f"must hold at most {kind.limit} items",
        "Pattern": lambda: "is not in the form the contract allows here",
        "Enum": lambda: "is not one of the values the contract allows here",
        "Constant": lambda: "is not the value the contract requires here",
        "Format": lambda: f"must be a {kind.format}",
    }
    describe = details.get(name)
    return [InvalidInput(here, describe() if describe else "is not valid here")]
