-- Table for table the same as ../postgres/0002_accounts_and_meta.sql; only
-- the types differ (JSON is TEXT checked by json_valid). Times are Unix
-- milliseconds (UTC) on both backends.

-- Engine metadata beside the user's data: a customs notice's number, reason
-- and requirement, the signature record and the like.
ALTER TABLE documents ADD COLUMN meta TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(meta));

-- Lists for customs officers span all enterprises.
CREATE INDEX documents_all_by_created ON documents (created_at);
CREATE INDEX documents_all_by_updated ON documents (updated_at);

-- code: the 10-character customs code; credit_code: the 18-character
-- unified social credit code.
CREATE TABLE enterprises (
    code        TEXT PRIMARY KEY NOT NULL,
    credit_code TEXT NOT NULL,
    name_zh     TEXT NOT NULL,
    name_en     TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

-- An account is bound to an E-Port card (card_no) and, once registered, to
-- the card's certificate (cert_no, cert_pem; stored as given, never parsed
-- here). enterprise is NULL for customs officers. pin_hash is only for the
-- soft cards of development setups.
CREATE TABLE users (
    id         TEXT PRIMARY KEY NOT NULL,
    card_no    TEXT NOT NULL UNIQUE,
    cert_no    TEXT,
    cert_pem   TEXT,
    enterprise TEXT REFERENCES enterprises (code),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('enterprise', 'officer', 'admin')),
    pin_hash   TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_by_enterprise ON users (enterprise);

-- Server-side sessions, shared by all server instances. token_hash is the
-- SHA-256 (hex) of the cookie's token; the token itself is never stored.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Single-use nonces for the card's challenge-response login.
CREATE TABLE login_challenges (
    nonce      TEXT PRIMARY KEY NOT NULL,
    card_no    TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX login_challenges_by_expiry ON login_challenges (expires_at);
