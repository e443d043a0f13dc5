"""Rows <-> records, written once: each table's columns, in one list, with how each converts.

A `Table` names its record type and its columns; a column is the record's field of the same
name (or `attr=`) and a kind saying how the value is stored (`TIME`, `JSON`, `BOOL`, an enum,
...). From that one list come the INSERT statement, the values in their order, and the decoder
of a row, for either dialect. Adding a field to calls: the field in `models.Call`, its column
here, and a migration per backend.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from runtime.store.dialect import Dialect, dumps, loads
from runtime.store.models import (
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallHandled,
    CallNotified,
    CallState,
    Contact,
    ContactPhone,
    EventEffect,
    Execution,
    ExecutionOutcome,
    ListedExecution,
    Module,
    Notification,
    NotificationKind,
    ScriptVersion,
    StorageItem,
    Tenant,
    User,
    UserToken,
)

R = TypeVar("R")


class Kind(enum.Enum):
    PLAIN = "plain"  # text, integer, real: as is
    FLOAT = "float"
    BOOL = "bool"
    TIME = "time"
    TIME_NULL = "time_null"
    JSON = "json"  # any JSON value, never SQL NULL
    JSON_NULL = "json_null"  # JSON; None is SQL NULL
    LIST = "list"  # a tuple of strings, stored as a JSON array
    KEY = "key"  # a storage key (bytea on PostgreSQL)


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    kind: Kind | type[enum.Enum] = Kind.PLAIN
    attr: str = ""  # the record's field, when it is not named like the column

    @property
    def field(self) -> str:
        return self.attr or self.name


def _to_float(v: Any) -> Any:
    return None if v is None else float(v)


def _json_or_none(v: Any) -> str | None:
    return None if v is None else dumps(v)


def _encoder(kind: Kind | type[enum.Enum], d: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(kind, type):
        return lambda v: v.value
    return {
        Kind.PLAIN: None, Kind.FLOAT: _to_float, Kind.BOOL: d.bool_in, Kind.TIME: d.time_in,
        Kind.TIME_NULL: d.time_or_none_in, Kind.JSON: dumps, Kind.JSON_NULL: _json_or_none,
        Kind.LIST: lambda v: dumps(list(v)), Kind.KEY: d.key_in,
    }[kind]


def _encoded(get: str, kind: Kind | type[enum.Enum], encoder: str, index: int) -> str:
    """The expression encoding the field `get` in a compiled encoder: a call of `encoder`,
    but inline for the kinds written on every webhook (a call per column cost more than the
    work it did; an enum's `.value` is a descriptor in Python code, `_value_` a plain
    attribute holding the same)."""
    if isinstance(kind, type):
        return f"{get}._value_"
    if kind is Kind.PLAIN:
        return get
    if kind is Kind.JSON_NULL:
        return f"(None if (j{index} := {get}) is None else dumps(j{index}))"
    if kind is Kind.TIME_NULL:
        return f"(None if (j{index} := {get}) is None else time_in(j{index}))"
    if kind is Kind.FLOAT:
        return f"(None if (j{index} := {get}) is None else float(j{index}))"
    return f"{encoder}({get})"


def _decoder(kind: Kind | type[enum.Enum], d: Dialect, from_json: bool
             ) -> Callable[[Any], Any] | None:
    """From a column's value, or (`from_json`) from its value inside a JSON object that the
    database built (`Table.json_object`): only times are written differently there."""
    if isinstance(kind, type):
        return kind
    time_out = d.json_time_out if from_json else d.time_out
    return {
        Kind.PLAIN: None, Kind.FLOAT: float, Kind.BOOL: bool, Kind.TIME: time_out,
        Kind.TIME_NULL: time_out, Kind.JSON: loads, Kind.JSON_NULL: loads,
        Kind.LIST: lambda v: tuple(loads(v)), Kind.KEY: d.key_out,
    }[kind]


Row = Any  # sqlite3.Row or asyncpg.Record: both index by column name


@dataclass(eq=False)
class Table(Generic[R]):
    name: str
    record: type[R]
    columns: Sequence[Col]
    _codecs: dict[tuple[str, bool, tuple[str, ...]], tuple[Any, Any]] = field(
        default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def insert_sql(self) -> str:
        cols = self.names
        marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
        return f"INSERT INTO {self.name} ({', '.join(cols)}) VALUES ({marks})"

    def update_sql(self, fixed: Sequence[str] = ()) -> str:
        """UPDATE of every column but `fixed` ones, matched by the first column (the id)."""
        key, *rest = self.names
        sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(
            c for c in rest if c not in fixed))
        return f"UPDATE {self.name} SET {sets} WHERE {key} = $1"

    def json_object(self, alias: str, d: Dialect) -> str:
        """The expression building a row's JSON object (its columns by name), for `decode`
        with `from_json`; JSON columns go in as their text, so they decode as from a row."""
        pairs = []
        for c in self.columns:
            value = f"{alias}.{c.name}"
            if c.kind in (Kind.JSON, Kind.JSON_NULL, Kind.LIST):
                value = d.json_text.format(value)
            pairs.append(f"'{c.name}', {value}")
        return f"{d.json_object}({', '.join(pairs)})"

    def _codec(self, d: Dialect, from_json: bool = False, fixed: Sequence[str] = ()
               ) -> tuple[Callable[[Any], list[Any]], Callable[[Row], R]]:
        """(encoder, decoder) for a dialect, compiled once from the column list into one
        expression each: a loop over the columns per row cost several microseconds a row."""
        key = (d.name, from_json, tuple(fixed))
        codec = self._codecs.get(key)
        if codec is None:
            env: dict[str, Any] = {"R": self.record, "dumps": dumps, "time_in": d.time_in}
            values, fields = [], []
            for index, c in enumerate(self.columns):
                encode = _encoder(c.kind, d)
                decode = _decoder(c.kind, d, from_json)
                if encode is not None:
                    env[f"e{index}"] = encode
                if decode is not None:
                    env[f"d{index}"] = decode
                if not (index and c.name in fixed):
                    values.append(_encoded(f"r.{c.field}", c.kind, f"e{index}", index))
                got = f"row[{c.name!r}]"
                fields.append(f"{c.field}={got}" if decode is None else
                              f"{c.field}=(None if (v{index} := {got}) is None "
                              f"else d{index}(v{index}))")
            source = (f"def encode(r):\n    return [{', '.join(values)}]\n"
                      f"def decode(row):\n    return R({', '.join(fields)})\n")
            # The source is made of this module's own column names only, never of data.
            exec(compile(source, f"<table {self.name}>", "exec"), env)
            codec = self._codecs[key] = (env["encode"], env["decode"])
        return codec

    def values(self, record: R, d: Dialect, fixed: Sequence[str] = ()) -> list[Any]:
        """The record's values in column order (leaving out `fixed` columns but the first)."""
        return self._codec(d, False, fixed)[0](record)

    def decode(self, row: Row, d: Dialect, *, from_json: bool = False) -> R:
        return self._codec(d, from_json)[1](row)


