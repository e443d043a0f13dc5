-- 0006: click-to-call's once-only rule (runtime/console/dial_once.py), shared by the nodes and
-- kept across restarts: one row per call form posted, keyed by a digest of the console session,
-- the form's one-time nonce and what it dialled (so neither the session id nor the number is
-- kept here). `answer` is what placing the call answered (JSON); NULL while the call is being
-- placed, and a row whose placing failed is deleted (trying again dials). The retention task
-- deletes rows older than a console session lives: no form of theirs can be posted any more.

CREATE TABLE dial_once (
    form_key    TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    answer      TEXT
);
CREATE INDEX dial_once_by_age ON dial_once (created_at);
