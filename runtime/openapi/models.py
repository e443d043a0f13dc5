"""What the API answers and which query strings it reads, as pydantic models.

Request bodies are the handlers' own `Body` models (runtime/api/*.py). Responses are either the
store's dataclasses (`Tenant`, `User`, `Call`, ...: the handlers reply `to_json(record)`, and the
schema is taken from the very same dataclass) or one of the `Out` models below, which the
handlers build their replies through (`dump(Model, data)`), so a field added to a reply without
its model is refused at once instead of drifting from the document.

Query models only describe: the handlers read their query strings with the helpers in
runtime/api (`page`, `query_time`, ...), whose messages the tests pin.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_type_hints

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    create_model,
)

from runtime.ids import NOTIFICATION, VERSION, optional_id_pattern
from runtime.query_params import MAX_OFFSET
from runtime.store.models import (
    JSON,
    ActivityEntry,
    Call,
    CallEventRecord,
    CallState,
    Contact,
    Execution,
    ExecutionOutcome,
    Notification,
    Tenant,
    User,
    to_iso,
)
from runtime.text import NAME_PATTERN, name_problem

# --- field types ------------------------------------------------------------------------------

Timestamp = Annotated[
    datetime,
    PlainSerializer(to_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time",
                    "examples": ["2025-03-04T10:15:02.123Z"]}),
]
SettingValue = Annotated[str | int | float | bool,
                         WithJsonSchema({"type": ["string", "number", "boolean"]})]
REGIONS = tuple(sorted(phonenumbers.SUPPORTED_REGIONS))


class Out(BaseModel):
    """Base of reply models: a field the model does not name is an error, not a new field."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def dump(model: type[Out], data: Any) -> dict[str, Any]:
    """`data` checked against `model`, as JSON; keys the handler left out stay out."""
    return model.model_validate(data).model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- errors -----------------------------------------------------------------------------------


class Problem(BaseModel):
    line: int | None = Field(description="line of the script, when the problem has one")
    message: str


