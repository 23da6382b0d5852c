"""Master data (CONTRACT section 6): stores, registers, locations, items, tax rules, promotions.

Each ``parse_*`` validates one entry of the bulk document and names the field on error.
``MasterData`` is an immutable snapshot the posting rules read from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from fractions import Fraction
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from posledger.domain import fields as f
from posledger.domain.errors import InvalidInput, UnknownField, grouped, raise_all
from posledger.domain.money import Rate, parse_rate
from posledger.domain.pan import redact_long_digit_runs

__all__ = [
    "Store", "Register", "Location", "Item", "TaxRule", "Promotion", "MasterData",
    "MASTER_KINDS", "parse_entry", "entry_key",
]

T = TypeVar("T")

_CUTOFF = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Store:
    store_id: str
    kind: str  # "store" | "warehouse"
    name: str
    timezone: str
    currency: str
    prices_include_tax: bool
    day_cutoff: time
    tax_region: str


@dataclass(frozen=True, slots=True)
class Register:
    register_id: str
    store_id: str


@dataclass(frozen=True, slots=True)
class Location:
    location_id: str
    store_id: str


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    name: str
    category: str | None
    tax_code: str
    price: int
    standard_cost: int
    active: bool


@dataclass(frozen=True, slots=True)
class TaxRule:
    tax_region: str
    tax_code: str
    rate: Rate


@dataclass(frozen=True, slots=True)
class Promotion:
    """Validity bounds are either dates (compared with the business day, inclusive) or
    RFC 3339 times (compared with ``occurred_at``). ``valid_to`` None means open-ended."""

    promo_id: str
    valid_from: date | datetime | None
    valid_to: date | datetime | None
    max_discount_pct: Fraction


@dataclass(frozen=True)
class MasterData:
    """A read-only snapshot of all master data at one catalog ``version``."""

    version: int = 0
    stores: Mapping[str, Store] = field(default_factory=dict)
    registers: Mapping[str, Register] = field(default_factory=dict)
    locations: Mapping[str, Location] = field(default_factory=dict)
    items: Mapping[str, Item] = field(default_factory=dict)
    tax_rules: Mapping[tuple[str, str], TaxRule] = field(default_factory=dict)
    promotions: Mapping[str, Promotion] = field(default_factory=dict)

    def location(self, location_id: str) -> Location | None:
        """Every store has a default location whose id is its ``store_id``."""
        found = self.locations.get(location_id)
        if found is None and location_id in self.stores:
            return Location(location_id, location_id)
        return found


def _zone(source: Mapping[str, Any], path: str) -> str:
    name = f.req_text(source, "timezone", path)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f.join(path, "timezone"), f"unknown IANA time zone {name!r}") from None
    return name


class _Errors:
    """Reads the fields of one entry, keeping every error rather than stopping at the first
    (CONTRACT section 7: a problem lists every field error at once)."""

    def __init__(self) -> None:
        self.found: list[InvalidInput] = []

    def __call__(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return read(*args, **kwargs)
        except InvalidInput as error:
            self.found.append(error)
            # Never used: ``done`` raises before the entry is built from it.
            return cast(T, None)

    def done(self) -> None:
        raise_all(self.found)


def _cutoff(source: Mapping[str, Any], path: str) -> time:
    cutoff_text = f.text(source, "day_cutoff", path, required=False) or "04:00"
    match = _CUTOFF.match(cutoff_text)
    if not match:
        raise InvalidInput(f.join(path, "day_cutoff"), f"must be HH:MM, got {cutoff_text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_store(source: Mapping[str, Any], path: str) -> Store:
    read = _Errors()
    store = Store(
        store_id=read(f.req_text, source, "store_id", path, max_length=64),
        kind=read(f.choice, source, "kind", path, ("store", "warehouse"), required=False) or "store",
        name=read(f.text, source, "name", path, required=False) or "",
        timezone=read(_zone, source, path),
        currency=read(f.currency, source, "currency", path),
        prices_include_tax=read(f.boolean, source, "prices_include_tax", path, default=False),
        day_cutoff=read(_cutoff, source, path),
        tax_region=read(f.req_text, source, "tax_region", path, max_length=64),
    )
    read.done()
    return store


def _parse_register(source: Mapping[str, Any], path: str) -> Register:
    read = _Errors()
    register = Register(read(f.req_text, source, "register_id", path, max_length=64),
                        read(f.req_text, source, "store_id", path, max_length=64))
    read.done()
    return register


def _parse_location(source: Mapping[str, Any], path: str) -> Location:
    read = _Errors()
    location = Location(read(f.req_text, source, "location_id", path, max_length=64),
                        read(f.req_text, source, "store_id", path, max_length=64))
    read.done()
    return location


def _parse_item(source: Mapping[str, Any], path: str) -> Item:
    read = _Errors()
    item = Item(
        sku=read(f.req_text, source, "sku", path, max_length=64),
        name=read(f.text, source, "name", path, required=False) or "",
        category=read(f.text, source, "category", path, required=False),
        tax_code=read(f.req_text, source, "tax_code", path, max_length=32),
        price=read(f.req_money, source, "price", path),
        standard_cost=read(f.money, source, "standard_cost", path, required=False) or 0,
        active=read(f.boolean, source, "active", path, default=True),
    )
    read.done()
    return item


def _decimal(source: Mapping[str, Any], key: str, path: str) -> Fraction:
    value = source.get(key)
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f.join(path, key), "is required, as a decimal string such as \"0.08875\"")
    try:
        if isinstance(value, int):
            return Fraction(value)
        if isinstance(value, str):
            return parse_rate(value)
    except ValueError:
        pass
    raise InvalidInput(f.join(path, key), f"must be a non-negative decimal string, got {value!r}")


def _rate_below_one(source: Mapping[str, Any], path: str) -> Fraction:
    rate = _decimal(source, "rate", path)
    if rate >= 1:
        raise InvalidInput(f.join(path, "rate"), "must be below 1 (0.08875 means 8.875 %)")
    return rate


def _parse_tax_rule(source: Mapping[str, Any], path: str) -> TaxRule:
    read = _Errors()
    rule = TaxRule(read(f.req_text, source, "tax_region", path, max_length=64),
                   read(f.req_text, source, "tax_code", path, max_length=32), read(_rate_below_one, source, path))
    read.done()
    return rule


def _bound(source: Mapping[str, Any], key: str, path: str) -> date | datetime | None:
    value = f.text(source, key, path, required=False)
    if value is None:
        return None
    if len(value) == 10:
        return f.parse_day(value, f.join(path, key))
    return f.parse_timestamp(value, f.join(path, key))


def _percent(source: Mapping[str, Any], path: str) -> Fraction:
    pct = _decimal(source, "max_discount_pct", path)
    if pct > 100:
        raise InvalidInput(f.join(path, "max_discount_pct"), "must be at most 100")
    return pct


def _parse_promotion(source: Mapping[str, Any], path: str) -> Promotion:
    read = _Errors()
    promotion = Promotion(read(f.req_text, source, "promo_id", path, max_length=64),
                          read(_bound, source, "valid_from", path), read(_bound, source, "valid_to", path),
                          read(_percent, source, path))
    read.done()
    return promotion


MASTER_KINDS: dict[str, Callable[[Mapping[str, Any], str], Any]] = {
    "stores": _parse_store, "registers": _parse_register, "locations": _parse_location, "items": _parse_item,
    "tax_rules": _parse_tax_rule, "promotions": _parse_promotion,
}

# The fields that make an entry's key (a tax rule's is ``region/code``).
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "stores": ("store_id",), "registers": ("register_id",), "locations": ("location_id",), "items": ("sku",),
    "tax_rules": ("tax_region", "tax_code"), "promotions": ("promo_id",),
}


# Each kind's fields (CONTRACT section 6). Closed, with no ``ext`` (CONTRACT 2.1 section 2).
FIELDS: dict[str, tuple[str, ...]] = {
    "stores": ("store_id", "kind", "name", "timezone", "currency", "prices_include_tax", "day_cutoff", "tax_region"),
    "registers": ("register_id", "store_id"),
    "locations": ("location_id", "store_id"),
    "items": ("sku", "name", "category", "tax_code", "price", "standard_cost", "active", "gtin"),
    "tax_rules": ("tax_region", "tax_code", "rate"),
    "promotions": ("promo_id", "valid_from", "valid_to", "max_discount_pct"),
}


def parse_entry(kind: str, document: Any, path: str, *, stored: bool = False) -> Any:
    """Validate one master-data entry of ``kind`` (a key of the bulk document), with every
    error at once (``InvalidInputs`` when there are several). Fields are closed: a name the
    contract does not define is ``unknown_field`` with a did-you-mean, so that a typo
    (``prices_incl_tax``) can never load a store as something else. ``stored``: an entry read
    back from the database, which an earlier release may have accepted with extra fields."""
    if kind not in MASTER_KINDS:
        raise InvalidInput(kind, f"unknown master-data kind; expected one of {', '.join(MASTER_KINDS)}")
    parser = MASTER_KINDS[kind]
    source = f.obj(document, path)
    unknown = [] if stored else _unknown_fields(kind, source, path)
    try:
        entry = parser(source, path)
    except InvalidInput as error:
        raise grouped(unknown + error.errors) from None
    raise_all(unknown)
    return entry


def _unknown_fields(kind: str, source: Mapping[str, Any], path: str) -> list[InvalidInput]:
    known = FIELDS[kind]
    errors: list[InvalidInput] = []
    for name in source:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
        hint = (f'; did you mean "{close[0]}"?' if close
                else "; master data has no `ext`: only the contract's fields")
        errors.append(UnknownField(f.join(path, redact_long_digit_runs(name)), f"is not a field of a {kind[:-1]}{hint}"))
    return errors


def entry_key(kind: str, entry: Any) -> str:
    """A parsed entry's key as stored."""
    return "/".join(str(getattr(entry, name)) for name in KEY_FIELDS[kind])


def body_key(kind: str, body: Mapping[str, Any]) -> str:
    """A stored entry's key, from its body as sent."""
    return "/".join(str(body[name]) for name in KEY_FIELDS[kind])