def _cols(*spec: str | Col) -> list[Col]:
    return [c if isinstance(c, Col) else Col(c) for c in spec]


TENANTS = Table("tenants", Tenant, _cols("id", "name", Col("created_at", Kind.TIME)))

API_KEYS = Table("api_keys", ApiKey, _cols(
    "id", "tenant_id", "prefix", Col("created_at", Kind.TIME),
    Col("revoked_at", Kind.TIME_NULL)))

MODULES = Table("modules", Module, _cols(
    "id", "tenant_id", "name", "description", "region", Col("settings", Kind.JSON),
    Col("secrets", Kind.LIST), Col("allowlist", Kind.LIST), "webhook_token",
    "active_version_id", Col("created_at", Kind.TIME), Col("updated_at", Kind.TIME)))

VERSIONS = Table("script_versions", ScriptVersion, _cols(
    "id", "module_id", "number", "source", "sha256", Col("created_at", Kind.TIME),
    "created_by_key_id", "base_version_id"))

USERS = Table("users", User, _cols("id", "tenant_id", "name", "email",
                                   Col("created_at", Kind.TIME)))

USER_TOKENS = Table("user_tokens", UserToken, _cols(
    "id", "user_id", "prefix", Col("created_at", Kind.TIME), Col("revoked_at", Kind.TIME_NULL)))

BINDINGS = Table("bindings", Binding, _cols("module_id", "member_id", "user_id"))

CALLS = Table("calls", Call, _cols(
    "id", "tenant_id", "module_id", "provider_call_id", "direction", Col("state", CallState),
    "disposition", "src_phone", "src_phone_ext", "dst_phone", "dst_phone_ext", "client_phone",
    "client_phone_normalized", "contact_id", Col("duration", Kind.FLOAT),
    Col("record_call", Kind.JSON_NULL), Col("has_record", Kind.BOOL),
    Col("created_at", Kind.TIME), Col("answered_at", Kind.TIME_NULL),
    Col("ended_at", Kind.TIME_NULL), Col("updated_at", Kind.TIME), "answered_phone",
    "answered_user_id"))
# Never change after the insert.
CALL_FIXED = ("tenant_id", "module_id", "created_at")

