-- 0002: deleting a user keeps the history that named them. A user's notifications and the
-- calls' record of whom they rang (call_notified) stay, with user_id NULL (ON DELETE SET NULL
-- instead of CASCADE). SQLite cannot change a foreign key in place, so both tables are
-- rebuilt; neither is referenced by another table, so dropping the old one cascades nowhere.

CREATE TABLE notifications_new (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT REFERENCES users(id) ON DELETE SET NULL,   -- NULL: the user was deleted
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'ended')),
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO notifications_new (seq, id, tenant_id, user_id, call_id, kind, payload, created_at)
    SELECT seq, id, tenant_id, user_id, call_id, kind, payload, created_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_user ON notifications(user_id, seq);
CREATE INDEX notifications_call ON notifications(call_id);

CREATE TABLE call_notified_new (
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    user_id     TEXT REFERENCES users(id) ON DELETE SET NULL,  -- NULL: no binding, or deleted
    kind        TEXT NOT NULL CHECK (kind IN ('ringing', 'answered', 'ended')),
    created_at  TEXT NOT NULL
);
-- rowid kept: the rows are read back in rowid order.
INSERT INTO call_notified_new (rowid, call_id, phone, user_id, kind, created_at)
    SELECT rowid, call_id, phone, user_id, kind, created_at FROM call_notified;
DROP TABLE call_notified;
ALTER TABLE call_notified_new RENAME TO call_notified;
CREATE INDEX call_notified_call ON call_notified(call_id);
CREATE INDEX call_notified_user ON call_notified(user_id);
