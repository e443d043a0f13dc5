-- 0005: an operator marks a missed call handled (the console's live page), so the colleagues
-- it rang for see that someone took care of it. One row per call: who and when. A table of
-- its own rather than columns of calls: a webhook rewrites its call's row from what it read,
-- and must never undo a mark set meanwhile. Deleting the user keeps the mark, naming nobody.

CREATE TABLE call_handled (
    call_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    tenant_id   TEXT COLLATE "C" NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" REFERENCES users(id) ON DELETE SET NULL,
    handled_at  TIMESTAMPTZ NOT NULL
);
