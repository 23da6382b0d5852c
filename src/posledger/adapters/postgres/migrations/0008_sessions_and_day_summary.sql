-- Migration 0008: what the day summary (CONTRACT 2.1 section 11) and the integrator's reads
-- (section 16) need. A register session keeps when it opened and closed (the Z-report's
-- opened_at and closed_at; empty for sessions posted before this release) and the event that
-- opened it. Sessions and
-- documents are read by store and business day. A rejection keeps every field error, not only
-- the first (section 7). SQLite's 0009 is the twin.
ALTER TABLE register_sessions ADD COLUMN opened_at TEXT;
ALTER TABLE register_sessions ADD COLUMN closed_at TEXT;
-- The event that opened a session is part of its key: a reused session id is another session.
ALTER TABLE register_sessions ADD COLUMN open_event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE register_sessions DROP CONSTRAINT register_sessions_pkey;
ALTER TABLE register_sessions ADD PRIMARY KEY (register_id, session_id, open_event_id);
CREATE INDEX register_sessions_day ON register_sessions (store_id, business_day, register_id, opened_at);
CREATE INDEX register_sessions_register ON register_sessions (register_id, opened_at, session_id, open_event_id);
CREATE INDEX documents_store_day ON documents (store_id, business_day, series, sequence);
CREATE INDEX exceptions_store_day ON exceptions (store_id, business_day, type, status);
ALTER TABLE rejections ADD COLUMN errors TEXT;

-- The day summary's tenders and taxes by rate, kept at posting as the balances are (its cost is
-- the day's keys, not its documents), filled in here for the days already posted.
CREATE TABLE daily_tenders (
    store_id     TEXT NOT NULL,
    business_day TEXT NOT NULL,
    tender       TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    PRIMARY KEY (store_id, business_day, tender)
);
CREATE TABLE daily_taxes (
    store_id     TEXT NOT NULL,
    business_day TEXT NOT NULL,
    tax_code     TEXT NOT NULL,
    rate         TEXT NOT NULL,
    taxable      BIGINT NOT NULL,
    tax          BIGINT NOT NULL,
    PRIMARY KEY (store_id, business_day, tax_code, rate)
);
INSERT INTO daily_tenders (store_id, business_day, tender, amount)
    SELECT e.store_id, e.business_day, CASE l.account WHEN '1000' THEN 'cash' WHEN '1100' THEN 'card'
           WHEN '1110' THEN 'wallet' WHEN '2200' THEN 'gift_card' ELSE 'on_account' END, SUM(l.debit - l.credit)
    FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.entry_id
    JOIN events ev ON ev."offset" = e.event_offset
    WHERE l.account IN ('1000', '1100', '1110', '2200', '1200')
      AND ev.type IN ('sale.completed', 'order.fulfilled', 'return.completed', 'exchange.completed', 'sale.voided')
    GROUP BY 1, 2, 3;
INSERT INTO daily_taxes (store_id, business_day, tax_code, rate, taxable, tax)
    SELECT d.store_id, d.business_day, j->>'tax_code', j->>'rate',
           SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * (j->>'net')::bigint),
           SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * (j->>'tax')::bigint)
    FROM documents d CROSS JOIN LATERAL jsonb_array_elements(CASE jsonb_typeof(d.body::jsonb -> 'lines') WHEN 'array' THEN d.body::jsonb -> 'lines'
                                                ELSE '[]'::jsonb END) j
    WHERE COALESCE(j->>'tax_code', '') <> ''
    GROUP BY 1, 2, 3, 4;
