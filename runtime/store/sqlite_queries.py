"""Read queries as plain functions over a sqlite3 connection.

Shared by the store's read connections (run in a reader thread) and the writer's `SqliteTx`
(run inline inside the write transaction), so each query is written once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from runtime.store import sqlite_codec as codec
from runtime.store.filters import Condition, call_conditions, execution_conditions, where_clause
from runtime.store.models import (
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallFilter,
    CallNotified,
    Contact,
    Execution,
    ExecutionFilter,
    Module,
    Notification,
    ScriptVersion,
    StorageItem,
    StorageUsage,
    Tenant,
    User,
    UserToken,
    from_iso,
    to_iso,
)

Params = list[object]


def _one(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
    return row


def _all(conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
    return conn.execute(sql, params).fetchall()


# --- tenants and credentials ------------------------------------------------------------------


def get_tenant(conn: sqlite3.Connection, tenant_id: str) -> Tenant | None:
    row = _one(conn, "SELECT * FROM tenants WHERE id = ?", [tenant_id])
    return None if row is None else codec.tenant(row)


def list_tenants(conn: sqlite3.Connection, limit: int, offset: int) -> list[Tenant]:
    rows = _all(conn, "SELECT * FROM tenants ORDER BY id LIMIT ? OFFSET ?", [limit, offset])
    return [codec.tenant(r) for r in rows]


def find_api_key(conn: sqlite3.Connection, key_hash: str) -> ApiKey | None:
    row = _one(conn, "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
               [key_hash])
    return None if row is None else codec.api_key(row)


def list_api_keys(conn: sqlite3.Connection, tenant_id: str) -> list[ApiKey]:
    rows = _all(conn, "SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY id DESC", [tenant_id])
    return [codec.api_key(r) for r in rows]


def find_user_by_token(conn: sqlite3.Connection, token_hash: str) -> User | None:
    row = _one(conn, """
        SELECT users.* FROM user_tokens JOIN users ON users.id = user_tokens.user_id
        WHERE user_tokens.token_hash = ? AND user_tokens.revoked_at IS NULL""", [token_hash])
    return None if row is None else codec.user(row)


def find_user_token(conn: sqlite3.Connection, token_hash: str
                    ) -> tuple[UserToken, User] | None:
    row = _one(conn, """
        SELECT user_tokens.*, users.tenant_id, users.name, users.email,
               users.created_at AS user_created_at
        FROM user_tokens JOIN users ON users.id = user_tokens.user_id
        WHERE user_tokens.token_hash = ? AND user_tokens.revoked_at IS NULL""", [token_hash])
    if row is None:
        return None
    return codec.user_token(row), User(
        id=row["user_id"], tenant_id=row["tenant_id"], name=row["name"], email=row["email"],
        created_at=from_iso(row["user_created_at"]))


def list_user_tokens(conn: sqlite3.Connection, tenant_id: str, user_id: str
                     ) -> list[UserToken] | None:
    if get_user(conn, tenant_id, user_id) is None:
        return None
    rows = _all(conn, "SELECT * FROM user_tokens WHERE user_id = ? ORDER BY id DESC", [user_id])
    return [codec.user_token(r) for r in rows]


# --- modules and versions ---------------------------------------------------------------------


def list_modules(conn: sqlite3.Connection, tenant_id: str, limit: int, offset: int
                 ) -> list[Module]:
    rows = _all(conn, "SELECT * FROM modules WHERE tenant_id = ? ORDER BY name LIMIT ? OFFSET ?",
                [tenant_id, limit, offset])
    return [codec.module(r) for r in rows]


def get_module(conn: sqlite3.Connection, tenant_id: str, module_id: str) -> Module | None:
    row = _one(conn, "SELECT * FROM modules WHERE id = ? AND tenant_id = ?",
               [module_id, tenant_id])
    return None if row is None else codec.module(row)


def get_module_by_name(conn: sqlite3.Connection, tenant_id: str, name: str) -> Module | None:
    row = _one(conn, "SELECT * FROM modules WHERE tenant_id = ? AND name = ?", [tenant_id, name])
    return None if row is None else codec.module(row)


def get_module_by_webhook_token(conn: sqlite3.Connection, token: str) -> Module | None:
    row = _one(conn, "SELECT * FROM modules WHERE webhook_token = ?", [token])
    return None if row is None else codec.module(row)


def list_versions(conn: sqlite3.Connection, tenant_id: str, module_id: str, limit: int,
                  offset: int) -> list[ScriptVersion]:
    rows = _all(conn, """
        SELECT v.* FROM script_versions v JOIN modules m ON m.id = v.module_id
        WHERE v.module_id = ? AND m.tenant_id = ?
        ORDER BY v.number DESC LIMIT ? OFFSET ?""", [module_id, tenant_id, limit, offset])
    return [codec.version(r) for r in rows]


def get_version(conn: sqlite3.Connection, tenant_id: str, module_id: str, version_id: str
                ) -> ScriptVersion | None:
    row = _one(conn, """
        SELECT v.* FROM script_versions v JOIN modules m ON m.id = v.module_id
        WHERE v.id = ? AND v.module_id = ? AND m.tenant_id = ?""",
               [version_id, module_id, tenant_id])
    return None if row is None else codec.version(row)


def get_active_version(conn: sqlite3.Connection, tenant_id: str, module_id: str
                       ) -> ScriptVersion | None:
    row = _one(conn, """
        SELECT v.* FROM modules m JOIN script_versions v ON v.id = m.active_version_id
        WHERE m.id = ? AND m.tenant_id = ?""", [module_id, tenant_id])
    return None if row is None else codec.version(row)


def version_by_number(conn: sqlite3.Connection, module_id: str, number: int
                      ) -> ScriptVersion | None:
    row = _one(conn, "SELECT * FROM script_versions WHERE module_id = ? AND number = ?",
               [module_id, number])
    return None if row is None else codec.version(row)


# --- users and bindings -----------------------------------------------------------------------


def list_users(conn: sqlite3.Connection, tenant_id: str, limit: int, offset: int) -> list[User]:
    rows = _all(conn, "SELECT * FROM users WHERE tenant_id = ? ORDER BY name LIMIT ? OFFSET ?",
                [tenant_id, limit, offset])
    return [codec.user(r) for r in rows]


def get_user(conn: sqlite3.Connection, tenant_id: str, user_id: str) -> User | None:
    row = _one(conn, "SELECT * FROM users WHERE id = ? AND tenant_id = ?", [user_id, tenant_id])
    return None if row is None else codec.user(row)


def get_user_by_name(conn: sqlite3.Connection, tenant_id: str, name: str) -> User | None:
    row = _one(conn, "SELECT * FROM users WHERE tenant_id = ? AND name = ?", [tenant_id, name])
    return None if row is None else codec.user(row)


def list_bindings(conn: sqlite3.Connection, tenant_id: str, module_id: str
                  ) -> list[Binding] | None:
    if get_module(conn, tenant_id, module_id) is None:
        return None
    rows = _all(conn, "SELECT * FROM bindings WHERE module_id = ? ORDER BY member_id",
                [module_id])
    return [codec.binding(r) for r in rows]


def find_bound_user(conn: sqlite3.Connection, module_id: str, member_id: str) -> str | None:
    row = _one(conn, "SELECT user_id FROM bindings WHERE module_id = ? AND member_id = ?",
               [module_id, member_id])
    return None if row is None else str(row["user_id"])


# --- contacts ---------------------------------------------------------------------------------


def _contacts(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Contact]:
    """Attach phones to contact rows with one query, keeping the rows' order."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    marks = ",".join("?" * len(ids))
    phones: dict[str, list[sqlite3.Row]] = {i: [] for i in ids}
    for p in _all(conn, f"SELECT * FROM contact_phones WHERE contact_id IN ({marks}) "
                        "ORDER BY contact_id, position", ids):
        phones[p["contact_id"]].append(p)
    return [codec.contact(r, phones[r["id"]]) for r in rows]


