-- 0001: the initial schema, PostgreSQL flavour of migrations/0001_init.sql (same tables, same
-- columns, same meaning; only the types differ).
-- Ids are prefixed ULID-like text (runtime/ids.py). Text that is ordered or compared is
-- COLLATE "C" so that order is byte order, as in SQLite, whatever the database's locale.
-- Times are timestamptz holding milliseconds; JSON columns are `json` (kept as written: key
-- order and number spelling survive, unlike jsonb). Storage keys are bytea: opaque strings
-- that may hold any character, NUL included, which PostgreSQL text cannot.

CREATE TABLE tenants (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash    TEXT COLLATE "C" NOT NULL UNIQUE,   -- sha256 hex of the secret
    prefix      TEXT NOT NULL,                      -- visible part, for listings
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE modules (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    tenant_id          TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name               TEXT COLLATE "C" NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    region             TEXT NOT NULL,
    settings           JSON NOT NULL DEFAULT '{}',
    secrets            JSON NOT NULL DEFAULT '[]',
    allowlist          JSON NOT NULL DEFAULT '[]',
    webhook_token      TEXT COLLATE "C" NOT NULL UNIQUE,
    active_version_id  TEXT COLLATE "C",        -- FK added below (the tables name each other)
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT modules_tenant_name UNIQUE (tenant_id, name)
);

CREATE TABLE script_versions (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    module_id          TEXT COLLATE "C" NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    number             INTEGER NOT NULL,
    source             TEXT NOT NULL,
    sha256             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    created_by_key_id  TEXT COLLATE "C" REFERENCES api_keys(id) ON DELETE SET NULL,
    base_version_id    TEXT COLLATE "C" REFERENCES script_versions(id) ON DELETE SET NULL,
    CONSTRAINT script_versions_number UNIQUE (module_id, number)
);

-- NO ACTION is checked at the end of the statement: deleting a module (which cascades to its
-- versions) passes, since the module row is gone by then.
ALTER TABLE modules ADD CONSTRAINT modules_active_version
    FOREIGN KEY (active_version_id) REFERENCES script_versions(id);

CREATE TABLE users (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT COLLATE "C" NOT NULL,
    email       TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_tenant_name UNIQUE (tenant_id, name)  -- module.yaml binds by user name
);

CREATE TABLE user_tokens (
    id          TEXT COLLATE "C" PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT COLLATE "C" NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX user_tokens_user ON user_tokens(user_id);

CREATE TABLE bindings (
    module_id   TEXT COLLATE "C" NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    member_id   TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (module_id, member_id)
);
CREATE INDEX bindings_user ON bindings(user_id);

CREATE TABLE contacts (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX contacts_tenant ON contacts(tenant_id, id);

CREATE TABLE contact_phones (
    contact_id  TEXT COLLATE "C" NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    position    INTEGER NOT NULL,
    raw         TEXT NOT NULL,
    normalized  TEXT COLLATE "C",                -- E.164; NULL when raw is not a number
    PRIMARY KEY (contact_id, position)
);
CREATE INDEX contact_phones_lookup ON contact_phones(tenant_id, normalized);

CREATE TABLE calls (
    id                       TEXT COLLATE "C" PRIMARY KEY,
    tenant_id                TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    module_id                TEXT COLLATE "C" NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    provider_call_id         TEXT COLLATE "C",
    direction                TEXT COLLATE "C" NOT NULL,
    state                    TEXT NOT NULL CHECK (state IN ('ringing', 'answered', 'ended')),
    disposition              TEXT NOT NULL,
    src_phone                TEXT COLLATE "C" NOT NULL,
    src_phone_ext            TEXT COLLATE "C",
    dst_phone                TEXT COLLATE "C" NOT NULL,
    dst_phone_ext            TEXT COLLATE "C",
    client_phone             TEXT COLLATE "C",
    client_phone_normalized  TEXT COLLATE "C",
    contact_id               TEXT COLLATE "C" REFERENCES contacts(id) ON DELETE SET NULL,
    duration                 DOUBLE PRECISION,
    record_call              JSON,               -- NULL = no recording
    has_record               BOOLEAN NOT NULL DEFAULT FALSE,
    created_at               TIMESTAMPTZ NOT NULL,
    answered_at              TIMESTAMPTZ,
    ended_at                 TIMESTAMPTZ,
    updated_at               TIMESTAMPTZ NOT NULL
);
-- A provider's call id names one call of the module (acting finds it in any state before it
-- would create one). Unique here as a backstop behind the module lock that acting units take.
CREATE UNIQUE INDEX calls_provider_id ON calls(module_id, provider_call_id)
    WHERE provider_call_id IS NOT NULL;
-- Matching an event without callId: the calls with these numbers (open ones, or recently
-- ended ones for an end event or a record arriving after the end).
CREATE INDEX calls_numbers ON calls(module_id, src_phone, dst_phone, ended_at);
CREATE INDEX calls_tenant ON calls(tenant_id, created_at);
CREATE INDEX calls_client ON calls(tenant_id, client_phone_normalized);

CREATE TABLE call_events (
    id             TEXT COLLATE "C" PRIMARY KEY,
    call_id        TEXT COLLATE "C" NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind           TEXT COLLATE "C" NOT NULL,
    direction      TEXT COLLATE "C" NOT NULL,
    src_phone      TEXT COLLATE "C" NOT NULL,
    src_phone_ext  TEXT COLLATE "C",
    dst_phone      TEXT COLLATE "C" NOT NULL,
    dst_phone_ext  TEXT COLLATE "C",
    payload        JSON NOT NULL,
    effect         TEXT NOT NULL CHECK (effect IN ('applied', 'repeat', 'late')),
    received_at    TIMESTAMPTZ NOT NULL,
    execution_id   TEXT COLLATE "C"
);
CREATE INDEX call_events_call ON call_events(call_id, id);

CREATE TABLE call_notified (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- SQLite's rowid
    call_id     TEXT COLLATE "C" NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    phone       TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" REFERENCES users(id) ON DELETE CASCADE,  -- NULL: no binding
    kind        TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'ended')),
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX call_notified_call ON call_notified(call_id, seq);

CREATE TABLE activity (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id  TEXT COLLATE "C" REFERENCES contacts(id) ON DELETE SET NULL,
    call_id     TEXT COLLATE "C" NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    data        JSON NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT activity_one_per_call UNIQUE (call_id)
);
CREATE INDEX activity_contact ON activity(tenant_id, contact_id, created_at);

CREATE TABLE notifications (
    -- seq orders a user's notifications for catch-up ("everything after the one I saw").
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    call_id     TEXT COLLATE "C" NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'ended')),
    payload     JSON NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX notifications_user ON notifications(user_id, seq);
