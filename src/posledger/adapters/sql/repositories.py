"""The ports of ``posledger.app.ports`` implemented in portable SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from posledger.adapters.sql.database import Database, Row
from posledger.app.ports import (
    AuditEntry,
    CheckPoint,
    EntryLineRow,
    EventKey,
    ExceptionRecord,
    IssuedDocument,
    LedgerRows,
    NewEvent,
    PostingWrites,
    Rejection,
    SequenceGap,
    SessionRow,
    StockRow,
    StoredEvent,
    TokenRecord,
    TrialBalanceRow,
    WriteConflict,
)
from posledger.domain.costing import StockPosition
from posledger.domain.journal import JournalLine
from posledger.domain.posting import (
    DocumentDraft,
    Drawer,
    SaleRecord,
    SoldLine,
    StockMove,
    parse_document_number,
)

_EVENT_COLUMNS = 'events."offset", event_id, type, store_id, register_id, seq, body, body_hash, accepted_at, status'


def _event(row: Row) -> StoredEvent:
    return StoredEvent(*row)


def _where(clauses: list[str], params: list[Any], equal: tuple[tuple[str, Any], ...]) -> tuple[str, list[Any]]:
    """``clauses`` and ``column = ?`` for each of ``equal`` whose value is not None, as a WHERE."""
    for column, value in equal:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _ints_by_key(db: Database, select: str, keys: list[str]) -> dict[str, int]:
    """``select`` (a key and an integer per row; ``{marks}`` where the IN list goes) for
    ``keys``, 500 at a time."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for key, number in db.fetchall(select.format(marks=",".join("?" * len(chunk))), chunk):
            found[key] = int(number)
    return found


class SqlEventLog:
    def __init__(self, db: Database, *, transport_backlog: bool = True) -> None:
        """``transport_backlog``: accepted events are also written to the relay's backlog
        (``unpublished_events``); off where no transport runs, so nothing waits there forever."""
        self.db = db
        self._transport_backlog = transport_backlog

    def get(self, store_id: str, event_id: str) -> StoredEvent | None:
        row = self.db.fetchone(f"SELECT {_EVENT_COLUMNS} FROM events WHERE store_id = ? AND event_id = ?",
                               (store_id, event_id))
        return _event(row) if row else None

    def stores_with(self, event_id: str) -> list[str]:
        rows = self.db.fetchall("SELECT store_id FROM events WHERE event_id = ? UNION "
                                "SELECT store_id FROM rejections WHERE event_id = ? AND store_id IS NOT NULL "
                                "ORDER BY 1", (event_id, event_id))
        return [r[0] for r in rows]

    def find_many(self, keys: list[EventKey]) -> dict[EventKey, tuple[str, int]]:
        # Grouped by store (a batch is mostly one store's): each query ranges on the
        # (store_id, event_id) key with a plain IN list.
        by_store: dict[str, list[str]] = {}
        for store_id, event_id in keys:
            by_store.setdefault(store_id, []).append(event_id)
        found: dict[EventKey, tuple[str, int]] = {}
        for store_id, event_ids in by_store.items():
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for event_id, body_hash, offset in self.db.fetchall(
                        f'SELECT event_id, body_hash, "offset" FROM events WHERE store_id = ? '
                        f'AND event_id IN ({marks})', (store_id, *chunk)):
                    found[(store_id, event_id)] = (body_hash, int(offset))
        return found

    def append_many(self, events: list[NewEvent]) -> list[int]:
        if not events:
            return []
        offsets = self.db.next_ids("events", '"offset"', len(events))
        self.db.insert_many(
            "events", ('"offset"', "event_id", "type", "store_id", "register_id", "seq", "occurred_at", "body",
                       "body_hash", "accepted_at", "source", "partition_no", "status", "posted_at"),
            [(offset, e.event_id, e.type, e.store_id, e.register_id, e.seq, e.occurred_at, e.body,
              e.body_hash, e.accepted_at, e.source, e.partition, e.status, e.posted_at)
             for offset, e in zip(offsets, events, strict=True)])
        # The transport's backlog. An event posted as it is appended has nobody to wake: it never
        # waits there.
        if not self._transport_backlog:
            return offsets
        self.db.insert_many("unpublished_events", ('"offset"', "event_id", "partition_no"),
                            [(offset, e.event_id, e.partition) for offset, e in zip(offsets, events, strict=True)
                             if e.status != "posted"])
        return offsets

    def after(self, offset: int, limit: int) -> list[StoredEvent]:
        if limit <= 0:
            return []
        # Still accepted only: fair posting may have posted a few later events of other stores.
        rows = self.db.fetchall(f'SELECT {_EVENT_COLUMNS} FROM events WHERE "offset" > ? '
                                "AND status = 'accepted' ORDER BY \"offset\" LIMIT ?", (offset, limit))
        return [_event(r) for r in rows]

    def pending_heads(self, partition: int | None, limit: int) -> list[tuple[int, str, int]]:
        """(partition, store, offset) of each store's first event still to post, up to ``limit``
        stores: a loose index scan, one seek per store along ``events_pending_store`` however
        long any store's backlog is."""
        pending = "status = 'accepted'"
        order = 'ORDER BY partition_no, store_id, "offset" LIMIT 1'
        if partition is None:
            first = f"SELECT \"offset\" FROM events WHERE {pending} {order}"
            # The next store in this partition, else the first of a later one: two seeks. (A row
            # value "(partition_no, store_id) > (...)" ranges on partition_no alone in SQLite,
            # and so walks a flooding store's whole backlog.)
            step = (f"COALESCE((SELECT \"offset\" FROM events WHERE {pending} AND partition_no = h.partition_no "
                    f"AND store_id > h.store_id {order}), (SELECT \"offset\" FROM events WHERE {pending} "
                    f"AND partition_no > h.partition_no {order}))")
            params: tuple[Any, ...] = (limit,)
        else:
            first = f"SELECT \"offset\" FROM events WHERE {pending} AND partition_no = ? {order}"
            step = (f"(SELECT \"offset\" FROM events WHERE {pending} AND partition_no = h.partition_no "
                    f"AND store_id > h.store_id {order})")
            params = (partition, limit)
        rows = self.db.fetchall(
            "WITH RECURSIVE heads (partition_no, store_id, head, n) AS ("
            f'SELECT partition_no, store_id, "offset", 1 FROM events WHERE "offset" = ({first}) '
            f'UNION ALL SELECT e.partition_no, e.store_id, e."offset", h.n + 1 FROM heads h '
            f'JOIN events e ON e."offset" = {step} WHERE h.n < ?'
            ") SELECT partition_no, store_id, head FROM heads", params)
        return [(int(r[0]), r[1], int(r[2])) for r in rows]

    def pending_of_store(self, partition: int, store_id: str, limit: int) -> list[StoredEvent]:
        rows = self.db.fetchall(f"SELECT {_EVENT_COLUMNS} FROM events WHERE partition_no = ? AND store_id = ? "
                                "AND status = 'accepted' ORDER BY \"offset\" LIMIT ?", (partition, store_id, limit))
        return [_event(r) for r in rows]

    def page(self, *, store_id: str | None, status: str | None, type: str | None, since: str | None,
             after: int, limit: int) -> list[StoredEvent]:
        """Events in log order after the offset ``after``, filtered; ``since``: accepted at or after."""
        clauses: list[str] = ['"offset" > ?']
        params: list[Any] = [after]
        for clause, value in (("store_id = ?", store_id), ("status = ?", status), ("type = ?", type),
                              ("accepted_at >= ?", since)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        rows = self.db.fetchall(f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
                                'ORDER BY "offset" LIMIT ?', (*params, limit))
        return [_event(r) for r in rows]

    def pending_in_partition(self, partition: int, limit: int) -> list[StoredEvent]:
        """Accepted, not yet posted events of one partition, in acceptance order. Reading the
        log itself (not the order messages arrive in) is what keeps each store's order."""
        rows = self.db.fetchall(f"SELECT {_EVENT_COLUMNS} FROM events WHERE partition_no = ? AND "
                                "status = 'accepted' ORDER BY \"offset\" LIMIT ?", (partition, limit))
        return [_event(r) for r in rows]

    def unpublished(self, limit: int) -> list[tuple[str, int, int]]:
        rows = self.db.fetchall('SELECT event_id, "offset", partition_no FROM unpublished_events '
                                'ORDER BY "offset" LIMIT ?', (limit,))
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def mark_published(self, offsets: list[int]) -> None:
        self.db.executemany('DELETE FROM unpublished_events WHERE "offset" = ?', [(o,) for o in offsets])

    def by_offsets(self, offsets: list[int]) -> list[StoredEvent]:
        result: list[StoredEvent] = []
        for start in range(0, len(offsets), 500):
            chunk = offsets[start:start + 500]
            marks = ",".join("?" * len(chunk))
            result.extend(_event(r) for r in self.db.fetchall(
                f'SELECT {_EVENT_COLUMNS} FROM events WHERE "offset" IN ({marks})', chunk))
        return sorted(result, key=lambda e: e.offset)

    def reject(self, rejection: Rejection) -> None:
        self.db.execute("INSERT INTO rejections (event_id, received_at, problem_type, field, detail,"
                        " source, store_id, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (rejection.event_id, rejection.received_at, rejection.problem_type,
                         rejection.field, rejection.detail, rejection.source, rejection.store_id,
                         rejection.errors))

    def last_rejection(self, store_id: str | None, event_id: str) -> Rejection | None:
        where = "store_id = ?" if store_id is not None else "store_id IS NULL"
        row = self.db.fetchone("SELECT event_id, received_at, problem_type, field, detail, source, store_id, errors "
                               f"FROM rejections WHERE event_id = ? AND {where} ORDER BY id DESC LIMIT 1",
                               (event_id, store_id) if store_id is not None else (event_id,))
        return Rejection(*row) if row else None

    def high_seqs(self, register_ids: list[str]) -> dict[str, int]:
        return _ints_by_key(self.db, "SELECT register_id, high_seq FROM register_sequences "
                                     "WHERE register_id IN ({marks})", register_ids)

    def set_high_seqs(self, rows: list[tuple[str, str, int]]) -> None:
        self.db.upsert_many("register_sequences", ("register_id", "store_id", "high_seq"), rows,
                            "ON CONFLICT (register_id) DO UPDATE SET high_seq = excluded.high_seq")

    def gaps_containing(self, register_id: str, seq: int) -> list[SequenceGap]:
        rows = self.db.fetchall("SELECT register_id, low, high, exception_id FROM sequence_gaps "
                                "WHERE register_id = ? AND low <= ? AND high >= ?",
                                (register_id, seq, seq))
        return [SequenceGap(*r) for r in rows]

    def add_gap(self, gap: SequenceGap) -> None:
        self.db.execute("INSERT INTO sequence_gaps (register_id, low, high, exception_id) VALUES (?, ?, ?, ?)",
                        (gap.register_id, gap.low, gap.high, gap.exception_id))

    def remove_gap(self, gap: SequenceGap) -> None:
        self.db.execute("DELETE FROM sequence_gaps WHERE register_id = ? AND low = ?",
                        (gap.register_id, gap.low))

    def open_gaps(self, exception_id: int) -> int:
        row = self.db.fetchone("SELECT COUNT(*) FROM sequence_gaps WHERE exception_id = ?", (exception_id,))
        return int(row[0]) if row else 0

    def appends_follow(self, consumer: str) -> bool:
        if self.db.dialect != "sqlite":  # concurrent appends may take lower offsets and commit later
            return False
        return self.last_offset() == self.position(consumer)

    def last_offset(self) -> int:
        row = self.db.fetchone('SELECT COALESCE(MAX("offset"), 0) FROM events')
        return int(row[0]) if row else 0

    def position(self, consumer: str) -> int:
        row = self.db.fetchone('SELECT "offset" FROM consumer_positions WHERE consumer = ?', (consumer,))
        return int(row[0]) if row else 0

    def set_position(self, consumer: str, offset: int) -> None:
        self.db.execute('INSERT INTO consumer_positions (consumer, "offset") VALUES (?, ?) '
                        'ON CONFLICT (consumer) DO UPDATE SET "offset" = excluded."offset"',
                        (consumer, offset))

    def counts(self) -> dict[str, int]:
        rows = self.db.fetchall("SELECT status, COUNT(*) FROM events GROUP BY status")
        return {str(r[0]): int(r[1]) for r in rows}

    def pending_count(self) -> int:
        """Accepted, not yet posted: an index range over the backlog, not a scan of the log."""
        row = self.db.fetchone("SELECT COUNT(*) FROM events WHERE status = 'accepted'")
        return int(row[0]) if row else 0

    def oldest_pending(self) -> str | None:
        row = self.db.fetchone("SELECT MIN(accepted_at) FROM events WHERE status = 'accepted'")
        return row[0] if row else None


