-- 0008: no temporary b-trees in a webhook's unit of work. SQLite opened, zeroed and dropped
-- one for each lookup below and for each row checked below, several per webhook: more than
-- a third of the store's instructions for a webhook opening a call.
--
-- 1. The calls' lookup indexes end with the columns their reads order by. Every webhook's
-- call scene picks its call with three lookups, each the latest by (created_at, id) or
-- (ended_at, id), LIMIT 1: by the provider's call id, among the open calls with the same
-- numbers, among those ended lately. The indexes stopped short of that order
-- (calls_provider_id had no time at all, the two others no id), so SQLite sorted each
-- lookup's rows in a temporary b-tree, even when no row matched. With the order in the
-- index, the first row read is the answer. Same keys in front: every other read through
-- them stays as it was.

DROP INDEX calls_provider_id;
CREATE INDEX calls_provider_id ON calls(module_id, provider_call_id, created_at, id)
    WHERE provider_call_id IS NOT NULL;
DROP INDEX calls_open_numbers;
CREATE INDEX calls_open_numbers ON calls(module_id, src_phone, dst_phone, created_at, id)
    WHERE state <> 'ended';
DROP INDEX calls_numbers;
CREATE INDEX calls_numbers ON calls(module_id, src_phone, dst_phone, ended_at, id);

-- 2. CHECK (x IN ('a', 'b', 'c')) becomes CHECK (x = 'a' OR x = 'b' OR x = 'c'). SQLite
-- checks an IN list of three or more constants by building a temporary b-tree of the list,
-- for every row inserted or updated (about 33,000 instructions a row; the comparisons cost
-- next to nothing). The two accept and refuse the same values (NULL too: neither is false
-- for it, and NOT NULL refuses it anyway), so the rows stored satisfy the new text, and the
-- tables' content and format do not change: this is the schema edit SQLite documents for
-- changing a constraint without rebuilding a table (https://sqlite.org/lang_altertable.html,
-- "the simpler procedure"). RESET makes this connection read the new text at once; the
-- index changes above bump the schema's version, so any other connection reads it too.

PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, 'state IN (''ringing'', ''answered'', ''ended'')',
    'state = ''ringing'' OR state = ''answered'' OR state = ''ended''')
    WHERE type = 'table' AND name = 'calls';
UPDATE sqlite_master SET sql = replace(sql, 'effect IN (''applied'', ''repeat'', ''late'')',
    'effect = ''applied'' OR effect = ''repeat'' OR effect = ''late''')
    WHERE type = 'table' AND name = 'call_events';
UPDATE sqlite_master SET sql = replace(sql, 'kind IN (''ringing'', ''answered'', ''ended'')',
    'kind = ''ringing'' OR kind = ''answered'' OR kind = ''ended''')
    WHERE type = 'table' AND name IN ('call_notified', 'notifications');
UPDATE sqlite_master SET sql = replace(sql,
    'outcome IN (''ok'', ''error'', ''invalid'', ''limit'', ''rejected'')',
    'outcome = ''ok'' OR outcome = ''error'' OR outcome = ''invalid'' OR outcome = ''limit'''
    || ' OR outcome = ''rejected''')
    WHERE type = 'table' AND name = 'executions';
PRAGMA writable_schema = RESET;
