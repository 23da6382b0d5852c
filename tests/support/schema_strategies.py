"""Hypothesis strategies generated from a JSON Schema (the subset msgspec writes for the event
codec's Structs): objects with required and optional properties, closed; strings with length
bounds and patterns; bounded integers; enums; null; anyOf; arrays; local ``$ref``s. Enough to
draw any event the schema allows, including its extremes."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20)
EXT = st.dictionaries(st.text("abcdefghij_", min_size=1, max_size=8), JSON_SCALARS, max_size=3)


def from_schema(schema: dict[str, Any], components: dict[str, Any],
                overrides: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[Any]:
    """``overrides``: a strategy for every property of that name, wherever it is (a timestamp
    whose schema says only "string", say)."""
    overrides = overrides or {}

    def build(node: dict[str, Any]) -> st.SearchStrategy[Any]:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return st.deferred(lambda: build(components[name]))
        if "anyOf" in node or "oneOf" in node:
            return st.one_of([build(option) for option in node.get("anyOf", node.get("oneOf", []))])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if "const" in node:
            return st.just(node["const"])
        kind = node.get("type")
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return st.integers(node.get("minimum"), node.get("maximum"))
        if kind == "string":
            return _string(node)
        if kind == "array":
            return st.lists(build(node.get("items", {})), min_size=node.get("minItems", 0),
                            max_size=min(node.get("maxItems", 4), 4))
        if kind == "object":
            properties = node.get("properties")
            if not properties:
                return EXT
            required = set(node.get("required", ()))
            fields = {name: overrides.get(name, build(child)) for name, child in properties.items()}
            return st.fixed_dictionaries({name: fields[name] for name in properties if name in required},
                                         optional={name: fields[name] for name in properties if name not in required})
        return JSON_SCALARS

    return build(schema)


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if node.get("format") == "date":
        return st.dates().map(lambda day: day.isoformat())
    if node.get("format") == "date-time":
        return st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())
    low, high = node.get("minLength", 0), node.get("maxLength", 40)
    pattern = node.get("pattern")
    if pattern is None:
        return st.text(min_size=low, max_size=min(high, 40))
    return st.from_regex(pattern.replace("\\Z", "\\Z"), fullmatch=True).filter(lambda text: low <= len(text) <= high)