class SqlParking:
    def __init__(self, db: Database) -> None:
        self.db = db

    def park(self, offset: int, store_id: str, wait_key: str | None, exception_id: int) -> None:
        self.db.execute('INSERT INTO parked_events ("offset", store_id, partition_no, wait_key, exception_id, ready) '
                        'SELECT ?, ?, partition_no, ?, ?, 0 FROM events WHERE "offset" = ? '
                        'ON CONFLICT ("offset") DO UPDATE SET '
                        "wait_key = excluded.wait_key, exception_id = excluded.exception_id, ready = 0",
                        (offset, store_id, wait_key, exception_id, offset))

    def unpark(self, offset: int) -> int | None:
        row = self.db.fetchone('DELETE FROM parked_events WHERE "offset" = ? RETURNING exception_id', (offset,))
        return int(row[0]) if row else None

    def ready(self, limit: int, partition: int | None = None) -> list[int]:
        if partition is None:
            rows = self.db.fetchall('SELECT "offset" FROM parked_events WHERE ready = 1 '
                                    'ORDER BY "offset" LIMIT ?', (limit,))
        else:
            rows = self.db.fetchall('SELECT "offset" FROM parked_events WHERE ready = 1 AND partition_no = ? '
                                    'ORDER BY "offset" LIMIT ?', (partition, limit))
        return [int(r[0]) for r in rows]

    def release(self, wait_key: str) -> int:
        return self.db.execute("UPDATE parked_events SET ready = 1 WHERE wait_key = ? AND ready = 0",
                               (wait_key,))

    def waiting_keys(self, prefix: str) -> set[str]:
        rows = self.db.fetchall("SELECT DISTINCT wait_key FROM parked_events WHERE ready = 0 AND "
                                "wait_key LIKE ?", (prefix + "%",))
        return {row[0] for row in rows}


