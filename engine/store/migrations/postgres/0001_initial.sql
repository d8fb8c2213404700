-- Table for table the same as ../sqlite/0001_initial.sql; only the
-- types differ: JSON is JSONB, bytes are BYTEA, generated ids are identity
-- columns. Times are Unix milliseconds (UTC) on both backends.

CREATE TABLE documents (
    id          TEXT PRIMARY KEY NOT NULL,
    doctype     TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    enterprise  TEXT NOT NULL,
    status      TEXT NOT NULL,
    unified_no  TEXT UNIQUE,
    customs_no  TEXT,
    business_no TEXT,
    data        JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX documents_by_type_status ON documents (enterprise, doctype, status);
CREATE INDEX documents_by_created ON documents (enterprise, created_at);
CREATE INDEX documents_by_updated ON documents (enterprise, updated_at);
CREATE INDEX documents_by_business_no ON documents (enterprise, business_no);
CREATE INDEX documents_by_customs_no ON documents (customs_no);

CREATE TABLE receipts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    code            TEXT NOT NULL,
    status          TEXT NOT NULL,
    detail          JSONB NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    received_at     BIGINT NOT NULL,
    UNIQUE (document_id, seq)
);

CREATE TABLE attachments (
    id          TEXT PRIMARY KEY NOT NULL,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    enterprise  TEXT NOT NULL,
    slot        TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX attachments_by_document ON attachments (document_id);

CREATE TABLE attachment_blobs (
    attachment_id TEXT PRIMARY KEY NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    bytes         BYTEA NOT NULL
);

-- No foreign key to documents: the trail outlives a deleted draft.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    enterprise  TEXT NOT NULL,
    document_id TEXT,
    action      TEXT NOT NULL,
    detail      JSONB NOT NULL
);
CREATE INDEX audit_log_by_document ON audit_log (document_id, id);
CREATE INDEX audit_log_by_enterprise ON audit_log (enterprise, id);

-- available_at doubles as the lease: a claimed message becomes available
-- again when its consumer neither acknowledges nor fails it in time.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic        TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   BIGINT NOT NULL,
    available_at BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    delivered_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (topic, available_at, id) WHERE delivered_at IS NULL;

CREATE TABLE number_counters (
    scheme      TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    last_serial BIGINT NOT NULL,
    PRIMARY KEY (scheme, prefix, year)
);
