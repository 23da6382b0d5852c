-- Migration 0004: journal entries and documents name their event by its log offset (an integer
-- in acceptance order) as stock moves already do, and documents are keyed by (series, sequence)
-- alone (issue 7; docs/decisions/0003-posting-throughput.md). The text keys these replace took
-- an insert at one of a few hundred places per batch (each register's event ids), so a batch of
-- 1,000 sales dirtied ~1,050 pages of them at 200,000 events; keys in offset order append at the
-- end of their tree. The number stays a column: it is series and sequence written out
-- ("S001-INV-00000042"), so (series, sequence) being unique makes it unique too.
-- PostgreSQL's 0003 is the twin.

CREATE TABLE journal_entries_v4 (
    entry_id     INTEGER PRIMARY KEY,  -- handed out in posting order (never reused: entries are never deleted)
    event_offset INTEGER NOT NULL,
    event_id     TEXT NOT NULL,
    entry_no     INTEGER NOT NULL,
    store_id     TEXT NOT NULL,
    business_day TEXT NOT NULL,
    register_id  TEXT,
    memo         TEXT NOT NULL
);
INSERT INTO journal_entries_v4 (entry_id, event_offset, event_id, entry_no, store_id, business_day, register_id, memo)
    SELECT e.entry_id, v."offset", e.event_id, e.entry_no, e.store_id, e.business_day, e.register_id, e.memo
    FROM journal_entries e JOIN events v ON v.event_id = e.event_id
    ORDER BY e.entry_id;
DROP TABLE journal_entries;
ALTER TABLE journal_entries_v4 RENAME TO journal_entries;
-- One set of entries per event: (event_offset, entry_no) is unique.
CREATE UNIQUE INDEX journal_entries_event ON journal_entries (event_offset, entry_no);
CREATE INDEX journal_entries_store_day ON journal_entries (store_id, business_day, entry_id);

CREATE TABLE documents_v4 (
    series          TEXT NOT NULL,
    sequence        INTEGER NOT NULL,
    number          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    store_id        TEXT NOT NULL,
    event_offset    INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    business_day    TEXT NOT NULL,
    original_number TEXT,
    total           INTEGER NOT NULL,
    tax             INTEGER NOT NULL,
    body            TEXT NOT NULL
);
INSERT INTO documents_v4 (series, sequence, number, kind, store_id, event_offset, event_id, business_day,
                          original_number, total, tax, body)
    SELECT d.series, d.sequence, d.number, d.kind, d.store_id, v."offset", d.event_id, d.business_day,
           d.original_number, d.total, d.tax, d.body
    FROM documents d JOIN events v ON v.event_id = d.event_id
    ORDER BY v."offset", d.number;
DROP TABLE documents;
ALTER TABLE documents_v4 RENAME TO documents;
-- Gapless numbers per series are checked against document_series; here each number once.
CREATE UNIQUE INDEX documents_series ON documents (series, sequence);
CREATE INDEX documents_event ON documents (event_offset);

CREATE TABLE sales_v4 (
    store_id       TEXT NOT NULL,
    receipt_no     TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    business_day   TEXT NOT NULL,
    register_id    TEXT,
    invoice_number TEXT,
    total          INTEGER NOT NULL,
    tax            INTEGER NOT NULL,
    cash           INTEGER NOT NULL,
    lines          TEXT NOT NULL,
    voided         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (store_id, receipt_no)
);
INSERT INTO sales_v4 SELECT * FROM sales;
DROP TABLE sales;
ALTER TABLE sales_v4 RENAME TO sales;
