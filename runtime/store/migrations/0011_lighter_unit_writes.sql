-- 0011: nothing to do on SQLite; the number keeps both backends' migrations in step.
--
-- PostgreSQL's 0011 gives calls and executions one foreign key to (module, tenant) instead
-- of one to each, and checks its few-word columns by domains instead of CHECKs, which that
-- server reads back from text for every statement writing a row. SQLite checks a foreign key
-- by an index lookup with no query of its own, and keeps its CHECKs compiled in the
-- statement: neither costs it what it cost PostgreSQL.
SELECT 1;
