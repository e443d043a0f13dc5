-- 0010: console sessions signed out before they expired (runtime/console/session.py), kept
-- across restarts: a node reads them when it starts, so a signed-out session's cookie is
-- refused by a node started later too (each node only remembered the sign-outs it heard while
-- it ran: after a restart, a copied cookie of a signed-out session worked again until it
-- expired). The id of an ended session is no secret: a cookie needs the console's signature
-- too. The retention task deletes a row once its session would have expired anyway.

CREATE TABLE console_signed_out (
    session_id  TEXT COLLATE "C" PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_signed_out_by_expiry ON console_signed_out (expires_at);
