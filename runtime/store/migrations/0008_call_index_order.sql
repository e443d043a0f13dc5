-- 0008: the calls' lookup indexes end with the columns their reads order by.
--
-- Every webhook's call scene picks its call with three lookups, each the latest by
-- (created_at, id) or (ended_at, id), LIMIT 1: by the provider's call id, among the open calls
-- with the same numbers, among those ended lately. The indexes stopped short of that order
-- (calls_provider_id had no time at all, the two others no id), so SQLite sorted each lookup's
-- rows in a temporary b-tree, opened, zeroed and dropped on every webhook even when no row
-- matched: about 80,000 instructions of the scene's read. With the order in the index, the
-- first row read is the answer. Same keys in front, so every other read through them stays.

DROP INDEX calls_provider_id;
CREATE INDEX calls_provider_id ON calls(module_id, provider_call_id, created_at, id)
    WHERE provider_call_id IS NOT NULL;
DROP INDEX calls_open_numbers;
CREATE INDEX calls_open_numbers ON calls(module_id, src_phone, dst_phone, created_at, id)
    WHERE state <> 'ended';
DROP INDEX calls_numbers;
CREATE INDEX calls_numbers ON calls(module_id, src_phone, dst_phone, ended_at, id);