def get_contact(conn: sqlite3.Connection, tenant_id: str, contact_id: str) -> Contact | None:
    rows = _all(conn, "SELECT * FROM contacts WHERE id = ? AND tenant_id = ?",
                [contact_id, tenant_id])
    found = _contacts(conn, rows)
    return found[0] if found else None


def list_contacts(conn: sqlite3.Connection, tenant_id: str, limit: int, offset: int
                  ) -> list[Contact]:
    rows = _all(conn, "SELECT * FROM contacts WHERE tenant_id = ? ORDER BY id DESC "
                      "LIMIT ? OFFSET ?", [tenant_id, limit, offset])
    return _contacts(conn, rows)


def find_contacts_by_phone(conn: sqlite3.Connection, tenant_id: str, normalized: str
                           ) -> list[Contact]:
    rows = _all(conn, """
        SELECT * FROM contacts WHERE id IN (
            SELECT contact_id FROM contact_phones WHERE tenant_id = ? AND normalized = ?)
        ORDER BY id""", [tenant_id, normalized])
    return _contacts(conn, rows)


# --- calls ------------------------------------------------------------------------------------


def get_call(conn: sqlite3.Connection, tenant_id: str, call_id: str) -> Call | None:
    row = _one(conn, "SELECT * FROM calls WHERE id = ? AND tenant_id = ?", [call_id, tenant_id])
    return None if row is None else codec.call(row)