def _position(row: Row) -> StockPosition:
    return StockPosition(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _move(row: Row) -> StockMove:
    return StockMove(row[0], row[1], row[2], int(row[3]), int(row[4]), row[5], date.fromisoformat(row[6]))


_JSON = msgspec.json.Encoder()


def _json(value: Any) -> str:
    """Compact JSON for the text columns (documents, sale lines, drawer state, details)."""
    return _JSON.encode(value).decode()


_MOVE_COLUMNS = "sku, location_id, store_id, qty, value, kind, business_day"
# Entries, moves and documents name their event by its log offset (integers in acceptance
# order append at the end of their indexes); a read by event id looks the offset up first, by
# the event's identity: its store and its id.
_OFFSET_OF_EVENT = '(SELECT "offset" FROM events WHERE store_id = ? AND event_id = ?)'
_MOVES_AT_OFFSET = f"SELECT {_MOVE_COLUMNS} FROM stock_moves WHERE event_offset = ? ORDER BY move_no"

_ADD_TO_ACCOUNT_BALANCE = (
    "account_balances", ("store_id", "account", "debit", "credit"),
    "ON CONFLICT (store_id, account) DO UPDATE SET debit = account_balances.debit + excluded.debit, "
    "credit = account_balances.credit + excluded.credit")
_ADD_TO_DAILY_BALANCE = (
    "daily_balances", ("business_day", "store_id", "account", "debit", "credit"),
    "ON CONFLICT (business_day, store_id, account) DO UPDATE SET "
    "debit = daily_balances.debit + excluded.debit, credit = daily_balances.credit + excluded.credit")


# The day summary's figures kept at posting (CONTRACT 2.1 section 11), added to as balances are.
_ADD_TO_DAILY_TENDERS = (
    "daily_tenders", ("store_id", "business_day", "tender", "amount"),
    "ON CONFLICT (store_id, business_day, tender) DO UPDATE SET amount = daily_tenders.amount + excluded.amount")
_ADD_TO_DAILY_TAXES = (
    "daily_taxes", ("store_id", "business_day", "tax_code", "rate", "taxable", "tax"),
    "ON CONFLICT (store_id, business_day, tax_code, rate) DO UPDATE SET "
    "taxable = daily_taxes.taxable + excluded.taxable, tax = daily_taxes.tax + excluded.tax")


# The day's tenders and taxes by rate as posting keeps them, from the journal and the documents:
# what `rebuild` restores and what migration 0009 (PostgreSQL 0008) filled in for older days.
_SALES_TYPES = "('sale.completed', 'order.fulfilled', 'return.completed', 'exchange.completed', 'sale.voided')"
_DAILY_TENDERS_FROM_JOURNAL = (
    "SELECT e.store_id, e.business_day, CASE l.account WHEN '1000' THEN 'cash' WHEN '1100' THEN 'card' "
    "WHEN '1110' THEN 'wallet' WHEN '2200' THEN 'gift_card' ELSE 'on_account' END, SUM(l.debit - l.credit) "
    "FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.entry_id "
    'JOIN events ev ON ev."offset" = e.event_offset '
    f"WHERE l.account IN ('1000', '1100', '1110', '2200', '1200') AND ev.type IN {_SALES_TYPES} "
    "GROUP BY 1, 2, 3")
_DAILY_TAXES_FROM_DOCUMENTS = {
    "sqlite": "SELECT d.store_id, d.business_day, json_extract(j.value, '$.tax_code'), "
              "json_extract(j.value, '$.rate'), "
              "SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * json_extract(j.value, '$.net')), "
              "SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * json_extract(j.value, '$.tax')) "
              "FROM documents d, json_each(d.body, '$.lines') j "
              "WHERE COALESCE(json_extract(j.value, '$.tax_code'), '') <> '' GROUP BY 1, 2, 3, 4",
    "postgresql": "SELECT d.store_id, d.business_day, j->>'tax_code', j->>'rate', "
                  "SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * (j->>'net')::bigint), "
                  "SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * (j->>'tax')::bigint) "
                  "FROM documents d CROSS JOIN LATERAL "
                  "jsonb_array_elements(CASE jsonb_typeof(d.body::jsonb -> 'lines') WHEN 'array' "
                  "THEN d.body::jsonb -> 'lines' ELSE '[]'::jsonb END) j "
                  "WHERE COALESCE(j->>'tax_code', '') <> '' GROUP BY 1, 2, 3, 4",
}


def rebuild_day_figures(db: Database) -> None:
    db.execute("DELETE FROM daily_tenders")
    db.execute("DELETE FROM daily_taxes")
    db.execute(f"INSERT INTO daily_tenders (store_id, business_day, tender, amount) {_DAILY_TENDERS_FROM_JOURNAL}")
    db.execute("INSERT INTO daily_taxes (store_id, business_day, tax_code, rate, taxable, tax) "
               f"{_DAILY_TAXES_FROM_DOCUMENTS[db.dialect]}")


def day_figures(db: Database, *, recomputed: bool) -> dict[tuple[str, ...], tuple[int, ...]]:
    """The day summary's tenders and taxes by rate, as kept or as the journal and the documents
    give them: {("tender", store, day, tender): (amount,), ("tax", store, day, code, rate):
    (taxable, tax)}, zeros left out."""
    tenders = (_DAILY_TENDERS_FROM_JOURNAL if recomputed
               else "SELECT store_id, business_day, tender, amount FROM daily_tenders")
    taxes = (_DAILY_TAXES_FROM_DOCUMENTS[db.dialect] if recomputed
             else "SELECT store_id, business_day, tax_code, rate, taxable, tax FROM daily_taxes")
    found: dict[tuple[str, ...], tuple[int, ...]] = {}
    for row in db.fetchall(tenders):
        if int(row[3]):
            found[("tender", str(row[0]), str(row[1]), str(row[2]))] = (int(row[3]),)
    for row in db.fetchall(taxes):
        if int(row[4]) or int(row[5]):
            found[("tax", str(row[0]), str(row[1]), str(row[2]), str(row[3]))] = (int(row[4]), int(row[5]))
    return found


def _drawer_json(drawer: Drawer) -> str:
    state = msgspec.structs.asdict(drawer)
    state["business_day"] = drawer.business_day.isoformat() if drawer.business_day else None
    return _json(state)


def _drawer(text: str) -> Drawer:
    state = json.loads(text)
    if state.get("business_day"):
        state["business_day"] = date.fromisoformat(state["business_day"])
    return Drawer(**state)


class SqlLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def load_stock(self, sku: str, location_id: str) -> StockPosition | None:
        row = self.db.fetchone("SELECT on_hand, value, last_cost_value, last_cost_qty FROM stock_positions "
                               "WHERE sku = ? AND location_id = ?", (sku, location_id))
        return _position(row) if row else None

    def load_stocks(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StockPosition]:
        found: dict[tuple[str, str], StockPosition] = {}
        if self.db.dialect == "postgresql":
            # Two arrays unnested into the keys: an index probe per key. (A VALUES list makes
            # PostgreSQL hash-join it against a scan of every position.)
            for row in self.db.fetchall(
                    "SELECT p.sku, p.location_id, p.on_hand, p.value, p.last_cost_value, p.last_cost_qty "
                    "FROM unnest(?::text[], ?::text[]) AS wanted (sku, location_id) JOIN stock_positions p "
                    "ON p.sku = wanted.sku AND p.location_id = wanted.location_id",
                    ([key[0] for key in keys], [key[1] for key in keys])):
                found[(row[0], row[1])] = _position(row[2:])
            return found
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            values = ",".join("(?, ?)" for _ in chunk)
            params = [part for key in chunk for part in key]
            # A join with a VALUES list uses the primary key; "(sku, location_id) IN (VALUES …)"
            # makes SQLite scan the whole table.
            for row in self.db.fetchall(
                    f"WITH wanted (sku, location_id) AS (VALUES {values}) SELECT p.sku, p.location_id, "
                    "p.on_hand, p.value, p.last_cost_value, p.last_cost_qty FROM wanted JOIN "
                    "stock_positions p ON p.sku = wanted.sku AND p.location_id = wanted.location_id",
                    params):
                found[(row[0], row[1])] = _position(row[2:])
        return found

    def load_sale(self, store_id: str, receipt_no: str) -> SaleRecord | None:
        row = self.db.fetchone(
            "SELECT event_id, business_day, register_id, invoice_number, total, tax, cash, lines, voided "
            "FROM sales WHERE store_id = ? AND receipt_no = ?", (store_id, receipt_no))
        if row is None:
            return None
        event_id = row[0]
        journal = tuple(JournalLine(str(r[0]), int(r[1]), int(r[2])) for r in self.db.fetchall(
            "SELECT l.account, l.debit, l.credit FROM journal_entries e JOIN journal_lines l "
            f"ON l.entry_id = e.entry_id WHERE e.event_offset = {_OFFSET_OF_EVENT} ORDER BY e.entry_no, l.line_no",
            (store_id, event_id)))
        moves = tuple(_move(r) for r in self.db.fetchall(
            f"SELECT {_MOVE_COLUMNS} FROM stock_moves WHERE event_offset = {_OFFSET_OF_EVENT} ORDER BY move_no",
            (store_id, event_id)))
        lines = tuple(SoldLine(*line) for line in json.loads(row[7]))
        return SaleRecord(store_id, receipt_no, event_id, date.fromisoformat(row[1]), row[2], row[3],
                          int(row[4]), int(row[5]), int(row[6]), lines, journal, moves, bool(row[8]))

    def load_drawer(self, register_id: str) -> Drawer | None:
        row = self.db.fetchone("SELECT state FROM drawers WHERE register_id = ?", (register_id,))
        return _drawer(row[0]) if row else None

    def store_has_postings(self, store_id: str) -> bool:
        return self.db.fetchone("SELECT 1 FROM journal_entries WHERE store_id = ? LIMIT 1", (store_id,)) is not None

    def last_document_number(self, series: str) -> int:
        row = self.db.fetchone("SELECT last_number FROM document_series WHERE series = ?", (series,))
        return int(row[0]) if row else 0

    def last_document_numbers(self, series: list[str]) -> dict[str, int]:
        return _ints_by_key(self.db, "SELECT series, last_number FROM document_series WHERE series IN ({marks})",
                            series)

    def write(self, writes: PostingWrites) -> None:
        db = self.db
        entry_ids = db.next_ids("journal_entries", "entry_id", len(writes.entries)) if writes.entries else []
        move_ids = db.next_ids("stock_moves", "move_id", len(writes.moves)) if writes.moves else []
        self._write_rows(self.rows(writes, entry_ids, move_ids), ids_checked=True)

    def write_rows(self, rows: LedgerRows) -> None:
        self._write_rows(rows, ids_checked=False)

    def _write_rows(self, rows: LedgerRows, *, ids_checked: bool) -> None:
        try:
            if not ids_checked:
                self._check_ids(rows)
            self._insert(rows)
        except self.db.conflict_errors() as error:  # another worker got there first
            raise WriteConflict(str(error)) from error

    def _check_ids(self, rows: LedgerRows) -> None:
        """Rows computed ahead (the pipelined importer) carry the ids they expected to get."""
        for table, column, written in (("journal_entries", "entry_id", rows.entries),
                                       ("stock_moves", "move_id", rows.moves)):
            if written and self.db.next_ids(table, column, 1)[0] != written[0][0]:
                raise WriteConflict(f"{table} grew under a batch computed ahead")

    @staticmethod
    def rows(writes: PostingWrites, entry_ids: Sequence[int], move_ids: Sequence[int]) -> LedgerRows:
        """What ``write`` stores, as rows, computed without the database: the journal entries
        get ``entry_ids`` and the stock moves ``move_ids``, in order."""
        entries: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        # The batch's lines summed per (store, account) and per (day, store, account): the
        # balances move by these in the same transaction as the lines (one row per key and
        # batch, not per line).
        daily: dict[tuple[str, str, str], list[int]] = {}
        days: dict[date, str] = {}  # each business day's text, made once per batch
        for entry_id, (offset, event_id, entry_no, entry) in zip(entry_ids, writes.entries, strict=True):
            business_day = entry.business_day
            day = days.get(business_day) or days.setdefault(business_day, business_day.isoformat())
            store = entry.store_id
            entries.append((entry_id, offset, event_id, entry_no, store, day, entry.register_id, entry.memo))
            for line_no, line in enumerate(entry.lines, start=1):
                account, debit, credit = line.account, line.debit, line.credit
                lines.append((entry_id, line_no, account, debit, credit))
                key = (day, store, account)
                total = daily.get(key)
                if total is None:
                    daily[key] = [debit, credit]
                else:
                    total[0] += debit
                    total[1] += credit
        running: dict[tuple[str, str], list[int]] = {}
        for (_, store, account), (debit, credit) in daily.items():
            total = running.get((store, account))
            if total is None:
                running[(store, account)] = [debit, credit]
            else:
                total[0] += debit
                total[1] += credit
        move_numbers: dict[int, int] = {}
        moves = []
        for move_id, (offset, m) in zip(move_ids, writes.moves, strict=True):
            move_no = move_numbers[offset] = move_numbers.get(offset, 0) + 1
            business_day = m.business_day
            day = days.get(business_day) or days.setdefault(business_day, business_day.isoformat())
            moves.append((move_id, offset, move_no, m.sku, m.location_id, m.store_id, m.qty, m.value, m.kind, day))
        created, changed = [], []
        for (sku, location), (store, p) in writes.positions.items():
            before = writes.positions_as_read.get((sku, location))
            if before is None:
                created.append((sku, location, store, p.on_hand, p.value, p.last_cost_value, p.last_cost_qty))
            else:
                changed.append((p.on_hand, p.value, p.last_cost_value, p.last_cost_qty, sku, location,
                                before.on_hand, before.value, before.last_cost_value, before.last_cost_qty))
        return LedgerRows(
            entries, lines,
            # Sorted: two PostgreSQL workers touching the same keys lock them in the same order.
            [(*key, *total) for key, total in sorted(running.items())],
            [(*key, *total) for key, total in sorted(daily.items())],
            moves, created, changed,
            [(sku, location, p.on_hand, p.value, p.last_cost_value, p.last_cost_qty)
             for (sku, location), p in writes.positions_unchanged.items()],
            [(d.number, d.series, d.sequence, d.draft.kind, d.draft.store_id, d.event_offset, d.event_id,
              d.draft.business_day.isoformat(), d.draft.original_number, d.draft.total, d.draft.tax,
              _json(d.draft.body)) for d in writes.documents],
            list(writes.series.items()),
            [(s.store_id, s.receipt_no, s.event_id, s.business_day.isoformat(), s.register_id,
              s.invoice_number, s.total, s.tax, s.cash,
              _json([[ln.line_no, ln.sku, ln.qty, ln.cogs, ln.returned_qty, ln.unit_price, ln.discount,
                      ln.tax_code, ln.rate, ln.net, ln.tax] for ln in s.lines]),
              int(s.voided)) for s in writes.sales.values()],
            [(d.register_id, d.store_id, _drawer_json(d)) for d in writes.drawers.values()],
            [(d.register_id, d.session_id, d.store_id,
              d.business_day.isoformat() if d.business_day else None, d.session_status,
              d.opening_float, d.cash_sales, d.cash_refunds, d.float_adds, d.drops, d.paid_outs,
              d.opening_float + d.cash_sales - d.cash_refunds + d.float_adds - d.drops - d.paid_outs,
              d.counted, d.over_short, d.approved_by, d.opened_at, d.closed_at, d.open_event_id)
             for d in writes.sessions.values()],
            [(offset, status) for offset, status in writes.statuses], writes.posted_at,
            [(order_id, location_id) for order_id, location_id in writes.consumed_orders],
            # Sorted by their keys, as the balances are (two workers lock them in the same order).
            sorted((store, day.isoformat(), tender, amount)
                   for (day, store, tender), amount in writes.day_tenders.items()),
            sorted((store, day.isoformat(), code, rate, taxable, tax)
                   for (day, store, code, rate), (taxable, tax) in writes.day_taxes.items()))

    def _write_positions(self, rows: LedgerRows) -> None:
        """Optimistic concurrency: a position is inserted only if nobody created it, and updated
        only if it still holds what this batch read. Otherwise WriteConflict: compute again."""
        self.db.executemany(
            "INSERT INTO stock_positions (sku, location_id, store_id, on_hand, value, last_cost_value,"
            " last_cost_qty) VALUES (?, ?, ?, ?, ?, ?, ?)", rows.positions_created)
        changed = rows.positions_changed
        updated = self.db.executemany(
            "UPDATE stock_positions SET on_hand = ?, value = ?, last_cost_value = ?, last_cost_qty = ? "
            "WHERE sku = ? AND location_id = ? AND on_hand = ? AND value = ? AND last_cost_value = ? "
            "AND last_cost_qty = ?", changed)
        if changed and updated != len(changed):
            raise WriteConflict(f"{len(changed) - updated} stock position(s) changed under this batch")
        if rows.positions_unchanged:
            stored = self.load_stocks([(row[0], row[1]) for row in rows.positions_unchanged])
            moved = [row for row in rows.positions_unchanged
                     if stored.get((row[0], row[1])) != StockPosition(row[2], row[3], row[4], row[5])]
            if moved:
                raise WriteConflict(f"{len(moved)} stock position(s) this batch relied on changed under it")

    def _insert(self, rows: LedgerRows) -> None:
        db = self.db
        db.insert_many("journal_entries", ("entry_id", "event_offset", "event_id", "entry_no", "store_id",
                                           "business_day", "register_id", "memo"), rows.entries)
        db.insert_many("journal_lines", ("entry_id", "line_no", "account", "debit", "credit"), rows.lines)
        db.upsert_many(*_ADD_TO_ACCOUNT_BALANCE[:2], rows.account_balances, _ADD_TO_ACCOUNT_BALANCE[2])
        db.upsert_many(*_ADD_TO_DAILY_BALANCE[:2], rows.daily_balances, _ADD_TO_DAILY_BALANCE[2])
        db.upsert_many(*_ADD_TO_DAILY_TENDERS[:2], rows.daily_tenders, _ADD_TO_DAILY_TENDERS[2])
        db.upsert_many(*_ADD_TO_DAILY_TAXES[:2], rows.daily_taxes, _ADD_TO_DAILY_TAXES[2])
        db.insert_many("stock_moves", ("move_id", "event_offset", "move_no", *_MOVE_COLUMNS.split(", ")), rows.moves)
        self._write_positions(rows)
        db.insert_many(
            "documents", ("number", "series", "sequence", "kind", "store_id", "event_offset", "event_id",
                          "business_day", "original_number", "total", "tax", "body"), rows.documents)
        db.executemany("INSERT INTO document_series (series, last_number) VALUES (?, ?) "
                       "ON CONFLICT (series) DO UPDATE SET last_number = excluded.last_number", rows.series)
        db.upsert_many(
            "sales", ("store_id", "receipt_no", "event_id", "business_day", "register_id", "invoice_number",
                      "total", "tax", "cash", "lines", "voided"), rows.sales,
            "ON CONFLICT (store_id, receipt_no) DO UPDATE SET lines = excluded.lines, voided = excluded.voided")
        db.executemany("INSERT INTO drawers (register_id, store_id, state) VALUES (?, ?, ?) "
                       "ON CONFLICT (register_id) DO UPDATE SET state = excluded.state", rows.drawers)
        db.executemany(
            "INSERT INTO register_sessions (register_id, session_id, store_id, business_day, status,"
            " opening_float, cash_sales, cash_refunds, float_adds, drops, paid_outs, expected, counted,"
            " over_short, approved_by, opened_at, closed_at, open_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (register_id, session_id, open_event_id) DO UPDATE SET "
            "status = excluded.status, opening_float = excluded.opening_float, "
            "cash_sales = excluded.cash_sales, cash_refunds = excluded.cash_refunds, "
            "float_adds = excluded.float_adds, drops = excluded.drops, paid_outs = excluded.paid_outs,"
            " expected = excluded.expected, counted = excluded.counted, over_short = excluded.over_short,"
            " approved_by = excluded.approved_by, closed_at = excluded.closed_at"
            # A closed session's figures never change (CONTRACT 2.1 section 11).
            " WHERE register_sessions.status = 'open'", rows.sessions)
        if db.dialect == "postgresql" and rows.statuses:
            db.execute('UPDATE events SET status = w.status, posted_at = ? FROM unnest(?::bigint[], ?::text[]) '
                       'AS w ("offset", status) WHERE events."offset" = w."offset"',
                       (rows.posted_at, [offset for offset, _ in rows.statuses],
                        [status for _, status in rows.statuses]))
        else:
            db.executemany('UPDATE events SET status = ?, posted_at = ? WHERE "offset" = ?',
                           [(status, rows.posted_at, offset) for offset, status in rows.statuses])
        db.executemany("UPDATE reservations SET status = 'consumed' WHERE order_id = ? AND location_id = ? "
                       "AND status = 'active'", rows.consumed_orders)


def _exception(row: Row) -> ExceptionRecord:
    return ExceptionRecord(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6],
                           json.loads(row[7]), row[8], row[9], row[10], row[11])


