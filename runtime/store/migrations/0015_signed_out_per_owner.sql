-- 0015: console sign-outs bounded per credential (runtime/console/signed_out.py). Each row
-- names the credential its session was opened with (`owner`, derived from the credential; ''
-- for a session id issued before ids named it). Past a number of rows per owner the oldest go
-- and one row with session id '<owner>.*' says until when the owner's sessions are out: a
-- user signing in and out in a loop added a row per sign-out, kept for 12 hours.

ALTER TABLE console_signed_out ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX console_signed_out_by_owner ON console_signed_out (owner, expires_at);
