"""Running a module's functions: sandbox call, validation, acting, execution log.

This is the one place that knows the order of things for every entry point (webhook, dry run,
playback, test connection, members, click-to-call):

    run the function in the pool (with a capability session for fetch/storage)
    → validate its result against the contract
    → act (webhooks: in one unit with the execution-log row, or as a dry run)
    → record the execution

Nothing here speaks HTTP; handlers turn `RunReport`s into responses.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from runtime import ids
from runtime.acting import ActContext, Effects, act
from runtime.capabilities import CapabilitySession
from runtime.config import Config
from runtime.contract import ParseResult, ResultInvalid, ValidatedResult, validate_result
from runtime.fetch_budget import FetchBudget
from runtime.fetcher import FetchPolicy, FetchSession
from runtime.hub import Hub
from runtime.metrics import Metrics
from runtime.ratelimit import TenantLimiter
from runtime.store import Store, StoreError
from runtime.store.base import Tx
from runtime.store.errors import NotFound, StorageUnavailable, storage_unavailable
from runtime.store.models import (
    JSON,
    CallState,
    Execution,
    ExecutionOutcome,
    Module,
    NotificationKind,
    ScriptVersion,
    to_json,
    utc_now,
)
from sandbox import Call, Limits, Outcome, RequestData, SandboxPool
from sandbox.call import PARSE_FUNCTION

T = TypeVar("T")

log = logging.getLogger("runtime.runner")

# Headers the service sets on every webhook reply, replacing any the script set (contract §5).
REPLY_SECURITY_HEADERS = {
    "Content-Security-Policy": "sandbox",
    "X-Content-Type-Options": "nosniff",
}
# Their names as compared: a script's spelling of one of them is dropped from its reply.
_SECURITY_HEADER_NAMES = frozenset(name.lower() for name in REPLY_SECURITY_HEADERS)


@dataclass
class RunReport:
    """Everything one execution produced, for the handler, the log and dry-run reports."""

    execution_id: str
    function: str
    outcome: Outcome
    status: ExecutionOutcome
    validated: ValidatedResult | None = None
    invalid: ResultInvalid | None = None
    effects: Effects | None = None
    error: JSON = None
    storage_writes: list[dict[str, Any]] = field(default_factory=list)
    fetches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is ExecutionOutcome.OK

    def to_json(self) -> dict[str, Any]:
        """The shape dry runs and the API show."""
        return {
            "execution_id": self.execution_id,
            "function": self.function,
            "ok": self.ok,
            "outcome": self.status.value,
            "result": self.validated.to_json() if self.validated is not None else None,
            "raw_result": self.outcome.result if not self.ok else None,
            "error": self.error,
            "limit": self.outcome.limit,
            "logs": self.outcome.logs,
            "logs_truncated": self.outcome.logs_truncated,
            "duration_ms": round(self.outcome.duration_ms, 3),
            "effects": self.effects.to_json() if self.effects is not None else None,
            "storage": self.storage_writes,
            "fetches": self.fetches,
        }


class ModuleGone(NotFound):
    """The module was deleted (alone or with its tenant) while its script ran: nothing the
    run caused can be stored, not even its execution row (the module's log went with it)."""

    def __init__(self, module: Module) -> None:
        super().__init__(f"module {module.id} was deleted while its script ran; "
                         "nothing was stored")


@dataclass(frozen=True, slots=True)
class Reply:
    """The HTTP reply to a webhook caller."""

    status: int
    headers: dict[str, str]
    body: bytes


def status_of(outcome: Outcome) -> ExecutionOutcome:
    if outcome.ok:
        return ExecutionOutcome.OK
    if outcome.limit:
        return ExecutionOutcome.LIMIT
    return ExecutionOutcome.INVALID if refused_by_worker(outcome) else ExecutionOutcome.ERROR


def refused_by_worker(outcome: Outcome) -> bool:
    """The worker could not hand the result over (a NaN, a set, a script's own dict subclass,
    a cycle): the script returned an invalid result, as the contract's validation reports one,
    and did not raise. The worker's InvalidResult has no line, where an exception a script
    raises (even one of a class it named InvalidResult) has its line."""
    error = outcome.error
    return (error is not None and error.type == "InvalidResult" and error.line is None
            and not error.traceback)


def invalid_result_error(invalid: ResultInvalid) -> dict[str, JSON]:
    """The execution's `error` for a result the contract refused: one `type` wherever a
    script runs (the service, its dry runs, `voip-runtime run`), as the worker's own
    InvalidResult for a result it could not convert."""
    return {"type": "InvalidResult", **invalid.to_json()}


def reply_for(result: ParseResult | None) -> Reply:
    response = result.response if result is not None else None
    if response is None:
        return Reply(200, dict(REPLY_SECURITY_HEADERS), b"")
    headers = {
        name: value for name, value in (response.headers or {}).items()
        if name.lower() not in _SECURITY_HEADER_NAMES
    }
    headers.update(REPLY_SECURITY_HEADERS)
    return Reply(response.status, headers, response.encoded_body())


def failure_reply(execution_id: str) -> Reply:
    body = {
        "error": "script_failed",
        "message": "the module's script failed; the module's execution log has the reason",
        "execution_id": execution_id,
    }
    return Reply(
        500,
        {"Content-Type": "application/json", **REPLY_SECURITY_HEADERS},
        json.dumps(body).encode(),
    )


def answered_now(effects: Effects) -> str | None:
    """The id of the call this result answered, if any: moved it to answered (its ringing is
    over), or had it answered at another phone (a transfer taken: an `answered`
    notification of a call that already was)."""
    change = effects.call
    if change is not None and not (change.repeat or change.late) \
            and change.state_after is CallState.ANSWERED:
        if change.state_before is not CallState.ANSWERED:
            return change.id
        for notification in effects.pushes:
            if notification.kind is NotificationKind.ANSWERED \
                    and notification.call_id == change.id:
                return change.id
    return None


def changed_by_record(effects: Effects) -> str | None:
    """The id of the call this result's call record changed, if any: it ended the call
    (ringing or answered, no end event with the record: the platform's documented way is
    NotifyStart for the popup, then only the callRecord), or it came after the end (most
    providers' order) with the call's length, outcome or recording, or created the missed
    call's contact. The contract's table notifies for events only, so the pages it rang on
    showed it ringing or talking, an answered call with no length or the events' guess at
    it, or offered to create a contact the number already has, until reloaded. A repeat
    changed nothing, and nobody was told of a call a record created."""
    change = effects.record
    if change is None or change.repeat or change.created:
        return None
    return change.id


class Runner:
    def __init__(
        self, *, config: Config, store: Store, pool: SandboxPool, hub: Hub, metrics: Metrics,
        limiter: TenantLimiter, refused_hosts: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.config = config
        self.store = store
        self.pool = pool
        self.hub = hub
        self.metrics = metrics
        self.limiter = limiter
        self.refused_hosts = tuple(refused_hosts)
        self.storage_limits = config.storage_limits.limits
        self.max_contacts = config.tenant_limits.max_contacts
        self.fetch_budget = FetchBudget(config.fetch.tenant_mib_per_minute,
                                        on_received=metrics.fetch_bytes.inc,
                                        on_refused=metrics.fetch_budget_refusals.inc)
        # Built once (the configuration is frozen), not for every call.
        self._webhook_limits = config.sandbox.webhook_limits
        self._other_limits = config.sandbox.other_limits

    # -- building blocks ------------------------------------------------------------------------
    def fetch_policy(self, module: Module, *, dry_run: bool, limits: Limits) -> FetchPolicy:
        return FetchPolicy.from_config(
            self.config.fetch,
            allowlist=module.allowlist,
            max_requests=limits.fetches_per_call,
            refused_hosts=self.refused_hosts,
            dry_run=dry_run,
        )

    def session(self, module: Module, *, dry_run: bool, limits: Limits) -> CapabilitySession:
        return CapabilitySession(
            self.store, module.id, self.storage_limits,
            lambda: FetchSession(self.fetch_policy(module, dry_run=dry_run, limits=limits),
                                 budget=self.fetch_budget.of(module.tenant_id)),
        )

    def limits_for(self, function: str) -> Limits:
        """As `SandboxConfig.limits_for`, from the limits built once."""
        return self._webhook_limits if function == PARSE_FUNCTION else self._other_limits

    async def execute(
        self,
        module: Module,
        source: str,
        function: str,
        *,
        request: RequestData | None = None,
        args: tuple[JSON, ...] = (),
        dry_run: bool = False,
    ) -> tuple[RunReport, CapabilitySession]:
        """Run and validate one function; nothing is stored here."""
        limits = self.limits_for(function)
        session = self.session(module, dry_run=dry_run, limits=limits)
        call = Call(source=source, function=function, args=args, request=request,
                    settings=dict(module.settings))
        if not self.limiter.begin_execution(module.tenant_id):
            await self.limiter.wait_turn(module.tenant_id)  # (a burst: all its slots taken)
        started = time.perf_counter()
        try:
            outcome = await self.pool.run(call, limits=limits, handler=session.handle,
                                          group=module.tenant_id)
        finally:
            self.limiter.end_execution(module.tenant_id)
            self.metrics.observe_execution(function, time.perf_counter() - started)
        report = RunReport(
            execution_id=ids.new_id(ids.EXECUTION),
            function=function,
            outcome=outcome,
            status=status_of(outcome),
            fetches=session.fetch_log,
            storage_writes=[w.to_json() for w in session.storage_writes],
        )
        if not outcome.ok:
            report.error = outcome.error.to_json() if outcome.error else None
            return report, session
        try:
            report.validated = validate_result(function, outcome.result)
        except ResultInvalid as invalid:
            report.invalid = invalid
            report.status = ExecutionOutcome.INVALID
            report.error = invalid_result_error(invalid)
        return report, session

    def execution_row(
        self, module: Module, version: ScriptVersion | None, report: RunReport,
        request: RequestData | None, args: tuple[JSON, ...] = (), *,
        created_at: datetime | None = None, effects: JSON = None,
    ) -> Execution:
        """The execution log's row for `report` as it stands. `effects`: what acting did (a
        webhook's); without it, the fetches the call made, if any."""
        request_json: JSON = request.to_json() if request is not None else None
        if request_json is None and args:
            request_json = {"args": list(args)}
        if effects is None and report.fetches:
            effects = {"fetches": report.fetches}
        return Execution(
            id=report.execution_id,
            tenant_id=module.tenant_id,
            module_id=module.id,
            version_id=version.id if version else None,
            function=report.function,
            outcome=report.status,
            created_at=created_at or utc_now(),
            duration_ms=report.outcome.duration_ms,
            cpu_ms=report.outcome.cpu_ms,
            error=report.error,
            limit=report.outcome.limit,
            logs=report.outcome.logs,
            logs_truncated=report.outcome.logs_truncated,
            request=request_json,
            result=report.validated.to_json() if report.validated is not None
            else report.outcome.result,
            effects=effects,
        )

    def act_context(self, module: Module, report: RunReport, session: CapabilitySession,
                    now: datetime | None = None) -> ActContext:
        return ActContext(
            tenant_id=module.tenant_id,
            module_id=module.id,
            region=module.region,
            execution_id=report.execution_id,
            now=now or utc_now(),
            storage_writes=session.storage_writes,
            storage_limits=self.storage_limits,
            max_contacts=self.max_contacts,
        )

    # -- entry points ---------------------------------------------------------------------------
    async def webhook(
        self, module: Module, version: ScriptVersion, request: RequestData
    ) -> tuple[Reply, RunReport]:
        """Run the parse function for a webhook and act on its result, durably."""
        report, session = await self.execute(module, version.source, PARSE_FUNCTION,
                                             request=request)
        if not report.ok:
            await self._recorded(module, self.store.record_execution(
                self.execution_row(module, version, report, request)))
            self.metrics.count_webhook(report.status.value)
            return failure_reply(report.execution_id), report
        result = report.validated
        assert isinstance(result, ParseResult)
        # One moment for the row and the acting, as before the unit was queued.
        now = utc_now()
        context = self.act_context(module, report, session, now)

        async def unit(tx: Tx) -> Effects:
            effects = await act(tx, context, result)
            # The row is built here, once, with its effects (not built before and copied
            # with them: dataclasses.replace was a visible share of the unit).
            await tx.insert_execution(self.execution_row(
                module, version, report, request, created_at=now,
                effects=self._effects_json(effects, report)))
            return effects

        try:
            report.effects = await self.store.write(unit)
        except StorageUnavailable:
            raise  # nothing can be recorded now; the caller answers 503 (retry later)
        except StoreError as error:
            await self._unless_gone(module, error)
            # e.g. the module's storage filled up between the call and the commit.
            report.status = ExecutionOutcome.ERROR
            report.error = {"type": type(error).__name__, "message": str(error), "line": None}
            await self._recorded(module, self.store.record_execution(self.execution_row(
                module, version, report, request, created_at=now)))
            self.metrics.count_webhook("error")
            return failure_reply(report.execution_id), report
        self.metrics.count_webhook("ok")
        return reply_for(result), report

    @staticmethod
    def _effects_json(effects: Effects, report: RunReport) -> dict[str, Any]:
        data = effects.to_json()
        if report.fetches:
            data["fetches"] = report.fetches
        return data

    async def publish(self, effects: Effects | None, tenant_id: str) -> None:
        """Live notifications, after the commit; and when a call was just answered, or its
        record changed it (changed_by_record), a `{"type": "call_changed", "call_id"}` to the
        other users it rang for."""
        if effects is None:
            return
        told: set[str] = set()
        for notification in effects.pushes:
            told.add(notification.user_id)
            await self.hub.publish(notification.user_id, {
                "type": "notification", **to_json(notification),
            })
        call_id = answered_now(effects) or changed_by_record(effects)
        if call_id is None:
            return
        # The contract notifies the phone that answered only; the colleagues it rang for (a
        # group, or the one who transferred it) are told nothing, and their live pages showed
        # it ringing, or them talking, until it ended. A record notifies no one at all
        # (changed_by_record).
        try:
            rang = await self.store.users_notified(tenant_id, call_id)
        except StoreError:
            return  # (their pages draw the call again at its end)
        for user_id in sorted(rang - told):
            await self.hub.publish(user_id, {"type": "call_changed", "call_id": call_id})

    async def dry_run(
        self, module: Module, source: str, request: RequestData
    ) -> tuple[RunReport, Reply | None]:
        """What a webhook would do, doing none of it (contract §5, "dry run")."""
        report, session = await self.execute(module, source, PARSE_FUNCTION, request=request,
                                             dry_run=True)
        if not report.ok:
            return report, None
        result = report.validated
        assert isinstance(result, ParseResult)
        context = self.act_context(module, report, session)
        try:
            report.effects = await self.store.dry_run(lambda tx: act(tx, context, result))
        except StoreError as error:
            # A dry run is no write (store.health is not told), but a refusing store is still
            # the service's problem, not the script's: 503, as for a webhook.
            if (unavailable := storage_unavailable(error)) is not None:
                raise unavailable from error
            await self._unless_gone(module, error)
            report.status = ExecutionOutcome.ERROR
            report.error = {"type": type(error).__name__, "message": str(error), "line": None}
            return report, None
        return report, reply_for(result)

    async def call_function(
        self, module: Module, version: ScriptVersion, function: str, args: tuple[JSON, ...],
    ) -> RunReport:
        """Run one of the other functions (playback, test, members, click-to-call) and log it.

        Storage writes these make are committed with the execution row when the call succeeds.
        """
        report, session = await self.execute(module, version.source, function, args=args)
        execution = self.execution_row(module, version, report, None, args)
        writes = session.storage_writes if report.ok else []
        if not writes:
            await self._recorded(module, self.store.record_execution(execution))
            return report
        context = self.act_context(module, report, session)

        async def unit(tx: Tx) -> None:
            await act(tx, context, ParseResult())
            await tx.insert_execution(execution)

        try:
            await self.store.write(unit)
        except StorageUnavailable:
            raise  # nothing can be recorded now; the caller answers 503 (retry later)
        except StoreError as error:
            await self._unless_gone(module, error)
            report.status = ExecutionOutcome.ERROR
            report.error = {"type": type(error).__name__, "message": str(error), "line": None}
            await self._recorded(module, self.store.record_execution(
                replace(execution, outcome=report.status, error=report.error)))
        return report

    async def _unless_gone(self, module: Module, error: StoreError) -> None:
        """ModuleGone when `error` came of the module being deleted while its script ran (its
        rows' foreign keys fail). Asked only after a failure: a webhook's unit reads nothing
        more on its way."""
        if (isinstance(error, NotFound)
                and await self.store.get_module(module.tenant_id, module.id) is None):
            raise ModuleGone(module) from None

    async def _recorded(self, module: Module, write: Awaitable[T]) -> T:
        """`write`'s value (a failed script's execution row: not the way of most webhooks);
        ModuleGone as in `_unless_gone`."""
        try:
            return await write
        except NotFound as error:
            await self._unless_gone(module, error)
            raise
