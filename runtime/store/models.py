"""The records the store keeps, as frozen dataclasses, and the value types of its interface.

Backend-neutral: timestamps are aware UTC `datetime`s truncated to milliseconds (the schema keeps
ISO-8601 text with milliseconds), JSON columns are plain Python values, enums are `StrEnum`s.
Direction, disposition and event kinds are stored as the contract's string values (`"in"`,
`"no_answer"`, `"notify_start"`): the store does not import the contract, the acting layer does.
`to_json()` turns any record into JSON-safe data for the API and for notification payloads.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

JSON = Any  # str | int | float | bool | None | list[JSON] | dict[str, JSON]
SettingValue = str | int | float | bool

KIB = 1024
MIB = 1024 * 1024


T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """A frozen, slotted dataclass's `__init__`, setting each slot through its descriptor.

        @fast_init
        @dataclass(frozen=True, slots=True)
        class Call: ...

    The dataclass's own `__init__` of a frozen class sets every field with
    `object.__setattr__(self, name, value)`, which looks the name up in the class each time;
    the descriptor's `__set__`, taken once here, writes the slot straight away (about a
    third of the cost of making a record, and a webhook makes a dozen records, one of them
    of 23 fields). Same signature and defaults; the class stays frozen (its `__setattr__` still
    refuses), `replace()` and equality work as before. Only for fields that are plain
    `__init__` parameters (no kw_only, init=False or __post_init__: refused here)."""
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_init: {cls.__name__} has __post_init__")
    env: dict[str, Any] = {"_NOTHING": dataclasses.MISSING}
    params, body = ["self"], []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.kw_only is True:
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} is not a plain parameter")
        env[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is not dataclasses.MISSING:
            env[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_NOTHING")
            body.append(f"    if {f.name} is _NOTHING:\n        {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {f.name})")
    # The source is made of the class's own field names only, never of data.
    source = f"def __init__({', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(compile(source, f"<{cls.__name__}.__init__>", "exec"), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


# --- time -----------------------------------------------------------------------------------


def truncate_ms(moment: datetime) -> datetime:
    """The same instant in UTC, cut to milliseconds, as the schema keeps it."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_now() -> datetime:
    """Now, in UTC, cut to milliseconds: `truncate_ms(datetime.now(UTC))`.

    Made from the clock's whole milliseconds, not cut by `replace`, whose keyword parsing
    was most of the work (every webhook takes the time twice). The float `ms / 1000` is off
    by less than half a microsecond for any time before the year 2242 (half its last bit),
    and `fromtimestamp` rounds to the nearest microsecond: the milliseconds exactly
    (tests/runtime/test_store.py checks it over that range)."""
    return _from_timestamp(time.time_ns() // 1_000_000 / 1000, UTC)


_from_timestamp = datetime.fromtimestamp


# The last time written and its text. A unit writes the same moment (its `now`) into each
# row it stores, five times for a call's first event; one (moment, text) tuple, replaced
# whole, so threads formatting other times at once only miss, never read a torn pair.
_last_iso: tuple[datetime, str] = (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z")


def to_iso(moment: datetime) -> str:
    """`2025-03-04T10:15:02.123Z`: fixed width, so text order is time order."""
    global _last_iso
    last = _last_iso
    # Aware times compare as instants (naive ones never equal an aware one): an equal
    # moment has the same UTC text.
    if moment == last[0]:
        return last[1]
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # isoformat is C and gives "...02.123+00:00"; strftime is several times slower.
    text = utc.isoformat(timespec="milliseconds")[:-6] + "Z"
    _last_iso = (moment, text)
    return text


def from_iso(text: str) -> datetime:
    # fromisoformat is C and reads the "Z" (3.11+); strptime took several microseconds.
    return datetime.fromisoformat(text)


# --- enums ----------------------------------------------------------------------------------


class CallState(enum.StrEnum):
    """A phone call moves only forward: ringing -> answered -> ended."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"

    @property
    def rank(self) -> int:
        return _STATE_RANK[self]


_STATE_RANK = {CallState.RINGING: 0, CallState.ANSWERED: 1, CallState.ENDED: 2}


class EventEffect(enum.StrEnum):
    """What an event did to its call; every event is kept in the call's history with one."""

    APPLIED = "applied"
    REPEAT = "repeat"  # same kind, same call, same numbers as one already stored
    LATE = "late"  # for an earlier state than the call is in


class NotificationKind(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class ExecutionOutcome(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # the script raised
    INVALID = "invalid"  # the script returned something the contract refuses
    LIMIT = "limit"  # a resource limit stopped it
    REJECTED = "rejected"  # refused before running (rate limit, pool full, inactive module)


# Kind of the call-history row written for a callRecord (events use the contract's event names).
CALL_RECORD_KIND = "call_record"


# --- records --------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class ApiKey:
    """A tenant API key; the secret itself is shown once, at creation, and never stored."""

    id: str
    tenant_id: str
    prefix: str  # visible part, e.g. "vrk_AbCdEfGh"
    created_at: datetime
    revoked_at: datetime | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Module:
    id: str
    tenant_id: str
    name: str
    description: str
    region: str  # ISO 3166 default phone region, e.g. "RU"
    settings: Mapping[str, SettingValue]
    secrets: tuple[str, ...]  # names of settings never shown back in full
    allowlist: tuple[str, ...]  # hosts fetch() may reach
    webhook_token: str
    active_version_id: str | None
    created_at: datetime
    updated_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class ScriptVersion:
    id: str
    module_id: str
    number: int  # 1..n within the module
    source: str
    sha256: str
    created_at: datetime
    created_by_key_id: str | None = None
    base_version_id: str | None = None  # the version this one was edited from, if known


@fast_init
@dataclass(frozen=True, slots=True)
class User:
    id: str
    tenant_id: str
    name: str
    email: str | None
    created_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class UserToken:
    id: str
    user_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Binding:
    """Telephony member id (extension / internal number) -> user of the tenant."""

    module_id: str
    member_id: str
    user_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ModuleBinding:
    """A binding with the name of its module (the console's lists of a user's extensions)."""

    module_id: str
    module_name: str
    member_id: str
    user_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class ContactPhone:
    raw: str  # as given
    normalized: str | None  # E.164, or None when the raw text is not a phone number


@fast_init
@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    tenant_id: str
    name: str
    phones: tuple[ContactPhone, ...]
    created_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class Call:
    """A phone call as the runtime tracks it (events and the call record update it)."""

    id: str
    tenant_id: str
    module_id: str
    provider_call_id: str | None  # the script's callId
    direction: str  # "in" | "out" | "internal"
    state: CallState
    disposition: str  # contract value, "unknown" while ringing
    src_phone: str
    src_phone_ext: str | None
    dst_phone: str
    dst_phone_ext: str | None
    client_phone: str | None  # as given; None for internal calls
    client_phone_normalized: str | None  # E.164 when it normalises
    contact_id: str | None
    duration: float | None  # from the call record
    record_call: JSON  # the record's `call` data for VoipGetCallLink; None = no recording
    has_record: bool
    created_at: datetime
    updated_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    # Who answered: the operator number (NotifyAnswer's operator side, or an `Answered`
    # call record's when no answer event came) and the user bound to it at that moment.
    answered_phone: str | None = None
    answered_user_id: str | None = None  # None: nobody bound, or the user was deleted


@fast_init
@dataclass(frozen=True, slots=True)
class CallEventRecord:
    """One entry of a call's history: an event (or a call record) and what it did."""

    id: str
    call_id: str
    kind: str  # contract event value, or CALL_RECORD_KIND
    direction: str
    src_phone: str
    src_phone_ext: str | None
    dst_phone: str
    dst_phone_ext: str | None
    payload: JSON  # the event / record as validated
    effect: EventEffect
    received_at: datetime
    execution_id: str | None = None

    @property
    def numbers(self) -> tuple[str, str, str | None, str, str | None]:
        return (self.direction, self.src_phone, self.src_phone_ext, self.dst_phone,
                self.dst_phone_ext)


@fast_init
@dataclass(frozen=True, slots=True)
class DialClaim:
    """What claiming a posted call form found (runtime/console/dial_once.py): `claimed`, this
    post is the first and places the call; else `answer` is the first post's (None: it is
    still being placed)."""

    claimed: bool
    answer: JSON = None


@fast_init
@dataclass(frozen=True, slots=True)
class CallHandled:
    """A call an operator marked handled (a missed call someone took care of): by whom, when.
    `user_id` None: that user was deleted since."""

    call_id: str
    tenant_id: str
    user_id: str | None
    handled_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class CallNotified:
    """A phone rang / a user was told about a call. `user_id` None: the phone has no binding."""

    call_id: str
    phone: str
    user_id: str | None
    kind: NotificationKind
    created_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """A call in a contact's activity stream; at most one per call.

    `contact_id` is None when the client's number matched no contact and none was created
    (hidden or `anonymous` caller id, an answered call from an unknown number, an internal
    call): the entry is still written, keeping the number as given in `data`, so the call's
    recording stays reachable through the call; it is attached to a contact if a later record
    for the same call finds one.
    """

    id: str
    tenant_id: str
    contact_id: str | None
    call_id: str
    data: JSON
    created_at: datetime
    updated_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class Notification:
    """A live notification for one user; kept so a reconnecting client can catch up."""

    id: str
    tenant_id: str
    user_id: str
    call_id: str
    kind: NotificationKind
    payload: JSON
    created_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class Execution:
    """One run of a tenant function, for the module's execution log."""

    id: str
    tenant_id: str
    module_id: str
    version_id: str | None
    function: str
    outcome: ExecutionOutcome
    created_at: datetime
    duration_ms: float = 0.0
    error: JSON = None
    limit: str | None = None
    logs: str = ""
    logs_truncated: bool = False
    request: JSON = None
    result: JSON = None
    effects: JSON = None
    dry_run: bool = False
    cpu_ms: float = 0.0  # the worker's CPU time on the call (usage page)


@fast_init
@dataclass(frozen=True, slots=True)
class ListedExecution:
    """One row of the execution log as lists show it: `Execution` without its big columns
    (logs, request, result, effects: up to 64 KiB each), which a list never reads, and whether
    a request is stored (the console offers replay for a webhook's row only when one is)."""

    id: str
    tenant_id: str
    module_id: str
    version_id: str | None
    function: str
    outcome: ExecutionOutcome
    created_at: datetime
    duration_ms: float = 0.0
    error: JSON = None
    limit: str | None = None
    logs_truncated: bool = False
    has_request: bool = False
    dry_run: bool = False
    cpu_ms: float = 0.0


# Caps applied when an execution is stored (the sandbox caps output too; this bounds the row:
# store/execution_caps.py). The JSON columns' caps count their text as stored, escapes and all.
EXECUTION_LOG_CAP = 64 * KIB
EXECUTION_REQUEST_CAP = 64 * KIB
EXECUTION_JSON_CAP = 64 * KIB  # each of result, effects and error


@fast_init
@dataclass(frozen=True, slots=True)
class StorageItem:
    module_id: str
    key: str
    value: JSON
    size: int  # bytes counted against the module's quota: key + compact JSON value (UTF-8)
    expires_at: datetime | None
    updated_at: datetime


@fast_init
@dataclass(frozen=True, slots=True)
class StorageUsage:
    keys: int
    bytes: int


@fast_init
@dataclass(frozen=True, slots=True)
class StorageLimits:
    """Per-module key-value storage limits (contract §3; operator configuration)."""

    max_keys: int = 100_000
    max_bytes: int = 64 * MIB
    max_value_bytes: int = 64 * KIB
    max_key_chars: int = 200


DEFAULT_STORAGE_LIMITS = StorageLimits()


# --- inputs and filters ---------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class NewModule:
    name: str
    region: str
    description: str = ""
    settings: Mapping[str, SettingValue] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    allowlist: tuple[str, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class ModulePatch:
    """Fields to change on a module; None leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    region: str | None = None
    settings: Mapping[str, SettingValue] | None = None
    secrets: tuple[str, ...] | None = None
    allowlist: tuple[str, ...] | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class CallFilter:
    module_id: str | None = None
    state: CallState | None = None
    direction: str | None = None
    since: datetime | None = None  # created at or after
    # Matches the client's number as given or normalised, or either raw number; callers
    # normalise first (they know the region) and pass the E.164 form.
    phone: str | None = None
    answered_user_id: str | None = None  # the calls this user answered


@fast_init
@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    module_id: str | None = None
    outcome: ExecutionOutcome | None = None
    function: str | None = None
    version_id: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


@fast_init
@dataclass(frozen=True, slots=True)
class CallLookup:
    """What acting needs to know before it acts on one event or call record (`tx.call_scene`).

    The call: the module's latest with `provider_call_id` (any state); failing that, the
    latest not-ended call with exactly these numbers, adopted only if it has no callId of its
    own when `provider_call_id` is given; failing that, when `ended_since` is given, the
    latest call with these numbers that ended at/after it, adopted on the same terms.
    """

    tenant_id: str
    module_id: str
    provider_call_id: str | None
    direction: str
    src_phone: str
    src_phone_ext: str | None
    dst_phone: str
    dst_phone_ext: str | None
    ended_since: datetime | None = None
    client_phone: str | None = None  # E.164: the tenant's oldest contact having it
    operator_phone: str | None = None  # the member id: the user bound to it in the module
    # The unit may notify the operator's user or those notified of the call (an event):
    # PostgreSQL locks them in the same statement (locks.py, notification locks).
    notify: bool = False

    @property
    def numbers(self) -> tuple[str, str, str, str | None, str, str | None]:
        return (self.module_id, self.direction, self.src_phone, self.src_phone_ext,
                self.dst_phone, self.dst_phone_ext)


@fast_init
@dataclass(frozen=True, slots=True)
class CallScene:
    """A `CallLookup`'s answer, read in one statement: the call and what hangs on it."""

    call: Call | None
    # The call's: its first rows that are not repeats, oldest first, then its repeats, at most
    # queries.SCENE_HISTORY_ROWS of them (a flooded call is read within a bound).
    history: tuple[CallEventRecord, ...]
    # The call's rows naming a user, and those at the lookup's operator phone, oldest first
    # (the rows of other phones that nobody is bound to are not read).
    notified: tuple[CallNotified, ...]
    activity: ActivityEntry | None  # the call's
    contact: Contact | None  # having the client's number
    bound_user_id: str | None  # at the operator's number


StorageOp = Literal["set", "delete"]


@fast_init
@dataclass(frozen=True, slots=True)
class StoreStats:
    """Group-commit counters: average batch size = units / batches."""

    batches: int = 0
    units: int = 0
    failed_units: int = 0
    dry_runs: int = 0
    largest_batch: int = 0

    @property
    def average_batch(self) -> float:
        return self.units / self.batches if self.batches else 0.0


# --- JSON -----------------------------------------------------------------------------------


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_PLAIN = (str, int, float, bool, type(None))


def to_json(value: Any) -> JSON:
    """JSON-safe form of a record (or a list/dict of them): ISO times, enum values, lists."""
    if isinstance(value, _PLAIN) and not isinstance(value, enum.Enum):
        return value
    names = _FIELD_NAMES.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: to_json(getattr(value, name)) for name in names}
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value
