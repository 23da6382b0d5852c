-- Migration 0008: an event's identity is (store_id, event_id) (CONTRACT 2.1 section 1): the same
-- event_id may be used by two stores, and one store can never take or block another's ids.
-- SQLite cannot drop a column's UNIQUE constraint, so the log is rebuilt with its rows, offsets
-- and indexes as they were. Rejections now record the store they named, so a store reads back
-- only its own. PostgreSQL's 0007 is the twin.
CREATE TABLE events_v8 (
    "offset"     INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    type         TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    register_id  TEXT,
    seq          INTEGER,
    occurred_at  TEXT NOT NULL,
    body         TEXT NOT NULL,
    body_hash    TEXT NOT NULL,
    accepted_at  TEXT NOT NULL,
    source       TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'accepted',
    partition_no INTEGER NOT NULL DEFAULT 0,
    posted_at    TEXT,                         -- when its posting (or parking) committed
    UNIQUE (store_id, event_id)
);
INSERT INTO events_v8 ("offset", event_id, type, store_id, register_id, seq, occurred_at, body, body_hash,
                       accepted_at, source, status, partition_no, posted_at)
    SELECT "offset", event_id, type, store_id, register_id, seq, occurred_at, body, body_hash,
           accepted_at, source, status, partition_no, posted_at
    FROM events ORDER BY "offset";
DROP TABLE events;
ALTER TABLE events_v8 RENAME TO events;
CREATE INDEX events_store ON events (store_id, "offset");
CREATE INDEX events_pending ON events (partition_no, "offset") WHERE status = 'accepted';
CREATE INDEX events_pending_since ON events (accepted_at) WHERE status = 'accepted';

ALTER TABLE rejections ADD COLUMN store_id TEXT;
DROP INDEX rejections_event;
CREATE INDEX rejections_event ON rejections (event_id, store_id, id);

-- Fair posting across stores (CONTRACT section 15): each store's first event still to post, found
-- by skipping from store to store along this index, so that a flood from one store delays
-- another's events by one batch at most. Partial: an event leaves it when it posts, and the
-- batch path's events (stored as posted) never enter it.
CREATE INDEX events_pending_store ON events (partition_no, store_id, "offset") WHERE status = 'accepted';
