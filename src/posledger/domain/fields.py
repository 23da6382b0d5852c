"""Small readers that take one field out of a parsed JSON object and name it when it is wrong.

Every reader raises ``InvalidInput(field_path, detail)``; ``field_path`` is what the problem
response shows the integrator, e.g. ``payload.lines[1].qty``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from posledger.domain.currencies import ISO_4217
from posledger.domain.errors import InvalidInput

_MISSING = object()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(path, f"must be an object, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _get(source: Mapping[str, Any], key: str, path: str, required: bool) -> Any:
    value = source.get(key, _MISSING)
    if value is _MISSING or (value is None and required):
        if required:
            raise InvalidInput(join(path, key), "is required")
        return None
    return value


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def text(source: Mapping[str, Any], key: str, path: str, *, required: bool = True,
         max_length: int = 200) -> str | None:
    value = _get(source, key, path, required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(join(path, key), f"must be a string, got {type_name(value)}")
    if required and not value.strip():
        raise InvalidInput(join(path, key), "must not be empty")
    return plain_text(value, join(path, key), max_length)


def plain_text(value: str, field: str, max_length: int = 256) -> str:
    """Text every backend stores and every renderer writes (CONTRACT section 2, bounds): no
    control characters (NUL among them), no lone surrogates, at most ``max_length``."""
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidInput(field, "must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "contains a lone UTF-16 surrogate, which is not valid Unicode") from None
    return value


def req_text(source: Mapping[str, Any], key: str, path: str, max_length: int = 200) -> str:
    value = text(source, key, path, required=True, max_length=max_length)
    assert value is not None
    return value


def choice(source: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...],
           *, required: bool = True) -> str | None:
    value = text(source, key, path, required=required)
    if value is not None and value not in allowed:
        raise InvalidInput(join(path, key), f"must be one of {', '.join(allowed)}; got {value!r}")
    return value


def integer(source: Mapping[str, Any], key: str, path: str, *, required: bool = True,
            minimum: int | None = None, nonzero: bool = False, what: str = "an integer") -> int | None:
    value = _get(source, key, path, required)
    if value is None:
        return None
    if type(value) is not int:
        raise InvalidInput(join(path, key), f"must be {what}, got {type_name(value)} {value!r}"
                           if not isinstance(value, (dict, list)) else f"must be {what}")
    if minimum is not None and value < minimum:
        raise InvalidInput(join(path, key), f"must be at least {minimum}, got {value}")
    if nonzero and value == 0:
        raise InvalidInput(join(path, key), "must not be zero")
    if abs(value) > 10**15:
        raise InvalidInput(join(path, key), "is out of range")
    return value


def money(source: Mapping[str, Any], key: str, path: str, *, required: bool = True,
          signed: bool = False) -> int | None:
    """Money is an integer of minor units; a float such as ``12.99`` is refused."""
    return integer(source, key, path, required=required, minimum=None if signed else 0,
                   what="an integer number of minor units")


def req_money(source: Mapping[str, Any], key: str, path: str, *, signed: bool = False) -> int:
    value = money(source, key, path, required=True, signed=signed)
    assert value is not None
    return value


def currency(source: Mapping[str, Any], key: str, path: str) -> str:
    value = req_text(source, key, path)
    if value not in ISO_4217:
        raise InvalidInput(join(path, key), f"must be an ISO 4217 currency code, got {value!r}")
    return value


def timestamp(source: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> datetime | None:
    value = text(source, key, path, required=required)
    if value is None:
        return None
    return parse_timestamp(value, join(path, key))


def parse_timestamp(value: str, field: str) -> datetime:
    if not _RFC3339.match(value):
        raise InvalidInput(field, f"must be an RFC 3339 time with an offset, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as error:
        raise InvalidInput(field, f"is not a valid time: {error}") from None
    if parsed.tzinfo is None:  # pragma: no cover - the pattern already requires an offset
        raise InvalidInput(field, "must carry an offset")
    return parsed


def day(source: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> date | None:
    value = text(source, key, path, required=required)
    if value is None:
        return None
    return parse_day(value, join(path, key))


def parse_day(value: str, field: str) -> date:
    if not _DAY.match(value):
        raise InvalidInput(field, f"must be a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(field, f"is not a valid date: {error}") from None


def array(source: Mapping[str, Any], key: str, path: str, *, required: bool = True,
          min_items: int = 0, max_items: int = 10_000) -> list[Any]:
    value = _get(source, key, path, required)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(join(path, key), f"must be an array, got {type_name(value)}")
    if len(value) < min_items:
        raise InvalidInput(join(path, key), f"must have at least {min_items} item(s)")
    if len(value) > max_items:
        raise InvalidInput(join(path, key), f"must have at most {max_items} items")
    return value


def boolean(source: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
    value = source.get(key, None)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(join(path, key), f"must be true or false, got {type_name(value)}")
    return value
