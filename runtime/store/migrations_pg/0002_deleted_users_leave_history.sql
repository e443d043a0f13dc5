-- 0002: deleting a user keeps the history that named them. A user's notifications and the
-- calls' record of whom they rang (call_notified) stay, with user_id NULL (ON DELETE SET NULL
-- instead of CASCADE).

ALTER TABLE notifications ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE notifications DROP CONSTRAINT notifications_user_id_fkey,
    ADD CONSTRAINT notifications_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE call_notified DROP CONSTRAINT call_notified_user_id_fkey,
    ADD CONSTRAINT call_notified_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX call_notified_user ON call_notified(user_id);
