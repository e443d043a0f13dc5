-- 0009: the two indexes on a user column hold only the rows naming a user. A call is written
-- with answered_user_id NULL until someone answers it, and a phone that rang with nobody
-- bound to it leaves a call_notified row with user_id NULL: each such row still cost an
-- entry in the index, written with every webhook that made one and never read. Every read
-- through these indexes asks for one user (`answered_user_id = ?`, `user_id = ?`, as does
-- the ON DELETE SET NULL of a user deleted), which SQLite knows to be none of the NULL rows,
-- so it uses the partial index as it used the whole one.

DROP INDEX calls_answered_user;
CREATE INDEX calls_answered_user ON calls(answered_user_id) WHERE answered_user_id IS NOT NULL;
DROP INDEX call_notified_user;
CREATE INDEX call_notified_user ON call_notified(user_id) WHERE user_id IS NOT NULL;