def _where(tenant_id: str, conditions: list[Condition]) -> tuple[str, Params]:
    return where_clause(tenant_id, conditions, mark=lambda n: f"?{n}", moment=to_iso)


def list_calls(conn: sqlite3.Connection, tenant_id: str, filters: CallFilter, limit: int,
               offset: int) -> list[Call]:
    where, params = _where(tenant_id, call_conditions(filters))
    n = len(params)
    rows = _all(conn, f"SELECT * FROM calls WHERE {where} "
                      f"ORDER BY created_at DESC, id DESC LIMIT ?{n + 1} OFFSET ?{n + 2}",
                [*params, limit, offset])
    return [codec.call(r) for r in rows]


_NUMBERS = """module_id = ? AND direction = ? AND src_phone = ? AND src_phone_ext IS ?
    AND dst_phone = ? AND dst_phone_ext IS ?"""


def find_call_by_provider_id(conn: sqlite3.Connection, module_id: str, provider_call_id: str
                             ) -> Call | None:
    row = _one(conn, """SELECT * FROM calls WHERE module_id = ? AND provider_call_id = ?
                        ORDER BY created_at DESC, id DESC LIMIT 1""",
               [module_id, provider_call_id])
    return None if row is None else codec.call(row)


def find_open_call(conn: sqlite3.Connection, module_id: str, direction: str, src_phone: str,
                   src_phone_ext: str | None, dst_phone: str, dst_phone_ext: str | None
                   ) -> Call | None:
    row = _one(conn, f"""SELECT * FROM calls WHERE {_NUMBERS} AND state <> 'ended'
                         ORDER BY created_at DESC, id DESC LIMIT 1""",
               [module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext])
    return None if row is None else codec.call(row)


def find_ended_call(conn: sqlite3.Connection, module_id: str, direction: str, src_phone: str,
                    src_phone_ext: str | None, dst_phone: str, dst_phone_ext: str | None,
                    ended_since: datetime) -> Call | None:
    row = _one(conn, f"""SELECT * FROM calls WHERE {_NUMBERS} AND state = 'ended'
                         AND ended_at >= ? ORDER BY ended_at DESC, id DESC LIMIT 1""",
               [module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext,
                to_iso(ended_since)])
    return None if row is None else codec.call(row)


def list_call_history(conn: sqlite3.Connection, call_id: str) -> list[CallEventRecord]:
    rows = _all(conn, "SELECT * FROM call_events WHERE call_id = ? ORDER BY received_at, id",
                [call_id])
    return [codec.call_event(r) for r in rows]


def list_call_events(conn: sqlite3.Connection, tenant_id: str, call_id: str
                     ) -> list[CallEventRecord]:
    if get_call(conn, tenant_id, call_id) is None:
        return []
    return list_call_history(conn, call_id)


