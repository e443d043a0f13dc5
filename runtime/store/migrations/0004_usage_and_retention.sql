-- 0004: retention of history, and usage that outlives it.
-- An execution records the CPU time its worker spent on it (0 for calls stopped from outside
-- the worker: pool kills, refusals). Executions are rolled up, module by module, into
-- ten-minute usage slots before the pruner may delete them (runtime/retention.py), so the
-- usage page and the modules' health survive the execution log's retention period; module
-- storage in use is kept per day the same way. Usage rows name their module without a foreign
-- key: a tenant's usage stays when a module is deleted.

ALTER TABLE executions ADD COLUMN cpu_ms REAL NOT NULL DEFAULT 0;

CREATE TABLE usage_slots (
    module_id         TEXT NOT NULL,              -- no FK: usage outlives its module
    slot              TEXT NOT NULL,              -- the slot's start (a multiple of 10 min)
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    executions        INTEGER NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0,  -- outcome other than ok
    webhooks          INTEGER NOT NULL DEFAULT 0,  -- VoipParseWebhookRequest, not dry runs
    webhook_failures  INTEGER NOT NULL DEFAULT 0,
    cpu_ms            REAL NOT NULL DEFAULT 0,
    fetches           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (module_id, slot)
);
CREATE INDEX usage_slots_tenant ON usage_slots(tenant_id, slot);
CREATE INDEX usage_slots_slot ON usage_slots(slot);     -- pruning by age

-- Module storage in use, per module and UTC day: the last value the pruner saw that day.
CREATE TABLE usage_storage (
    module_id   TEXT NOT NULL,                     -- no FK: usage outlives its module
    day         TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    bytes       INTEGER NOT NULL,
    keys        INTEGER NOT NULL,
    PRIMARY KEY (module_id, day)
);
CREATE INDEX usage_storage_tenant ON usage_storage(tenant_id, day);

-- Per module: every execution created before rolled_to is counted in usage_slots (and only
-- those may be pruned); the last failure seen by the roll-up, kept after its row is pruned.
CREATE TABLE usage_cursor (
    module_id          TEXT PRIMARY KEY REFERENCES modules(id) ON DELETE CASCADE,
    rolled_to          TEXT NOT NULL,
    kept               INTEGER NOT NULL DEFAULT 0,  -- rolled-up executions not pruned yet
    last_error_id      TEXT,
    last_error_at      TEXT,
    last_error         TEXT                        -- JSON: the execution's error
);
