-- Migration 0009: what the day summary (CONTRACT 2.1 section 11) and the integrator's reads
-- (section 16) need. A register session keeps when it opened and closed (the Z-report's
-- opened_at and closed_at; empty for sessions posted before this release). Sessions and
-- documents are read by store and business day. A rejection keeps every field error, not only
-- the first (section 7). PostgreSQL's 0008 is the twin.
ALTER TABLE register_sessions ADD COLUMN opened_at TEXT;
ALTER TABLE register_sessions ADD COLUMN closed_at TEXT;
CREATE INDEX register_sessions_day ON register_sessions (store_id, business_day, register_id, opened_at);
CREATE INDEX register_sessions_register ON register_sessions (register_id, opened_at, session_id);
CREATE INDEX documents_store_day ON documents (store_id, business_day, series, sequence);
CREATE INDEX exceptions_store_day ON exceptions (store_id, business_day, type);
ALTER TABLE rejections ADD COLUMN errors TEXT;
