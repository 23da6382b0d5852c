-- Migration 0002: balances kept at posting, integer keys in posting order, narrower indexes,
-- gauges for /metrics, and the checkpoint of incremental checks (issues 7 and 15; see
-- docs/decisions/0006-balances-and-the-read-side.md). PostgreSQL's 0002 is its twin.

-- Journal lines: keyed by (entry_id, line_no), integers handed out in posting order, so a
-- batch's lines append at the end of the tree. What an entry says of all its lines (event,
-- store, business day, register, memo) lives on the entry only.
CREATE TABLE journal_lines_v2 (
    entry_id INTEGER NOT NULL,
    line_no  INTEGER NOT NULL,
    account  TEXT NOT NULL,
    debit    INTEGER NOT NULL,
    credit   INTEGER NOT NULL,
    PRIMARY KEY (entry_id, line_no)
) WITHOUT ROWID;
INSERT INTO journal_lines_v2 (entry_id, line_no, account, debit, credit)
    SELECT e.entry_id, l.line_no, l.account, l.debit, l.credit
    FROM journal_lines l JOIN journal_entries e ON e.event_id = l.event_id AND e.entry_no = l.entry_no
    ORDER BY e.entry_id, l.line_no;
DROP TABLE journal_lines;
ALTER TABLE journal_lines_v2 RENAME TO journal_lines;
-- Drill-down by account in posting order (the cursor ranges on it).
CREATE INDEX journal_lines_account ON journal_lines (account, entry_id);
-- Drill-down by store, or store and day, in posting order.
CREATE INDEX journal_entries_store_day ON journal_entries (store_id, business_day, entry_id);

-- Stock moves: an integer key in posting order, and the event's log offset (an integer in
-- acceptance order) instead of its text id: (event_offset, move_no) is unique.
CREATE TABLE stock_moves_v2 (
    move_id      INTEGER PRIMARY KEY,
    event_offset INTEGER NOT NULL,
    move_no      INTEGER NOT NULL,
    sku          TEXT NOT NULL,
    location_id  TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    qty          INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    business_day TEXT NOT NULL
);
INSERT INTO stock_moves_v2 (event_offset, move_no, sku, location_id, store_id, qty, value, kind, business_day)
    SELECT v."offset", m.move_no, m.sku, m.location_id, m.store_id, m.qty, m.value, m.kind, m.business_day
    FROM stock_moves m JOIN events v ON v.event_id = m.event_id
    ORDER BY v."offset", m.event_id, m.move_no;
DROP TABLE stock_moves;
ALTER TABLE stock_moves_v2 RENAME TO stock_moves;
CREATE UNIQUE INDEX stock_moves_event ON stock_moves (event_offset, move_no);

-- Running totals per store and account, and per business day, store and account: updated in
-- the posting's own transaction, so they can never disagree with the lines (rebuildable from
-- them: posledger rebuild).
CREATE TABLE account_balances (
    store_id TEXT NOT NULL,
    account  TEXT NOT NULL,
    debit    INTEGER NOT NULL,
    credit   INTEGER NOT NULL,
    PRIMARY KEY (store_id, account)
) WITHOUT ROWID;
INSERT INTO account_balances (store_id, account, debit, credit)
    SELECT e.store_id, l.account, SUM(l.debit), SUM(l.credit)
    FROM journal_lines l JOIN journal_entries e ON e.entry_id = l.entry_id
    GROUP BY e.store_id, l.account;

CREATE TABLE daily_balances (
    business_day TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    account      TEXT NOT NULL,
    debit        INTEGER NOT NULL,
    credit       INTEGER NOT NULL,
    PRIMARY KEY (business_day, store_id, account)
) WITHOUT ROWID;
CREATE INDEX daily_balances_store ON daily_balances (store_id, business_day, account, debit, credit);
INSERT INTO daily_balances (business_day, store_id, account, debit, credit)
    SELECT e.business_day, e.store_id, l.account, SUM(l.debit), SUM(l.credit)
    FROM journal_lines l JOIN journal_entries e ON e.entry_id = l.entry_id
    GROUP BY e.business_day, e.store_id, l.account;

-- The backlog: partial indexes over the accepted, not yet posted events only. Posting an event
-- takes it out of them (nothing inserted), and they stay as small as the backlog.
DROP INDEX events_status;
DROP INDEX events_partition_pending;
CREATE INDEX events_pending ON events (partition_no, "offset") WHERE status = 'accepted';
CREATE INDEX events_pending_since ON events (accepted_at) WHERE status = 'accepted';

-- Documents: a series' numbers are unique (gapless is checked against document_series).
CREATE UNIQUE INDEX documents_series ON documents (series, sequence);

-- Exceptions: listed by status or by store in id order, a page costing what it returns; and
-- open counts kept as exceptions open and close.
DROP INDEX exceptions_status;
CREATE INDEX exceptions_status ON exceptions (status, id);
CREATE INDEX exceptions_store ON exceptions (store_id, id);
CREATE TABLE open_exception_counts (
    store_id TEXT NOT NULL,  -- '' for exceptions of no store
    type     TEXT NOT NULL,
    open_count INTEGER NOT NULL,
    PRIMARY KEY (store_id, type)
) WITHOUT ROWID;
INSERT INTO open_exception_counts (store_id, type, open_count)
    SELECT COALESCE(store_id, ''), type, COUNT(*) FROM exceptions WHERE status = 'open'
    GROUP BY COALESCE(store_id, ''), type;

-- Incremental checks: the totals last verified, and up to where (posting order).
CREATE TABLE check_checkpoint (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    entry_id   INTEGER NOT NULL,
    move_id    INTEGER NOT NULL,
    checked_at TEXT NOT NULL
);
CREATE TABLE check_account_sums (
    store_id TEXT NOT NULL,
    account  TEXT NOT NULL,
    debit    INTEGER NOT NULL,
    credit   INTEGER NOT NULL,
    PRIMARY KEY (store_id, account)
) WITHOUT ROWID;
CREATE TABLE check_stock_sums (
    sku         TEXT NOT NULL,
    location_id TEXT NOT NULL,
    qty         INTEGER NOT NULL,
    value       INTEGER NOT NULL,
    PRIMARY KEY (sku, location_id)
) WITHOUT ROWID;
CREATE TABLE check_series (
    series      TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL
);
