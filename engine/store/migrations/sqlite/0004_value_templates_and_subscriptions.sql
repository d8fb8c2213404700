-- Table for table the same as ../postgres/0004_value_templates_and_subscriptions.sql;
-- only the JSON type differs.

-- Named sets of field values an enterprise's users start documents from
-- (初始值模板). scope: 'enterprise' (every user of the enterprise) or
-- 'creator' (only created_by, a card number).
CREATE TABLE value_templates (
    id         TEXT PRIMARY KEY NOT NULL,
    enterprise TEXT NOT NULL,
    doctype    TEXT NOT NULL,
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('enterprise', 'creator')),
    created_by TEXT NOT NULL,
    data       TEXT NOT NULL CHECK (json_valid(data)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX value_templates_by_name ON value_templates (enterprise, doctype, name);

-- Where an enterprise wants status changes of its documents pushed (订阅推送):
-- kind 'webhook' (target: an http(s) URL) or 'email' (target: an address).
CREATE TABLE subscriptions (
    id         TEXT PRIMARY KEY NOT NULL,
    enterprise TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_by_target ON subscriptions (enterprise, kind, target);
