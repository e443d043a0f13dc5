-- 0008: nothing to do on PostgreSQL; the number keeps both backends' migrations in step.
--
-- SQLite's 0008 spares a webhook's unit its temporary b-trees: the calls' lookup indexes end
-- with the columns the call scene's lookups order by, and CHECKs on IN lists become OR
-- chains. PostgreSQL sorts a lookup's few rows in memory (and its calls_provider_id is a
-- UNIQUE index, at most one row to order, which this must not loosen), and checks an IN list
-- without building anything.
SELECT 1;
