-- 0004: retention of history, and usage that outlives it (see migrations/0004 for the why).

ALTER TABLE executions ADD COLUMN cpu_ms DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE TABLE usage_slots (
    module_id         TEXT COLLATE "C" NOT NULL,   -- no FK: usage outlives its module
    slot              TIMESTAMPTZ NOT NULL,
    tenant_id         TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    executions        BIGINT NOT NULL DEFAULT 0,
    failures          BIGINT NOT NULL DEFAULT 0,
    webhooks          BIGINT NOT NULL DEFAULT 0,
    webhook_failures  BIGINT NOT NULL DEFAULT 0,
    cpu_ms            DOUBLE PRECISION NOT NULL DEFAULT 0,
    fetches           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (module_id, slot)
);
CREATE INDEX usage_slots_tenant ON usage_slots(tenant_id, slot);
CREATE INDEX usage_slots_slot ON usage_slots(slot);     -- pruning by age

-- Module storage in use, per module and UTC day: the last value the pruner saw that day.
CREATE TABLE usage_storage (
    module_id   TEXT COLLATE "C" NOT NULL,     -- no FK: usage outlives its module
    day         DATE NOT NULL,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    bytes       BIGINT NOT NULL,
    keys        BIGINT NOT NULL,
    PRIMARY KEY (module_id, day)
);
CREATE INDEX usage_storage_tenant ON usage_storage(tenant_id, day);

CREATE TABLE usage_cursor (
    module_id          TEXT COLLATE "C" PRIMARY KEY REFERENCES modules(id) ON DELETE CASCADE,
    rolled_to          TIMESTAMPTZ NOT NULL,
    kept               BIGINT NOT NULL DEFAULT 0,  -- rolled-up executions not pruned yet
    last_error_id      TEXT COLLATE "C",
    last_error_at      TIMESTAMPTZ,
    last_error         JSON
);
