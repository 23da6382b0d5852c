-- Migration 0001: the initial schema, SQLite dialect (PostgreSQL's 0001 is its twin).
-- Statements say IF NOT EXISTS: databases made before versioned migrations recorded version 1
-- for exactly this schema.

-- The event log: append-only. "offset" is the acceptance order.
CREATE TABLE IF NOT EXISTS events (
    "offset"     INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
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
    published    INTEGER NOT NULL DEFAULT 0,  -- handed to the transport (NATS), when there is one
    posted_at    TEXT                          -- when its posting (or parking) committed
);
CREATE INDEX IF NOT EXISTS events_store ON events (store_id, "offset");
CREATE INDEX IF NOT EXISTS events_status ON events (status, accepted_at);
CREATE INDEX IF NOT EXISTS events_partition_pending ON events (partition_no, status, "offset");
CREATE INDEX IF NOT EXISTS events_unpublished ON events ("offset") WHERE published = 0;

CREATE TABLE IF NOT EXISTS rejections (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT,
    received_at  TEXT NOT NULL,
    problem_type TEXT NOT NULL,
    field        TEXT NOT NULL,
    detail       TEXT NOT NULL,
    source       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rejections_event ON rejections (event_id);

CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer TEXT PRIMARY KEY,
    "offset" INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS register_sequences (
    register_id TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL,
    high_seq    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sequence_gaps (
    register_id  TEXT NOT NULL,
    low          INTEGER NOT NULL,
    high         INTEGER NOT NULL,
    exception_id INTEGER NOT NULL,
    PRIMARY KEY (register_id, low)
);

CREATE TABLE IF NOT EXISTS parked_events (
    "offset"     INTEGER PRIMARY KEY,
    store_id     TEXT NOT NULL,
    partition_no INTEGER NOT NULL DEFAULT 0,
    wait_key     TEXT,
    exception_id INTEGER NOT NULL,
    ready        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS parked_wait ON parked_events (wait_key);

CREATE TABLE IF NOT EXISTS exceptions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    store_id     TEXT,
    register_id  TEXT,
    event_id     TEXT,
    business_day TEXT,
    detail       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    resolved_at  TEXT,
    resolved_by  TEXT,
    resolution   TEXT
);
CREATE INDEX IF NOT EXISTS exceptions_status ON exceptions (status, type);
CREATE INDEX IF NOT EXISTS exceptions_event ON exceptions (event_id);

-- The general ledger. One set of entries per event: (event_id, entry_no) is unique.
CREATE TABLE IF NOT EXISTS journal_entries (
    entry_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    entry_no     INTEGER NOT NULL,
    store_id     TEXT NOT NULL,
    business_day TEXT NOT NULL,
    register_id  TEXT,
    memo         TEXT NOT NULL,
    UNIQUE (event_id, entry_no)
);

-- Lines are clustered by their cause (event_id): a void or an event's status reads them in one
-- range; the trial balance and drill-down use the (store_id, business_day, account) index.
CREATE TABLE IF NOT EXISTS journal_lines (
    event_id     TEXT NOT NULL,
    entry_no     INTEGER NOT NULL,
    line_no      INTEGER NOT NULL,
    account      TEXT NOT NULL,
    debit        INTEGER NOT NULL,
    credit       INTEGER NOT NULL,
    store_id     TEXT NOT NULL,
    business_day TEXT NOT NULL,
    register_id  TEXT,
    PRIMARY KEY (event_id, entry_no, line_no)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS journal_lines_store_day ON journal_lines (store_id, business_day, account);

-- The stock ledger: moves, and the per-(SKU, location) position they sum to.
CREATE TABLE IF NOT EXISTS stock_moves (
    event_id     TEXT NOT NULL,
    move_no      INTEGER NOT NULL,
    sku          TEXT NOT NULL,
    location_id  TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    qty          INTEGER NOT NULL,
    value        INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    business_day TEXT NOT NULL,
    PRIMARY KEY (event_id, move_no)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS stock_positions (
    sku             TEXT NOT NULL,
    location_id     TEXT NOT NULL,
    store_id        TEXT NOT NULL,
    on_hand         INTEGER NOT NULL,
    value           INTEGER NOT NULL,
    last_cost_value INTEGER NOT NULL,
    last_cost_qty   INTEGER NOT NULL,
    PRIMARY KEY (sku, location_id)
) WITHOUT ROWID;

-- Invoices and credit notes: gapless numbers per series.
CREATE TABLE IF NOT EXISTS document_series (
    series      TEXT PRIMARY KEY,
    last_number INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS documents (
    number          TEXT PRIMARY KEY,
    series          TEXT NOT NULL,
    sequence        INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    store_id        TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    business_day    TEXT NOT NULL,
    original_number TEXT,
    total           INTEGER NOT NULL,
    tax             INTEGER NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_event ON documents (event_id);

-- What returns and voids need of a sale.
CREATE TABLE IF NOT EXISTS sales (
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
    PRIMARY KEY (store_id, receipt_no)
) WITHOUT ROWID;

-- Register cash drawers (current state) and their sessions (history).
CREATE TABLE IF NOT EXISTS drawers (
    register_id TEXT PRIMARY KEY,
    store_id    TEXT NOT NULL,
    state       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS register_sessions (
    register_id   TEXT NOT NULL,
    session_id    TEXT NOT NULL,
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
    PRIMARY KEY (register_id, session_id)
);

CREATE TABLE IF NOT EXISTS reservations (
    order_id    TEXT NOT NULL,
    sku         TEXT NOT NULL,
    location_id TEXT NOT NULL,
    qty         INTEGER NOT NULL,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (order_id, sku, location_id)
);
CREATE INDEX IF NOT EXISTS reservations_sku ON reservations (sku, location_id, status);

-- API tokens: only the SHA-256 of a token is kept.
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    store_id   TEXT,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);

-- Master data, versioned: every change bumps the catalog version.
CREATE TABLE IF NOT EXISTS master_data (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    body       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS master_data_version ON master_data (version);

CREATE TABLE IF NOT EXISTS catalog_version (
    id      INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO catalog_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
