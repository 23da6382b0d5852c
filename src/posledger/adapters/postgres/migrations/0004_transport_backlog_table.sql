-- Migration 0004: the transport's backlog (events accepted, not yet handed to NATS) in a narrow
-- table of its own instead of a flag on the wide events row (issue 7). Marking an event
-- published was an UPDATE of its whole row and a new version of it in every index (the flag
-- sat in a partial index's predicate, so the update could not be HOT); now the relay deletes a
-- row of three columns. SQLite's 0005 is the twin.
CREATE TABLE unpublished_events (
    "offset"     BIGINT PRIMARY KEY,
    event_id     TEXT NOT NULL,
    partition_no BIGINT NOT NULL
);
-- Only events still to post: a message only wakes the worker that posts them, and the flag was
-- 0 on every event accepted over HTTP whether a transport ran or not.
INSERT INTO unpublished_events ("offset", event_id, partition_no)
    SELECT "offset", event_id, partition_no FROM events WHERE published = 0 AND status = 'accepted'
    ORDER BY "offset";
DROP INDEX events_unpublished;
ALTER TABLE events DROP COLUMN published;
