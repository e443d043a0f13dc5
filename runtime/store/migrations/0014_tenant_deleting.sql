-- 0014: a tenant being deleted is marked first (runtime/tenant_removal.py). Deletion runs in
-- several units (the tenant's rows in batches, then the tenant row); one cut short (the
-- process stopped, the storage failed) left a tenant that was still listed, readable and
-- given new API keys, which then worked on a half-deleted tenant. The mark is set in the
-- unit that closes the tenant: from its commit on the tenant is hidden from the API and
-- refuses new work, and a node that starts finishes every marked tenant's deletion.

ALTER TABLE tenants ADD COLUMN deleting_at TEXT;