class Error(BaseModel):
    """Every error the API answers: a machine-readable code and a message a person can act on."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="a stable code: not_found, unauthorized, invalid, ...",
                       examples=["not_found"])
    message: str = Field(examples=["module not found"])
    details: JSON = Field(default=None, description=(
        "more about the error when there is more: for `invalid`, every field that is wrong "
        "(`[{field, message}]`); for script failures, the execution id; for `phone_taken`, "
        "the contact that has the number (`{contact_id, phone}`)"))
    problems: list[Problem] | None = Field(default=None, description=(
        "`invalid_script` only: every compile or contract problem, each with its line"))


# --- tenants, keys, users ---------------------------------------------------------------------


class TenantList(Out):
    tenants: list[Tenant]


class ApiKeyOut(Out):
    id: str
    tenant_id: str
    prefix: str = Field(description="the key's visible start, to tell keys apart")
    created_at: Timestamp
    revoked_at: Timestamp | None


class NewApiKeyOut(Out):
    id: str
    tenant_id: str
    prefix: str
    created_at: Timestamp
    key: str = Field(description="the secret: shown in this answer and never again")


class ApiKeyList(Out):
    keys: list[ApiKeyOut]


class UserList(Out):
    users: list[User]


class UserTokenOut(Out):
    id: str
    user_id: str
    prefix: str = Field(description="the token's visible start, to tell tokens apart")
    created_at: Timestamp
    revoked_at: Timestamp | None


class UserTokenList(Out):
    tokens: list[UserTokenOut]


class NewUserTokenOut(Out):
    id: str
    user_id: str
    prefix: str
    created_at: Timestamp
    token: str = Field(description="the secret: shown in this answer and never again")


# --- modules, versions, bindings --------------------------------------------------------------


class ActiveVersionRef(Out):
    id: str
    number: int


class WindowFigures(Out):
    webhooks: int = Field(description="webhooks run (VoipParseWebhookRequest, not dry runs)")
    failures: int = Field(description="of those, the ones that did not end `ok`")


class LastErrorOut(Out):
    execution_id: str = Field(description="the failed execution (gone once the execution log's "
                                          "retention period has passed)")
    created_at: Timestamp
    type: str | None
    message: str | None


class ModuleHealthOut(Out):
    """Counted in ten-minute slots: "the last hour" starts at the slot holding one hour ago."""

    last_hour: WindowFigures
    last_day: WindowFigures
    last_error: LastErrorOut | None = Field(description="the module's latest failed execution "
                                                        "(any function)")


class ModuleOut(Out):
    id: str
    name: str
    description: str
    region: str = Field(description="default phone region (ISO 3166)", examples=["RU"])
    settings: dict[str, SettingValue] = Field(
        description="the settings; a secret one is masked (`••••` and its last two characters)")
    secrets: list[str] = Field(description="names of the settings that are secret")
    allowlist: list[str] = Field(description="hosts the script's fetch() may reach")
    webhook_url: str = Field(description="give this URL to the telephony provider")
    active_version: ActiveVersionRef | None
    created_at: Timestamp
    updated_at: Timestamp
    health: ModuleHealthOut = Field(description="webhooks and failures lately, the last error")


class ModuleList(Out):
    modules: list[ModuleOut]


class VersionOut(Out):
    id: str
    module_id: str
    number: int
    sha256: str = Field(description="hex sha256 of the source's UTF-8 bytes")
    created_at: Timestamp
    created_by_key_id: str | None
    base_version_id: str | None
    active: bool
    source: str | None = Field(default=None, description="only when one version is read")


class VersionList(Out):
    versions: list[VersionOut]


class CheckOut(Out):
    ok: Literal[True]


class BindingOut(Out):
    member_id: str = Field(description="the telephony account id (extension)")
    user_id: str
    user_name: str | None


class BindingList(Out):
    bindings: list[BindingOut]


# --- contacts, calls, notifications -----------------------------------------------------------


class ContactList(Out):
    contacts: list[Contact]


class BulkCreated(Out):
    created: int
    contacts: list[Contact]


class TenantDeleted(Out):
    tenant_id: str
    dry_run: bool = Field(description="true: nothing was deleted, these are the counts a "
                                      "deletion would remove")
    counts: dict[str, int] = Field(description=(
        "rows per kind: modules, versions, storage_keys, bindings, calls, call_events, "
        "contacts, activity, notifications, executions, users, user_tokens, api_keys"))


class ActivityList(Out):
    activity: list[ActivityEntry]


class CallList(Out):
    calls: list[Call]


def _with_fields_of(record: type, name: str, doc: str, **extra: Any) -> type[Out]:
    """A model with every field of the dataclass `record`, and `extra` (name: (type, default))."""
    hints = get_type_hints(record)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(record)}
    model: type[Out] = create_model(name, __base__=Out, __doc__=doc, **fields, **extra)
    return model


CallDetail = _with_fields_of(
    Call, "CallDetail", "A call (every field of `Call`) with its history and activity entry.",
    events=(list[CallEventRecord], Field(description=(
        "its history, oldest first: `events_limit` events from `events_offset`"))),
    events_more=(bool, Field(default=False, description=(
        "present, and true, when the history has more events after these (read them with "
        "`events_offset`); absent when these are the last"))),
    activity=(ActivityEntry | None, ...),
)


class RecordingLink(Out):
    url: str = Field(description="where the recording plays now (it may expire)")
    execution_id: str


class NotificationList(Out):
    notifications: list[Notification]


# --- the execution log and runs ---------------------------------------------------------------


class ErrorSummary(Out):
    type: str | None
    message: str | None
    line: int | None


class ExecutionSummary(Out):
    id: str
    module_id: str
    version_id: str | None
    function: str
    outcome: ExecutionOutcome
    created_at: Timestamp
    duration_ms: float
    limit: str | None
    error: ErrorSummary | None
    logs_truncated: bool
    dry_run: bool


class RetentionOut(Out):
    """How long the service keeps history (`retention:` in its configuration). Contacts
    are kept until deleted; calls and their activity too unless `calls_days` is set."""

    executions_days: int = Field(description="executions older than this are deleted")
    executions_per_module: int | None = Field(description=(
        "each module keeps at most about this many executions, the newest (null: no cap)"))
    executions_mib_per_module: int | None = Field(description=(
        "each module's executions keep at most about this many MiB of captured text "
        "(request, result, effects, error, logs): beyond it the oldest go (null: no budget)"))
    notifications_days: int
    call_events_days: int = Field(description="a call's history events (the call stays)")
    calls_days: int | None = Field(description=(
        "calls created and last changed longer ago than this are deleted, with their history "
        "and activity entries (null: calls are kept until deleted)"))
    usage_days: int = Field(description="usage per day (GET /api/v1/usage) goes back this far")
    revoked_credentials_days: int = Field(description=(
        "revoked user tokens and API keys are listed (as revoked) this long, then deleted"))


MASKED_DESCRIPTION = ("what was masked (`••••••`) in this view: `request header Authorization`, "
                      "`request body field crm_token`, `secret setting apiKey in logs`, ...")

ExecutionDetail = _with_fields_of(
    Execution, "ExecutionDetail",
    "An execution (every field of `Execution`), its secrets masked, and what was masked.",
    masked=(list[str], Field(description=MASKED_DESCRIPTION)),
)


class ExecutionList(Out):
    executions: list[ExecutionSummary]
    retention: RetentionOut


class UsageDayOut(Out):
    day: date = Field(description="a UTC day")
    executions: int = Field(description="runs of any function, dry runs included")
    failures: int
    webhooks: int
    webhook_failures: int
    cpu_seconds: float = Field(description="CPU time the sandbox spent on the runs")
    fetches: int = Field(description="fetch() calls the runs made")
    storage_bytes: int | None = Field(description=(
        "module storage in use that day, all modules (the last figure noted that day; today: "
        "now); null before the service first noted it"))


class StorageOut(Out):
    bytes: int = Field(description="module storage in use now, all modules")
    keys: int


class UsageOut(Out):
    days: list[UsageDayOut] = Field(description="newest first, every day of the span")
    storage: StorageOut
    retention: RetentionOut


class ReplyOut(Out):
    status: int
    headers: dict[str, str]
    body: str


class RequestOut(Out):
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: str | None


class DryRunReport(Out):
    """What the module's VoipParseWebhookRequest did with the request, and what it would do."""

    function: str
    ok: bool
    outcome: ExecutionOutcome
    result: JSON = Field(description="the validated result (camelCase keys)")
    raw_result: JSON = Field(description="what the script returned, when it was refused")
    error: JSON
    limit: str | None
    logs: str
    logs_truncated: bool
    duration_ms: float
    effects: JSON = Field(description="what acting on the result would change (rolled back)")
    storage: list[dict[str, JSON]]
    fetches: list[dict[str, JSON]]
    version_id: str | None = Field(description="the version run; null for a given source")
    reply: ReplyOut | None = Field(description="the reply the webhook caller would get")
    request: RequestOut
    # Set when the report is shown (runtime/redaction.py), after it was compared.
    masked: list[str] = Field(default_factory=list, description=MASKED_DESCRIPTION)


