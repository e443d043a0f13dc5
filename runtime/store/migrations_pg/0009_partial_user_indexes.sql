-- 0009: nothing to do on PostgreSQL; the number keeps both backends' migrations in step.
--
-- SQLite's 0009 makes the indexes on calls.answered_user_id and call_notified.user_id
-- partial (the rows naming a user), sparing an index entry for each call not answered yet
-- and each phone that rang with nobody bound. The saving was measured on SQLite's writer;
-- here rebuilding both indexes would hold the tables' writes for the time of the build.
SELECT 1;
