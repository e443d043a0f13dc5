-- 0019: the modules' storage figures by day, for the pruner: PostgreSQL flavour of
-- migrations/0019_usage_storage_by_day.sql.
CREATE INDEX usage_storage_day ON usage_storage(day);
