"""`PgTx`: the `Tx` operations on one pooled connection, inside the unit's transaction.

Concurrency (several nodes, and several units at once on one node) is handled here, so the
acting logic above stays exactly what it is on SQLite, where one writer serialises everything.
All locks are transaction-level advisory locks (`pg_advisory_xact_lock`, released at COMMIT or
ROLLBACK); once a lock is held, every later statement of the transaction reads a fresh
snapshot (READ COMMITTED), so it sees everything the previous holder committed.

- **Call keys.** Acting finds a call by its provider id, else by its numbers. Before each
  lookup the unit locks the key it looks by: `(module, "id", callId)` or `(module, "numbers",
  direction/src/ext/dst/ext)`. Two units that could find (or fail to find, and then create)
  the same call always share a key: the same callId, or the same numbers (a unit whose callId
  is unknown falls back to the numbers). A call found by its numbers that carries a callId is
  also locked by that id, and looked up again under it, since units that know the id lock
  only the id. So every unit touching a call holds one lock in common with every other: events
  of one call hitting two nodes at once end in one call (no lost update, no second call), an
  identical retry is seen as the repeat it is, and units of different calls, even of one busy
  module, never wait for each other. (A lock per module, the simpler choice, made one module's
  units wait for each other: see bench/store_backends.py.)
- **Notification locks**, `(user)`, held to COMMIT from just before the unit stores its
  first notification: a user's notifications are numbered (`seq`) in commit order, as on
  SQLite, so a client catching up "after" the last one it saw never misses one that was
  numbered before it but committed after it. A unit locks every user it may notify at once,
  in id order (those already notified of the call, whom a NotifyEnd tells, and the user at
  the operator's number), so two units never wait for each other's users in a cycle. Units
  notifying one user queue from that point to COMMIT (bench/store_backends.py, pool of 10:
  about 780 units/s when all notify one operator, 1120 when spread over 16).
- **Module lock**, `(module)`: key-value storage writes and purges, which read and then write
  the module's usage totals.
- **Contacts.** A missed call from an unknown number creates a contact; the lookup that found
  none may be stale when a unit of another call (or module) of the same tenant creates one
  meanwhile. So before creating a contact for a number this transaction looked up and did not
  find, take the lock `(tenant, number)`, look again, and if one appeared raise `RetryUnit`:
  the store rolls back and runs the unit again, which then finds it.
- Lock order is call keys, then users, then contact, then module (acting's own order:
  event, record, storage), so these cannot wait on each other in a cycle in practice; should
  an odd script make one (an event and a record of different calls in one result),
  PostgreSQL detects the deadlock and the store runs the unit again.
- **Management writes** read the module `FOR UPDATE` (settings patch, version numbering,
  activation, bindings), so two API calls never overwrite each other's change.
- **Backstops**: unique indexes on (module, provider call id) and on activity.call_id; a
  violation of those means a race the locks should have prevented, and the store retries the
  unit like a deadlock or a serialization failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from runtime import ids
from runtime.store import postgres_codec as codec
from runtime.store import postgres_queries as q
from runtime.store.errors import Conflict, NotFound, StorageLimitExceeded, StoreError
from runtime.store.models import (
    EXECUTION_LOG_CAP,
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
)
from runtime.store.postgres_codec import Connection, Db, affected, json_or_none, ts, ts_or_none
from runtime.store.sqlite_tx import _cap_request, _cap_utf8

# Advisory lock namespaces (the first key of the two-key form): "Vo" and a number.
LOCK_MODULE = 0x566F0001
LOCK_CONTACT = 0x566F0002
LOCK_MIGRATIONS = 0x566F0003
LOCK_CALL = 0x566F0004
LOCK_NOTIFY = 0x566F0005
# Separates the parts of a lock key. Keys are hashed (hashtext) into the lock's second number:
# two keys that collide, or a callId holding the separator, only share a lock, which may cost
# a wait (or, twice over, a deadlock the store retries), never correctness.
_SEP = "\x1f"


class RetryUnit(StoreError):
    """The unit read something that changed before it could act on it: run it again."""


_CALL_INSERT = (f"INSERT INTO calls ({', '.join(codec.CALL_COLUMNS)}) VALUES "
                f"({', '.join(f'${i + 1}' for i in range(len(codec.CALL_COLUMNS)))})")
_CALL_FIXED = ("tenant_id", "module_id", "created_at")  # never change after the insert
_CALL_UPDATE_COLUMNS = [c for c in codec.CALL_COLUMNS if c not in _CALL_FIXED]  # "id" first
_CALL_UPDATE = ("UPDATE calls SET " + ", ".join(
    f"{c} = ${i + 1}" for i, c in enumerate(_CALL_UPDATE_COLUMNS) if c != "id")
    + " WHERE id = $1")


class PgTx:
    """One unit's transaction (see `base.Tx` for the contract, the module doc for locking)."""

    def __init__(self, conn: Connection, clock: Callable[[], datetime]) -> None:
        self._db = Db(conn)
        self._conn = conn
        self._clock = clock
        self._held: set[tuple[int, str]] = set()
        self._absent_numbers: set[tuple[str, str]] = set()
        self._may_notify: set[str] = set()

    # --- locks ------------------------------------------------------------------------------

    async def _lock(self, space: int, key: str) -> None:
        if (space, key) not in self._held:
            await self._db.run("SELECT pg_advisory_xact_lock($1, hashtext($2))", space, key)
            self._held.add((space, key))

    async def lock_module(self, module_id: str) -> None:
        await self._lock(LOCK_MODULE, module_id)

    @staticmethod
    def _id_key(module_id: str, provider_call_id: str) -> str:
        return _SEP.join((module_id, "id", provider_call_id))

    @staticmethod
    def _numbers_key(module_id: str, direction: str, src_phone: str, src_phone_ext: str | None,
                     dst_phone: str, dst_phone_ext: str | None) -> str:
        # None and "" differ for extensions (matching uses IS NOT DISTINCT FROM).
        return _SEP.join((module_id, "numbers", direction, src_phone, repr(src_phone_ext),
                          dst_phone, repr(dst_phone_ext)))

    async def _owned(self, found: Call | None,
                     lookup: Callable[[], Awaitable[Call | None]]) -> Call | None:
        """The call found by numbers, once its callId (if any) is locked too: units that
        know that id lock only the id. Looked up again after a new lock (it may have moved)."""
        for _ in range(10):
            if found is None or found.provider_call_id is None:
                return found
            key = (LOCK_CALL, self._id_key(found.module_id, found.provider_call_id))
            if key in self._held:
                return found
            await self._lock(*key)
            found = await lookup()
        raise RetryUnit("the call kept changing while it was looked up")

    # --- calls and history ------------------------------------------------------------------

    async def find_call_by_provider_id(self, module_id: str, provider_call_id: str
                                       ) -> Call | None:
        await self._lock(LOCK_CALL, self._id_key(module_id, provider_call_id))
        return await q.find_call_by_provider_id(self._db, module_id, provider_call_id)

    async def find_open_call(self, module_id: str, direction: str, src_phone: str,
                             src_phone_ext: str | None, dst_phone: str,
                             dst_phone_ext: str | None) -> Call | None:
        numbers = (module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext)
        await self._lock(LOCK_CALL, self._numbers_key(*numbers))

        async def lookup() -> Call | None:
            return await q.find_open_call(self._db, *numbers)

        return await self._owned(await lookup(), lookup)

    async def find_ended_call(self, module_id: str, direction: str, src_phone: str,
                              src_phone_ext: str | None, dst_phone: str,
                              dst_phone_ext: str | None, ended_since: datetime) -> Call | None:
        numbers = (module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext)
        await self._lock(LOCK_CALL, self._numbers_key(*numbers))

        async def lookup() -> Call | None:
            return await q.find_ended_call(self._db, *numbers, ended_since)

        return await self._owned(await lookup(), lookup)

    async def insert_call(self, call: Call) -> None:
        # Inserted after a lookup under the call's keys (acting), or as given (tests, tools).
        await self._db.run(_CALL_INSERT, *codec.call_values(call))

    async def update_call(self, call: Call) -> None:
        values = codec.call_values(call)
        kept = [v for c, v in zip(codec.CALL_COLUMNS, values, strict=True)
                if c not in _CALL_FIXED]
        await self._db.run(_CALL_UPDATE, *kept)

    async def list_call_history(self, call_id: str) -> list[CallEventRecord]:
        return await q.list_call_history(self._db, call_id)

    async def insert_call_event(self, record: CallEventRecord) -> None:
        r = record
        await self._db.run(
            """INSERT INTO call_events (id, call_id, kind, direction, src_phone, src_phone_ext,
               dst_phone, dst_phone_ext, payload, effect, received_at, execution_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
            r.id, r.call_id, r.kind, r.direction, r.src_phone, r.src_phone_ext, r.dst_phone,
            r.dst_phone_ext, codec.dumps(r.payload), r.effect.value, ts(r.received_at),
            r.execution_id)

    async def list_call_notified(self, call_id: str) -> list[CallNotified]:
        rows = await q.list_call_notified(self._db, call_id)
        # Whom this unit may notify: those notified of the call (NotifyEnd tells them all).
        self._may_notify.update(r.user_id for r in rows if r.user_id is not None)
        return rows

    async def insert_call_notified(self, row: CallNotified) -> None:
        await self._db.run("INSERT INTO call_notified (call_id, phone, user_id, kind, "
                           "created_at) VALUES ($1, $2, $3, $4, $5)",
                           row.call_id, row.phone, row.user_id, row.kind.value,
                           ts(row.created_at))

    async def find_bound_user(self, module_id: str, member_id: str) -> str | None:
        user_id = await q.find_bound_user(self._db, module_id, member_id)
        if user_id is not None:
            self._may_notify.add(user_id)  # ... and the user at the operator's number
        return user_id

    async def insert_notification(self, notification: Notification) -> None:
        n = notification
        if (LOCK_NOTIFY, n.user_id) not in self._held:
            # Every user this unit may notify, at once and in id order (no deadlock).
            users = sorted({n.user_id, *self._may_notify}
                           - {key for space, key in self._held if space == LOCK_NOTIFY})
            await self._db.run(
                """SELECT count(pg_advisory_xact_lock($1, hashtext(u))) FROM (
                       SELECT u FROM unnest($2::text[]) WITH ORDINALITY AS t(u, n)
                       ORDER BY n) AS ordered""", LOCK_NOTIFY, users)
            self._held.update((LOCK_NOTIFY, u) for u in users)
        await self._db.run("INSERT INTO notifications (id, tenant_id, user_id, call_id, kind, "
                           "payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                           n.id, n.tenant_id, n.user_id, n.call_id, n.kind.value,
                           codec.dumps(n.payload), ts(n.created_at))

    # --- contacts and activity ----------------------------------------------------------------

    async def find_contact_by_phone(self, tenant_id: str, normalized: str) -> Contact | None:
        found = await q.first_contact_by_phone(self._db, tenant_id, normalized)
        if found is None:
            self._absent_numbers.add((tenant_id, normalized))
        return found

    async def insert_contact(self, contact: Contact) -> None:
        for phone in contact.phones:
            number = (contact.tenant_id, phone.normalized or "")
            if phone.normalized is not None and number in self._absent_numbers:
                await self._lock(LOCK_CONTACT, _SEP.join(number))
                if await self._db.val("SELECT 1 FROM contact_phones WHERE tenant_id = $1 "
                                      "AND normalized = $2 LIMIT 1", *number):
                    raise RetryUnit(f"a contact with {phone.normalized} appeared meanwhile")
        await self._db.run("INSERT INTO contacts (id, tenant_id, name, created_at) "
                           "VALUES ($1, $2, $3, $4)",
                           contact.id, contact.tenant_id, contact.name, ts(contact.created_at))
        if contact.phones:
            await self._db.run(
                """INSERT INTO contact_phones (contact_id, tenant_id, position, raw, normalized)
                   SELECT $1, $2, t.position - 1, t.raw, t.normalized
                   FROM unnest($3::text[], $4::text[]) WITH ORDINALITY
                        AS t(raw, normalized, position)""",
                contact.id, contact.tenant_id, [p.raw for p in contact.phones],
                [p.normalized for p in contact.phones])

    async def get_activity_by_call(self, call_id: str) -> ActivityEntry | None:
        return await q.get_activity_by_call(self._db, call_id)

    async def insert_activity(self, entry: ActivityEntry) -> None:
        await self._db.run("INSERT INTO activity (id, tenant_id, contact_id, call_id, data, "
                           "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                           entry.id, entry.tenant_id, entry.contact_id, entry.call_id,
                           codec.dumps(entry.data), ts(entry.created_at), ts(entry.updated_at))

    async def update_activity(self, entry: ActivityEntry) -> None:
        await self._db.run("UPDATE activity SET contact_id = $1, data = $2, updated_at = $3 "
                           "WHERE id = $4", entry.contact_id, codec.dumps(entry.data),
                           ts(entry.updated_at), entry.id)

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
        await self.lock_module(module_id)  # the usage totals are read, then written
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
        await self._db.run(
            """WITH item AS (
                   INSERT INTO storage (module_id, key, value, size, expires_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (module_id, key) DO UPDATE SET value = excluded.value,
                   size = excluded.size, expires_at = excluded.expires_at,
                   updated_at = excluded.updated_at)
               INSERT INTO storage_usage (module_id, keys, bytes) VALUES ($1, $7, $8)
               ON CONFLICT (module_id) DO UPDATE SET keys = excluded.keys,
               bytes = excluded.bytes""",
            module_id, codec.key_bytes(key), text, size, ts_or_none(expires_at), ts(now),
            keys, total)
        return StorageItem(module_id, key, value, size, ts_or_none(expires_at), ts(now))

    async def _usage_after_set(self, module_id: str, key: str, size: int) -> tuple[int, int]:
        row = await self._db.one(
            """SELECT COALESCE(u.keys, 0) AS keys, COALESCE(u.bytes, 0) AS bytes,
                      (SELECT size FROM storage WHERE module_id = $1 AND key = $2) AS old
               FROM (SELECT 1) one
               LEFT JOIN storage_usage u ON u.module_id = $1""",
            module_id, codec.key_bytes(key))
        assert row is not None
        if row["old"] is None:
            return row["keys"] + 1, row["bytes"] + size
        return row["keys"], row["bytes"] - row["old"] + size

    async def storage_delete(self, module_id: str, key: str) -> bool:
        await self.lock_module(module_id)
        count = await self._db.val(
            """WITH gone AS (DELETE FROM storage WHERE module_id = $1 AND key = $2
                             RETURNING size),
                    usage AS (UPDATE storage_usage
                              SET keys = keys - (SELECT count(*) FROM gone),
                                  bytes = bytes - (SELECT COALESCE(sum(size), 0) FROM gone)
                              WHERE module_id = $1 AND EXISTS (SELECT 1 FROM gone))
               SELECT count(*) FROM gone""",
            module_id, codec.key_bytes(key))
        return bool(count)

    async def purge_expired_storage(self, now: datetime, module_id: str | None = None) -> int:
        if module_id is None:
            modules = [r["module_id"] for r in await self._db.all(
                "SELECT DISTINCT module_id FROM storage WHERE expires_at IS NOT NULL "
                "AND expires_at <= $1 ORDER BY module_id", ts(now))]
        else:
            modules = [module_id]
        purged = 0
        for mid in modules:  # one module lock at a time, in id order: no deadlock
            await self.lock_module(mid)
            purged += await self._db.val(
                """WITH gone AS (DELETE FROM storage WHERE module_id = $1
                                 AND expires_at IS NOT NULL AND expires_at <= $2
                                 RETURNING size),
                        usage AS (UPDATE storage_usage
                                  SET keys = keys - (SELECT count(*) FROM gone),
                                      bytes = bytes - (SELECT COALESCE(sum(size), 0) FROM gone)
                                  WHERE module_id = $1 AND EXISTS (SELECT 1 FROM gone))
                   SELECT count(*) FROM gone""", mid, ts(now))
        return purged

    # --- executions ---------------------------------------------------------------------------

    async def insert_execution(self, execution: Execution) -> None:
        e = execution
        # NUL becomes U+FFFD at the seam (codec.Db); do it first so the cap counts it.
        logs, cut = _cap_utf8(e.logs.replace("\x00", "\ufffd"), EXECUTION_LOG_CAP)
        await self._db.run(
            """INSERT INTO executions (id, tenant_id, module_id, version_id, function, outcome,
               error, limit_name, logs, logs_truncated, duration_ms, request, result, effects,
               dry_run, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""",
            e.id, e.tenant_id, e.module_id, e.version_id, e.function, e.outcome.value,
            json_or_none(e.error), e.limit, logs, e.logs_truncated or cut,
            float(e.duration_ms), json_or_none(_cap_request(e.request)), json_or_none(e.result),
            json_or_none(e.effects), e.dry_run, ts(e.created_at))

    # --- management -------------------------------------------------------------------------

    async def _require_tenant(self, tenant_id: str) -> None:
        if await q.get_tenant(self._db, tenant_id) is None:
            raise NotFound(f"no tenant {tenant_id}")

    async def get_module(self, tenant_id: str, module_id: str) -> Module | None:
        # FOR UPDATE: a unit reads the module to decide a write (add_version_unit checks the
        # active version); nobody may change it in between.
        return await q.get_module(self._db, tenant_id, module_id, for_update=True)

    async def create_tenant(self, name: str) -> Tenant:
        tenant = Tenant(ids.new_id(ids.TENANT), name, self._clock())
        await self._db.run("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)",
                           tenant.id, tenant.name, ts(tenant.created_at))
        return tenant

    async def create_api_key(self, tenant_id: str) -> tuple[ApiKey, str]:
        await self._require_tenant(tenant_id)
        secret = ids.new_api_key()
        key = ApiKey(ids.new_id(ids.API_KEY), tenant_id, ids.visible_prefix(secret),
                     self._clock())
        await self._db.run("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at) "
                           "VALUES ($1, $2, $3, $4, $5)",
                           key.id, tenant_id, ids.hash_secret(secret), key.prefix,
                           ts(key.created_at))
        return key, secret

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        status = await self._db.run("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 "
                                    "AND tenant_id = $3 AND revoked_at IS NULL",
                                    ts(self._clock()), key_id, tenant_id)
        return affected(status) > 0

    async def _run_or_conflict(self, message: str, sql: str, *args: object) -> None:
        """A statement whose unique violation is a domain Conflict. In a savepoint, so the
        transaction stays usable after it, as with SQLite."""
        try:
            async with self._conn.transaction():
                await self._db.run(sql, *args)
        except Conflict as error:
            raise Conflict(message) from error

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
        await self._run_or_conflict(
            f"a module named {new.name!r} already exists",
            """INSERT INTO modules (id, tenant_id, name, description, region, settings,
               secrets, allowlist, webhook_token, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
            module.id, tenant_id, module.name, module.description, module.region,
            codec.dumps(module.settings), codec.dumps(list(module.secrets)),
            codec.dumps(list(module.allowlist)), module.webhook_token, ts(now), ts(now))
        return module

    _MODULE_UPDATE = """UPDATE modules SET name = $1, description = $2, region = $3,
        settings = $4, secrets = $5, allowlist = $6, webhook_token = $7,
        active_version_id = $8, updated_at = $9 WHERE id = $10"""

    def _module_values(self, m: Module) -> list[object]:
        return [m.name, m.description, m.region, codec.dumps(m.settings),
                codec.dumps(list(m.secrets)), codec.dumps(list(m.allowlist)), m.webhook_token,
                m.active_version_id, ts(m.updated_at), m.id]

    async def _write_module(self, m: Module) -> None:
        await self._db.run(self._MODULE_UPDATE, *self._module_values(m))

    async def _locked_module(self, tenant_id: str, module_id: str) -> Module | None:
        return await q.get_module(self._db, tenant_id, module_id, for_update=True)

    async def update_module(self, tenant_id: str, module_id: str, patch: ModulePatch
                            ) -> Module | None:
        module = await self._locked_module(tenant_id, module_id)
        if module is None:
            return None
        changes = {k: getattr(patch, k) for k in
                   ("name", "description", "region", "settings", "secrets", "allowlist")
                   if getattr(patch, k) is not None}
        updated = replace(module, **changes, updated_at=self._clock())
        await self._run_or_conflict(f"a module named {updated.name!r} already exists",
                                    self._MODULE_UPDATE, *self._module_values(updated))
        return updated

    async def rotate_webhook_token(self, tenant_id: str, module_id: str) -> Module | None:
        module = await self._locked_module(tenant_id, module_id)
        if module is None:
            return None
        updated = replace(module, webhook_token=ids.new_webhook_token(),
                          updated_at=self._clock())
        await self._write_module(updated)
        return updated

    async def delete_module(self, tenant_id: str, module_id: str) -> bool:
        status = await self._db.run("DELETE FROM modules WHERE id = $1 AND tenant_id = $2",
                                    module_id, tenant_id)
        return affected(status) > 0

    async def add_version(self, tenant_id: str, module_id: str, source: str, *,
                          created_by_key_id: str | None = None,
                          base_version_id: str | None = None, activate: bool = True
                          ) -> ScriptVersion | None:
        module = await self._locked_module(tenant_id, module_id)  # numbers are per module
        if module is None:
            return None
        if base_version_id is not None and await q.get_version(
                self._db, tenant_id, module_id, base_version_id) is None:
            raise NotFound(f"no version {base_version_id} of module {module_id}")
        if created_by_key_id is not None and not await self._db.val(
                "SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2",
                created_by_key_id, tenant_id):
            raise NotFound(f"no API key {created_by_key_id}")
        number = await self._db.val("SELECT COALESCE(MAX(number), 0) + 1 FROM script_versions "
                                    "WHERE module_id = $1", module_id)
        now = self._clock()
        version = ScriptVersion(
            id=ids.new_id(ids.VERSION), module_id=module_id, number=int(number),
            source=source, sha256=ids.sha256_text(source), created_at=now,
            created_by_key_id=created_by_key_id, base_version_id=base_version_id,
        )
        await self._db.run("""INSERT INTO script_versions (id, module_id, number, source,
                              sha256, created_at, created_by_key_id, base_version_id)
                              VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                           version.id, module_id, version.number, source, version.sha256,
                           ts(now), created_by_key_id, base_version_id)
        if activate:
            await self._write_module(replace(module, active_version_id=version.id,
                                             updated_at=now))
        return version

    async def activate_version(self, tenant_id: str, module_id: str, version_id: str
                               ) -> Module | None:
        module = await self._locked_module(tenant_id, module_id)
        if module is None or await q.get_version(self._db, tenant_id, module_id,
                                                 version_id) is None:
            return None
        updated = replace(module, active_version_id=version_id, updated_at=self._clock())
        await self._write_module(updated)
        return updated

    async def rollback_version(self, tenant_id: str, module_id: str) -> Module | None:
        module = await self._locked_module(tenant_id, module_id)
        if module is None:
            return None
        active = await q.get_active_version(self._db, tenant_id, module_id)
        if active is None:
            raise Conflict("the module has no active version to roll back from")
        previous = await q.version_by_number(self._db, module_id, active.number - 1)
        if previous is None:
            raise Conflict(f"version {active.number} is the first; there is none before it")
        updated = replace(module, active_version_id=previous.id, updated_at=self._clock())
        await self._write_module(updated)
        return updated

    async def create_user(self, tenant_id: str, name: str, email: str | None = None) -> User:
        await self._require_tenant(tenant_id)
        user = User(ids.new_id(ids.USER), tenant_id, name, email, self._clock())
        await self._run_or_conflict(
            f"a user named {name!r} already exists",
            "INSERT INTO users (id, tenant_id, name, email, created_at) "
            "VALUES ($1, $2, $3, $4, $5)", user.id, tenant_id, name, email, ts(user.created_at))
        return user

    async def create_user_token(self, tenant_id: str, user_id: str
                                ) -> tuple[UserToken, str] | None:
        if await q.get_user(self._db, tenant_id, user_id) is None:
            return None
        secret = ids.new_user_token()
        token = UserToken(ids.new_id(ids.USER_TOKEN), user_id, ids.visible_prefix(secret),
                          self._clock())
        await self._db.run("INSERT INTO user_tokens (id, user_id, token_hash, prefix, "
                           "created_at) VALUES ($1, $2, $3, $4, $5)",
                           token.id, user_id, ids.hash_secret(secret), token.prefix,
                           ts(token.created_at))
        return token, secret

    async def revoke_user_token(self, tenant_id: str, user_id: str, token_id: str) -> bool:
        status = await self._db.run(
            "UPDATE user_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 "
            "AND revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE tenant_id = $4)",
            ts(self._clock()), token_id, user_id, tenant_id)
        return affected(status) > 0

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        # Tokens and bindings go by ON DELETE CASCADE (the bindings trigger tells every node's
        # module cache); notifications and call_notified keep their rows with user_id NULL
        # (ON DELETE SET NULL, migrations_pg/0002).
        status = await self._db.run("DELETE FROM users WHERE id = $1 AND tenant_id = $2",
                                    user_id, tenant_id)
        return affected(status) > 0

    async def set_bindings(self, tenant_id: str, module_id: str,
                           bindings: Mapping[str, str | None], *, replace: bool = False
                           ) -> list[Binding] | None:
        if await self._locked_module(tenant_id, module_id) is None:
            return None
        for bound in sorted({u for u in bindings.values() if u is not None}):
            if await q.get_user(self._db, tenant_id, bound) is None:
                raise NotFound(f"no user {bound}")
        if replace:
            await self._db.run("DELETE FROM bindings WHERE module_id = $1", module_id)
        unbind = [m for m, u in bindings.items() if u is None]
        bind = [(m, u) for m, u in bindings.items() if u is not None]
        if unbind:
            await self._db.run("DELETE FROM bindings WHERE module_id = $1 "
                               "AND member_id = ANY($2::text[])", module_id, unbind)
        if bind:
            await self._db.run(
                """INSERT INTO bindings (module_id, member_id, user_id)
                   SELECT $1, t.member_id, t.user_id
                   FROM unnest($2::text[], $3::text[]) AS t(member_id, user_id)
                   ON CONFLICT (module_id, member_id) DO UPDATE SET user_id = excluded.user_id""",
                module_id, [m for m, _ in bind], [u for _, u in bind])
        return await q.list_bindings(self._db, tenant_id, module_id)

    async def create_contacts(self, tenant_id: str,
                              contacts: Sequence[tuple[str, Sequence[ContactPhone]]]
                              ) -> list[Contact]:
        await self._require_tenant(tenant_id)
        now = self._clock()
        created = []
        for name, phones in contacts:
            contact = Contact(ids.new_id(ids.CONTACT), tenant_id, name, tuple(phones), now)
            await self.insert_contact(contact)
            created.append(contact)
        return created
