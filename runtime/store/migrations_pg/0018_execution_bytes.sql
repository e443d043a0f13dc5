-- 0018: the bytes of captured text each module's rolled-up executions keep, for the
-- execution log's byte budget: PostgreSQL flavour of migrations/0018_execution_bytes.sql.
-- Bytes are those of the columns' text (octet_length), as on SQLite.

ALTER TABLE usage_cursor ADD COLUMN kept_bytes BIGINT NOT NULL DEFAULT 0;

UPDATE usage_cursor SET kept_bytes = COALESCE((
    SELECT sum(COALESCE(octet_length(e.request::text), 0)
               + COALESCE(octet_length(e.result::text), 0)
               + COALESCE(octet_length(e.effects::text), 0)
               + COALESCE(octet_length(e.error::text), 0)
               + octet_length(e.logs))
    FROM executions e
    WHERE e.module_id = usage_cursor.module_id AND e.created_at < usage_cursor.rolled_to), 0);
