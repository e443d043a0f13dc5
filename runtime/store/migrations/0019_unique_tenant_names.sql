-- 0019: a tenant's name is its own. Two tenants could share one, and the operator, who tells
-- tenants apart by name (GET /api/v1/tenants, the logs), could delete or give a key to the
-- wrong one. From now on the index refuses a taken name (the API answers 409).
-- An install that already has tenants sharing a name keeps the oldest's name as it is; each
-- later one gets its id after its name, `acme (ten_01jf...)`, a name no other tenant holds
-- unless an operator typed that very text. Nothing else changes: ids, keys and data stay.

CREATE TEMP TABLE renamed_tenants AS
    SELECT id, name || ' (' || id || ')' AS new_name FROM (
        SELECT id, name, row_number() OVER (PARTITION BY name ORDER BY created_at, id) AS n
        FROM tenants) ranked
    WHERE n > 1;

UPDATE tenants SET name = (SELECT new_name FROM renamed_tenants r WHERE r.id = tenants.id)
    WHERE id IN (SELECT id FROM renamed_tenants);

DROP TABLE renamed_tenants;

CREATE UNIQUE INDEX tenants_name ON tenants(name);
