-- 0018: the bytes of captured text (request, result, effects, error, logs) each module's
-- rolled-up executions keep, beside their count (`kept`), for the execution log's byte
-- budget (retention.executions_mib_per_module, runtime/store/retention.py). A row holds up
-- to EXECUTION_ROW_BOUND (about 321 KiB): the cap on rows alone let one module keep 31 GiB.
-- The roll-up adds each row's bytes as it counts it; the pruner subtracts what it deletes.
-- An existing install's figure is counted here once, from the log itself.

ALTER TABLE usage_cursor ADD COLUMN kept_bytes INTEGER NOT NULL DEFAULT 0;

UPDATE usage_cursor SET kept_bytes = COALESCE((
    SELECT sum(COALESCE(length(CAST(e.request AS BLOB)), 0)
               + COALESCE(length(CAST(e.result AS BLOB)), 0)
               + COALESCE(length(CAST(e.effects AS BLOB)), 0)
               + COALESCE(length(CAST(e.error AS BLOB)), 0)
               + length(CAST(e.logs AS BLOB)))
    FROM executions e
    WHERE e.module_id = usage_cursor.module_id AND e.created_at < usage_cursor.rolled_to), 0);
