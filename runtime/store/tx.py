"""`SqlTx`: the `Tx` operations (base.py), written once, over a port and a locking hook.

    SqlTx(SqlitePort(writer_conn), Locks(), clock)              # SQLite: the group-commit writer
    port = PgPort(conn, unit=True)
    SqlTx(port, AdvisoryLocks(port), clock)                     # PostgreSQL: one unit's conn

Reads inside the transaction are `Reads` (queries.py), which this class extends. Acting's
writes (calls, history, notifications, contacts, activity, the execution row) are queued and
sent as one statement before the next read and at the unit's end (writes.py, `run_unit`);
the other writes are one statement each. Values come from each table's one column list
(tables.py). Where a concurrent unit could make a read stale, the hook is called (locks.py:
PostgreSQL's advisory locks; nothing on SQLite). Domain errors: a unique name taken is a
Conflict (`port.run_unique`), a missing tenant or reference a NotFound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from runtime import ids
from runtime.store import tables as t
from runtime.store.dialect import dumps, loads
from runtime.store.editing import Editing
from runtime.store.errors import Conflict, NotFound, StorageLimitExceeded
from runtime.store.execution_caps import cap_json, cap_request, cap_utf8
from runtime.store.locks import Locks
from runtime.store.models import (
    EXECUTION_JSON_CAP,
    EXECUTION_LOG_CAP,
    EXECUTION_REQUEST_CAP,
    JSON,
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallHandled,
    CallLookup,
    CallNotified,
    CallScene,
    Contact,
    ContactPhone,
    DialClaim,
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
)
from runtime.store.port import Args, Port
from runtime.store.queries import FIND_ENDED_CALL, FIND_OPEN_CALL, OwnedKind
from runtime.store.retention import RetentionTx
from runtime.store.writes import ACTIVITY_FIXED, Batch, PendingWrites

T = TypeVar("T")


# Built once from the column lists.
_MODULE_FIXED = ("tenant_id", "created_at")
_MODULE_INSERT = t.MODULES.insert_sql()
_MODULE_UPDATE = t.MODULES.update_sql(_MODULE_FIXED)
_VERSION_INSERT = t.VERSIONS.insert_sql()
_EXECUTION_LOGS = t.EXECUTIONS.names.index("logs")
_EXECUTION_LOGS_CUT = t.EXECUTIONS.names.index("logs_truncated")
_EXECUTION_REQUEST = t.EXECUTIONS.names.index("request")
# The other JSON columns, each capped at EXECUTION_JSON_CAP (store/execution_caps.py).
_EXECUTION_JSON = tuple((t.EXECUTIONS.names.index(name), name)
                        for name in ("result", "effects", "error"))
_USAGE_UPSERT = """INSERT INTO storage_usage (module_id, keys, bytes) VALUES ($1, $2, $3)
    ON CONFLICT (module_id) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes"""
_EXPIRED = "expires_at IS NOT NULL AND expires_at <= $2"


class _FlushFirst:
    """A port that sends the unit's queued writes before any other statement (which may
    read them). (`pending.count`, not the queue's truth value: no Python call a statement.)"""

    __slots__ = ("_inner", "dialect", "pending")

    def __init__(self, inner: Port, pending: PendingWrites) -> None:
        self._inner = inner
        self.dialect = inner.dialect
        self.pending = pending

    async def flush(self) -> None:
        if self.pending.count:
            await self._inner.write_batch(self.pending.take())

    async def run(self, sql: str, args: Args = ()) -> int:
        if self.pending.count:
            await self.flush()
        return await self._inner.run(sql, args)

    async def many(self, sql: str, rows: Sequence[Args]) -> None:
        if self.pending.count:
            await self.flush()
        await self._inner.many(sql, rows)

    async def one(self, sql: str, args: Args = ()) -> Any:
        if self.pending.count:
            await self.flush()
        return await self._inner.one(sql, args)

    async def all(self, sql: str, args: Args = ()) -> list[Any]:
        if self.pending.count:
            await self.flush()
        return await self._inner.all(sql, args)

    async def value(self, sql: str, args: Args = ()) -> Any:
        if self.pending.count:
            await self.flush()
        return await self._inner.value(sql, args)

    async def run_unique(self, sql: str, args: Args, message: str) -> None:
        if self.pending.count:
            await self.flush()
        await self._inner.run_unique(sql, args, message)

    async def write_batch(self, batch: Batch) -> None:
        await self.flush()
        await self._inner.write_batch(batch)


async def run_unit(tx: SqlTx, unit: Callable[[SqlTx], Awaitable[T]]) -> T:
    """Run a unit in `tx` and send what it queued; on any error, drop what it queued (the
    caller rolls the unit back)."""
    try:
        value = await unit(tx)
        await tx.flush()
    except BaseException:
        tx.discard()
        raise
    return value


class SqlTx(RetentionTx, Editing):
    """One write transaction's view of the database (see `base.Tx` for the contract).

    Acting's inserts and updates are queued (writes.py) and sent as one statement before the
    next read and at the end of the unit (`run_unit`): run every unit through `run_unit`.
    """

    def __init__(self, port: Port, locks: Locks, clock: Callable[[], datetime]) -> None:
        self._pending = PendingWrites()
        self._flushing = _FlushFirst(port, self._pending)
        super().__init__(self._flushing)
        self._locks = locks
        self._clock = clock

    async def flush(self) -> None:
        await self._flushing.flush()

    def discard(self) -> None:
        self._pending.clear()

    def take_pending(self) -> Batch:
        """What the unit queued and has not sent, for the caller to send with its COMMIT
        (PostgreSQL: `PgPort.commit`); the queue is empty afterwards."""
        return self._pending.take()

    # --- the webhook's reads, in one statement ----------------------------------------------

    async def call_scene(self, lookup: CallLookup) -> CallScene:
        if not self._locks.active:  # SQLite: one writer, nothing to lock or to track
            return await self.read_call_scene(lookup)
        await self._locks.call_lookup(lookup)
        column, args = self._locks.scene_column(lookup)
        scene = await self.read_call_scene(lookup, column, args)

        async def again() -> Call | None:
            nonlocal scene
            scene = await self.read_call_scene(lookup, column, args)
            return scene.call

        await self._locks.owned(scene.call, again)
        if scene.contact is None and lookup.client_phone is not None:
            self._locks.contact_absent(lookup.tenant_id, lookup.client_phone)
        self._locks.scene_read(lookup, (scene.bound_user_id,
                                        *(n.user_id for n in scene.notified)))
        return scene

    # --- calls and history ------------------------------------------------------------------

    async def find_call_by_provider_id(self, module_id: str, provider_call_id: str
                                       ) -> Call | None:
        await self._locks.call_by_id(module_id, provider_call_id)
        return await super().find_call_by_provider_id(module_id, provider_call_id)

    async def find_open_call(self, module_id: str, direction: str, src_phone: str,
                             src_phone_ext: str | None, dst_phone: str,
                             dst_phone_ext: str | None) -> Call | None:
        numbers = (module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext)
        await self._locks.call_by_numbers(numbers)

        async def lookup() -> Call | None:
            return await self._one(t.CALLS, FIND_OPEN_CALL, numbers)

        return await self._locks.owned(await lookup(), lookup)

    async def find_ended_call(self, module_id: str, direction: str, src_phone: str,
                              src_phone_ext: str | None, dst_phone: str,
                              dst_phone_ext: str | None, ended_since: datetime) -> Call | None:
        numbers = (module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext)
        await self._locks.call_by_numbers(numbers)
        args = [*numbers, self._d.time_in(ended_since)]

        async def lookup() -> Call | None:
            return await self._one(t.CALLS, FIND_ENDED_CALL, args)

        return await self._locks.owned(await lookup(), lookup)

    async def insert_call(self, call: Call) -> None:
        self._pending.add("calls_new", t.CALLS.values(call, self._d), call.id)

    async def update_call(self, call: Call) -> None:
        self._pending.update("calls_changed", "calls_new", call.id,
                             t.CALLS.values(call, self._d, t.CALL_FIXED),
                             t.CALLS.values(call, self._d))

    async def insert_call_event(self, record: CallEventRecord) -> None:
        self._pending.add("call_events", t.CALL_EVENTS.values(record, self._d))

    async def list_call_notified(self, call_id: str, *, users_only: bool = False
                                 ) -> list[CallNotified]:
        rows = await super().list_call_notified(call_id, users_only=users_only)
        # Whom this unit may notify: those notified of the call (NotifyEnd tells them all).
        self._locks.may_notify(r.user_id for r in rows)
        return rows

    async def insert_call_notified(self, row: CallNotified) -> None:
        self._pending.add("call_notified", t.CALL_NOTIFIED.values(row, self._d))

    async def find_bound_user(self, module_id: str, member_id: str) -> str | None:
        user_id = await super().find_bound_user(module_id, member_id)
        self._locks.may_notify((user_id,))  # ... and the user at the operator's number
        return user_id

    async def insert_notification(self, notification: Notification) -> None:
        await self._locks.notifying(notification.user_id)
        self._pending.add("notifications", t.NOTIFICATIONS.values(notification, self._d))

    # --- contacts and activity ----------------------------------------------------------------

    async def find_contact_by_phone(self, tenant_id: str, normalized: str) -> Contact | None:
        found = await self.first_contact_by_phone(tenant_id, normalized)
        if found is None:
            self._locks.contact_absent(tenant_id, normalized)
        return found

    async def still_no_contact(self, tenant_id: str, normalized: str) -> None:
        await self._locks.still_no_contact(tenant_id, normalized)

    async def insert_contact(self, contact: Contact) -> None:
        await self._locks.creating_contact(contact)
        self._pending.add("contacts", t.contact_values(contact, self._d))
        for phone in t.phone_rows(contact):
            self._pending.add("contact_phones", phone)

    async def insert_activity(self, entry: ActivityEntry) -> None:
        self._pending.add("activity_new", t.ACTIVITY.values(entry, self._d), entry.id)

    async def update_activity(self, entry: ActivityEntry) -> None:
        self._pending.update("activity_changed", "activity_new", entry.id,
                             t.ACTIVITY.values(entry, self._d, ACTIVITY_FIXED),
                             t.ACTIVITY.values(entry, self._d))

    # --- storage ------------------------------------------------------------------------------

    async def storage_set(self, module_id: str, key: str, value: JSON, *,
                          expires_at: datetime | None, now: datetime, limits: StorageLimits
                          ) -> StorageItem:
        if len(key) > limits.max_key_chars:
            raise StorageLimitExceeded(
                f"storage key is {len(key)} characters; the limit is {limits.max_key_chars}")
        text = dumps(value)
        value_bytes = len(text.encode("utf-8"))
        if value_bytes > limits.max_value_bytes:
            raise StorageLimitExceeded(
                f"storage value is {value_bytes} bytes; the limit is {limits.max_value_bytes}")
        await self._locks.module(module_id)  # the usage totals are read, then written
        size = len(key.encode("utf-8")) + value_bytes
        keys, total = await self._usage_after_set(module_id, key, size)
        over = keys > limits.max_keys or total > limits.max_bytes
        # Expired keys still count until purged; purge this module's and look again.
        if over and await self.purge_expired_storage(now, module_id):
            keys, total = await self._usage_after_set(module_id, key, size)
        if keys > limits.max_keys:
            raise StorageLimitExceeded(f"module storage holds at most {limits.max_keys} keys")
        if total > limits.max_bytes:
            raise StorageLimitExceeded(f"module storage holds at most {limits.max_bytes} bytes")
        item = StorageItem(module_id, key, value, size, self._d.time_or_none_out(
            self._d.time_or_none_in(expires_at)), self._d.time_out(self._d.time_in(now)))
        await self._port.run("""INSERT INTO storage (module_id, key, value, size, expires_at,
            updated_at) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (module_id, key) DO UPDATE SET value = excluded.value,
            size = excluded.size, expires_at = excluded.expires_at,
            updated_at = excluded.updated_at""", t.STORAGE.values(item, self._d))
        await self._port.run(_USAGE_UPSERT, [module_id, keys, total])
        return item

    async def _usage_after_set(self, module_id: str, key: str, size: int) -> tuple[int, int]:
        row = await self._port.one("""SELECT
            COALESCE((SELECT keys FROM storage_usage WHERE module_id = $1), 0) AS keys,
            COALESCE((SELECT bytes FROM storage_usage WHERE module_id = $1), 0) AS bytes,
            (SELECT size FROM storage WHERE module_id = $1 AND key = $2) AS old""",
                                   [module_id, self._d.key_in(key)])
        if row["old"] is None:
            return row["keys"] + 1, row["bytes"] + size
        return row["keys"], row["bytes"] - row["old"] + size

    async def _forget_sizes(self, module_id: str, sizes: Sequence[int]) -> None:
        await self._port.run("UPDATE storage_usage SET keys = keys - $2, bytes = bytes - $3 "
                             "WHERE module_id = $1", [module_id, len(sizes), sum(sizes)])

    async def storage_delete(self, module_id: str, key: str) -> bool:
        await self._locks.module(module_id)
        gone = await self._port.all("DELETE FROM storage WHERE module_id = $1 AND key = $2 "
                                    "RETURNING size", [module_id, self._d.key_in(key)])
        if not gone:
            return False
        await self._forget_sizes(module_id, [r["size"] for r in gone])
        return True

    async def purge_expired_storage(self, now: datetime, module_id: str | None = None) -> int:
        moment = self._d.time_in(now)
        if module_id is None:
            modules = [r["module_id"] for r in await self._port.all(
                "SELECT DISTINCT module_id FROM storage WHERE expires_at IS NOT NULL "
                "AND expires_at <= $1 ORDER BY module_id", [moment])]
        else:
            modules = [module_id]
        purged = 0
        for mid in modules:  # one module lock at a time, in id order: no deadlock
            await self._locks.module(mid)
            gone = await self._port.all(f"DELETE FROM storage WHERE module_id = $1 AND "
                                        f"{_EXPIRED} RETURNING size", [mid, moment])
            if gone:
                await self._forget_sizes(mid, [r["size"] for r in gone])
                purged += len(gone)
        return purged

    async def prune_expired_storage(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` of the longest expired keys, whatever their module (the
        retention pass's step; `purge_expired_storage` is a module's own, when full)."""
        moment = self._d.time_in(now)
        picked = await self._port.all(  # through the expiry index: `limit` rows read at most
            "SELECT module_id FROM storage WHERE expires_at IS NOT NULL AND expires_at <= $1 "
            "ORDER BY expires_at LIMIT $2", [moment, limit])
        counts = Counter(r["module_id"] for r in picked)
        purged = 0
        for mid in sorted(counts):  # one module lock at a time, in id order: no deadlock
            await self._locks.module(mid)
            gone = await self._port.all(
                "DELETE FROM storage WHERE module_id = $1 AND key IN (SELECT key FROM storage "
                f"WHERE module_id = $1 AND {_EXPIRED} ORDER BY expires_at LIMIT $3) "
                "RETURNING size", [mid, moment, counts[mid]])
            if gone:
                await self._forget_sizes(mid, [r["size"] for r in gone])
                purged += len(gone)
        return purged

    # --- executions ---------------------------------------------------------------------------

    async def insert_execution(self, execution: Execution) -> None:
        e = execution
        values = t.EXECUTIONS.values(e, self._d)
        # What the column can hold first (PostgreSQL: no NUL), so the cap counts it. A text
        # of n characters is at most 4n bytes: most need no encoding to be measured.
        logs = self._d.text_in(e.logs)
        if logs is not e.logs or len(logs) * 4 > EXECUTION_LOG_CAP:
            logs, cut = cap_utf8(logs, EXECUTION_LOG_CAP)
            values[_EXECUTION_LOGS] = logs
            values[_EXECUTION_LOGS_CUT] = self._d.bool_in(e.logs_truncated or cut)
        request = values[_EXECUTION_REQUEST]  # the JSON text, made once
        if request is not None and len(request) * 4 > EXECUTION_REQUEST_CAP:
            values[_EXECUTION_REQUEST] = dumps(cap_request(e.request))
        for index, name in _EXECUTION_JSON:
            text = values[index]
            if text is not None and len(text) * 4 > EXECUTION_JSON_CAP:
                kept, cut = cap_json(getattr(e, name), EXECUTION_JSON_CAP, text)
                if cut:
                    values[index] = dumps(kept)
        self._pending.add("executions", values)

    # --- management -------------------------------------------------------------------------

    async def count_owned(self, kind: OwnedKind, owner_id: str) -> int:
        # Under the owner's cap lock (PostgreSQL), held to COMMIT: the unit's creation and
        # the count it was allowed by are one step (SQLite's single writer is that already).
        await self._locks.cap(kind, owner_id)
        return await super().count_owned(kind, owner_id)

    async def _require_tenant(self, tenant_id: str) -> None:
        if await self.get_tenant(tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id}")

    async def get_module(self, tenant_id: str, module_id: str) -> Module | None:
        # FOR UPDATE (PostgreSQL): a unit reads the module to decide a write (versions are
        # numbered per module, add_version_unit checks the active version); nobody may change
        # it in between.
        return await self._one(t.MODULES, "SELECT * FROM modules WHERE id = $1 "
                               "AND tenant_id = $2{for_update}", [module_id, tenant_id])

    async def create_tenant(self, name: str) -> Tenant:
        tenant = Tenant(ids.new_id(ids.TENANT), name, self._clock())
        await self._port.run("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                             t.TENANTS.values(tenant, self._d))
        return tenant

    async def create_api_key(self, tenant_id: str) -> tuple[ApiKey, str]:
        await self._require_tenant(tenant_id)
        secret = ids.new_api_key()
        key = ApiKey(ids.new_id(ids.API_KEY), tenant_id, ids.visible_prefix(secret),
                     self._clock())
        await self._port.run("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, "
                             "created_at) VALUES ($1, $2, $3, $4, $5)",
                             [key.id, tenant_id, ids.hash_secret(secret), key.prefix,
                              self._d.time_in(key.created_at)])
        return key, secret

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        return await self._port.run(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 "
            "AND revoked_at IS NULL", [self._d.time_in(self._clock()), key_id, tenant_id]) > 0

    async def create_module(self, tenant_id: str, new: NewModule) -> Module:
        await self._require_tenant(tenant_id)
        now = self._clock()
        module = Module(
            id=ids.new_id(ids.MODULE), tenant_id=tenant_id, name=new.name,
            description=new.description, region=new.region, settings=dict(new.settings),
            secrets=tuple(new.secrets), allowlist=tuple(new.allowlist),
            webhook_token=ids.new_webhook_token(), active_version_id=None, created_at=now,
            updated_at=now,
        )
        await self._port.run_unique(_MODULE_INSERT, t.MODULES.values(module, self._d),
                                    f"a module named {new.name!r} already exists")
        return module

    async def _write_module(self, m: Module) -> None:
        await self._port.run(_MODULE_UPDATE, t.MODULES.values(m, self._d, _MODULE_FIXED))

    async def update_module(self, tenant_id: str, module_id: str, patch: ModulePatch
                            ) -> Module | None:
        module = await self.get_module(tenant_id, module_id)
        if module is None:
            return None
        changes = {k: getattr(patch, k) for k in
                   ("name", "description", "region", "settings", "secrets", "allowlist")
                   if getattr(patch, k) is not None}
        updated = replace(module, **changes, updated_at=self._clock())
        await self._port.run_unique(_MODULE_UPDATE, t.MODULES.values(updated, self._d,
                                                                     _MODULE_FIXED),
                                    f"a module named {updated.name!r} already exists")
        return updated

    async def rotate_webhook_token(self, tenant_id: str, module_id: str) -> Module | None:
        module = await self.get_module(tenant_id, module_id)
        if module is None:
            return None
        updated = replace(module, webhook_token=ids.new_webhook_token(),
                          updated_at=self._clock())
        await self._write_module(updated)
        return updated

    async def delete_module(self, tenant_id: str, module_id: str) -> bool:
        return await self._port.run("DELETE FROM modules WHERE id = $1 AND tenant_id = $2",
                                    [module_id, tenant_id]) > 0

    async def add_version(self, tenant_id: str, module_id: str, source: str, *,
                          created_by_key_id: str | None = None,
                          base_version_id: str | None = None, activate: bool = True
                          ) -> ScriptVersion | None:
        module = await self.get_module(tenant_id, module_id)  # locked: numbers are per module
        if module is None:
            return None
        if base_version_id is not None and await self.get_version(
                tenant_id, module_id, base_version_id) is None:
            raise NotFound(f"no version {base_version_id} of module {module_id}")
        if created_by_key_id is not None and not await self._port.value(
                "SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2",
                [created_by_key_id, tenant_id]):
            raise NotFound(f"no API key {created_by_key_id}")
        number = await self._port.value("SELECT COALESCE(MAX(number), 0) + 1 "
                                        "FROM script_versions WHERE module_id = $1", [module_id])
        now = self._clock()
        version = ScriptVersion(
            id=ids.new_id(ids.VERSION), module_id=module_id, number=int(number),
            source=source, sha256=ids.sha256_text(source), created_at=now,
            created_by_key_id=created_by_key_id, base_version_id=base_version_id,
        )
        await self._port.run(_VERSION_INSERT, t.VERSIONS.values(version, self._d))
        if activate:
            await self._write_module(replace(module, active_version_id=version.id,
                                             updated_at=now))
        return version

    async def activate_version(self, tenant_id: str, module_id: str, version_id: str
                               ) -> Module | None:
        module = await self.get_module(tenant_id, module_id)
        if module is None or await self.get_version(tenant_id, module_id, version_id) is None:
            return None
        updated = replace(module, active_version_id=version_id, updated_at=self._clock())
        await self._write_module(updated)
        return updated

    async def rollback_version(self, tenant_id: str, module_id: str) -> Module | None:
        module = await self.get_module(tenant_id, module_id)
        if module is None:
            return None
        active = await self.get_active_version(tenant_id, module_id)
        if active is None:
            raise Conflict("the module has no active version to roll back from")
        previous = await self.version_by_number(module_id, active.number - 1)
        if previous is None:
            raise Conflict(f"version {active.number} is the first; there is none before it")
        updated = replace(module, active_version_id=previous.id, updated_at=self._clock())
        await self._write_module(updated)
        return updated

    async def create_user(self, tenant_id: str, name: str, email: str | None = None) -> User:
        await self._require_tenant(tenant_id)
        user = User(ids.new_id(ids.USER), tenant_id, name, email, self._clock())
        await self._port.run_unique("INSERT INTO users (id, tenant_id, name, email, created_at) "
                                    "VALUES ($1, $2, $3, $4, $5)", t.USERS.values(user, self._d),
                                    f"a user named {name!r} already exists")
        return user

    async def create_user_token(self, tenant_id: str, user_id: str
                                ) -> tuple[UserToken, str] | None:
        if await self.get_user(tenant_id, user_id) is None:
            return None
        secret = ids.new_user_token()
        token = UserToken(ids.new_id(ids.USER_TOKEN), user_id, ids.visible_prefix(secret),
                          self._clock())
        await self._port.run("INSERT INTO user_tokens (id, user_id, token_hash, prefix, "
                             "created_at) VALUES ($1, $2, $3, $4, $5)",
                             [token.id, user_id, ids.hash_secret(secret), token.prefix,
                              self._d.time_in(token.created_at)])
        return token, secret

    async def revoke_user_token(self, tenant_id: str, user_id: str, token_id: str) -> bool:
        return await self._port.run(
            "UPDATE user_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 "
            "AND revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE tenant_id = $4)",
            [self._d.time_in(self._clock()), token_id, user_id, tenant_id]) > 0

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        # Tokens and bindings go by ON DELETE CASCADE (on PostgreSQL the bindings trigger tells
        # every node's module cache); notifications and call_notified keep their rows with
        # user_id NULL (ON DELETE SET NULL, migration 0002 of each backend).
        return await self._port.run("DELETE FROM users WHERE id = $1 AND tenant_id = $2",
                                    [user_id, tenant_id]) > 0

    async def set_bindings(self, tenant_id: str, module_id: str,
                           bindings: Mapping[str, str | None], *, replace: bool = False
                           ) -> list[Binding] | None:
        if await self.get_module(tenant_id, module_id) is None:
            return None
        for bound in sorted({u for u in bindings.values() if u is not None}):
            if await self.get_user(tenant_id, bound) is None:
                raise NotFound(f"no user {bound}")
        if replace:
            await self._port.run("DELETE FROM bindings WHERE module_id = $1", [module_id])
        unbind = [(module_id, m) for m, u in bindings.items() if u is None]
        bind = [(module_id, m, u) for m, u in bindings.items() if u is not None]
        if unbind:
            await self._port.many("DELETE FROM bindings WHERE module_id = $1 "
                                  "AND member_id = $2", unbind)
        if bind:
            await self._port.many("""INSERT INTO bindings (module_id, member_id, user_id)
                VALUES ($1, $2, $3) ON CONFLICT (module_id, member_id)
                DO UPDATE SET user_id = excluded.user_id""", bind)
        return await self.list_bindings(tenant_id, module_id)

    async def create_contacts(self, tenant_id: str,
                              contacts: Sequence[tuple[str, Sequence[ContactPhone]]], *,
                              indexed: bool = True) -> list[Contact]:
        await self._require_tenant(tenant_id)
        # One number, one contact (editing.py): refused, naming the contact that has it.
        await self.claim_numbers(tenant_id, [phones for _, phones in contacts],
                                 indexed=indexed)
        now = self._clock()
        created = []
        for name, phones in contacts:
            contact = Contact(ids.new_id(ids.CONTACT), tenant_id, name, tuple(phones), now)
            await self.insert_contact(contact)
            created.append(contact)
        await self.adopt_calls(tenant_id, created)
        return created

    async def mark_call_handled(self, tenant_id: str, call_id: str, user_id: str
                                ) -> CallHandled | None:
        if await self._port.one("SELECT 1 FROM calls WHERE id = $1 AND tenant_id = $2",
                                [call_id, tenant_id]) is None:
            return None
        mark = CallHandled(call_id, tenant_id, user_id, self._clock())
        # A second mark leaves the first: it says who took care of the call.
        await self._port.run(
            "INSERT INTO call_handled (call_id, tenant_id, user_id, handled_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (call_id) DO NOTHING",
            t.CALL_HANDLED.values(mark, self._d))
        return await self._one(t.CALL_HANDLED,
                               "SELECT * FROM call_handled WHERE call_id = $1", [call_id])

    async def claim_dial(self, tenant_id: str, form_key: str) -> DialClaim:
        # Two posts at once on two nodes: PostgreSQL makes the second INSERT wait for the
        # first's commit, then do nothing; the second then reads the first's row.
        if await self._port.run(
                "INSERT INTO dial_once (form_key, tenant_id, created_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (form_key) DO NOTHING",
                [form_key, tenant_id, self._d.time_in(self._clock())]):
            return DialClaim(claimed=True)
        row = await self._port.one("SELECT answer FROM dial_once WHERE form_key = $1",
                                   [form_key])
        if row is None:  # gone between the two statements (its placing failed): ours now
            return await self.claim_dial(tenant_id, form_key)
        return DialClaim(claimed=False,
                         answer=None if row["answer"] is None else loads(row["answer"]))

    async def keep_signed_out(self, session_id: str, expires_at: datetime, *, owner: str = "",
                              keep_per_owner: int | None = None) -> None:
        d = self._d
        await self._port.run(
            "INSERT INTO console_signed_out (session_id, owner, expires_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (session_id) DO NOTHING",
            [session_id, owner, d.time_in(expires_at)])
        if not owner or keep_per_owner is None:
            return
        mark = f"{owner}.*"
        # The latest expiry past the owner's newest `keep_per_owner` sign-outs (through the
        # index by owner). Those up to it become the owner's mark: its sessions expiring by
        # then are out. (A kept row expiring at that same moment goes too: the mark covers it.)
        newest_over = await self._port.value(
            "SELECT expires_at FROM console_signed_out WHERE owner = $1 AND session_id <> $2 "
            "ORDER BY expires_at DESC LIMIT 1 OFFSET $3", [owner, mark, keep_per_owner])
        if newest_over is None:
            return
        until = d.time_out(newest_over)
        await self._port.run(
            "DELETE FROM console_signed_out WHERE owner = $1 AND session_id <> $2 "
            "AND expires_at <= $3", [owner, mark, newest_over])
        kept = await self._port.value(
            "SELECT expires_at FROM console_signed_out WHERE session_id = $1", [mark])
        if kept is not None and d.time_out(kept) >= until:
            return
        await self._port.run(
            "INSERT INTO console_signed_out (session_id, owner, expires_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at",
            [mark, owner, newest_over])

    async def settle_dial(self, form_key: str, answer: JSON) -> None:
        if answer is None:
            await self._port.run("DELETE FROM dial_once WHERE form_key = $1", [form_key])
        else:
            await self._port.run("UPDATE dial_once SET answer = $2 WHERE form_key = $1",
                                 [form_key, dumps(answer)])
