-- Table for table the same as ../sqlite/0005_bundle_versions.sql; only the
-- binary and JSON types differ.

-- Every definition bundle that was active, so that a document keeps being
-- validated and laid out with the version it was made with, also after a
-- restart. Files are stored once by the SHA-256 of their content; a
-- version's manifest maps each bundle path to such a hash.
CREATE TABLE bundle_files (
    hash    TEXT PRIMARY KEY NOT NULL,
    content BYTEA NOT NULL
);

CREATE TABLE bundle_versions (
    hash         TEXT PRIMARY KEY NOT NULL,
    manifest     JSONB NOT NULL,
    activated_at BIGINT NOT NULL
);