CREATE INDEX notifications_call ON notifications(call_id);

CREATE TABLE executions (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    module_id       TEXT COLLATE "C" NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    version_id      TEXT COLLATE "C",            -- no FK: the log outlives nothing it names
    function        TEXT COLLATE "C" NOT NULL,
    outcome         TEXT NOT NULL
                    CHECK (outcome IN ('ok', 'error', 'invalid', 'limit', 'rejected')),
    error           JSON,
    limit_name      TEXT,
    logs            TEXT NOT NULL DEFAULT '',
    logs_truncated  BOOLEAN NOT NULL DEFAULT FALSE,
    duration_ms     DOUBLE PRECISION NOT NULL DEFAULT 0,
    request         JSON,
    result          JSON,
    effects         JSON,
    dry_run         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX executions_tenant ON executions(tenant_id, created_at);
CREATE INDEX executions_module ON executions(module_id, created_at);

CREATE TABLE storage (
    module_id   TEXT COLLATE "C" NOT NULL REFERENCES modules(id) ON DELETE CASCADE,
    key         BYTEA NOT NULL,                  -- UTF-8 of the script's key
    value       JSON NOT NULL,
    size        INTEGER NOT NULL,
    expires_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (module_id, key)
);
CREATE INDEX storage_expiry ON storage(expires_at) WHERE expires_at IS NOT NULL;

-- Running totals per module, so a write checks its quota without counting 100,000 rows.
CREATE TABLE storage_usage (
    module_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES modules(id) ON DELETE CASCADE,
    keys        BIGINT NOT NULL DEFAULT 0,
    bytes       BIGINT NOT NULL DEFAULT 0
);

-- Every node caches webhook token -> module + active version. Any change to a module, its
-- versions or its bindings, by whatever writer, tells every node (LISTEN) which module to
-- forget, when the change commits (NOTIFY is transactional; a rolled-back change says nothing).
-- The channel carries the schema's name so deployments sharing a database stay apart.
CREATE FUNCTION voip_module_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed_id text;
BEGIN
    IF TG_TABLE_NAME = 'modules' THEN
        changed_id := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSE
        changed_id := CASE WHEN TG_OP = 'DELETE' THEN OLD.module_id ELSE NEW.module_id END;
    END IF;
    -- At most 63 bytes: a schema name too long for that is replaced by its md5
    -- (PostgresStore.channel computes the same name).
    PERFORM pg_notify(CASE WHEN octet_length('voip_modules_' || TG_TABLE_SCHEMA) <= 63
                           THEN 'voip_modules_' || TG_TABLE_SCHEMA
                           ELSE 'voip_modules_' || md5(TG_TABLE_SCHEMA) END, changed_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER modules_changed AFTER INSERT OR UPDATE OR DELETE ON modules
    FOR EACH ROW EXECUTE FUNCTION voip_module_changed();
CREATE TRIGGER script_versions_changed AFTER INSERT OR UPDATE OR DELETE ON script_versions
    FOR EACH ROW EXECUTE FUNCTION voip_module_changed();
CREATE TRIGGER bindings_changed AFTER INSERT OR UPDATE OR DELETE ON bindings
    FOR EACH ROW EXECUTE FUNCTION voip_module_changed();
