-- 0019: a tenant's name is its own: PostgreSQL flavour of migrations/0019_unique_tenant_names.sql.
-- Tenants already sharing a name: the oldest keeps it, each later one gets its id after it,
-- `acme (ten_01jf...)` (a name no other tenant holds unless an operator typed that text).

UPDATE tenants t SET name = t.name || ' (' || t.id || ')'
    FROM (SELECT id, row_number() OVER (PARTITION BY name ORDER BY created_at, id) AS n
          FROM tenants) ranked
    WHERE ranked.id = t.id AND ranked.n > 1;

CREATE UNIQUE INDEX tenants_name ON tenants(name);
