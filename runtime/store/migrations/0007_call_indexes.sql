-- 0007: the calls' indexes fitted to the statements that read them.
--
-- calls_client (tenant_id, client_phone_normalized) goes. No statement reads through it:
-- the one query on that column (a call list filtered by phone, and the live page's recent
-- calls per number) matches the number as given, normalised or on either side in one OR,
-- which no single-column index serves; both databases plan it on calls_tenant. Every new
-- call still paid for keeping it, one index write per webhook that opens a call.
--
-- calls_open_numbers holds only the calls still open. A webhook without its provider's call
-- id (and a new call's first event) looks for an open call with the same numbers; through
-- calls_numbers that read visited every call the two numbers ever had, ended or not, so a
-- frequent caller's webhooks got slower month by month. Open calls are few at any time.

DROP INDEX calls_client;
CREATE INDEX calls_open_numbers ON calls(module_id, src_phone, dst_phone, created_at)
    WHERE state <> 'ended';
