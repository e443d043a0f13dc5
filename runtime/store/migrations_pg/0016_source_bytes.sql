-- 0016: the bytes of script source each module's versions hold, kept by a trigger, for the
-- tenant's quota on them (tenant_limits.max_source_bytes, runtime/operations/caps.py):
-- PostgreSQL flavour of migrations/0016_source_bytes.sql. A row per module (deleting a module
-- takes it along); a tenant's total is the sum over its modules' rows, read once per upload
-- under the tenant's cap lock (runtime/store/locks.py), so two uploads at once never both
-- pass a total only one of them fits under. Bytes are UTF-8 bytes (octet_length).

CREATE TABLE source_bytes (
    module_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES modules(id) ON DELETE CASCADE,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    bytes       BIGINT NOT NULL
);
CREATE INDEX source_bytes_tenant ON source_bytes(tenant_id);

INSERT INTO source_bytes (module_id, tenant_id, bytes)
    SELECT v.module_id, m.tenant_id, sum(octet_length(v.source))
    FROM script_versions v JOIN modules m ON m.id = v.module_id
    GROUP BY v.module_id, m.tenant_id;

CREATE FUNCTION voip_version_sized() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO source_bytes (module_id, tenant_id, bytes)
            SELECT NEW.module_id, tenant_id, octet_length(NEW.source) FROM modules
            WHERE id = NEW.module_id
            ON CONFLICT (module_id) DO UPDATE
            SET bytes = source_bytes.bytes + excluded.bytes;
    ELSE
        UPDATE source_bytes SET bytes = bytes - octet_length(OLD.source)
            WHERE module_id = OLD.module_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER versions_sized AFTER INSERT OR DELETE ON script_versions
    FOR EACH ROW EXECUTE FUNCTION voip_version_sized();