def user_was_notified(conn: sqlite3.Connection, tenant_id: str, user_id: str, call_id: str
                      ) -> bool:
    row = _one(conn, """
        SELECT 1 FROM call_notified n JOIN calls c ON c.id = n.call_id
        WHERE n.call_id = ? AND n.user_id = ? AND c.tenant_id = ? LIMIT 1""",
               [call_id, user_id, tenant_id])
    return row is not None


def list_call_notified(conn: sqlite3.Connection, call_id: str) -> list[CallNotified]:
    rows = _all(conn, "SELECT * FROM call_notified WHERE call_id = ? ORDER BY rowid",
                [call_id])
    return [codec.call_notified(r) for r in rows]


# --- activity ---------------------------------------------------------------------------------


def get_activity_by_call(conn: sqlite3.Connection, call_id: str) -> ActivityEntry | None:
    row = _one(conn, "SELECT * FROM activity WHERE call_id = ?", [call_id])
    return None if row is None else codec.activity(row)


def get_activity_for_call(conn: sqlite3.Connection, tenant_id: str, call_id: str
                          ) -> ActivityEntry | None:
    row = _one(conn, "SELECT * FROM activity WHERE call_id = ? AND tenant_id = ?",
               [call_id, tenant_id])
    return None if row is None else codec.activity(row)


def list_activity(conn: sqlite3.Connection, tenant_id: str, contact_id: str, limit: int,
                  offset: int) -> list[ActivityEntry]:
    rows = _all(conn, """SELECT * FROM activity WHERE tenant_id = ? AND contact_id = ?
                         ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?""",
                [tenant_id, contact_id, limit, offset])
    return [codec.activity(r) for r in rows]


# --- executions and notifications -------------------------------------------------------------


def get_execution(conn: sqlite3.Connection, tenant_id: str, execution_id: str
                  ) -> Execution | None:
    row = _one(conn, "SELECT * FROM executions WHERE id = ? AND tenant_id = ?",
               [execution_id, tenant_id])
    return None if row is None else codec.execution(row)


def list_executions(conn: sqlite3.Connection, tenant_id: str, filters: ExecutionFilter,
                    limit: int, offset: int) -> list[Execution]:
    where, params = _where(tenant_id, execution_conditions(filters))
    n = len(params)
    rows = _all(conn, f"SELECT * FROM executions WHERE {where} "
                      f"ORDER BY created_at DESC, id DESC LIMIT ?{n + 1} OFFSET ?{n + 2}",
                [*params, limit, offset])
    return [codec.execution(r) for r in rows]


def list_notifications(conn: sqlite3.Connection, tenant_id: str, user_id: str,
                       after_id: str | None, since: datetime | None, limit: int
                       ) -> list[Notification]:
    where = ["tenant_id = ?", "user_id = ?"]
    params: Params = [tenant_id, user_id]
    if after_id is not None:
        row = _one(conn, "SELECT seq FROM notifications WHERE id = ? AND user_id = ?",
                   [after_id, user_id])
        if row is not None:
            where.append("seq > ?")
            params.append(row["seq"])
    if since is not None:
        where.append("created_at >= ?")
        params.append(to_iso(since))
    rows = _all(conn, f"SELECT * FROM notifications WHERE {' AND '.join(where)} "
                      "ORDER BY seq LIMIT ?", [*params, limit])
    return [codec.notification(r) for r in rows]


# --- storage ----------------------------------------------------------------------------------


def storage_get(conn: sqlite3.Connection, module_id: str, key: str, now: datetime
                ) -> StorageItem | None:
    row = _one(conn, """SELECT * FROM storage WHERE module_id = ? AND key = ?
                        AND (expires_at IS NULL OR expires_at > ?)""",
               [module_id, key, to_iso(now)])
    return None if row is None else codec.storage_item(row)


def storage_usage(conn: sqlite3.Connection, module_id: str) -> StorageUsage:
    row = _one(conn, "SELECT keys, bytes FROM storage_usage WHERE module_id = ?", [module_id])
    return StorageUsage(0, 0) if row is None else StorageUsage(row["keys"], row["bytes"])
