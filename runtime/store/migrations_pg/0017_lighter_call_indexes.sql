-- 0017: fewer index entries for each call a webhook opens, and no sort in the lookups that
-- choose a webhook's call: PostgreSQL's flavour of SQLite's 0008 (the lookups' order in the
-- index) and 0009 (the user indexes partial), measured on the server's CPU per webhook.
--
-- 1. The indexes on a user column hold only the rows naming a user. A call is written with
-- answered_user_id NULL until someone answers it, and a phone that rang with nobody bound to
-- it leaves a call_notified row with user_id NULL: each such row cost an index entry (and
-- its WAL record), written with every webhook that made one and never read. Every read
-- through them asks for one user (`answered_user_id = $n`, `user_id = $n`, and the ON DELETE
-- SET NULL of a user deleted), which PostgreSQL proves to exclude NULL, so it uses the
-- partial index as it used the whole one.
--
-- 2. calls_numbers holds only ended calls and ends with id. Its one reader left is the
-- recently ended call's lookup (`state = 'ended' AND ended_at >= $n ORDER BY ended_at DESC,
-- id DESC LIMIT 1`); a call is written to it once it ends, not with the webhook that opens
-- it. (A module's deletion, cascading to its calls, finds them through calls_tenant.) calls_open_numbers ends with id too. With the whole order in the index both lookups
-- read their latest row first: the plan has no Sort node, which the server set up (and tore
-- down) in every call scene read and in its check at COMMIT, twice per webhook, even when no
-- row matched.
--
-- Rebuilding these indexes holds the tables' writes while it runs: on a large calls table,
-- upgrade when webhooks are few.

DROP INDEX calls_answered_user;
CREATE INDEX calls_answered_user ON calls(answered_user_id) WHERE answered_user_id IS NOT NULL;
DROP INDEX call_notified_user;
CREATE INDEX call_notified_user ON call_notified(user_id) WHERE user_id IS NOT NULL;
DROP INDEX calls_numbers;
CREATE INDEX calls_numbers ON calls(module_id, src_phone, dst_phone, ended_at, id)
    WHERE state = 'ended';
DROP INDEX calls_open_numbers;
CREATE INDEX calls_open_numbers ON calls(module_id, src_phone, dst_phone, created_at, id)
    WHERE state <> 'ended';
