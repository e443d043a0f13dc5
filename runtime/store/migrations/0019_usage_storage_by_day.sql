-- 0019: the modules' storage figures (a row per module and day, kept retention.usage_days)
-- by day, for the pruner: it deleted the oldest by reading and sorting the whole table each
-- pass, a table that grows for the service's first 400 days.
CREATE INDEX usage_storage_day ON usage_storage(day);