_EXCEPTION_COLUMNS = ("id, type, status, store_id, register_id, event_id, business_day, detail,"
                      " created_at, resolved_at, resolved_by, resolution")


_COUNT_OPEN = ("INSERT INTO open_exception_counts (store_id, type, open_count) VALUES (?, ?, ?) "
               "ON CONFLICT (store_id, type) DO UPDATE SET "
               "open_count = open_exception_counts.open_count + excluded.open_count")


class SqlExceptions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, record: ExceptionRecord) -> int:
        row = self.db.fetchone(
            "INSERT INTO exceptions (type, status, store_id, register_id, event_id, business_day, detail,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (record.type, record.status, record.store_id, record.register_id, record.event_id,
             record.business_day, _json(record.detail), record.created_at))
        assert row is not None
        if record.status == "open":
            self._count_open(record.store_id, record.type, 1)
        return int(row[0])

    def add_many(self, records: list[ExceptionRecord]) -> None:
        if not records:
            return
        self.db.insert_many(
            "exceptions", ("type", "status", "store_id", "register_id", "event_id", "business_day", "detail",
                           "created_at"),
            [(r.type, r.status, r.store_id, r.register_id, r.event_id, r.business_day, _json(r.detail),
              r.created_at) for r in records])
        opened: dict[tuple[str, str], int] = {}
        for r in records:
            if r.status == "open":
                key = (r.store_id or "", r.type)
                opened[key] = opened.get(key, 0) + 1
        self.db.executemany(_COUNT_OPEN, [(*key, count) for key, count in sorted(opened.items())])

    def _count_open(self, store_id: str | None, type: str, change: int) -> None:
        self.db.execute(_COUNT_OPEN, (store_id or "", type, change))

    def open_counts(self) -> dict[str, int]:
        """Open exceptions per type, from the gauges kept as exceptions open and close."""
        rows = self.db.fetchall("SELECT type, SUM(open_count) FROM open_exception_counts GROUP BY type "
                                "HAVING SUM(open_count) > 0 ORDER BY type")
        return {r[0]: int(r[1]) for r in rows}

    def get(self, exception_id: int) -> ExceptionRecord | None:
        row = self.db.fetchone(f"SELECT {_EXCEPTION_COLUMNS} FROM exceptions WHERE id = ?", (exception_id,))
        return _exception(row) if row else None

    def resolve(self, exception_id: int, at: str, by: str, resolution: str) -> bool:
        row = self.db.fetchone("UPDATE exceptions SET status = 'resolved', resolved_at = ?, resolved_by = ?,"
                               " resolution = ? WHERE id = ? AND status = 'open' RETURNING store_id, type",
                               (at, by, resolution, exception_id))
        if row is None:
            return False
        self._count_open(row[0], row[1], -1)
        return True

    def open_for_event(self, store_id: str, event_id: str) -> list[ExceptionRecord]:
        rows = self.db.fetchall(f"SELECT {_EXCEPTION_COLUMNS} FROM exceptions WHERE event_id = ? "
                                "AND store_id = ? AND status = 'open' ORDER BY id", (event_id, store_id))
        return [_exception(r) for r in rows]

    def list(self, *, status: str | None = None, type: str | None = None,
             store_id: str | None = None, event_id: str | None = None, business_day: date | None = None,
             limit: int = 1000, after: int = 0) -> list[ExceptionRecord]:
        where, params = _where(["id > ?"], [after], (("status", status), ("type", type), ("store_id", store_id),
                                                     ("event_id", event_id),
                                                     ("business_day", business_day.isoformat() if business_day else None)))
        rows = self.db.fetchall(f"SELECT {_EXCEPTION_COLUMNS} FROM exceptions {where} ORDER BY id LIMIT ?",
                                (*params, limit))
        return [_exception(r) for r in rows]


