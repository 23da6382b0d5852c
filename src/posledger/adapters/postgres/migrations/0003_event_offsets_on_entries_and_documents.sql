-- Migration 0003: journal entries and documents name their event by its log offset, as stock
-- moves already do, and documents are keyed by (series, sequence) alone (issue 7). SQLite's 0004
-- is the twin; see it for why. The number stays a column: series and sequence written out.

ALTER TABLE journal_entries ADD COLUMN event_offset BIGINT;
UPDATE journal_entries e SET event_offset = v."offset" FROM events v WHERE v.event_id = e.event_id;
ALTER TABLE journal_entries ALTER COLUMN event_offset SET NOT NULL;
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_event_id_entry_no_key;
-- One set of entries per event: (event_offset, entry_no) is unique.
CREATE UNIQUE INDEX journal_entries_event ON journal_entries (event_offset, entry_no);

ALTER TABLE documents ADD COLUMN event_offset BIGINT;
UPDATE documents d SET event_offset = v."offset" FROM events v WHERE v.event_id = d.event_id;
ALTER TABLE documents ALTER COLUMN event_offset SET NOT NULL;
ALTER TABLE documents DROP CONSTRAINT documents_pkey;
DROP INDEX documents_event;
CREATE INDEX documents_event ON documents (event_offset);
