-- 0007: calls_client (tenant_id, client_phone_normalized) goes. No statement reads through it:
-- the one query on that column (a call list filtered by phone, and the live page's recent
-- calls per number) matches the number as given, normalised or on either side in one OR,
-- which no single-column index serves; both databases plan it on calls_tenant. Every new
-- call still paid for keeping it, one index write per webhook that opens a call.

DROP INDEX calls_client;
