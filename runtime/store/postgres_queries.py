"""Read queries as plain async functions over a `Db` (the pool for the API's reads, a unit's
connection inside `PgTx`), each written once. One statement per read where SQLite's version
takes two: every statement on the pool may run on another connection.
"""

from __future__ import annotations

from datetime import datetime

from runtime.store import postgres_codec as codec
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
)
from runtime.store.postgres_codec import Db

# --- tenants and credentials ------------------------------------------------------------------


async def get_tenant(db: Db, tenant_id: str) -> Tenant | None:
    row = await db.one("SELECT * FROM tenants WHERE id = $1", tenant_id)
    return None if row is None else codec.tenant(row)


async def list_tenants(db: Db, limit: int, offset: int) -> list[Tenant]:
    rows = await db.all("SELECT * FROM tenants ORDER BY id LIMIT $1 OFFSET $2", limit, offset)
    return [codec.tenant(r) for r in rows]


async def find_api_key(db: Db, key_hash: str) -> ApiKey | None:
    row = await db.one("SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                       key_hash)
    return None if row is None else codec.api_key(row)


async def list_api_keys(db: Db, tenant_id: str) -> list[ApiKey]:
    rows = await db.all("SELECT * FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC",
                        tenant_id)
    return [codec.api_key(r) for r in rows]


async def find_user_by_token(db: Db, token_hash: str) -> User | None:
    row = await db.one("""
        SELECT users.* FROM user_tokens JOIN users ON users.id = user_tokens.user_id
        WHERE user_tokens.token_hash = $1 AND user_tokens.revoked_at IS NULL""", token_hash)
    return None if row is None else codec.user(row)


async def find_user_token(db: Db, token_hash: str) -> tuple[UserToken, User] | None:
    row = await db.one("""
        SELECT user_tokens.*, users.tenant_id, users.name, users.email,
               users.created_at AS user_created_at
        FROM user_tokens JOIN users ON users.id = user_tokens.user_id
        WHERE user_tokens.token_hash = $1 AND user_tokens.revoked_at IS NULL""", token_hash)
    if row is None:
        return None
    return codec.user_token(row), User(
        id=row["user_id"], tenant_id=row["tenant_id"], name=row["name"], email=row["email"],
        created_at=row["user_created_at"])


async def list_user_tokens(db: Db, tenant_id: str, user_id: str) -> list[UserToken] | None:
    if await get_user(db, tenant_id, user_id) is None:
        return None
    rows = await db.all("SELECT * FROM user_tokens WHERE user_id = $1 ORDER BY id DESC",
                        user_id)
    return [codec.user_token(r) for r in rows]


# --- modules and versions ---------------------------------------------------------------------


async def list_modules(db: Db, tenant_id: str, limit: int, offset: int) -> list[Module]:
    rows = await db.all("SELECT * FROM modules WHERE tenant_id = $1 ORDER BY name "
                        "LIMIT $2 OFFSET $3", tenant_id, limit, offset)
    return [codec.module(r) for r in rows]


async def get_module(db: Db, tenant_id: str, module_id: str, *, for_update: bool = False
                     ) -> Module | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await db.one(f"SELECT * FROM modules WHERE id = $1 AND tenant_id = $2{lock}",
                       module_id, tenant_id)
    return None if row is None else codec.module(row)


async def get_module_by_name(db: Db, tenant_id: str, name: str) -> Module | None:
    row = await db.one("SELECT * FROM modules WHERE tenant_id = $1 AND name = $2",
                       tenant_id, name)
    return None if row is None else codec.module(row)


async def get_module_by_webhook_token(db: Db, token: str) -> Module | None:
    row = await db.one("SELECT * FROM modules WHERE webhook_token = $1", token)
    return None if row is None else codec.module(row)


async def list_versions(db: Db, tenant_id: str, module_id: str, limit: int, offset: int
                        ) -> list[ScriptVersion]:
    rows = await db.all("""
        SELECT v.* FROM script_versions v JOIN modules m ON m.id = v.module_id
        WHERE v.module_id = $1 AND m.tenant_id = $2
        ORDER BY v.number DESC LIMIT $3 OFFSET $4""", module_id, tenant_id, limit, offset)
    return [codec.version(r) for r in rows]


async def get_version(db: Db, tenant_id: str, module_id: str, version_id: str
                      ) -> ScriptVersion | None:
    row = await db.one("""
        SELECT v.* FROM script_versions v JOIN modules m ON m.id = v.module_id
        WHERE v.id = $1 AND v.module_id = $2 AND m.tenant_id = $3""",
                       version_id, module_id, tenant_id)
    return None if row is None else codec.version(row)


async def get_active_version(db: Db, tenant_id: str, module_id: str) -> ScriptVersion | None:
    row = await db.one("""
        SELECT v.* FROM modules m JOIN script_versions v ON v.id = m.active_version_id
        WHERE m.id = $1 AND m.tenant_id = $2""", module_id, tenant_id)
    return None if row is None else codec.version(row)


async def version_by_number(db: Db, module_id: str, number: int) -> ScriptVersion | None:
    row = await db.one("SELECT * FROM script_versions WHERE module_id = $1 AND number = $2",
                       module_id, number)
    return None if row is None else codec.version(row)


# --- users and bindings -----------------------------------------------------------------------


async def list_users(db: Db, tenant_id: str, limit: int, offset: int) -> list[User]:
    rows = await db.all("SELECT * FROM users WHERE tenant_id = $1 ORDER BY name "
                        "LIMIT $2 OFFSET $3", tenant_id, limit, offset)
    return [codec.user(r) for r in rows]


async def get_user(db: Db, tenant_id: str, user_id: str) -> User | None:
    row = await db.one("SELECT * FROM users WHERE id = $1 AND tenant_id = $2",
                       user_id, tenant_id)
    return None if row is None else codec.user(row)


async def get_user_by_name(db: Db, tenant_id: str, name: str) -> User | None:
    row = await db.one("SELECT * FROM users WHERE tenant_id = $1 AND name = $2",
                       tenant_id, name)
    return None if row is None else codec.user(row)


async def list_bindings(db: Db, tenant_id: str, module_id: str) -> list[Binding] | None:
    # No row: no such module (for this tenant); one row of NULLs: a module without bindings.
    rows = await db.all("""
        SELECT b.* FROM modules m LEFT JOIN bindings b ON b.module_id = m.id
        WHERE m.id = $1 AND m.tenant_id = $2 ORDER BY b.member_id""", module_id, tenant_id)
    if not rows:
        return None
    return [codec.binding(r) for r in rows if r["member_id"] is not None]


async def find_bound_user(db: Db, module_id: str, member_id: str) -> str | None:
    user_id: str | None = await db.val(
        "SELECT user_id FROM bindings WHERE module_id = $1 AND member_id = $2",
        module_id, member_id)
    return user_id


# --- contacts ---------------------------------------------------------------------------------

# A contact with its phones' raw and normalised forms as two arrays in position order.
_CONTACTS = """
    SELECT c.*, ph.raws, ph.norms FROM contacts c
    LEFT JOIN LATERAL (
        SELECT array_agg(p.raw ORDER BY p.position) AS raws,
               array_agg(p.normalized ORDER BY p.position) AS norms
        FROM contact_phones p WHERE p.contact_id = c.id) ph ON TRUE"""


async def get_contact(db: Db, tenant_id: str, contact_id: str) -> Contact | None:
    row = await db.one(f"{_CONTACTS} WHERE c.id = $1 AND c.tenant_id = $2",
                       contact_id, tenant_id)
    return None if row is None else codec.contact(row)


async def list_contacts(db: Db, tenant_id: str, limit: int, offset: int) -> list[Contact]:
    rows = await db.all(f"{_CONTACTS} WHERE c.tenant_id = $1 ORDER BY c.id DESC "
                        "LIMIT $2 OFFSET $3", tenant_id, limit, offset)
    return [codec.contact(r) for r in rows]


async def find_contacts_by_phone(db: Db, tenant_id: str, normalized: str) -> list[Contact]:
    rows = await db.all(f"""{_CONTACTS} WHERE c.id IN (
        SELECT contact_id FROM contact_phones WHERE tenant_id = $1 AND normalized = $2)
        ORDER BY c.id""", tenant_id, normalized)
    return [codec.contact(r) for r in rows]


async def first_contact_by_phone(db: Db, tenant_id: str, normalized: str) -> Contact | None:
    row = await db.one(f"""{_CONTACTS} WHERE c.id = (
        SELECT min(contact_id) FROM contact_phones WHERE tenant_id = $1 AND normalized = $2)""",
                       tenant_id, normalized)
    return None if row is None else codec.contact(row)


# --- calls ------------------------------------------------------------------------------------


async def get_call(db: Db, tenant_id: str, call_id: str) -> Call | None:
    row = await db.one("SELECT * FROM calls WHERE id = $1 AND tenant_id = $2",
                       call_id, tenant_id)
    return None if row is None else codec.call(row)


def _where(tenant_id: str, conditions: list[Condition]) -> tuple[str, list[object]]:
    return where_clause(tenant_id, conditions, mark=lambda n: f"${n}", moment=codec.ts)


async def list_calls(db: Db, tenant_id: str, filters: CallFilter, limit: int, offset: int
                     ) -> list[Call]:
    where, params = _where(tenant_id, call_conditions(filters))
    n = len(params)
    rows = await db.all(f"SELECT * FROM calls WHERE {where} "
                        f"ORDER BY created_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                        *params, limit, offset)
    return [codec.call(r) for r in rows]


_NUMBERS = """module_id = $1 AND direction = $2 AND src_phone = $3
    AND src_phone_ext IS NOT DISTINCT FROM $4 AND dst_phone = $5
    AND dst_phone_ext IS NOT DISTINCT FROM $6"""


async def find_call_by_provider_id(db: Db, module_id: str, provider_call_id: str
                                   ) -> Call | None:
    row = await db.one("""SELECT * FROM calls WHERE module_id = $1 AND provider_call_id = $2
                          ORDER BY created_at DESC, id DESC LIMIT 1""",
                       module_id, provider_call_id)
    return None if row is None else codec.call(row)


async def find_open_call(db: Db, module_id: str, direction: str, src_phone: str,
                         src_phone_ext: str | None, dst_phone: str, dst_phone_ext: str | None
                         ) -> Call | None:
    row = await db.one(f"""SELECT * FROM calls WHERE {_NUMBERS} AND state <> 'ended'
                           ORDER BY created_at DESC, id DESC LIMIT 1""",
                       module_id, direction, src_phone, src_phone_ext, dst_phone,
                       dst_phone_ext)
    return None if row is None else codec.call(row)


async def find_ended_call(db: Db, module_id: str, direction: str, src_phone: str,
                          src_phone_ext: str | None, dst_phone: str,
                          dst_phone_ext: str | None, ended_since: datetime) -> Call | None:
    row = await db.one(f"""SELECT * FROM calls WHERE {_NUMBERS} AND state = 'ended'
                           AND ended_at >= $7 ORDER BY ended_at DESC, id DESC LIMIT 1""",
                       module_id, direction, src_phone, src_phone_ext, dst_phone,
                       dst_phone_ext, codec.ts(ended_since))
    return None if row is None else codec.call(row)


async def list_call_history(db: Db, call_id: str) -> list[CallEventRecord]:
    rows = await db.all("SELECT * FROM call_events WHERE call_id = $1 "
                        "ORDER BY received_at, id", call_id)
    return [codec.call_event(r) for r in rows]


async def list_call_events(db: Db, tenant_id: str, call_id: str) -> list[CallEventRecord]:
    rows = await db.all("""SELECT e.* FROM call_events e JOIN calls c ON c.id = e.call_id
                           WHERE e.call_id = $1 AND c.tenant_id = $2
                           ORDER BY e.received_at, e.id""", call_id, tenant_id)
    return [codec.call_event(r) for r in rows]


async def user_was_notified(db: Db, tenant_id: str, user_id: str, call_id: str) -> bool:
    row = await db.one("""
        SELECT 1 FROM call_notified n JOIN calls c ON c.id = n.call_id
        WHERE n.call_id = $1 AND n.user_id = $2 AND c.tenant_id = $3 LIMIT 1""",
                       call_id, user_id, tenant_id)
    return row is not None


async def list_call_notified(db: Db, call_id: str) -> list[CallNotified]:
    rows = await db.all("SELECT * FROM call_notified WHERE call_id = $1 ORDER BY seq", call_id)
    return [codec.call_notified(r) for r in rows]


# --- activity ---------------------------------------------------------------------------------


async def get_activity_by_call(db: Db, call_id: str) -> ActivityEntry | None:
    row = await db.one("SELECT * FROM activity WHERE call_id = $1", call_id)
    return None if row is None else codec.activity(row)


async def get_activity_for_call(db: Db, tenant_id: str, call_id: str) -> ActivityEntry | None:
    row = await db.one("SELECT * FROM activity WHERE call_id = $1 AND tenant_id = $2",
                       call_id, tenant_id)
    return None if row is None else codec.activity(row)


async def list_activity(db: Db, tenant_id: str, contact_id: str, limit: int, offset: int
                        ) -> list[ActivityEntry]:
    rows = await db.all("""SELECT * FROM activity WHERE tenant_id = $1 AND contact_id = $2
                           ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4""",
                        tenant_id, contact_id, limit, offset)
    return [codec.activity(r) for r in rows]


# --- executions and notifications -------------------------------------------------------------


async def get_execution(db: Db, tenant_id: str, execution_id: str) -> Execution | None:
    row = await db.one("SELECT * FROM executions WHERE id = $1 AND tenant_id = $2",
                       execution_id, tenant_id)
    return None if row is None else codec.execution(row)


async def list_executions(db: Db, tenant_id: str, filters: ExecutionFilter, limit: int,
                          offset: int) -> list[Execution]:
    where, params = _where(tenant_id, execution_conditions(filters))
    n = len(params)
    rows = await db.all(f"SELECT * FROM executions WHERE {where} "
                        f"ORDER BY created_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                        *params, limit, offset)
    return [codec.execution(r) for r in rows]


async def list_notifications(db: Db, tenant_id: str, user_id: str, after_id: str | None,
                             since: datetime | None, limit: int) -> list[Notification]:
    # An unknown after_id is ignored: its subquery yields no seq, so the bound is 0.
    rows = await db.all("""
        SELECT * FROM notifications WHERE tenant_id = $1 AND user_id = $2
        AND seq > COALESCE((SELECT seq FROM notifications WHERE id = $3 AND user_id = $2), 0)
        AND ($4::timestamptz IS NULL OR created_at >= $4)
        ORDER BY seq LIMIT $5""",
                        tenant_id, user_id, after_id,
                        None if since is None else codec.ts(since), limit)
    return [codec.notification(r) for r in rows]


async def get_notification(db: Db, user_id: str, notification_id: str) -> Notification | None:
    row = await db.one("SELECT * FROM notifications WHERE id = $1 AND user_id = $2",
                       notification_id, user_id)
    return None if row is None else codec.notification(row)


# --- storage ----------------------------------------------------------------------------------


async def storage_get(db: Db, module_id: str, key: str, now: datetime) -> StorageItem | None:
    row = await db.one("""SELECT * FROM storage WHERE module_id = $1 AND key = $2
                          AND (expires_at IS NULL OR expires_at > $3)""",
                       module_id, codec.key_bytes(key), codec.ts(now))
    return None if row is None else codec.storage_item(row)


async def storage_usage(db: Db, module_id: str) -> StorageUsage:
    row = await db.one("SELECT keys, bytes FROM storage_usage WHERE module_id = $1", module_id)
    return StorageUsage(0, 0) if row is None else StorageUsage(row["keys"], row["bytes"])
