-- 0008: nothing to do on PostgreSQL; the number keeps both backends' migrations in step.
--
-- SQLite's 0008 makes the calls' lookup indexes end with the columns the call scene's
-- lookups order by, so that SQLite stops sorting each lookup's rows in a temporary b-tree on
-- every webhook. PostgreSQL sorts a lookup's few rows in memory, and its calls_provider_id
-- is a UNIQUE index (at most one row to order), which this must not loosen.
SELECT 1;