class SqlMasterData:
    def __init__(self, db: Database) -> None:
        self.db = db

    def version(self) -> int:
        row = self.db.fetchone("SELECT version FROM catalog_version WHERE id = 1")
        return int(row[0]) if row else 0

    def body_of(self, kind: str, key: str) -> str | None:
        row = self.db.fetchone("SELECT body FROM master_data WHERE kind = ? AND key = ?", (kind, key))
        return str(row[0]) if row else None

    def upsert(self, kind: str, key: str, body: str, at: str) -> int | None:
        """Store an entry; bump the catalog version only when the body really changed."""
        row = self.db.fetchone("SELECT body FROM master_data WHERE kind = ? AND key = ?", (kind, key))
        if row is not None and row[0] == body:
            return None
        bumped = self.db.fetchone("UPDATE catalog_version SET version = version + 1 WHERE id = 1 "
                                  "RETURNING version")
        assert bumped is not None
        version = int(bumped[0])
        self.db.execute("INSERT INTO master_data (kind, key, body, version, updated_at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, "
                        "version = excluded.version, updated_at = excluded.updated_at",
                        (kind, key, body, version, at))
        return version

    def page(self, kind: str, after: str, limit: int) -> list[tuple[str, str]]:
        """(key, body) of ``kind`` in key order, after the key ``after``."""
        rows = self.db.fetchall("SELECT key, body FROM master_data WHERE kind = ? AND key > ? ORDER BY key LIMIT ?",
                                (kind, after, limit))
        return [(r[0], r[1]) for r in rows]

    def snapshot_rows(self, kinds: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]:
        if kinds is None:
            rows = self.db.fetchall("SELECT kind, key, body FROM master_data")
        else:
            marks = ",".join("?" * len(kinds))
            rows = self.db.fetchall(f"SELECT kind, key, body FROM master_data WHERE kind IN ({marks})", kinds)
        return [(r[0], r[1], r[2]) for r in rows]

    def changes_since(self, version: int, kinds: tuple[str, ...]) -> list[tuple[str, str, str, int]]:
        marks = ",".join("?" * len(kinds))
        rows = self.db.fetchall(f"SELECT kind, key, body, version FROM master_data WHERE version > ? "
                                f"AND kind IN ({marks}) ORDER BY version", (version, *kinds))
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]