class OriginalRun(Out):
    execution_id: str
    version_id: str | None
    outcome: ExecutionOutcome
    result: JSON
    effects: JSON
    error: JSON


class ReplayReport(DryRunReport):
    original: OriginalRun
    changed: bool = Field(description="the outcome or the result differs from the original")


class TestConnectionOut(Out):
    __test__ = False  # not a pytest test class, despite its name

    success: bool
    fail_reason: str | None = Field(default=None, alias="failReason")
    execution_id: str


class MemberOut(Out):
    id: str
    name: str | None = None
    user_id: str | None = Field(description="the user the member is bound to, if any")


class MembersOut(Out):
    members: list[MemberOut]
    execution_id: str


class OriginateOut(Out):
    execution_id: str
    from_: str = Field(alias="from", description="the user's extension the call starts from")
    to: str


# --- service ----------------------------------------------------------------------------------


class StorageHealthOut(Out):
    status: Literal["ok", "unavailable"] = Field(
        description="unavailable: writes are refused (webhooks answered 503 with Retry-After)")
    cause: str | None = Field(description="why, while unavailable (e.g. disk full)")
    since: Timestamp = Field(description="when the store entered this state")


class SandboxLayersOut(Out):
    active: list[str] = Field(description="layers in effect in every new worker (`seccomp`, "
                                          "`pid_namespace`, `landlock`, `identity`, ...)")
    missing: list[str] = Field(description="layers this host does not lend the workers; the "
                                           "start's log line says why for each")
    exposed: bool = Field(description="true when the layers that cover for one another are "
                                      "all missing (no minimal root and no Landlock): the log "
                                      "warns what a breached worker could read")