CALL_EVENTS = Table("call_events", CallEventRecord, _cols(
    "id", "call_id", "kind", "direction", "src_phone", "src_phone_ext", "dst_phone",
    "dst_phone_ext", Col("payload", Kind.JSON), Col("effect", EventEffect),
    Col("received_at", Kind.TIME), "execution_id"))

CALL_NOTIFIED = Table("call_notified", CallNotified, _cols(
    "call_id", "phone", "user_id", Col("kind", NotificationKind), Col("created_at", Kind.TIME)))

CALL_HANDLED = Table("call_handled", CallHandled, _cols(
    "call_id", "tenant_id", "user_id", Col("handled_at", Kind.TIME)))

ACTIVITY = Table("activity", ActivityEntry, _cols(
    "id", "tenant_id", "contact_id", "call_id", Col("data", Kind.JSON),
    Col("created_at", Kind.TIME), Col("updated_at", Kind.TIME)))

NOTIFICATIONS = Table("notifications", Notification, _cols(
    "id", "tenant_id", "user_id", "call_id", Col("kind", NotificationKind),
    Col("payload", Kind.JSON), Col("created_at", Kind.TIME)))

EXECUTIONS = Table("executions", Execution, _cols(
    "id", "tenant_id", "module_id", "version_id", "function", Col("outcome", ExecutionOutcome),
    Col("error", Kind.JSON_NULL), Col("limit_name", attr="limit"), "logs",
    Col("logs_truncated", Kind.BOOL), Col("duration_ms", Kind.FLOAT),
    Col("request", Kind.JSON_NULL), Col("result", Kind.JSON_NULL),
    Col("effects", Kind.JSON_NULL), Col("dry_run", Kind.BOOL), Col("created_at", Kind.TIME),
    Col("cpu_ms", Kind.FLOAT)))

# A listing's rows: each row but its big columns (logs, request, result, effects: up to 64 KiB
# each), which the statement never reads (reading 500 whole rows to list them held the event
# loop most of a second); of the request, only whether there is one (`IS NOT NULL` reads no
# TOASTed value on PostgreSQL, no overflow page on SQLite).
EXECUTION_SUMMARIES = Table("executions", ListedExecution, _cols(
    "id", "tenant_id", "module_id", "version_id", "function", Col("outcome", ExecutionOutcome),
    Col("error", Kind.JSON_NULL), Col("limit_name", attr="limit"),
    Col("logs_truncated", Kind.BOOL), Col("duration_ms", Kind.FLOAT),
    Col("has_request", Kind.BOOL), Col("dry_run", Kind.BOOL), Col("created_at", Kind.TIME),
    Col("cpu_ms", Kind.FLOAT)))
_COMPUTED = {"has_request": "request IS NOT NULL AS has_request"}
EXECUTION_SUMMARY_COLUMNS = ", ".join(
    _COMPUTED.get(c.name, c.name) for c in EXECUTION_SUMMARIES.columns)


STORAGE = Table("storage", StorageItem, _cols(
    "module_id", Col("key", Kind.KEY), Col("value", Kind.JSON), "size",
    Col("expires_at", Kind.TIME_NULL), Col("updated_at", Kind.TIME)))

# Contacts carry their phones (another table), so they have no generic `Table`.
CONTACT_INSERT = "INSERT INTO contacts (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)"
CONTACT_PHONES_INSERT = ("INSERT INTO contact_phones (contact_id, tenant_id, position, raw, "
                         "normalized) VALUES ($1, $2, $3, $4, $5)")


def contact_values(contact: Contact, d: Dialect) -> list[Any]:
    return [contact.id, contact.tenant_id, contact.name, d.time_in(contact.created_at)]


def phone_rows(contact: Contact) -> list[tuple[Any, ...]]:
    return [(contact.id, contact.tenant_id, i, p.raw, p.normalized)
            for i, p in enumerate(contact.phones)]


def contact_json_object(alias: str, d: Dialect) -> str:
    return (f"{d.json_object}('id', {alias}.id, 'tenant_id', {alias}.tenant_id, "
            f"'name', {alias}.name, 'created_at', {alias}.created_at, 'phones', "
            f"{d.words['phones'].replace('c.id', f'{alias}.id')})")


def decode_contact(row: Row, d: Dialect, *, from_json: bool = False) -> Contact:
    """A contacts row carrying `phones`: a JSON array of [raw, normalized] (dialect `{phones}`),
    as its text, or already parsed inside a JSON object."""
    phones = row["phones"] or []
    if isinstance(phones, str):
        phones = loads(phones)
    time_out = d.json_time_out if from_json else d.time_out
    return Contact(id=row["id"], tenant_id=row["tenant_id"], name=row["name"],
                   phones=tuple(ContactPhone(raw=r, normalized=n) for r, n in phones),
                   created_at=time_out(row["created_at"]))
