-- 0001: the initial schema.
-- Ids are prefixed ULID-like text (runtime/ids.py); timestamps are ISO-8601 UTC text with
-- milliseconds ('2025-03-04T10:15:02.123Z'), so text order is time order; JSON columns hold
-- compact JSON text. Written to stay close to what PostgreSQL will run (TEXT, INTEGER, REAL,
-- partial indexes), so the two schemas differ only in types.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash    TEXT NOT NULL UNIQUE,           -- sha256 hex of the secret
    prefix      TEXT NOT NULL,                  -- visible part, for listings
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE modules (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    region             TEXT NOT NULL,
    settings           TEXT NOT NULL DEFAULT '{}',
    secrets            TEXT NOT NULL DEFAULT '[]',
    allowlist          TEXT NOT NULL DEFAULT '[]',
    webhook_token      TEXT NOT NULL UNIQUE,
    active_version_id  TEXT REFERENCES script_versions(id),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE script_versions (
    id                 TEXT PRIMARY KEY,
    module_id          TEXT NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    number             INTEGER NOT NULL,
    source             TEXT NOT NULL,
    sha256             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    created_by_key_id  TEXT REFERENCES api_keys(id) ON DELETE SET NULL,
    base_version_id    TEXT REFERENCES script_versions(id) ON DELETE SET NULL,
    UNIQUE (module_id, number)
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    email       TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)   -- module.yaml binds members to users by name
);

CREATE TABLE user_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX user_tokens_user ON user_tokens(user_id);

CREATE TABLE bindings (
    module_id   TEXT NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (module_id, member_id)
);
CREATE INDEX bindings_user ON bindings(user_id);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX contacts_tenant ON contacts(tenant_id, id);

CREATE TABLE contact_phones (
    contact_id  TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    position    INTEGER NOT NULL,
    raw         TEXT NOT NULL,
    normalized  TEXT,                            -- E.164; NULL when raw is not a number
    PRIMARY KEY (contact_id, position)
);
CREATE INDEX contact_phones_lookup ON contact_phones(tenant_id, normalized);

CREATE TABLE calls (
    id                       TEXT PRIMARY KEY,
    tenant_id                TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    module_id                TEXT NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    provider_call_id         TEXT,
    direction                TEXT NOT NULL,
    state                    TEXT NOT NULL CHECK (state IN ('ringing', 'answered', 'ended')),
    disposition              TEXT NOT NULL,
    src_phone                TEXT NOT NULL,
    src_phone_ext            TEXT,
    dst_phone                TEXT NOT NULL,
    dst_phone_ext            TEXT,
    client_phone             TEXT,
    client_phone_normalized  TEXT,
    contact_id               TEXT REFERENCES contacts(id) ON DELETE SET NULL,
    duration                 REAL,
    record_call              TEXT,               -- JSON; NULL = no recording
    has_record               INTEGER NOT NULL DEFAULT 0,
    created_at               TEXT NOT NULL,
    answered_at              TEXT,
    ended_at                 TEXT,
    updated_at               TEXT NOT NULL
);
CREATE INDEX calls_provider_id ON calls(module_id, provider_call_id)
    WHERE provider_call_id IS NOT NULL;
-- Matching an event without callId: the calls with these numbers (open ones, or recently
-- ended ones for an end event or a record arriving after the end).
CREATE INDEX calls_numbers ON calls(module_id, src_phone, dst_phone, ended_at);
CREATE INDEX calls_tenant ON calls(tenant_id, created_at);
CREATE INDEX calls_client ON calls(tenant_id, client_phone_normalized);

CREATE TABLE call_events (
    id             TEXT PRIMARY KEY,
    call_id        TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    direction      TEXT NOT NULL,
    src_phone      TEXT NOT NULL,
    src_phone_ext  TEXT,
    dst_phone      TEXT NOT NULL,
    dst_phone_ext  TEXT,
    payload        TEXT NOT NULL,
    effect         TEXT NOT NULL CHECK (effect IN ('applied', 'repeat', 'late')),
    received_at    TEXT NOT NULL,
    execution_id   TEXT
);
CREATE INDEX call_events_call ON call_events(call_id, id);

CREATE TABLE call_notified (
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    user_id     TEXT REFERENCES users(id) ON DELETE CASCADE,   -- NULL: phone has no binding
    kind        TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'ended')),
    created_at  TEXT NOT NULL
);
CREATE INDEX call_notified_call ON call_notified(call_id);

CREATE TABLE activity (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id  TEXT REFERENCES contacts(id) ON DELETE SET NULL,
    call_id     TEXT NOT NULL UNIQUE REFERENCES calls(id) ON DELETE CASCADE,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX activity_contact ON activity(tenant_id, contact_id, created_at);

CREATE TABLE notifications (
    -- seq orders a user's notifications for catch-up ("everything after the one I saw").
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'ended')),
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX notifications_user ON notifications(user_id, seq);
CREATE INDEX notifications_call ON notifications(call_id);

CREATE TABLE executions (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    module_id       TEXT NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    version_id      TEXT,                       -- no FK: the log outlives nothing it names
    function        TEXT NOT NULL,
    outcome         TEXT NOT NULL
                    CHECK (outcome IN ('ok', 'error', 'invalid', 'limit', 'rejected')),
    error           TEXT,
    limit_name      TEXT,
    logs            TEXT NOT NULL DEFAULT '',
    logs_truncated  INTEGER NOT NULL DEFAULT 0,
    duration_ms     REAL NOT NULL DEFAULT 0,
    request         TEXT,
    result          TEXT,
    effects         TEXT,
    dry_run         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);
CREATE INDEX executions_tenant ON executions(tenant_id, created_at);
CREATE INDEX executions_module ON executions(module_id, created_at);

CREATE TABLE storage (
    module_id   TEXT NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    size        INTEGER NOT NULL,
    expires_at  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (module_id, key)
) WITHOUT ROWID;
CREATE INDEX storage_expiry ON storage(expires_at) WHERE expires_at IS NOT NULL;

-- Running totals per module, so a write checks its quota without counting 100,000 rows.
CREATE TABLE storage_usage (
    module_id   TEXT PRIMARY KEY REFERENCES modules(id) ON DELETE CASCADE,
    keys        INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0
);