class Health(Out):
    status: Literal["ok", "degraded"]
    workers: int = Field(description="live sandbox worker processes")
    problems: list[str] = Field(
        default_factory=list,
        description="what keeps the sandbox from serving as it should (a worker being killed "
                    "after overrunning its deadline, the worker template restarting, ...); "
                    "absent when healthy")
    storage: StorageHealthOut | None = Field(
        default=None, description="whether the store takes writes (absent: not known yet)")
    sandbox: SandboxLayersOut | None = Field(
        default=None, description="the OS wall's layers the sandbox workers have on this host "
                                  "(absent until a worker is ready)")


# --- query strings ----------------------------------------------------------------------------


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


Since = Annotated[datetime, Field(description=(
    "ISO-8601 time; UTC when it names no offset (2025-03-04T10:15:00Z)"))]
Region = Annotated[str, Field(description="region to read phone numbers in",
                              json_schema_extra={"enum": list(REGIONS)})]


class PageQuery(Query):
    limit: int = Field(default=100, ge=1, le=500, description="page size")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="items to skip")


class WholeListQuery(Query):
    """A list answered whole unless a page is asked for: clients written before it could be
    paged read all of it in one answer (deploy reads every binding)."""

    limit: int | None = Field(default=None, ge=1, le=500,
                              description="page size; absent: all of them (after `offset`)")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="items to skip")


class CallDetailQuery(Query):
    events_limit: int = Field(default=500, ge=1, le=500,
                              description="history events in the answer, oldest first")
    events_offset: int = Field(default=0, ge=0, le=MAX_OFFSET,
                               description="history events to skip")


class CallQuery(PageQuery):
    module_id: str | None = Field(default=None, description="one of the tenant's modules")
    state: CallState | None = None
    direction: Literal["in", "out", "internal"] | None = None
    since: Since | None = None
    phone: str | None = Field(default=None, pattern=r"\S", description=(
        "the client's or either number, any spelling (read in `region`)"))
    region: Region = "RU"


class TenantDeleteQuery(Query):
    dry_run: bool = Field(default=False, description=(
        "true: only count what would be deleted"))


class ContactQuery(PageQuery):
    phone: str | None = Field(default=None, description=(
        "find the contacts with this number (any spelling, read in `region`); "
        "limit and offset are ignored then, and they come oldest first"))
    region: Region = "RU"


class ExecutionQuery(PageQuery):
    module_id: str | None = None
    outcome: ExecutionOutcome | None = None
    function: Literal["VoipParseWebhookRequest", "VoipGetCallLink", "VoipTestConnection",
                      "VoipGetMembers", "VoipGenerateCall"] | None = None
    version_id: str | None = Field(
        default=None, pattern=optional_id_pattern(VERSION),
        description="one of the module's versions (empty: any; another spelling is a 400)")
    since: Since | None = None
    until: Since | None = Field(default=None, description="created before this time")


class UsageQuery(Query):
    days: int = Field(default=30, ge=1, le=366, description="how many days, today's included")


class NotificationQuery(PageQuery):
    after: str | None = Field(
        default=None, pattern=optional_id_pattern(NOTIFICATION), description=(
            "a notification id: only newer ones (one the service does not know, or empty: from the "
            "oldest; another spelling is a 400)"))
    since: Since | None = None


class RecordingQuery(Query):
    format: Literal["json"] | None = Field(default=None, description=(
        "`json` answers {url} instead of a redirect (as does Accept: application/json)"))


# --- schema hints for request fields whose check is code -----------------------------------


def schema_extra(**keywords: Any) -> Any:
    """JSON Schema keywords for a field, beside pydantic's own (validation is unchanged)."""
    return Field(json_schema_extra=keywords)


def not_blank() -> Any:
    """For stripped strings with a minimum length: blank text is refused, not just empty."""
    return schema_extra(pattern=r"\S")


def _plain_name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A tenant's or a module's name: people read it in lists, pages and logs, so it holds no
# control characters (runtime/text.py's NAME_CONTROLS); not blank either (its pattern says
# both). For stripped strings with a minimum length, after their StringConstraints.
PLAIN_NAME = AfterValidator(_plain_name)
NAME_SCHEMA = schema_extra(pattern=NAME_PATTERN)


REGION_SCHEMA = WithJsonSchema({
    "type": "string", "enum": list(REGIONS),
    "description": "ISO 3166 region code (such as RU, DE, US)",
})
