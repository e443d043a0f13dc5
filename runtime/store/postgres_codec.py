"""PostgreSQL rows <-> store records, and the one seam every statement passes (`Db`).

Types: timestamptz <-> aware UTC datetimes cut to milliseconds (as SQLite's ISO text keeps
them), `json` columns hold compact JSON text (`sqlite_codec.dumps`), booleans are booleans,
storage keys are bytea (UTF-8 of the key).

`Db` is the seam: it makes text parameters storable and maps driver errors to the store's.
- PostgreSQL text cannot hold NUL (U+0000), which a script's phone number, a log line or an
  id taken from a URL path can. NUL in a text parameter becomes U+FFFD: a lookup by such a
  value finds nothing (as the id does not exist) instead of failing, and a stored phone or log
  keeps every other character. Storage keys, which must round-trip exactly, are bytea.
- asyncpg's errors become `runtime.store.errors` (the driver's error stays as `__cause__`, for
  the retry decision in `postgres.py`): a unique violation is a Conflict, a foreign key
  violation a NotFound, anything else a StoreError.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from runtime.store.errors import Conflict, NotFound, StoreError
from runtime.store.models import (
    JSON,
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallNotified,
    CallState,
    Contact,
    ContactPhone,
    EventEffect,
    Execution,
    ExecutionOutcome,
    Module,
    Notification,
    NotificationKind,
    ScriptVersion,
    StorageItem,
    Tenant,
    User,
    UserToken,
    truncate_ms,
)
from runtime.store.sqlite_codec import dumps

__all__ = ["Db", "dumps", "map_error"]

Row = asyncpg.Record
Connection = asyncpg.Connection | PoolConnectionProxy
Target = Connection | asyncpg.Pool


# --- the seam -------------------------------------------------------------------------------


def _storable(value: Any) -> Any:
    if type(value) is str:
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if type(value) is list:
        return [_storable(v) for v in value]
    return value


def map_error(error: Exception) -> StoreError:
    """The store's error for a driver error (the caller raises it `from error`)."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return Conflict(f"already exists ({error.constraint_name or 'unique'}): "
                        f"{error.detail or error}")
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return NotFound(f"refers to a record that does not exist: {error.detail or error}")
    if isinstance(error, asyncpg.PostgresError):
        return StoreError(f"database error ({error.sqlstate}): {error}")
    return StoreError(f"database unavailable: {type(error).__name__}: {error}")


DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class Db:
    """Statements on a connection (inside a unit) or on the pool (reads), through one seam."""

    __slots__ = ("target",)

    def __init__(self, target: Target) -> None:
        self.target = target

    async def one(self, sql: str, *args: Any) -> Row | None:
        try:
            return await self.target.fetchrow(sql, *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def all(self, sql: str, *args: Any) -> list[Row]:
        try:
            return await self.target.fetch(sql, *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def val(self, sql: str, *args: Any) -> Any:
        try:
            return await self.target.fetchval(sql, *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def run(self, sql: str, *args: Any) -> str:
        """Execute; returns the status tag ("UPDATE 1")."""
        try:
            return await self.target.execute(sql, *map(_storable, args))
        except DRIVER_ERRORS as error:
            raise map_error(error) from error

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self.target.executemany(sql, [tuple(map(_storable, r)) for r in rows])
        except DRIVER_ERRORS as error:
            raise map_error(error) from error


def affected(status: str) -> int:
    """Rows changed, from a status tag such as "UPDATE 1" or "DELETE 0"."""
    return int(status.rsplit(" ", 1)[-1])


# --- values ---------------------------------------------------------------------------------


def ts(moment: datetime) -> datetime:
    return truncate_ms(moment)


def ts_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else truncate_ms(moment)


def json_or_none(value: JSON) -> str | None:
    return None if value is None else dumps(value)


def loads_or_none(text: str | None) -> JSON:
    return None if text is None else json.loads(text)


def key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def key_text(data: bytes) -> str:
    return bytes(data).decode("utf-8", "surrogatepass")


# --- records --------------------------------------------------------------------------------


def tenant(row: Row) -> Tenant:
    return Tenant(id=row["id"], name=row["name"], created_at=row["created_at"])


def api_key(row: Row) -> ApiKey:
    return ApiKey(id=row["id"], tenant_id=row["tenant_id"], prefix=row["prefix"],
                  created_at=row["created_at"], revoked_at=row["revoked_at"])


def module(row: Row) -> Module:
    return Module(
        id=row["id"], tenant_id=row["tenant_id"], name=row["name"],
        description=row["description"], region=row["region"],
        settings=json.loads(row["settings"]), secrets=tuple(json.loads(row["secrets"])),
        allowlist=tuple(json.loads(row["allowlist"])), webhook_token=row["webhook_token"],
        active_version_id=row["active_version_id"], created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def version(row: Row) -> ScriptVersion:
    return ScriptVersion(
        id=row["id"], module_id=row["module_id"], number=row["number"], source=row["source"],
        sha256=row["sha256"], created_at=row["created_at"],
        created_by_key_id=row["created_by_key_id"], base_version_id=row["base_version_id"],
    )


def user(row: Row) -> User:
    return User(id=row["id"], tenant_id=row["tenant_id"], name=row["name"], email=row["email"],
                created_at=row["created_at"])


def user_token(row: Row) -> UserToken:
    return UserToken(id=row["id"], user_id=row["user_id"], prefix=row["prefix"],
                     created_at=row["created_at"], revoked_at=row["revoked_at"])


def binding(row: Row) -> Binding:
    return Binding(module_id=row["module_id"], member_id=row["member_id"],
                   user_id=row["user_id"])


def contact(row: Row) -> Contact:
    """A contact row carrying `raws` and `norms`: its phones' arrays in position order."""
    raws = row["raws"] or ()
    norms = row["norms"] or ()
    return Contact(
        id=row["id"], tenant_id=row["tenant_id"], name=row["name"],
        phones=tuple(ContactPhone(raw=r, normalized=n) for r, n in zip(raws, norms, strict=True)),
        created_at=row["created_at"],
    )


def call(row: Row) -> Call:
    return Call(
        id=row["id"], tenant_id=row["tenant_id"], module_id=row["module_id"],
        provider_call_id=row["provider_call_id"], direction=row["direction"],
        state=CallState(row["state"]), disposition=row["disposition"],
        src_phone=row["src_phone"], src_phone_ext=row["src_phone_ext"],
        dst_phone=row["dst_phone"], dst_phone_ext=row["dst_phone_ext"],
        client_phone=row["client_phone"], client_phone_normalized=row["client_phone_normalized"],
        contact_id=row["contact_id"], duration=row["duration"],
        record_call=loads_or_none(row["record_call"]), has_record=row["has_record"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        answered_at=row["answered_at"], ended_at=row["ended_at"],
    )


# Column order of `call_values`, for INSERT and UPDATE statements.
CALL_COLUMNS = (
    "id", "tenant_id", "module_id", "provider_call_id", "direction", "state", "disposition",
    "src_phone", "src_phone_ext", "dst_phone", "dst_phone_ext", "client_phone",
    "client_phone_normalized", "contact_id", "duration", "record_call", "has_record",
    "created_at", "answered_at", "ended_at", "updated_at",
)


def call_values(c: Call) -> list[Any]:
    return [
        c.id, c.tenant_id, c.module_id, c.provider_call_id, c.direction, c.state.value,
        c.disposition, c.src_phone, c.src_phone_ext, c.dst_phone, c.dst_phone_ext,
        c.client_phone, c.client_phone_normalized, c.contact_id,
        None if c.duration is None else float(c.duration), json_or_none(c.record_call),
        c.has_record, ts(c.created_at), ts_or_none(c.answered_at), ts_or_none(c.ended_at),
        ts(c.updated_at),
    ]


def call_event(row: Row) -> CallEventRecord:
    return CallEventRecord(
        id=row["id"], call_id=row["call_id"], kind=row["kind"], direction=row["direction"],
        src_phone=row["src_phone"], src_phone_ext=row["src_phone_ext"],
        dst_phone=row["dst_phone"], dst_phone_ext=row["dst_phone_ext"],
        payload=json.loads(row["payload"]), effect=EventEffect(row["effect"]),
        received_at=row["received_at"], execution_id=row["execution_id"],
    )


def call_notified(row: Row) -> CallNotified:
    return CallNotified(call_id=row["call_id"], phone=row["phone"], user_id=row["user_id"],
                        kind=NotificationKind(row["kind"]), created_at=row["created_at"])


def activity(row: Row) -> ActivityEntry:
    return ActivityEntry(
        id=row["id"], tenant_id=row["tenant_id"], contact_id=row["contact_id"],
        call_id=row["call_id"], data=json.loads(row["data"]), created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def notification(row: Row) -> Notification:
    return Notification(
        id=row["id"], tenant_id=row["tenant_id"], user_id=row["user_id"],
        call_id=row["call_id"], kind=NotificationKind(row["kind"]),
        payload=json.loads(row["payload"]), created_at=row["created_at"],
    )


def execution(row: Row) -> Execution:
    return Execution(
        id=row["id"], tenant_id=row["tenant_id"], module_id=row["module_id"],
        version_id=row["version_id"], function=row["function"],
        outcome=ExecutionOutcome(row["outcome"]), created_at=row["created_at"],
        duration_ms=row["duration_ms"], error=loads_or_none(row["error"]),
        limit=row["limit_name"], logs=row["logs"], logs_truncated=row["logs_truncated"],
        request=loads_or_none(row["request"]), result=loads_or_none(row["result"]),
        effects=loads_or_none(row["effects"]), dry_run=row["dry_run"],
    )


def storage_item(row: Row) -> StorageItem:
    return StorageItem(
        module_id=row["module_id"], key=key_text(row["key"]), value=json.loads(row["value"]),
        size=row["size"], expires_at=row["expires_at"], updated_at=row["updated_at"],
    )
