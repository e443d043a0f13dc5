-- 0003: a call keeps who answered it: the operator number (NotifyAnswer's operator side, or
-- an Answered call record's) and the user bound to it then. Deleting that user keeps the
-- number and clears the user (ON DELETE SET NULL, like the history in 0002).

ALTER TABLE calls ADD COLUMN answered_phone TEXT;
ALTER TABLE calls ADD COLUMN answered_user_id TEXT REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX calls_answered_user ON calls(answered_user_id);
