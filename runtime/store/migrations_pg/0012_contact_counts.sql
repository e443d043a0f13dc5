-- 0012: how many contacts each tenant has, kept by a trigger, for the cap on them
-- (tenant_limits.max_contacts, runtime/operations/caps.py): PostgreSQL flavour of
-- migrations/0012_contact_counts.sql. Reading this row costs one lookup where counting a
-- tenant's contacts would scan up to a million index entries for each new contact. A unit
-- adding contacts holds the tenant's cap lock (runtime/store/locks.py) before it reads the
-- count, so the row's lock taken by the trigger never makes two of them wait in a cycle.

CREATE TABLE contact_counts (
    tenant_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    contacts    BIGINT NOT NULL
);

INSERT INTO contact_counts (tenant_id, contacts)
    SELECT tenant_id, count(*) FROM contacts GROUP BY tenant_id;

CREATE FUNCTION voip_contact_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO contact_counts (tenant_id, contacts) VALUES (NEW.tenant_id, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET contacts = contact_counts.contacts + 1;
    ELSE
        UPDATE contact_counts SET contacts = contacts - 1 WHERE tenant_id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER contacts_counted AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION voip_contact_counted();
