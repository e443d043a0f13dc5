-- 0016: the bytes of script source each module's versions hold, kept by triggers, for the
-- tenant's quota on them (tenant_limits.max_source_bytes, runtime/operations/caps.py). The
-- caps on modules and versions bound their counts, not what they weigh: 200 modules x 5,000
-- versions x 64 KiB is 64 GB from one key. A row per module, not per tenant: deleting a module
-- takes its row with it (ON DELETE CASCADE), whatever order the cascade deletes its versions
-- in; a tenant's total is the sum over its modules' rows (at most tenant_limits.max_modules),
-- read once per upload, never on a webhook. Triggers, not the store's code, keep it, so every
-- path that adds or deletes a version (the API, the console, tenant deletion, a restore)
-- keeps it right. Bytes are UTF-8 bytes (CAST AS BLOB), as the 64 KiB limit counts them.

CREATE TABLE source_bytes (
    module_id   TEXT PRIMARY KEY REFERENCES modules(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    bytes       INTEGER NOT NULL
);
CREATE INDEX source_bytes_tenant ON source_bytes(tenant_id);

INSERT INTO source_bytes (module_id, tenant_id, bytes)
    SELECT v.module_id, m.tenant_id, sum(length(CAST(v.source AS BLOB)))
    FROM script_versions v JOIN modules m ON m.id = v.module_id
    GROUP BY v.module_id, m.tenant_id;

CREATE TRIGGER versions_sized_in AFTER INSERT ON script_versions BEGIN
    INSERT INTO source_bytes (module_id, tenant_id, bytes)
        SELECT NEW.module_id, tenant_id, length(CAST(NEW.source AS BLOB)) FROM modules
        WHERE id = NEW.module_id
        ON CONFLICT (module_id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER versions_sized_out AFTER DELETE ON script_versions BEGIN
    UPDATE source_bytes SET bytes = bytes - length(CAST(OLD.source AS BLOB))
        WHERE module_id = OLD.module_id;
END;
