-- Migration 0006: the audit log (CONTRACT section 15): every change of master data, tokens and
-- the exception workflow, with the acting token's id, the time, and the entry before and after
-- (JSON). Append-only. SQLite's 0007 is the twin.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    before  TEXT,
    after   TEXT
);
