-- Migration 0007: an event's identity is (store_id, event_id) (CONTRACT 2.1 section 1): the same
-- event_id may be used by two stores, and one store can never take or block another's ids.
-- Rejections now record the store they named, so a store reads back only its own. SQLite's
-- 0008 is the twin.
ALTER TABLE events DROP CONSTRAINT events_event_id_key;
ALTER TABLE events ADD CONSTRAINT events_store_event_key UNIQUE (store_id, event_id);

ALTER TABLE rejections ADD COLUMN store_id TEXT;
DROP INDEX rejections_event;
CREATE INDEX rejections_event ON rejections (event_id, store_id, id);

-- Fair posting across stores (CONTRACT section 15): each store's first event still to post, found
-- by skipping from store to store along this index, so that a flood from one store delays
-- another's events by one batch at most. Partial: an event leaves it when it posts, and the
-- batch path's events (stored as posted) never enter it.
CREATE INDEX events_pending_store ON events (partition_no, store_id, "offset") WHERE status = 'accepted';
