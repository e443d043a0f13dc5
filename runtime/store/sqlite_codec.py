"""SQLite rows <-> store records: ISO text times, JSON text, 0/1 booleans."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

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
    from_iso,
    to_iso,
)

# One encoder for every write: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: JSON) -> str:
    """Compact JSON text, non-ASCII kept (sizes are counted in UTF-8 bytes of this)."""
    return _ENCODER.encode(value)


def loads_or_none(text: str | None) -> JSON:
    return None if text is None else json.loads(text)


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def time_or_none(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)


def tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(id=row["id"], name=row["name"], created_at=from_iso(row["created_at"]))


def api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        id=row["id"], tenant_id=row["tenant_id"], prefix=row["prefix"],
        created_at=from_iso(row["created_at"]), revoked_at=time_or_none(row["revoked_at"]),
    )


def module(row: sqlite3.Row) -> Module:
    return Module(
        id=row["id"], tenant_id=row["tenant_id"], name=row["name"],
        description=row["description"], region=row["region"],
        settings=json.loads(row["settings"]), secrets=tuple(json.loads(row["secrets"])),
        allowlist=tuple(json.loads(row["allowlist"])), webhook_token=row["webhook_token"],
        active_version_id=row["active_version_id"], created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
    )


def version(row: sqlite3.Row) -> ScriptVersion:
    return ScriptVersion(
        id=row["id"], module_id=row["module_id"], number=row["number"], source=row["source"],
        sha256=row["sha256"], created_at=from_iso(row["created_at"]),
        created_by_key_id=row["created_by_key_id"], base_version_id=row["base_version_id"],
    )


def user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"], tenant_id=row["tenant_id"], name=row["name"], email=row["email"],
        created_at=from_iso(row["created_at"]),
    )


def user_token(row: sqlite3.Row) -> UserToken:
    return UserToken(
        id=row["id"], user_id=row["user_id"], prefix=row["prefix"],
        created_at=from_iso(row["created_at"]), revoked_at=time_or_none(row["revoked_at"]),
    )


def binding(row: sqlite3.Row) -> Binding:
    return Binding(module_id=row["module_id"], member_id=row["member_id"], user_id=row["user_id"])


def contact(row: sqlite3.Row, phones: list[sqlite3.Row]) -> Contact:
    return Contact(
        id=row["id"], tenant_id=row["tenant_id"], name=row["name"],
        phones=tuple(ContactPhone(raw=p["raw"], normalized=p["normalized"]) for p in phones),
        created_at=from_iso(row["created_at"]),
    )


def call(row: sqlite3.Row) -> Call:
    return Call(
        id=row["id"], tenant_id=row["tenant_id"], module_id=row["module_id"],
        provider_call_id=row["provider_call_id"], direction=row["direction"],
        state=CallState(row["state"]), disposition=row["disposition"],
        src_phone=row["src_phone"], src_phone_ext=row["src_phone_ext"],
        dst_phone=row["dst_phone"], dst_phone_ext=row["dst_phone_ext"],
        client_phone=row["client_phone"], client_phone_normalized=row["client_phone_normalized"],
        contact_id=row["contact_id"], duration=row["duration"],
        record_call=loads_or_none(row["record_call"]), has_record=bool(row["has_record"]),
        created_at=from_iso(row["created_at"]), updated_at=from_iso(row["updated_at"]),
        answered_at=time_or_none(row["answered_at"]), ended_at=time_or_none(row["ended_at"]),
    )


CALL_COLUMNS = (
    "id", "tenant_id", "module_id", "provider_call_id", "direction", "state", "disposition",
    "src_phone", "src_phone_ext", "dst_phone", "dst_phone_ext", "client_phone",
    "client_phone_normalized", "contact_id", "duration", "record_call", "has_record",
    "created_at", "answered_at", "ended_at", "updated_at",
)


def call_params(c: Call) -> dict[str, object]:
    """Named parameters for INSERT/UPDATE of a call."""
    return {
        "id": c.id, "tenant_id": c.tenant_id, "module_id": c.module_id,
        "provider_call_id": c.provider_call_id, "direction": c.direction,
        "state": c.state.value, "disposition": c.disposition, "src_phone": c.src_phone,
        "src_phone_ext": c.src_phone_ext, "dst_phone": c.dst_phone,
        "dst_phone_ext": c.dst_phone_ext, "client_phone": c.client_phone,
        "client_phone_normalized": c.client_phone_normalized, "contact_id": c.contact_id,
        "duration": c.duration,
        "record_call": None if c.record_call is None else dumps(c.record_call),
        "has_record": int(c.has_record), "created_at": to_iso(c.created_at),
        "answered_at": iso_or_none(c.answered_at), "ended_at": iso_or_none(c.ended_at),
        "updated_at": to_iso(c.updated_at),
    }


def call_event(row: sqlite3.Row) -> CallEventRecord:
    return CallEventRecord(
        id=row["id"], call_id=row["call_id"], kind=row["kind"], direction=row["direction"],
        src_phone=row["src_phone"], src_phone_ext=row["src_phone_ext"],
        dst_phone=row["dst_phone"], dst_phone_ext=row["dst_phone_ext"],
        payload=json.loads(row["payload"]), effect=EventEffect(row["effect"]),
        received_at=from_iso(row["received_at"]), execution_id=row["execution_id"],
    )


def call_notified(row: sqlite3.Row) -> CallNotified:
    return CallNotified(
        call_id=row["call_id"], phone=row["phone"], user_id=row["user_id"],
        kind=NotificationKind(row["kind"]), created_at=from_iso(row["created_at"]),
    )


def activity(row: sqlite3.Row) -> ActivityEntry:
    return ActivityEntry(
        id=row["id"], tenant_id=row["tenant_id"], contact_id=row["contact_id"],
        call_id=row["call_id"], data=json.loads(row["data"]),
        created_at=from_iso(row["created_at"]), updated_at=from_iso(row["updated_at"]),
    )


def notification(row: sqlite3.Row) -> Notification:
    return Notification(
        id=row["id"], tenant_id=row["tenant_id"], user_id=row["user_id"],
        call_id=row["call_id"], kind=NotificationKind(row["kind"]),
        payload=json.loads(row["payload"]), created_at=from_iso(row["created_at"]),
    )


def execution(row: sqlite3.Row) -> Execution:
    return Execution(
        id=row["id"], tenant_id=row["tenant_id"], module_id=row["module_id"],
        version_id=row["version_id"], function=row["function"],
        outcome=ExecutionOutcome(row["outcome"]), created_at=from_iso(row["created_at"]),
        duration_ms=row["duration_ms"], error=loads_or_none(row["error"]),
        limit=row["limit_name"], logs=row["logs"], logs_truncated=bool(row["logs_truncated"]),
        request=loads_or_none(row["request"]), result=loads_or_none(row["result"]),
        effects=loads_or_none(row["effects"]), dry_run=bool(row["dry_run"]),
    )


def storage_item(row: sqlite3.Row) -> StorageItem:
    return StorageItem(
        module_id=row["module_id"], key=row["key"], value=json.loads(row["value"]),
        size=row["size"], expires_at=time_or_none(row["expires_at"]),
        updated_at=from_iso(row["updated_at"]),
    )