class SqlReservations:
    def __init__(self, db: Database) -> None:
        self.db = db

    def reserved(self, sku: str, location_id: str, excluding_order: str | None = None) -> int:
        row = self.db.fetchone("SELECT COALESCE(SUM(qty), 0) FROM reservations WHERE sku = ? AND "
                               "location_id = ? AND status = 'active' AND order_id <> ?",
                               (sku, location_id, excluding_order or ""))
        return int(row[0]) if row else 0

    def add(self, order_id: str, sku: str, location_id: str, qty: int, at: str) -> bool:
        return self.db.execute(
            "INSERT INTO reservations (order_id, sku, location_id, qty, status, created_at) "
            "VALUES (?, ?, ?, ?, 'active', ?) ON CONFLICT (order_id, sku, location_id) DO UPDATE SET "
            "qty = excluded.qty, status = 'active' WHERE reservations.status <> 'consumed'",
            (order_id, sku, location_id, qty, at)) > 0

    def release(self, order_id: str, sku: str | None = None, locations: list[str] | None = None) -> int:
        clauses, params = ["order_id = ?", "status = 'active'"], [order_id]
        if sku is not None:
            clauses.append("sku = ?")
            params.append(sku)
        if locations is not None:
            if not locations:
                return 0
            clauses.append(f"location_id IN ({','.join('?' * len(locations))})")
            params.extend(locations)
        return self.db.execute(f"UPDATE reservations SET status = 'released' WHERE {' AND '.join(clauses)}",
                               params)

    def locations_of(self, order_id: str) -> list[str]:
        return [row[0] for row in self.db.fetchall(
            "SELECT DISTINCT location_id FROM reservations WHERE order_id = ? AND status = 'active' "
            "ORDER BY location_id", (order_id,))]


class SqlAuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, at: str, actor: str, action: str, subject: str, before: str | None, after: str | None) -> None:
        self.db.execute("INSERT INTO audit_log (at, actor, action, subject, before, after) VALUES (?, ?, ?, ?, ?, ?)",
                        (at, actor, action, subject, before, after))

    def since(self, after_id: int, limit: int) -> list[AuditEntry]:
        return [AuditEntry(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6]) for row in self.db.fetchall(
            "SELECT id, at, actor, action, subject, before, after FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit))]


class SqlTokens:
    def __init__(self, db: Database) -> None:
        self.db = db

    _COLUMNS = "token_id, role, store_id, name, created_at, expires_at, last_used_at, revoked"

    def add(self, token_id: str, token_hash: str, role: str, store_id: str | None, name: str, at: str,
            expires_at: str | None) -> None:
        self.db.execute("INSERT INTO api_tokens (token_id, token_hash, role, store_id, name, created_at, "
                        "expires_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                        (token_id, token_hash, role, store_id, name, at, expires_at))

    def find(self, token_hash: str) -> TokenRecord | None:
        row = self.db.fetchone(f"SELECT {self._COLUMNS} FROM api_tokens WHERE token_hash = ? AND revoked = 0",
                               (token_hash,))
        return _token(row) if row else None

    def get(self, token_id: str) -> TokenRecord | None:
        row = self.db.fetchone(f"SELECT {self._COLUMNS} FROM api_tokens WHERE token_id = ?", (token_id,))
        return _token(row) if row else None

    def list(self, after: str = "", limit: int = 1000) -> list[TokenRecord]:
        return [_token(row) for row in self.db.fetchall(
            f"SELECT {self._COLUMNS} FROM api_tokens WHERE token_id > ? ORDER BY token_id LIMIT ?", (after, limit))]

    def revoke(self, token_id: str) -> int:
        return self.db.execute("UPDATE api_tokens SET revoked = 1 WHERE token_id = ? AND revoked = 0", (token_id,))

    def touch(self, token_id: str, at: str) -> None:
        self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", (at, token_id))


def _token(row: Sequence[Any]) -> TokenRecord:
    return TokenRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))


class SqlQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def trial_balance(self, store_ids: list[str] | None, day_from: date | None,
                      day_to: date | None) -> list[TrialBalanceRow]:
        """From the balances kept at posting: all history per store and account, or a range of
        business days from the daily totals. Never the journal lines."""
        clauses: list[str] = []
        params: list[Any] = []
        if store_ids is not None:
            clauses.append(f"store_id IN ({','.join('?' * len(store_ids))})")
            params.extend(store_ids)
        if day_from is None and day_to is None:
            table = "account_balances"
        else:
            table = "daily_balances"
            if day_from is not None:
                clauses.append("business_day >= ?")
                params.append(day_from.isoformat())
            if day_to is not None:
                clauses.append("business_day <= ?")
                params.append(day_to.isoformat())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.fetchall(f"SELECT account, SUM(debit), SUM(credit) FROM {table} {where} "
                                "GROUP BY account ORDER BY account", params)
        return [TrialBalanceRow(r[0], int(r[1]), int(r[2])) for r in rows]

    def entry_lines(self, *, account: str | None, store_id: str | None, business_day: date | None,
                    event_offset: int | None, after: tuple[int, int], limit: int,
                    register_id: str | None = None) -> list[EntryLineRow]:
        """Journal lines in posting order; ``after`` is the (entry_id, line_no) cursor of the
        last line already seen, (0, 0) for the first page. The cursor condition is written so
        the planner ranges on entry_id (``>= ? AND (> ? OR line_no > ?)``) instead of scanning
        and sorting every matching line."""
        if account is not None and store_id is None and event_offset is None and register_id is None:
            # Account-only drill-down: walk the account's lines in posting order (its index),
            # joining each to its entry.
            walk, source = "l", "journal_lines l JOIN journal_entries e ON e.entry_id = l.entry_id"
        else:
            walk, source = "e", "journal_entries e JOIN journal_lines l ON l.entry_id = e.entry_id"
        where, params = _where(
            [f"{walk}.entry_id >= ?", f"({walk}.entry_id > ? OR l.line_no > ?)"], [after[0], after[0], after[1]],
            (("l.account", account), ("e.store_id", store_id),
             ("e.business_day", business_day.isoformat() if business_day else None),
             ("e.event_offset", event_offset), ("e.register_id", register_id)))
        rows = self.db.fetchall(
            "SELECT e.entry_id, l.line_no, e.event_id, l.account, l.debit, l.credit, e.store_id, "
            f"e.business_day, e.register_id, e.memo FROM {source} "
            f"{where} ORDER BY {walk}.entry_id, l.line_no LIMIT ?", (*params, limit))
        return [EntryLineRow(int(r[0]), int(r[1]), r[2], str(r[3]), int(r[4]), int(r[5]), r[6], r[7], r[8], r[9])
                for r in rows]

    def stock(self, sku: str | None, location_id: str | None, *, store_id: str | None = None,
              after: tuple[str, str] | None = None, limit: int | None = None) -> list[StockRow]:
        """Positions by SKU and location; ``after`` (a SKU and location) and ``limit`` page them."""
        where, params = _where(["(p.sku > ? OR (p.sku = ? AND p.location_id > ?))"] if after else [],
                               [after[0], after[0], after[1]] if after else [],
                               (("p.sku", sku), ("p.location_id", location_id), ("p.store_id", store_id)))
        # Reservations summed per returned position (their index), not all of them per read.
        rows = self.db.fetchall(
            "SELECT p.sku, p.location_id, p.store_id, p.on_hand, p.value, p.last_cost_value, "
            "p.last_cost_qty, (SELECT COALESCE(SUM(r.qty), 0) FROM reservations r WHERE r.sku = p.sku "
            "AND r.location_id = p.location_id AND r.status = 'active') FROM stock_positions p "
            f"{where} ORDER BY p.sku, p.location_id" + (" LIMIT ?" if limit else ""),
            (*params, limit) if limit else params)
        return [StockRow(r[0], r[1], r[2], _position(r[3:7]), int(r[7])) for r in rows]

    def documents_for_event(self, event_offset: int) -> list[IssuedDocument]:
        rows = self.db.fetchall(f"SELECT {_DOC_COLUMNS} FROM documents WHERE event_offset = ? "
                                "ORDER BY series, sequence", (event_offset,))
        return [_document(r) for r in rows]

    def documents(self, store_id: str | None, business_day: date | None, after: tuple[str, int] | None,
                  limit: int) -> list[IssuedDocument]:
        """Invoices and credit notes by number (series, then sequence), after the number ``after``."""
        where, params = _where(
            ["(series > ? OR (series = ? AND sequence > ?))"] if after else [],
            [after[0], after[0], after[1]] if after else [],
            (("store_id", store_id), ("business_day", business_day.isoformat() if business_day else None)))
        rows = self.db.fetchall(f"SELECT {_DOC_COLUMNS} FROM documents {where} ORDER BY series, sequence LIMIT ?",
                                (*params, limit))
        return [_document(r) for r in rows]

    def document(self, number: str) -> IssuedDocument | None:
        key = parse_document_number(number)
        if key is None:
            return None
        row = self.db.fetchone(f"SELECT {_DOC_COLUMNS} FROM documents WHERE series = ? AND sequence = ?", key)
        return _document(row) if row else None

    def moves_for_event(self, event_offset: int) -> list[StockMove]:
        return [_move(r) for r in self.db.fetchall(_MOVES_AT_OFFSET, (event_offset,))]

    def stock_value_by_store(self) -> dict[str, int]:
        rows = self.db.fetchall("SELECT store_id, SUM(value) FROM stock_positions GROUP BY store_id")
        return {r[0]: int(r[1]) for r in rows}

    def on_hand_from_moves(self) -> dict[tuple[str, str], tuple[int, int]]:
        rows = self.db.fetchall("SELECT sku, location_id, SUM(qty), SUM(value) FROM stock_moves "
                                "GROUP BY sku, location_id")
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    def document_numbers(self) -> dict[str, list[int]]:
        result: dict[str, list[int]] = {}
        for series, sequence in self.db.fetchall("SELECT series, sequence FROM documents ORDER BY series, sequence"):
            result.setdefault(series, []).append(int(sequence))
        return result

    def postings_per_event(self) -> dict[str, int]:
        rows = self.db.fetchall("SELECT MIN(event_id), COUNT(*) FROM journal_entries WHERE entry_no = 1 "
                                "GROUP BY event_offset HAVING COUNT(*) > 1")
        return {r[0]: int(r[1]) for r in rows}

    def drawers(self) -> list[Drawer]:
        return [_drawer(r[0]) for r in self.db.fetchall("SELECT state FROM drawers ORDER BY register_id")]

    def sessions(self, *, store_id: str | None = None, register_id: str | None = None,
                 business_day: date | None = None, after: tuple[str, str, str, str] | None = None,
                 limit: int | None = None) -> list[SessionRow]:
        cursor = ["(register_id, COALESCE(opened_at, ''), session_id, open_event_id) > (?, ?, ?, ?)"] if after else []
        where, params = _where(cursor, list(after) if after else [],
                               (("store_id", store_id), ("register_id", register_id),
                                ("business_day", business_day.isoformat() if business_day else None)))
        rows = self.db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM register_sessions {where} "
            "ORDER BY register_id, COALESCE(opened_at, ''), session_id, open_event_id" + (" LIMIT ?" if limit else ""),
            (*params, limit) if limit else params)
        return [SessionRow(*r[:7], *(int(n) for n in r[7:14]), *r[14:]) for r in rows]

    def day_balances(self, store_id: str, business_day: date) -> dict[str, tuple[int, int]]:
        rows = self.db.fetchall("SELECT account, debit, credit FROM daily_balances WHERE store_id = ? "
                                "AND business_day = ?", (store_id, business_day.isoformat()))
        return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def day_open_exceptions(self, store_id: str, business_day: date) -> int:
        row = self.db.fetchone("SELECT COUNT(*) FROM exceptions WHERE store_id = ? AND business_day = ? "
                               "AND status = 'open'", (store_id, business_day.isoformat()))
        return int(row[0]) if row else 0

    def day_tenders(self, store_id: str, business_day: date) -> dict[str, int]:
        rows = self.db.fetchall("SELECT tender, amount FROM daily_tenders WHERE store_id = ? AND business_day = ?",
                                (store_id, business_day.isoformat()))
        return {str(r[0]): int(r[1]) for r in rows}

    def day_taxes(self, store_id: str, business_day: date) -> list[tuple[str, str, int, int]]:
        rows = self.db.fetchall("SELECT tax_code, rate, taxable, tax FROM daily_taxes WHERE store_id = ? "
                                "AND business_day = ? ORDER BY tax_code, rate", (store_id, business_day.isoformat()))
        return [(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


_SESSION_COLUMNS = ("register_id, session_id, store_id, business_day, status, opened_at, closed_at, "
                    "opening_float, cash_sales, cash_refunds, float_adds, drops, paid_outs, expected, counted, "
                    "over_short, approved_by, open_event_id")


_DOC_COLUMNS = ("number, series, sequence, event_id, event_offset, kind, store_id, business_day, "
                "original_number, total, tax, body")


def _document(row: Row) -> IssuedDocument:
    draft = DocumentDraft(row[5], row[6], date.fromisoformat(row[7]), row[8], int(row[9]), int(row[10]),
                          json.loads(row[11]))
    return IssuedDocument(row[0], row[1], int(row[2]), row[3], int(row[4]), draft)


def _sums(rows: list[Row], width: int) -> dict[Any, tuple[int, int]]:
    """Rows of (key parts..., a, b) as {key: (a, b)}. Key parts are text (SQLite hands back
    journal lines' account codes as integers: its migration 0003)."""
    return {tuple(str(part) for part in r[:width]): (int(r[width]), int(r[width + 1])) for r in rows}


def _store_days_values(store_days: list[tuple[str, str]]) -> tuple[str, list[str]]:
    values = ",".join("(?, ?)" for _ in store_days)
    return values, [part for key in store_days for part in key]


class SqlChecks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def checkpoint(self) -> CheckPoint | None:
        row = self.db.fetchone("SELECT entry_id, move_id, checked_at FROM check_checkpoint WHERE id = 1")
        if row is None:
            return None
        series = {r[0]: int(r[1]) for r in self.db.fetchall("SELECT series, last_number FROM check_series")}
        return CheckPoint(int(row[0]), int(row[1]), row[2],
                          _sums(self.db.fetchall("SELECT store_id, account, debit, credit FROM check_account_sums"), 2),
                          _sums(self.db.fetchall("SELECT sku, location_id, qty, value FROM check_stock_sums"), 2),
                          series)

    def save_checkpoint(self, checkpoint: CheckPoint) -> None:
        """Replace the checkpoint, unless one from further on is already stored. The checkpoint
        row is written first: its row lock makes two checks that finish together save one after
        the other, and the later one sees the other's totals and keeps the newer."""
        db = self.db
        moved = db.fetchone(
            "INSERT INTO check_checkpoint (id, entry_id, move_id, checked_at) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET entry_id = excluded.entry_id, move_id = excluded.move_id, "
            "checked_at = excluded.checked_at WHERE check_checkpoint.entry_id <= excluded.entry_id "
            "AND check_checkpoint.move_id <= excluded.move_id RETURNING id",
            (checkpoint.entry_id, checkpoint.move_id, checkpoint.checked_at))
        if moved is None:
            return
        db.execute("DELETE FROM check_account_sums")
        db.execute("DELETE FROM check_stock_sums")
        db.execute("DELETE FROM check_series")
        db.executemany("INSERT INTO check_account_sums (store_id, account, debit, credit) VALUES (?, ?, ?, ?)",
                       [(*key, *sums) for key, sums in sorted(checkpoint.account_sums.items())])
        db.executemany("INSERT INTO check_stock_sums (sku, location_id, qty, value) VALUES (?, ?, ?, ?)",
                       [(*key, *sums) for key, sums in sorted(checkpoint.stock_sums.items())])
        db.executemany("INSERT INTO check_series (series, last_number) VALUES (?, ?)",
                       sorted(checkpoint.series.items()))

    def last_ids(self) -> tuple[int, int]:
        entry = self.db.fetchone("SELECT COALESCE(MAX(entry_id), 0) FROM journal_entries")
        move = self.db.fetchone("SELECT COALESCE(MAX(move_id), 0) FROM stock_moves")
        return (int(entry[0]) if entry else 0, int(move[0]) if move else 0)

    def line_sums(self, after_entry_id: int) -> dict[tuple[str, str], tuple[int, int]]:
        return _sums(self.db.fetchall(
            "SELECT e.store_id, l.account, SUM(l.debit), SUM(l.credit) FROM journal_lines l "
            "JOIN journal_entries e ON e.entry_id = l.entry_id WHERE l.entry_id > ? "
            "GROUP BY e.store_id, l.account", (after_entry_id,)), 2)

    def move_sums(self, after_move_id: int) -> dict[tuple[str, str], tuple[int, int]]:
        return _sums(self.db.fetchall(
            "SELECT sku, location_id, SUM(qty), SUM(value) FROM stock_moves WHERE move_id > ? "
            "GROUP BY sku, location_id", (after_move_id,)), 2)

    def account_balances(self) -> dict[tuple[str, str], tuple[int, int]]:
        return _sums(self.db.fetchall("SELECT store_id, account, debit, credit FROM account_balances"), 2)

    def store_days_after(self, entry_id: int) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.db.fetchall(
            "SELECT DISTINCT store_id, business_day FROM journal_entries WHERE entry_id > ? "
            "ORDER BY store_id, business_day", (entry_id,))]

    def daily_line_sums(self, store_days: list[tuple[str, str]] | None) -> dict[tuple[str, str, str], tuple[int, int]]:
        select = ("SELECT e.business_day, e.store_id, l.account, SUM(l.debit), SUM(l.credit) FROM "
                  "journal_entries e JOIN journal_lines l ON l.entry_id = e.entry_id")
        group = " GROUP BY e.business_day, e.store_id, l.account"
        if store_days is None:
            return _sums(self.db.fetchall(select + group), 3)
        found: dict[tuple[str, str, str], tuple[int, int]] = {}
        for start in range(0, len(store_days), 400):
            values, params = _store_days_values(store_days[start:start + 400])
            found.update(_sums(self.db.fetchall(
                f"WITH wanted (store_id, business_day) AS (VALUES {values}) " + select
                + " JOIN wanted ON wanted.store_id = e.store_id AND wanted.business_day = e.business_day"
                + group, params), 3))
        return found

    def daily_balances(self, store_days: list[tuple[str, str]] | None) -> dict[tuple[str, str, str], tuple[int, int]]:
        select = "SELECT d.business_day, d.store_id, d.account, d.debit, d.credit FROM daily_balances d"
        if store_days is None:
            return _sums(self.db.fetchall(select), 3)
        found: dict[tuple[str, str, str], tuple[int, int]] = {}
        for start in range(0, len(store_days), 400):
            values, params = _store_days_values(store_days[start:start + 400])
            found.update(_sums(self.db.fetchall(
                f"WITH wanted (store_id, business_day) AS (VALUES {values}) " + select
                + " JOIN wanted ON wanted.store_id = d.store_id AND wanted.business_day = d.business_day",
                params), 3))
        return found

    def events_posted_twice(self, after_entry_id: int) -> list[str]:
        """Events with a second first entry among those posted after the position. The unique
        key (event_offset, entry_no) makes this impossible by design; the check proves the key."""
        rows = self.db.fetchall(
            "SELECT e.event_id FROM journal_entries e WHERE e.entry_id > ? AND e.entry_no = 1 AND "
            "(SELECT COUNT(*) FROM journal_entries o WHERE o.event_offset = e.event_offset AND o.entry_no = 1) > 1",
            (after_entry_id,))
        return sorted({r[0] for r in rows})

    def series_counts(self, checked: dict[str, int]) -> dict[str, tuple[int, int, int]]:
        found: dict[str, tuple[int, int, int]] = {}
        for series, last_number in self.db.fetchall("SELECT series, last_number FROM document_series"):
            since = checked.get(series, 0)
            row = self.db.fetchone(
                "SELECT COUNT(*), (SELECT COALESCE(MAX(sequence), 0) FROM documents WHERE series = ?) "
                "FROM documents WHERE series = ? AND sequence > ?", (series, series, since))
            assert row is not None
            found[series] = (int(last_number), int(row[0]), int(row[1]))
        return found

    def day_figures(self, *, recomputed: bool) -> dict[tuple[str, ...], tuple[int, ...]]:
        return day_figures(self.db, recomputed=recomputed)

    def rebuild_balances(self) -> tuple[int, int]:
        db = self.db
        if db.dialect == "postgresql":
            # Posting waits until the rebuilt balances commit (its upserts need ROW EXCLUSIVE);
            # reads go on. SQLite's write lock already does this.
            db.execute("LOCK TABLE account_balances, daily_balances, daily_tenders, daily_taxes IN EXCLUSIVE MODE")
        db.execute("DELETE FROM account_balances")
        db.execute("DELETE FROM daily_balances")
        db.execute("INSERT INTO account_balances (store_id, account, debit, credit) "
                   "SELECT e.store_id, l.account, SUM(l.debit), SUM(l.credit) FROM journal_lines l "
                   "JOIN journal_entries e ON e.entry_id = l.entry_id GROUP BY e.store_id, l.account")
        db.execute("INSERT INTO daily_balances (business_day, store_id, account, debit, credit) "
                   "SELECT e.business_day, e.store_id, l.account, SUM(l.debit), SUM(l.credit) FROM journal_lines l "
                   "JOIN journal_entries e ON e.entry_id = l.entry_id GROUP BY e.business_day, e.store_id, l.account")
        rebuild_day_figures(db)
        accounts = db.fetchone("SELECT COUNT(*) FROM account_balances")
        days = db.fetchone("SELECT COUNT(*) FROM daily_balances")
        return (int(accounts[0]) if accounts else 0, int(days[0]) if days else 0)

    def rebuild_exception_counts(self) -> int:
        self.db.execute("DELETE FROM open_exception_counts")
        return self.db.execute(
            "INSERT INTO open_exception_counts (store_id, type, open_count) SELECT COALESCE(store_id, ''), type,"
            " COUNT(*) FROM exceptions WHERE status = 'open' GROUP BY COALESCE(store_id, ''), type")
