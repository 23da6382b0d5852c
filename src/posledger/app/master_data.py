"""Master data: validated upserts that bump the catalog version, a cached snapshot for the
posting engine, and the catalog feed for POS sync."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from posledger.app.clock import Clock
from posledger.app.ingest import canonical_json
from posledger.app.ports import UnitOfWork, UnitOfWorkFactory
from posledger.domain import fields as f
from posledger.domain.errors import ImmutableField, InvalidInput, UnknownField, raise_all
from posledger.domain.master import MASTER_KINDS, MasterData, Store, entry_key, parse_entry
from posledger.domain.pan import refuse_card_data, refuse_card_text

__all__ = ["LoadReport", "load_master_data", "upsert_entry", "snapshot", "catalog_since",
           "CATALOG_KINDS"]

CATALOG_KINDS = ("items", "tax_rules", "promotions")


@dataclass(slots=True)
class LoadReport:
    version: int
    changed: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    released: int = 0


Entry = tuple[str, Any, Any, str]  # kind, parsed, raw, its path in the input ("stores[0]", "" for one)

# A store's fields that label its history: changing them once it has postings would restate every
# amount and day already in the books (CONTRACT section 15).
IMMUTABLE_STORE_FIELDS = ("currency", "prices_include_tax", "timezone", "day_cutoff")


def _validate_document(document: Any) -> list[Entry]:
    """Every entry, or every error of every entry at once (CONTRACT section 7)."""
    root = f.obj(document, "(body)")
    entries = []
    errors: list[InvalidInput] = []
    for kind, raw_list in root.items():
        if kind not in MASTER_KINDS:
            close = difflib.get_close_matches(kind, list(MASTER_KINDS), n=1, cutoff=0.7)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            errors.append(UnknownField(kind, f"unknown master-data kind; expected one of "
                                             f"{', '.join(MASTER_KINDS)}{hint}"))
            continue
        if not isinstance(raw_list, list):
            errors.append(InvalidInput(kind, "must be an array"))
            continue
        for index, raw in enumerate(raw_list):
            path = f"{kind}[{index}]"
            try:
                entries.append((kind, parse_entry(kind, raw, path), raw, path))
            except InvalidInput as error:
                errors.extend(error.errors)
    raise_all(errors)
    return entries


def load_master_data(uow_factory: UnitOfWorkFactory, document: Any, *, clock: Clock,
                     actor: str = "cli") -> LoadReport:
    """Validate the whole bulk document first (nothing is written if one entry is bad),
    then upsert every entry and release the events parked for missing master data. Card data
    anywhere in it is refused first (CONTRACT section 8): an item name is served to every device.
    Each change goes to the audit log as ``actor``'s."""
    refuse_card_data(document)
    entries = _validate_document(document)
    now = clock.now()
    return uow_factory.run(lambda uow: _upsert_all(uow, entries, now, actor), operation="load master data",
                           idempotent=True)


def upsert_entry(uow_factory: UnitOfWorkFactory, kind: str, document: Any, *, clock: Clock,
                 key: str | None = None, actor: str = "cli") -> LoadReport:
    """One entity, as ``PUT /v1/items/{sku}``: ``key`` (from the URL) must match the body."""
    refuse_card_data(document)
    if key is not None:
        refuse_card_text(key, "key", barcode=kind == "items")
    entry = parse_entry(kind, document, "(body)")
    if key is not None and entry_key(kind, entry) != key:
        raise InvalidInput("(body)", f"the body's key {entry_key(kind, entry)!r} differs from {key!r}")
    now = clock.now()
    return uow_factory.run(lambda uow: _upsert_all(uow, [(kind, entry, document, "")], now, actor),
                           operation="upsert master data", idempotent=True)


def _upsert_all(uow: UnitOfWork, entries: list[Entry], now: str, actor: str) -> LoadReport:
    """Upsert ``entries`` and release what waited for master data."""
    report = LoadReport(version=uow.master.version())
    for kind, entry, raw, path in entries:
        _upsert(uow, kind, entry, raw, path, now, actor, report)
    if report.changed:
        report.released = uow.parking.release("master")
    report.version = uow.master.version()
    return report


def _upsert(uow: UnitOfWork, kind: str, entry: Any, raw: Any, path: str, now: str, actor: str,
            report: LoadReport) -> None:
    key = entry_key(kind, entry)
    body = canonical_json(raw)
    before = uow.master.body_of(kind, key)
    if before == body:
        report.unchanged += 1
        return
    if kind == "stores" and before is not None:
        _refuse_relabelling(uow, parse_entry(kind, json.loads(before), kind, stored=True), entry, path)
    uow.master.upsert(kind, key, body, now)
    uow.audit.add(now, actor, "master_data.upsert", f"{kind}/{key}", before, body)
    report.changed[kind] = report.changed.get(kind, 0) + 1


def _refuse_relabelling(uow: UnitOfWork, before: Store, after: Store, path: str) -> None:
    changed = [name for name in IMMUTABLE_STORE_FIELDS if getattr(before, name) != getattr(after, name)]
    if changed and uow.ledger.store_has_postings(before.store_id):
        name = changed[0]
        raise ImmutableField(f"{path}.{name}" if path else name,
                             f"store {before.store_id} has postings: its {name} stays "
                             f"{_shown(getattr(before, name))} (changing it would relabel its history)")


def _shown(value: Any) -> str:
    return value.strftime("%H:%M") if hasattr(value, "strftime") else json.dumps(value)


def snapshot(uow: UnitOfWork, kinds: tuple[str, ...] | None = None) -> MasterData:
    """Build the immutable snapshot the posting rules read from (only ``kinds`` if given)."""
    tables: dict[str, dict[Any, Any]] = {kind: {} for kind in MASTER_KINDS}
    for kind, _key, body in uow.master.snapshot_rows(kinds):
        entry = parse_entry(kind, json.loads(body), kind, stored=True)
        key = (entry.tax_region, entry.tax_code) if kind == "tax_rules" else entry_key(kind, entry)
        tables[kind][key] = entry
    return MasterData(version=uow.master.version(), **tables)


def catalog_since(uow: UnitOfWork, version: int) -> dict[str, Any]:
    """Items, tax rules and promotions changed since ``version``, for POS sync."""
    result: dict[str, Any] = {kind: [] for kind in CATALOG_KINDS}
    for kind, _key, body, _version in uow.master.changes_since(version, CATALOG_KINDS):
        result[kind].append(json.loads(body))
    result["version"] = uow.master.version()
    result["since"] = version
    return result
