-- Migration 0009: what the day summary (CONTRACT 2.1 section 11) and the integrator's reads
-- (section 16) need. A register session keeps when it opened and closed (the Z-report's
-- opened_at and closed_at; empty for sessions posted before this release) and the event that
-- opened it, part of its key: a POS that reuses a session id opens another session, and a
-- closed one never changes. SQLite cannot change a primary key, so the table is rebuilt.
-- Sessions and documents are read by store and business day. A rejection keeps every field
-- error, not only the first (section 7). PostgreSQL's 0008 is the twin.
CREATE TABLE register_sessions_v9 (
    register_id   TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    open_event_id TEXT NOT NULL DEFAULT '',
    store_id      TEXT NOT NULL,
    business_day  TEXT,
    status        TEXT NOT NULL,
    opening_float INTEGER NOT NULL,
    cash_sales    INTEGER NOT NULL,
    cash_refunds  INTEGER NOT NULL,
    float_adds    INTEGER NOT NULL,
    drops         INTEGER NOT NULL,
    paid_outs     INTEGER NOT NULL,
    expected      INTEGER NOT NULL,
    counted       INTEGER,
    over_short    INTEGER,
    approved_by   TEXT,
    opened_at     TEXT,
    closed_at     TEXT,
    PRIMARY KEY (register_id, session_id, open_event_id)
);
INSERT INTO register_sessions_v9 (register_id, session_id, store_id, business_day, status, opening_float,
                                  cash_sales, cash_refunds, float_adds, drops, paid_outs, expected, counted,
                                  over_short, approved_by)
    SELECT register_id, session_id, store_id, business_day, status, opening_float, cash_sales, cash_refunds,
           float_adds, drops, paid_outs, expected, counted, over_short, approved_by
    FROM register_sessions;
DROP TABLE register_sessions;
ALTER TABLE register_sessions_v9 RENAME TO register_sessions;
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
    amount       INTEGER NOT NULL,
    PRIMARY KEY (store_id, business_day, tender)
) WITHOUT ROWID;
CREATE TABLE daily_taxes (
    store_id     TEXT NOT NULL,
    business_day TEXT NOT NULL,
    tax_code     TEXT NOT NULL,
    rate         TEXT NOT NULL,
    taxable      INTEGER NOT NULL,
    tax          INTEGER NOT NULL,
    PRIMARY KEY (store_id, business_day, tax_code, rate)
) WITHOUT ROWID;
INSERT INTO daily_tenders (store_id, business_day, tender, amount)
    SELECT e.store_id, e.business_day, CASE l.account WHEN '1000' THEN 'cash' WHEN '1100' THEN 'card'
           WHEN '1110' THEN 'wallet' WHEN '2200' THEN 'gift_card' ELSE 'on_account' END, SUM(l.debit - l.credit)
    FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.entry_id
    JOIN events ev ON ev."offset" = e.event_offset
    WHERE l.account IN ('1000', '1100', '1110', '2200', '1200')
      AND ev.type IN ('sale.completed', 'order.fulfilled', 'return.completed', 'exchange.completed', 'sale.voided')
    GROUP BY 1, 2, 3;
INSERT INTO daily_taxes (store_id, business_day, tax_code, rate, taxable, tax)
    SELECT d.store_id, d.business_day, json_extract(j.value, '$.tax_code'), json_extract(j.value, '$.rate'),
           SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * json_extract(j.value, '$.net')),
           SUM(CASE d.kind WHEN 'credit_note' THEN -1 ELSE 1 END * json_extract(j.value, '$.tax'))
    FROM documents d, json_each(d.body, '$.lines') j
    WHERE COALESCE(json_extract(j.value, '$.tax_code'), '') <> ''
    GROUP BY 1, 2, 3, 4;
