-- Table for table the same as ../sqlite/0003_lookups_and_children.sql; only
-- the JSON type differs.

-- A document made inside another (a certificate of an export application):
-- the parent's id, NULL for documents that stand alone.
ALTER TABLE documents ADD COLUMN parent_id TEXT;
CREATE INDEX documents_by_parent ON documents (parent_id);

-- Records of outside systems that documents are pre-filled from (the
-- inspection e-ledger), imported in bulk and read by key. source: the
-- bundle's document type describing the records; record_key: the value of
-- its key field (检验检疫编号). Not scoped to an enterprise here: who may
-- use a record is the bundle's rule, checked when it is looked up.
CREATE TABLE lookup_records (
    source      TEXT NOT NULL,
    record_key  TEXT NOT NULL,
    data        JSONB NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (source, record_key)
);
