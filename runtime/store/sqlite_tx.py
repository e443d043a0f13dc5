"""`SqliteTx`: the `Tx` operations on the writer connection.

Methods are `async` to satisfy the backend-neutral `Tx` protocol, but each runs its statements
synchronously: on the single writer connection, inside the open transaction, statements take
microseconds (no fsync happens until COMMIT, which the writer runs off the event loop).
Driver errors for domain conditions are mapped here (IntegrityError -> Conflict / NotFound).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from runtime import ids
from runtime.store import sqlite_codec as codec
from runtime.store import sqlite_queries as q
from runtime.store.errors import Conflict, NotFound, StorageLimitExceeded
from runtime.store.models import (
    EXECUTION_LOG_CAP,
    EXECUTION_REQUEST_CAP,
    JSON,
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallNotified,
    Contact,
    ContactPhone,
    Execution,
    Module,
    ModulePatch,
    NewModule,
    Notification,
    ScriptVersion,
    StorageItem,
    StorageLimits,
    Tenant,
    User,
    UserToken,
    to_iso,
)


def _cap_utf8(text: str, cap: int) -> tuple[str, bool]:
    data = text.encode("utf-8")
    if len(data) <= cap:
        return text, False
    return data[:cap].decode("utf-8", errors="ignore"), True


def _cap_request(request: JSON) -> JSON:
    """Keep a stored request under the cap; the body is what grows, so it is cut first."""
    if request is None or len(codec.dumps(request).encode("utf-8")) <= EXECUTION_REQUEST_CAP:
        return request
    if isinstance(request, dict) and isinstance(request.get("body"), str):
        others = {k: v for k, v in request.items() if k != "body"}
        room = EXECUTION_REQUEST_CAP - len(codec.dumps(others).encode("utf-8")) - 64
        if room > 0:
            body, _ = _cap_utf8(request["body"], room)
            return {**others, "body": body, "body_truncated": True}
    text, _ = _cap_utf8(codec.dumps(request), EXECUTION_REQUEST_CAP)
    return {"truncated": True, "text": text}


# Built once: the statement text is also the key of sqlite3's statement cache.
_INSERT_CALL = (f"INSERT INTO calls ({', '.join(codec.CALL_COLUMNS)}) "
                f"VALUES ({', '.join(f':{c}' for c in codec.CALL_COLUMNS)})")
_UPDATE_CALL = ("UPDATE calls SET " + ", ".join(
    f"{c} = :{c}" for c in codec.CALL_COLUMNS
    if c not in ("id", "tenant_id", "module_id", "created_at")) + " WHERE id = :id")


class SqliteTx:
    """One write transaction's view of the database (see `base.Tx` for the contract)."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self._clock = clock

    def _x(self, sql: str, params: Sequence[object] | Mapping[str, object] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    # --- calls and history ------------------------------------------------------------------

    async def find_call_by_provider_id(self, module_id: str, provider_call_id: str
                                       ) -> Call | None:
        return q.find_call_by_provider_id(self._conn, module_id, provider_call_id)

    async def find_open_call(self, module_id: str, direction: str, src_phone: str,
                             src_phone_ext: str | None, dst_phone: str,
                             dst_phone_ext: str | None) -> Call | None:
        return q.find_open_call(self._conn, module_id, direction, src_phone, src_phone_ext,
                                dst_phone, dst_phone_ext)

    async def find_ended_call(self, module_id: str, direction: str, src_phone: str,
                              src_phone_ext: str | None, dst_phone: str,
                              dst_phone_ext: str | None, ended_since: datetime) -> Call | None:
        return q.find_ended_call(self._conn, module_id, direction, src_phone, src_phone_ext,
                                 dst_phone, dst_phone_ext, ended_since)

    async def insert_call(self, call: Call) -> None:
        self._x(_INSERT_CALL, codec.call_params(call))

    async def update_call(self, call: Call) -> None:
        self._x(_UPDATE_CALL, codec.call_params(call))

    async def list_call_history(self, call_id: str) -> list[CallEventRecord]:
        return q.list_call_history(self._conn, call_id)

    async def insert_call_event(self, record: CallEventRecord) -> None:
        self._x("""INSERT INTO call_events (id, call_id, kind, direction, src_phone,
                   src_phone_ext, dst_phone, dst_phone_ext, payload, effect, received_at,
                   execution_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [record.id, record.call_id, record.kind, record.direction, record.src_phone,
                 record.src_phone_ext, record.dst_phone, record.dst_phone_ext,
                 codec.dumps(record.payload), record.effect.value, to_iso(record.received_at),
                 record.execution_id])

    async def list_call_notified(self, call_id: str) -> list[CallNotified]:
        return q.list_call_notified(self._conn, call_id)

    async def insert_call_notified(self, row: CallNotified) -> None:
        self._x("INSERT INTO call_notified (call_id, phone, user_id, kind, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [row.call_id, row.phone, row.user_id, row.kind.value, to_iso(row.created_at)])

    async def find_bound_user(self, module_id: str, member_id: str) -> str | None:
        return q.find_bound_user(self._conn, module_id, member_id)

    async def insert_notification(self, notification: Notification) -> None:
        n = notification
        self._x("INSERT INTO notifications (id, tenant_id, user_id, call_id, kind, payload, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [n.id, n.tenant_id, n.user_id, n.call_id, n.kind.value, codec.dumps(n.payload),
                 to_iso(n.created_at)])

    # --- contacts and activity ----------------------------------------------------------------

    async def find_contact_by_phone(self, tenant_id: str, normalized: str) -> Contact | None:
        found = q.find_contacts_by_phone(self._conn, tenant_id, normalized)
        return found[0] if found else None

    async def insert_contact(self, contact: Contact) -> None:
        self._x("INSERT INTO contacts (id, tenant_id, name, created_at) VALUES (?, ?, ?, ?)",
                [contact.id, contact.tenant_id, contact.name, to_iso(contact.created_at)])
        self._conn.executemany(
            "INSERT INTO contact_phones (contact_id, tenant_id, position, raw, normalized) "
            "VALUES (?, ?, ?, ?, ?)",
            [(contact.id, contact.tenant_id, i, p.raw, p.normalized)
             for i, p in enumerate(contact.phones)])

    async def get_activity_by_call(self, call_id: str) -> ActivityEntry | None:
        return q.get_activity_by_call(self._conn, call_id)

    async def insert_activity(self, entry: ActivityEntry) -> None:
        self._x("INSERT INTO activity (id, tenant_id, contact_id, call_id, data, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [entry.id, entry.tenant_id, entry.contact_id, entry.call_id,
                 codec.dumps(entry.data), to_iso(entry.created_at), to_iso(entry.updated_at)])

    async def update_activity(self, entry: ActivityEntry) -> None:
        self._x("UPDATE activity SET contact_id = ?, data = ?, updated_at = ? WHERE id = ?",
                [entry.contact_id, codec.dumps(entry.data), to_iso(entry.updated_at), entry.id])

    # --- storage ------------------------------------------------------------------------------

    async def storage_set(self, module_id: str, key: str, value: JSON, *,
                          expires_at: datetime | None, now: datetime, limits: StorageLimits
                          ) -> StorageItem:
        if len(key) > limits.max_key_chars:
            raise StorageLimitExceeded(
                f"storage key is {len(key)} characters; the limit is {limits.max_key_chars}")
        text = codec.dumps(value)
        value_bytes = len(text.encode("utf-8"))
        if value_bytes > limits.max_value_bytes:
            raise StorageLimitExceeded(
                f"storage value is {value_bytes} bytes; the limit is {limits.max_value_bytes}")
        size = len(key.encode("utf-8")) + value_bytes
        keys, total = self._usage_after_set(module_id, key, size)
        over = keys > limits.max_keys or total > limits.max_bytes
        # Expired keys still count until purged; purge this module's and look again.
        if over and await self.purge_expired_storage(now, module_id):
            keys, total = self._usage_after_set(module_id, key, size)
        if keys > limits.max_keys:
            raise StorageLimitExceeded(f"module storage holds at most {limits.max_keys} keys")
        if total > limits.max_bytes:
            raise StorageLimitExceeded(f"module storage holds at most {limits.max_bytes} bytes")
        self._x("""INSERT INTO storage (module_id, key, value, size, expires_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (module_id, key) DO UPDATE SET value = excluded.value,
                   size = excluded.size, expires_at = excluded.expires_at,
                   updated_at = excluded.updated_at""",
                [module_id, key, text, size, codec.iso_or_none(expires_at), to_iso(now)])
        self._set_usage(module_id, keys, total)
        return StorageItem(module_id, key, value, size, expires_at, now)

    def _usage_after_set(self, module_id: str, key: str, size: int) -> tuple[int, int]:
        usage = q.storage_usage(self._conn, module_id)
        old = self._x("SELECT size FROM storage WHERE module_id = ? AND key = ?",
                      [module_id, key]).fetchone()
        if old is None:
            return usage.keys + 1, usage.bytes + size
        return usage.keys, usage.bytes - int(old["size"]) + size

    def _set_usage(self, module_id: str, keys: int, total: int) -> None:
        self._x("""INSERT INTO storage_usage (module_id, keys, bytes) VALUES (?, ?, ?)
                   ON CONFLICT (module_id) DO UPDATE SET keys = excluded.keys,
                   bytes = excluded.bytes""", [module_id, keys, total])

    async def storage_delete(self, module_id: str, key: str) -> bool:
        old = self._x("SELECT size FROM storage WHERE module_id = ? AND key = ?",
                      [module_id, key]).fetchone()
        if old is None:
            return False
        self._x("DELETE FROM storage WHERE module_id = ? AND key = ?", [module_id, key])
        usage = q.storage_usage(self._conn, module_id)
        self._set_usage(module_id, usage.keys - 1, usage.bytes - int(old["size"]))
        return True

    async def purge_expired_storage(self, now: datetime, module_id: str | None = None) -> int:
        where = "expires_at IS NOT NULL AND expires_at <= ?"
        params: list[object] = [to_iso(now)]
        if module_id is not None:
            where += " AND module_id = ?"
            params.append(module_id)
        groups = self._x(f"SELECT module_id, COUNT(*) AS n, SUM(size) AS b FROM storage "
                         f"WHERE {where} GROUP BY module_id", params).fetchall()
        if not groups:
            return 0
        self._x(f"DELETE FROM storage WHERE {where}", params)
        for g in groups:
            self._x("UPDATE storage_usage SET keys = keys - ?, bytes = bytes - ? "
                    "WHERE module_id = ?", [g["n"], g["b"], g["module_id"]])
        return sum(int(g["n"]) for g in groups)

    # --- executions ---------------------------------------------------------------------------

    async def insert_execution(self, execution: Execution) -> None:
        e = execution
        logs, cut = _cap_utf8(e.logs, EXECUTION_LOG_CAP)

        def js(v: JSON) -> str | None:
            return None if v is None else codec.dumps(v)

        self._x("""INSERT INTO executions (id, tenant_id, module_id, version_id, function,
                   outcome, error, limit_name, logs, logs_truncated, duration_ms, request,
                   result, effects, dry_run, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [e.id, e.tenant_id, e.module_id, e.version_id, e.function, e.outcome.value,
                 js(e.error), e.limit, logs, int(e.logs_truncated or cut), e.duration_ms,
                 js(_cap_request(e.request)), js(e.result), js(e.effects), int(e.dry_run),
                 to_iso(e.created_at)])

    # --- management -------------------------------------------------------------------------

    def _require_tenant(self, tenant_id: str) -> None:
        if q.get_tenant(self._conn, tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id}")

    async def get_module(self, tenant_id: str, module_id: str) -> Module | None:
        return q.get_module(self._conn, tenant_id, module_id)

    async def create_tenant(self, name: str) -> Tenant:
        tenant = Tenant(ids.new_id(ids.TENANT), name, self._clock())
        self._x("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                [tenant.id, tenant.name, to_iso(tenant.created_at)])
        return tenant

    async def create_api_key(self, tenant_id: str) -> tuple[ApiKey, str]:
        self._require_tenant(tenant_id)
        secret = ids.new_api_key()
        key = ApiKey(ids.new_id(ids.API_KEY), tenant_id, ids.visible_prefix(secret),
                     self._clock())
        self._x("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [key.id, tenant_id, ids.hash_secret(secret), key.prefix, to_iso(key.created_at)])
        return key, secret

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        cur = self._x("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? "
                      "AND revoked_at IS NULL", [to_iso(self._clock()), key_id, tenant_id])
        return cur.rowcount > 0

    async def create_module(self, tenant_id: str, new: NewModule) -> Module:
        self._require_tenant(tenant_id)
        now = self._clock()
        module = Module(
            id=ids.new_id(ids.MODULE), tenant_id=tenant_id, name=new.name,
            description=new.description, region=new.region, settings=dict(new.settings),
            secrets=tuple(new.secrets), allowlist=tuple(new.allowlist),
            webhook_token=ids.new_webhook_token(), active_version_id=None, created_at=now,
            updated_at=now,
        )
        try:
            self._x("""INSERT INTO modules (id, tenant_id, name, description, region, settings,
                       secrets, allowlist, webhook_token, created_at, updated_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [module.id, tenant_id, module.name, module.description, module.region,
                     codec.dumps(module.settings), codec.dumps(list(module.secrets)),
                     codec.dumps(list(module.allowlist)), module.webhook_token, to_iso(now),
                     to_iso(now)])
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a module named {new.name!r} already exists") from exc
        return module

    def _write_module(self, m: Module) -> None:
        self._x("""UPDATE modules SET name = ?, description = ?, region = ?, settings = ?,
                   secrets = ?, allowlist = ?, webhook_token = ?, active_version_id = ?,
                   updated_at = ? WHERE id = ?""",
                [m.name, m.description, m.region, codec.dumps(m.settings),
                 codec.dumps(list(m.secrets)), codec.dumps(list(m.allowlist)), m.webhook_token,
                 m.active_version_id, to_iso(m.updated_at), m.id])

    async def update_module(self, tenant_id: str, module_id: str, patch: ModulePatch
                            ) -> Module | None:
        module = q.get_module(self._conn, tenant_id, module_id)
        if module is None:
            return None
        changes = {k: getattr(patch, k) for k in
                   ("name", "description", "region", "settings", "secrets", "allowlist")
                   if getattr(patch, k) is not None}
        updated = replace(module, **changes, updated_at=self._clock())
        try:
            self._write_module(updated)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a module named {updated.name!r} already exists") from exc
        return updated

    async def rotate_webhook_token(self, tenant_id: str, module_id: str) -> Module | None:
        module = q.get_module(self._conn, tenant_id, module_id)
        if module is None:
            return None
        updated = replace(module, webhook_token=ids.new_webhook_token(),
                          updated_at=self._clock())
        self._write_module(updated)
        return updated

    async def delete_module(self, tenant_id: str, module_id: str) -> bool:
        cur = self._x("DELETE FROM modules WHERE id = ? AND tenant_id = ?",
                      [module_id, tenant_id])
        return cur.rowcount > 0

    async def add_version(self, tenant_id: str, module_id: str, source: str, *,
                          created_by_key_id: str | None = None,
                          base_version_id: str | None = None, activate: bool = True
                          ) -> ScriptVersion | None:
        module = q.get_module(self._conn, tenant_id, module_id)
        if module is None:
            return None
        if base_version_id is not None and q.get_version(
                self._conn, tenant_id, module_id, base_version_id) is None:
            raise NotFound(f"no version {base_version_id} of module {module_id}")
        if created_by_key_id is not None and not self._x(
                "SELECT 1 FROM api_keys WHERE id = ? AND tenant_id = ?",
                [created_by_key_id, tenant_id]).fetchone():
            raise NotFound(f"no API key {created_by_key_id}")
        row = self._x("SELECT COALESCE(MAX(number), 0) + 1 AS n FROM script_versions "
                      "WHERE module_id = ?", [module_id]).fetchone()
        now = self._clock()
        version = ScriptVersion(
            id=ids.new_id(ids.VERSION), module_id=module_id, number=int(row["n"]),
            source=source, sha256=ids.sha256_text(source), created_at=now,
            created_by_key_id=created_by_key_id, base_version_id=base_version_id,
        )
        self._x("""INSERT INTO script_versions (id, module_id, number, source, sha256,
                   created_at, created_by_key_id, base_version_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                [version.id, module_id, version.number, source, version.sha256, to_iso(now),
                 created_by_key_id, base_version_id])
        if activate:
            self._write_module(replace(module, active_version_id=version.id, updated_at=now))
        return version

    async def activate_version(self, tenant_id: str, module_id: str, version_id: str
                               ) -> Module | None:
        module = q.get_module(self._conn, tenant_id, module_id)
        if module is None or q.get_version(self._conn, tenant_id, module_id, version_id) is None:
            return None
        updated = replace(module, active_version_id=version_id, updated_at=self._clock())
        self._write_module(updated)
        return updated

    async def rollback_version(self, tenant_id: str, module_id: str) -> Module | None:
        module = q.get_module(self._conn, tenant_id, module_id)
        if module is None:
            return None
        active = q.get_active_version(self._conn, tenant_id, module_id)
        if active is None:
            raise Conflict("the module has no active version to roll back from")
        previous = q.version_by_number(self._conn, module_id, active.number - 1)
        if previous is None:
            raise Conflict(f"version {active.number} is the first; there is none before it")
        updated = replace(module, active_version_id=previous.id, updated_at=self._clock())
        self._write_module(updated)
        return updated

    async def create_user(self, tenant_id: str, name: str, email: str | None = None) -> User:
        self._require_tenant(tenant_id)
        user = User(ids.new_id(ids.USER), tenant_id, name, email, self._clock())
        try:
            self._x("INSERT INTO users (id, tenant_id, name, email, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [user.id, tenant_id, name, email, to_iso(user.created_at)])
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a user named {name!r} already exists") from exc
        return user

    async def create_user_token(self, tenant_id: str, user_id: str
                                ) -> tuple[UserToken, str] | None:
        if q.get_user(self._conn, tenant_id, user_id) is None:
            return None
        secret = ids.new_user_token()
        token = UserToken(ids.new_id(ids.USER_TOKEN), user_id, ids.visible_prefix(secret),
                          self._clock())
        self._x("INSERT INTO user_tokens (id, user_id, token_hash, prefix, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [token.id, user_id, ids.hash_secret(secret), token.prefix,
                 to_iso(token.created_at)])
        return token, secret

    async def revoke_user_token(self, tenant_id: str, user_id: str, token_id: str) -> bool:
        cur = self._x("UPDATE user_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? "
                      "AND revoked_at IS NULL "
                      "AND user_id IN (SELECT id FROM users WHERE tenant_id = ?)",
                      [to_iso(self._clock()), token_id, user_id, tenant_id])
        return cur.rowcount > 0

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        # Tokens and bindings go by ON DELETE CASCADE; notifications and call_notified keep
        # their rows with user_id NULL (ON DELETE SET NULL, migration 0002).
        cur = self._x("DELETE FROM users WHERE id = ? AND tenant_id = ?", [user_id, tenant_id])
        return cur.rowcount > 0

    async def set_bindings(self, tenant_id: str, module_id: str,
                           bindings: Mapping[str, str | None], *, replace: bool = False
                           ) -> list[Binding] | None:
        if q.get_module(self._conn, tenant_id, module_id) is None:
            return None
        for bound in {u for u in bindings.values() if u is not None}:
            if q.get_user(self._conn, tenant_id, bound) is None:
                raise NotFound(f"no user {bound}")
        if replace:
            self._x("DELETE FROM bindings WHERE module_id = ?", [module_id])
        for member_id, user_id in bindings.items():
            if user_id is None:
                self._x("DELETE FROM bindings WHERE module_id = ? AND member_id = ?",
                        [module_id, member_id])
            else:
                self._x("""INSERT INTO bindings (module_id, member_id, user_id) VALUES (?, ?, ?)
                           ON CONFLICT (module_id, member_id) DO UPDATE
                           SET user_id = excluded.user_id""", [module_id, member_id, user_id])
        return q.list_bindings(self._conn, tenant_id, module_id)

    async def create_contacts(self, tenant_id: str,
                              contacts: Sequence[tuple[str, Sequence[ContactPhone]]]
                              ) -> list[Contact]:
        self._require_tenant(tenant_id)
        now = self._clock()
        created = []
        for name, phones in contacts:
            contact = Contact(ids.new_id(ids.CONTACT), tenant_id, name, tuple(phones), now)
            await self.insert_contact(contact)
            created.append(contact)
        return created
