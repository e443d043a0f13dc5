-- 0012: how many contacts each tenant has, kept by triggers, for the cap on them
-- (tenant_limits.max_contacts, runtime/operations/caps.py). A missed call from a new number
-- creates a contact, on the webhook's unit, while it holds the single writer: counting a
-- tenant's contacts there would cost a scan of up to a million index entries per new
-- contact; reading this row costs one lookup. Triggers, not the store's code, keep it, so
-- every path that adds or deletes a contact (acting, the API, merges, tenant deletion)
-- keeps it right.

CREATE TABLE contact_counts (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    contacts    INTEGER NOT NULL
);

INSERT INTO contact_counts (tenant_id, contacts)
    SELECT tenant_id, count(*) FROM contacts GROUP BY tenant_id;

CREATE TRIGGER contacts_counted_in AFTER INSERT ON contacts BEGIN
    INSERT INTO contact_counts (tenant_id, contacts) VALUES (NEW.tenant_id, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET contacts = contacts + 1;
END;

CREATE TRIGGER contacts_counted_out AFTER DELETE ON contacts BEGIN
    UPDATE contact_counts SET contacts = contacts - 1 WHERE tenant_id = OLD.tenant_id;
END;
