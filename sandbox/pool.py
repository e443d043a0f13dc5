"""The parent's side of the process wall: tenant-bound workers forked from a template.

One group (the service passes the tenant; script checks come as `check:<tenant>`) is one
isolation domain: a worker serves a single group for its whole life, so one tenant's code, its
garbage, its caches and whatever a breach leaves in memory never meet another tenant's call.
A check is its tenant's own code too, but it compiles an upload not yet trusted, whose cost must
not pause or mark heavy that tenant's live webhooks: it gets a worker of its own, reclaimed as
soon as the check is done (`check`).
Workers are forked from a template process that imported and warmed everything and never runs
tenant code (sandbox/forkserver.py), so a fresh worker is ready in about a millisecond; a few
warm *spares* wait unassigned so a new tenant does not even wait for that, and idle tenant
workers are reclaimed, least recently used first, beyond the budget (`max_workers` tenant
workers in all, `workers_per_group` per group, `idle_seconds`). `size` is how many calls run at
once, as before.

A call is encoded completely before it is queued (sandbox.protocol.EncodedCall): one that cannot
be sent fails alone with `BadCall`. Calls wait in per-group queues served fairly
(sandbox/scheduler.py): on an idle worker of their group, a spare bound to it, or in the pipe of
the group's worker running only quick calls, up to `inflight_per_worker`. Every wait has a
deadline: the template's start and each spawn (sandbox.forkserver), a worker's start, a call's
time in the queue, its wall clock (shortly before it the worker is told to stop the script,
which then ends at its line, `_on_wall_warning`; at it, a worker still in the call is killed
and replaced, calls queued behind it go back to the queue; a capability request ends with it),
and close. `health()` names whatever keeps the pool from serving as it should. The CPU limit
is checked from outside too (/proc/<pid>/stat) and a worker past it by a margin is killed. A
heavy group's running call is paused while other groups' calls are served
(sandbox/yielding.py); time spent paused does not count against its wall clock.

Worker starts that a group causes (crashes, kills, memory limits) are charged to that group's
`RestartBudget`: a crash loop slows its author only. A check's group pays for every worker it
starts, crashed or not, since each check gets a new one (`check`): from a budget of its own
(`check_burst`, `checks_per_minute`), so a tenant spamming checks (forks of the template the
whole host shares, and spares taken from everyone's new tenants) is slowed on that budget, and
neither on its webhooks' nor on anyone else's.

`fetch()` and `storage` requests arrive on the same pipe and are answered by the
`CapabilityHandler` the caller supplies with each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import signal
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox import forkserver, wall_layers
from sandbox.call import Call
from sandbox.compiler import source_too_large
from sandbox.crash import worker_stopped_message
from sandbox.forkserver import ForkServer, SpawnError
from sandbox.harden import default_readable_paths
from sandbox.limits import (
    DEFAULT_LIMITS,
    WALL_WARNING_SIGNAL,
    Limits,
    wall_warning_seconds,
)
from sandbox.message_budget import over_budget
from sandbox.outcome import LimitName, Outcome, ScriptError
from sandbox.protocol import (
    MAX_REQUEST_DEPTH,
    EncodedCall,
    ProtocolError,
    UnsendableCall,
    decode,
    encode_capability_reply,
    encode_strict,
    outcome_from_json,
    source_facts,
    too_deep,
)
from sandbox.scheduler import FairQueue, GroupLoad, RestartBudget, group_worker_cap
from sandbox.uid_claim import UidClaim, UidClaimError, claim_uids
from sandbox.workers import CapabilityHandler, PendingCall, Worker, WorkerReader, connect
from sandbox.yielding import YieldGate

log = logging.getLogger("sandbox.pool")

__all__ = ["CapabilityHandler", "PoolClosed", "PoolHealth", "SandboxPool"]

# A forked worker must say "ready" within this long (generous: the machine may be loaded).
WORKER_READY_SECONDS = 10.0
# How long close() waits for the processes to go.
CLOSE_SECONDS = 3.0
SLOW_CALL_SECONDS = 0.05
# How often a long call's CPU time is read from outside, and the margin past its limit at
# which the worker is killed (the worker's own timer should have stopped it well before).
CPU_CHECK_SECONDS = 0.25
CPU_MARGIN_SECONDS = 0.5
CPU_MARGIN_FRACTION = 0.5
# After a worker's pipe closes, how long to wait for the template's report of its exit status.
EXIT_STATUS_GRACE_SECONDS = 0.25
# An exit report for a pid the pool does not know yet (its spawn reply is still being taken in)
# is kept this long.
EARLY_EXIT_KEEP_SECONDS = 5.0
# A worker that said it retires (outcome.retire) and is still there this long after is killed:
# a breached worker must not keep a place in the pool by never leaving.
RETIRE_GRACE_SECONDS = 1.0
IDLE_SWEEP_SECONDS = 1.0
# A heavy group's load is kept this long after its last worker went and no call of it waits:
# a heavy tenant back within the hour is still held back from its first call, not only once
# its calls have made it heavy again. Any other group's load goes at once (pool._sweep).
HEAVY_LOAD_KEPT_SECONDS = 3600.0
# A call that found no worker for this long fails (the template down for good, say) rather
# than wait forever; in normal overload, callers gave up long before.
QUEUE_SECONDS = 60.0
# A spawn request unanswered this long makes /healthz say the template is not answering.
TEMPLATE_SLOW_SECONDS = 2.0
TEMPLATE_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
# After a worker failed to start (it exited before it was ready, or the template could not fork
# it), new starts pause this long, longer each time in a row: a start that fails every time is
# retried, never looped.
START_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
_EXITED_BEFORE_READY = "a new sandbox worker exited before it was ready"
CAN_RENICE = os.geteuid() == 0
# Random draws for a worker's uid before looking for a free one in order (a range nearly full).
UID_DRAWS = 8
# With more groups than this waiting, `_replenish` first passes over, in C, the groups that
# cannot be short of a worker; with fewer, building the sets to do so costs more than looking
# at each group.
FILTER_ABOVE_GROUPS = 4


# Limits as sent, by the object's identity: the service passes the same two objects (built
# once from its configuration) with every call, and an lru_cache keyed by the limits hashed
# and compared all their fields in Python each time. Each entry holds its Limits, so no other
# object can take its id while the entry is there.
_limits_bytes: dict[int, tuple[Limits, bytes]] = {}


def limits_bytes(limits: Limits) -> bytes:
    entry = _limits_bytes.get(id(limits))
    if entry is not None and entry[0] is limits:
        return entry[1]
    encoded = encode_strict(limits.to_json())
    if len(_limits_bytes) >= 64:
        _limits_bytes.clear()
    _limits_bytes[id(limits)] = (limits, encoded)
    return encoded


class PoolClosed(Exception):
    """The pool was closed before the call could run."""


async def no_capabilities(request: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "error": "fetch() and storage are not available in this context"}


def failure(
    error_type: str, message: str, *, limit: LimitName | None = None, duration_ms: float = 0.0
) -> Outcome:
    return Outcome(
        ok=False,
        error=ScriptError(type=error_type, message=message),
        limit=limit,
        duration_ms=duration_ms,
    )


def readable_paths() -> tuple[str, ...]:
    """What a worker may read: the directories this Python imports from (its standard
    library, the packages) and this package (for the OS wall).

    The package's own directory, not its parent: a checkout's parent may hold the data
    directory (`./data` by default), which no worker may read. Nor the installation's
    prefixes: a system Python's is `/usr`, with every program and `/usr/local/etc` in it.
    """
    paths = set(default_readable_paths())
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(sysconfig.get_paths()[name])
    return tuple(sorted(paths))


@dataclass
class PoolStats:
    calls: int = 0
    workers_started: int = 0
    workers_replaced: int = 0
    workers_reclaimed: int = 0
    template_starts: int = 0
    bad_calls: int = 0
    deadline_kills: int = 0
    cpu_kills: int = 0
    limit_hits: Counter[str] = field(default_factory=Counter)
    # Worker starts each group caused (crashes, kills, memory limits).
    starts_charged: Counter[str] = field(default_factory=Counter)
    hardening: dict[str, list[str]] = field(default_factory=dict)
    # The OS wall's layers by name (sandbox/wall_layers.py), as the latest fresh worker
    # reported them: empty until one is ready.
    layers: dict[str, bool] = field(default_factory=dict)
    exposed: bool = False


@dataclass(frozen=True)
class PoolHealth:
    healthy: bool
    workers: int
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process as the pool sees it (for health, metrics and tests)."""

    id: int
    pid: int
    group: str | None
    calls: int
    busy: bool
    ready: bool


class SandboxPool:
    def __init__(
        self,
        size: int = 4,
        limits: Limits = DEFAULT_LIMITS,
        inflight_per_worker: int = 4,
        python: str = sys.executable,
        *,
        max_workers: int = 32,
        spare_workers: int = 2,
        workers_per_group: int = 2,
        idle_seconds: float = 60.0,
        restart_burst: int = 10,
        restarts_per_minute: float = 30.0,
        check_burst: int = 500,
        checks_per_minute: float = 1800.0,
        worker_uids: range | None = None,
        worker_ready_seconds: float = WORKER_READY_SECONDS,
        queue_seconds: float = QUEUE_SECONDS,
        worker_entry: str = forkserver.DEFAULT_ENTRY,
    ) -> None:
        """`size`: workers running calls at once (the fairness rules share these out);
        `max_workers`: tenant-bound worker processes kept, busy or idle (beyond it, the least
        recently used idle one is reclaimed); `spare_workers` more wait unassigned.

        `worker_uids`: when the service runs as root, each worker gets its own uid from this
        range. `worker_entry` is for tests only (a worker that misbehaves on purpose); the
        service never sets it.
        """
        if (size < 1 or inflight_per_worker < 1 or workers_per_group < 1 or spare_workers < 0
                or max_workers < 1):
            raise ValueError("a pool needs at least one worker and one call per worker")
        self.size = size
        self.max_workers = max_workers
        self.limits = limits
        self.inflight_per_worker = inflight_per_worker
        self.python = python
        self.spare_workers = spare_workers
        self.workers_per_group = workers_per_group
        self.idle_seconds = idle_seconds
        self.restart_burst = restart_burst
        self.restarts_per_second = restarts_per_minute / 60.0
        self.check_burst = check_burst
        self.checks_per_second = checks_per_minute / 60.0
        # Groups whose workers each serve one check (`check`), charged as they start.
        self._check_groups: set[str] = set()
        self.worker_uids = worker_uids if os.geteuid() == 0 else None
        if self.worker_uids is not None:
            # Every worker process holds a uid of the range, spares too, and one is reserved
            # for the next spawn: with fewer uids than that, tenants beyond them would wait
            # for a uid while idle workers kept theirs (reclaiming starts at `max_workers`).
            room = len(self.worker_uids) - spare_workers - 1
            if room < 1:
                raise ValueError(f"{len(self.worker_uids)} worker uids cannot hold a worker, "
                                 f"{spare_workers} spares and the next spawn's")
            if room < max_workers:
                log.warning("sandbox: %d worker uids hold %d tenant workers, not %d",
                            len(self.worker_uids), room, max_workers)
                self.max_workers = room
        self.worker_entry = worker_entry
        self.worker_ready_seconds = worker_ready_seconds
        self.queue_seconds = queue_seconds
        self.stats = PoolStats()
        self._readable_paths = readable_paths()
        self._workers: list[Worker] = []  # every process not yet gone, in or out of service
        self._spares: list[Worker] = []  # ready and unassigned
        self._busy: set[Worker] = set()  # in service with calls in flight
        # Busy workers whose running call waits for the host (a fetch() to a slow provider):
        # they use no core, so they take no room from calls that would (`_running`).
        self._on_host: set[Worker] = set()
        self._bound = 0  # workers assigned to a group and still in service
        self._by_group: dict[str, list[Worker]] = {}
        self._by_pid: dict[int, Worker] = {}
        # Groups with a worker that is not usable (out of service, retiring, or its pipe
        # closed) and not yet forgotten. A group outside this set, with workers and none of
        # them busy, has an idle worker: `_replenish` passes it over without a walk.
        self._impaired: set[str] = set()
        self._starting = 0  # spawns asked for, and workers forked but not ready yet
        self._uids_used: set[int] = set()
        self._uid_claim: UidClaim | None = None
        # Reserved for the next spawn, whose worker the template forks ahead (forkserver.py).
        self._next_uid: int | None = None
        self._budgets: dict[str, RestartBudget] = {}
        # Groups whose budget may be empty: charged (or made empty) since `_throttled` last
        # found it available. Every other group's budget holds a token (only a charge takes
        # one), so a dispatch pass asks `_throttled` of these alone.
        self._maybe_spent: set[str] = set()
        self._waiting: FairQueue[PendingCall] = FairQueue()
        self._loads: dict[str, GroupLoad] = {}
        self._ids = itertools.count(1)
        self._worker_ids = itertools.count(1)
        self._closed = False
        self._started = False
        # The loop the pool was started in (`_running_loop`).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restarting = False
        self._dispatching = False
        self._redispatch = False
        self._template: ForkServer | None = None
        self._template_failures = 0
        self._spawn_error: str | None = None
        self._start_failures = 0  # worker starts failed in a row
        # the last worker that exited before ready with its status not yet reported
        self._unready_exit_pid: int | None = None
        # exit reports for pids not (or no longer) known: status and when it came
        self._early_exits: dict[int, tuple[int, float]] = {}
        self._starts_paused_until = 0.0
        self._start_retry: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._gate: YieldGate[Worker] = YieldGate(
            self._pause_worker, self._resume_worker, clock=time.perf_counter,
            call_later=lambda delay, callback: asyncio.get_running_loop().call_later(
                delay, callback),
        )

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the template and the first spares; returns once a worker is ready."""
        if self.worker_uids is not None and self._uid_claim is None:
            # Claimed host-wide, so another service on this host gives its workers others.
            try:
                self._uid_claim = claim_uids(self.worker_uids)
            except UidClaimError as error:
                raise SpawnError(str(error)) from error
            self.worker_uids = self._uid_claim.uids
        self._loop = asyncio.get_running_loop()
        await self._start_template()
        self._started = True
        self._replenish()
        self._sweeper = asyncio.get_running_loop().call_later(IDLE_SWEEP_SECONDS, self._sweep)
        deadline = time.monotonic() + self.worker_ready_seconds * 2
        while not self._spares and self.spare_workers:
            if self._spawn_error or time.monotonic() > deadline:
                raise SpawnError(self._spawn_error or "no sandbox worker became ready")
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Fail what waits, kill every worker and the template; bounded by CLOSE_SECONDS."""
        if self._closed:
            return
        self._closed = True
        self.stats.layers = {}  # no worker will be made: no layers to report
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._start_retry is not None:
            self._start_retry.cancel()
        self._gate.close()
        closed = PoolClosed("the sandbox pool was closed")
        for pending in self._waiting.drain():
            if not pending.future.done():
                pending.future.set_exception(closed)
        workers = list(self._workers)
        for worker in workers:
            for pending in worker.inflight:
                pending.end()
                if not pending.future.done():
                    pending.future.set_exception(closed)
            worker.inflight.clear()
            self._take_out(worker, "the pool is closing", charge=False)
        if workers:
            await asyncio.wait([asyncio.shield(w.exited) for w in workers],
                               timeout=CLOSE_SECONDS)
        for worker in workers:
            self._forget(worker)
        if self._template is not None:
            await self._template.close(timeout=CLOSE_SECONDS)
        if self._uid_claim is not None:
            self._uid_claim.release()
        for task in list(self._background):
            task.cancel()

    @property
    def live_workers(self) -> int:
        """Worker processes ready for calls: assigned to a group or spare."""
        return sum(1 for worker in self._workers if worker.usable)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def template_pid(self) -> int | None:
        template = self._template
        return template.pid if template is not None and not template.down else None

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(w.id, w.pid, w.group, w.calls, bool(w.inflight), w.ready)
                for w in self._workers if not w.dead]

    def health(self) -> PoolHealth:
        """Healthy when new calls can be served; each problem named (never a tenant)."""
        problems: list[str] = []
        if self._closed:
            problems.append("the sandbox pool is closed")
        else:
            template = self._template
            if template is None or not template.ready:
                problems.append("the worker template is not running; it is being restarted")
            elif template.waiting_seconds() > TEMPLATE_SLOW_SECONDS:
                problems.append(f"the worker template has not answered a spawn for "
                                f"{template.waiting_seconds():.0f} s")
            if not self._spares and self._spawn_error:
                problems.append(f"workers cannot be started: {self._spawn_error}")
            for worker in self._workers:
                if worker.dead and not worker.gone and worker.dead_reason:
                    problems.append(
                        f"worker {worker.id} (pid {worker.pid}) {worker.dead_reason}; it is "
                        f"being killed and replaced")
            # (With no spares configured, no worker at all is normal while nothing waits.)
            if (not any(w.usable for w in self._workers) and not self._starting
                    and (self.spare_workers or self._waiting)):
                problems.append("no sandbox worker is ready")
        return PoolHealth(not problems, self.live_workers, tuple(problems))

    # -- the template ---------------------------------------------------------------------------
    async def _start_template(self) -> None:
        template = ForkServer(self.python, self.worker_entry, self._on_exit_report,
                              self._on_template_down)
        self._template = template
        self.stats.template_starts += 1
        await template.start()
        self._template_failures = 0
        if template.notes:
            log.info("sandbox template prepared: %s", "; ".join(template.notes))

    def _on_template_down(self, template: ForkServer) -> None:
        if self._closed or template is not self._template or not self._started:
            return
        self._spawn_error = "the worker template stopped"
        if not self._restarting:
            self._restarting = True
            self._track(self._restart_template())

    async def _restart_template(self) -> None:
        """Start a new template after the last one died, backing off while it keeps failing.

        Workers already forked keep serving: the pool holds their pipes and pidfds."""
        try:
            await self._restart_template_until_up()
        finally:
            self._restarting = False

    async def _restart_template_until_up(self) -> None:
        while not self._closed:
            delay = TEMPLATE_BACKOFF_SECONDS[
                min(self._template_failures, len(TEMPLATE_BACKOFF_SECONDS) - 1)]
            self._template_failures += 1
            await asyncio.sleep(delay)
            if self._closed:
                return
            try:
                await self._start_template()
            except (SpawnError, OSError) as error:
                log.error("cannot restart the sandbox worker template: %s", error)
                continue
            log.warning("sandbox worker template restarted")
            self._spawn_error = None
            self._replenish()
            self._dispatch()
            return

    # -- running calls --------------------------------------------------------------------------
    async def run(
        self,
        call: Call,
        *,
        limits: Limits | None = None,
        handler: CapabilityHandler | None = None,
        group: str = "",
    ) -> Outcome:
        """Run one call in a worker of `group`; always returns an Outcome for tenant code.

        `group` names whose call this is (the service passes the tenant): a group's calls only
        ever run in that group's workers, and groups are served fairly (sandbox.scheduler).
        """
        if self._closed:
            raise PoolClosed("the sandbox pool is closed")
        limits = limits or self.limits
        sha256, size = source_facts(call.source)
        if size > limits.source_bytes:
            # The worker refuses it too; checked here so it never crosses the pipe, with the
            # worker's own refusal (its message and `problems`), so the caller cannot tell.
            problem = source_too_large(size, limits)
            error = ScriptError(type="CompileError", message=problem.message,
                                problems=(problem,))
            return Outcome(ok=False, error=error, limit="source")
        try:
            encoded = EncodedCall.of_call(call, sha256, limits_bytes(limits))
        except UnsendableCall as error:
            self.stats.bad_calls += 1
            return failure("BadCall", f"the call cannot be sent to a sandbox worker: {error}")
        future: asyncio.Future[Outcome] = self._running_loop().create_future()
        pending = PendingCall(next(self._ids), group, encoded, sha256, limits,
                              handler or no_capabilities, future, queued_at=time.monotonic())
        self.stats.calls += 1
        # Known from its first call on, so a newcomer cannot take every worker at once.
        self._load(group)
        if not self._start_now(pending):
            self._waiting.push(group, pending)
            self._dispatch()
        outcome = await future
        if outcome.limit is not None:
            self.stats.limit_hits[outcome.limit] += 1
        load = self._load(group)
        if not load.heavy:
            self._gate.light_activity()
        # What the call itself cost: its CPU time, as its worker measured it. Wall-clock time
        # would count the time it waited on the host, or for a core on a loaded machine, or
        # paused by the yield gate, as weight of its own: a fresh worker's first call on a busy
        # machine then marked a light tenant heavy (held to one worker, its calls paused).
        # (A call ended from outside reports no CPU time: then its wall-clock time less what
        # it waited on the host.)
        own_ms = outcome.cpu_ms if outcome.cpu_ms > 0 else max(
            0.0, outcome.duration_ms - pending.host_seconds * 1000)
        load.observe(own_ms, outcome.limit in ("cpu", "wall", "memory", "garbage"))
        return outcome

    async def check(self, source: str, *, limits: Limits | None = None, group: str = ""
                    ) -> Outcome:
        """Compile and contract-check a script in a worker (the compiler meets hostile input).

        Checks are rare (an upload, a deploy): the group's idle workers are reclaimed at once
        after it rather than kept for calls that will not come. So each check starts a worker,
        charged to the group's budget of checks as it starts (past it, the check fails at once
        with the limit "restarts").
        """
        self._check_groups.add(group)
        outcome = await self.run(Call(source=source, function=None), limits=limits,
                                 group=group)
        for worker in list(self._by_group.get(group, ())):
            if worker.usable and not worker.inflight:
                self.stats.workers_reclaimed += 1
                self._take_out(worker, "", charge=False, reclaim=True)
        return outcome

    def seconds_until_starts(self, group: str) -> float:
        """How long until the group may start a worker again (0: it may now)."""
        budget = self._budgets.get(group)
        return 0.0 if budget is None else budget.seconds_until_available(time.monotonic())

    def drop_group(self, group: str) -> int:
        """The group is gone for good (its tenant was deleted): fail its queued and running
        calls and kill its workers now, rather than keep them until the idle sweep. Returns
        how many workers were dropped."""
        gone = failure("GroupDropped", "the tenant was deleted")
        for pending in self._waiting.take_where(lambda p: p.group == group):
            if not pending.future.done():
                pending.future.set_result(gone)
        workers = [w for w in self._by_group.get(group, ()) if not w.dead]
        for worker in workers:
            for pending in worker.inflight:
                if not pending.future.done():
                    pending.future.set_result(gone)
            self._take_out(worker, "its tenant was deleted", charge=False, reclaim=True)
        self._budgets.pop(group, None)
        self._maybe_spent.discard(group)
        self._loads.pop(group, None)
        self._check_groups.discard(group)
        return len(workers)

    def _start_now(self, pending: PendingCall) -> bool:
        """Start a new call at once when no other call waits (nearly always): what a dispatch
        pass would do with it, without the queue's round (a deque made and emptied, the groups
        listed, a second pass to find the queue empty) and without a replenish when the
        spares are all there. False, and nothing started, when it must wait its turn."""
        if self._waiting or self._dispatching or self._closed:
            return False
        group = pending.group
        now = time.monotonic()
        if group in self._maybe_spent and self._throttled(group, now):
            return False  # the queue's pass refuses it with the reason
        spares = len(self._spares)
        # As inside a pass: a worker taken out meanwhile (a reclaim for a spare) asks for
        # another pass instead of nesting one.
        self._dispatching = True
        try:
            worker = self._worker_for(group, now)
            if worker is not None:
                self._start_on(worker, pending)
        finally:
            self._dispatching = False
        if self._redispatch or self._waiting:
            self._dispatch()  # (it replenishes too)
        elif len(self._spares) < spares or len(self._spares) + self._starting < self.spare_workers:
            self._replenish()
        return worker is not None

    def _dispatch(self) -> None:
        if self._closed:
            return
        if self._dispatching:
            # Called again from inside (a reclaim, a worker taken out): the outer pass
            # goes round once more instead of nesting.
            self._redispatch = True
            return
        self._dispatching = True
        try:
            self._redispatch = True
            while self._redispatch:
                self._redispatch = False
                self._dispatch_once()
        finally:
            self._dispatching = False
        self._replenish()

    def _dispatch_once(self) -> None:
        now = time.monotonic()
        # A group that cannot start a call now cannot later in the same pass: starting calls
        # only takes busy slots, spares and idle workers away from the others (a worker taken
        # out, which may free room, makes `_dispatch` run another pass). So each group is
        # examined once per pass, not once per call started: with many tenants waiting, the
        # rescans were a third of the event loop's CPU per call.
        stuck: set[str] = set()
        # With every worker slot taken (`_busy_limit` at its highest, common when many tenants
        # wait), a group can only start a call in the pipe of a worker of its own that is busy
        # already (`_worker_for`): the others are known stuck without asking. A worker with
        # calls in flight is in `_busy`, so these are the groups of `_busy`'s workers.
        busy_groups = {worker.group for worker in self._busy}
        maybe_spent = self._maybe_spent
        while self._waiting:
            full = self._running() >= self.size * self.inflight_per_worker
            groups: Iterable[str] = self._waiting.groups()
            if full:
                # Only the groups of `_busy` can start a call now, and only those that may be
                # out of their budget can have calls to refuse: the others are passed over
                # here, in C, in the queue's order. With many tenants waiting, a pass runs at
                # each call's arrival and at its end, and looking at every waiting group in
                # Python was most of the main process's extra CPU per call. (What is passed
                # over cannot start later in the pass either, see above.)
                concerned = busy_groups | maybe_spent if maybe_spent else busy_groups
                groups = filter(concerned.__contains__, groups)
            for group in groups:
                if group in stuck:
                    continue
                if group in maybe_spent and self._throttled(group, now):
                    self._refuse_waiting(group, now)
                    continue
                if full and group not in busy_groups:
                    stuck.add(group)
                    continue
                worker = self._worker_for(group, now)
                if worker is not None:
                    break
                stuck.add(group)
            else:
                break
            pending = self._waiting.pop(group)
            if pending.future.done():
                continue
            self._start_on(worker, pending)
            busy_groups.add(group)

    def _start_on(self, worker: Worker, pending: PendingCall) -> None:
        worker.inflight.append(pending)
        self._busy.add(worker)
        worker.calls += 1
        worker.last_used = time.monotonic()
        self._set_priority(worker, pending.group)
        pending.sent_source = not worker.mark_source(pending.source_sha256)
        if not worker.write(pending.encoded.message(pending.id, pending.sent_source)):
            # Its pipe is gone (the worker is going away): this call never reached it.
            worker.inflight.pop()
            self._waiting.push_front(pending.group, pending)
            self._take_out(worker, "lost its pipe", charge=False)
            return
        if not self._heavy(pending.group):
            self._gate.light_activity()
        if len(worker.inflight) == 1:
            self._arm_deadline(worker, pending)

    def _group_cap(self, group: str) -> int:
        return group_worker_cap(self.size, self.workers_per_group, heavy=self._heavy(group),
                                alone=self._alone(group))

    def _alone(self, group: str) -> bool:
        """No other group has a live worker or a waiting call: the group may use every
        worker slot. Groups seen once and gone since (a module's check at its upload, a
        tenant whose idle workers were reclaimed) do not hold a slot back for good: that
        kept a service's only tenant on one worker after its first upload. (Both walks stop
        at the first other group.)"""
        for other in self._by_group:
            if other != group:
                return False
        return not self._waiting.has_other(group)

    def _worker_for(self, group: str, now: float) -> Worker | None:
        """An idle worker of this group; else a spare bound to it (within the group's and the
        pool's budget); else, for groups known to be quick, the pipe of its least busy worker.

        Called for every waiting group at every dispatch pass (with many tenants waiting, most
        of them cannot start anything), so it walks the group's workers once and builds no
        lists.
        """
        load = self._loads.get(group)
        pipelines = load is not None and load.may_pipeline
        room_for_more = self._running() < self._busy_limit(group)
        if not room_for_more and not pipelines:
            return None
        idle: Worker | None = None
        least_busy: Worker | None = None  # a busy worker with room in its pipe, least loaded
        usable = busy = 0
        for worker in self._by_group.get(group, ()):
            if not worker.usable:
                continue
            usable += 1
            queued = len(worker.inflight)
            if not queued:
                if idle is None:
                    idle = worker
                continue
            busy += 1
            # Never queue behind a call that waits on the host: it may wait for seconds.
            if queued < self.inflight_per_worker and not worker.inflight[0].asking and (
                    least_busy is None or queued < len(least_busy.inflight)):
                least_busy = worker
        if room_for_more:
            cap = self._group_cap(group)
            if busy < cap:
                if idle is not None:
                    return idle
                if usable < cap and self._budget(group).available(now):
                    spare = self._bind_spare(group, first=not usable)
                    if spare is not None:
                        return spare
        if not pipelines:
            return None  # only calls known to be quick wait in a busy worker's pipe
        return least_busy

    def _running(self) -> int:
        """Busy workers that run their call now: not those waiting for the host's answer.

        The limits on calls running at once share out cores. A call waiting on a slow fetch
        target uses none, and counted, a few tenants' fetches to providers that answer in
        seconds left no room for anyone else's calls, however idle the cores (a neighbour's
        webhook waited the queue's 60 s and failed). Each group still holds at most its cap
        of busy workers, waiting or not (`_worker_for`), so this bounds the waits too."""
        return len(self._busy) - len(self._on_host)

    def _busy_limit(self, group: str) -> int:
        """How many workers may run calls at once when this group's call would be one more.

        `size` for heavy groups. Quick groups' calls may also start on their own idle workers
        up to `size * inflight_per_worker` at once: with one tenant per worker, interleaved
        tenants cannot share a worker's pipe, and holding them to `size` calls in flight leaves
        the cores idle between round trips (the same number of calls the pipes of `size`
        shared workers used to hold)."""
        load = self._loads.get(group)
        if load is not None and load.may_pipeline:
            return self.size * self.inflight_per_worker  # (`_dispatch_once` relies on this top)
        return self.size

    def _bind_spare(self, group: str, *, first: bool) -> Worker | None:
        """Assign a spare to `group` for good. When the pool holds `max_workers` tenant workers
        already, another group's idle worker is reclaimed only for a group's `first` worker: a
        second worker for a busy group never evicts a neighbour's only one (with more tenants
        than workers, that would trade workers back and forth at every call)."""
        if not self._spares:
            return None
        if self._bound >= self.max_workers and not (first and self._reclaim_one(exclude=group)):
            return None
        worker = self._spares.pop()
        worker.group = group
        self._bound += 1
        self._by_group.setdefault(group, []).append(worker)
        if group in self._check_groups:
            self._charge(worker)  # a check's start is its group's doing, crash or not
            worker.start_charged = True
        return worker

    def _reclaim_one(self, exclude: str) -> bool:
        """Kill the least recently used idle worker of another group, a group's extra workers
        before anyone's only one; False if none is idle."""
        idle = [w for g, workers in self._by_group.items() if g != exclude
                for w in workers if w.usable and not w.inflight]
        if not idle:
            return False
        victim = min(idle, key=lambda w: (len(self._by_group.get(w.group or "", ())) <= 1,
                                          w.last_used))
        self.stats.workers_reclaimed += 1
        self._take_out(victim, "", charge=False, reclaim=True)
        return True

    def _budget(self, group: str) -> RestartBudget:
        budget = self._budgets.get(group)
        if budget is None:
            if group in self._check_groups:
                budget = RestartBudget(self.check_burst, self.checks_per_second)
            else:
                budget = RestartBudget(self.restart_burst, self.restarts_per_second)
            self._budgets[group] = budget
            if budget.burst < 1:
                self._maybe_spent.add(group)  # empty from the start
        return budget

    def _throttled(self, group: str, now: float) -> bool:
        """The group spent its restart budget and has no worker left to wait for."""
        budget = self._budgets.get(group)
        if budget is None or budget.available(now):
            self._maybe_spent.discard(group)  # it holds a token until its next charge
            return False
        return not any(not w.dead for w in self._by_group.get(group, ()))

    def _refuse_waiting(self, group: str, now: float) -> None:
        wait = self._budget(group).seconds_until_available(now)
        if group in self._check_groups:
            message = ("this tenant's script checks started sandbox workers too often (each "
                       f"check runs in a new one); new checks run again in {wait:.1f} s")
        else:
            message = ("this tenant's scripts made their sandbox workers restart too often "
                       f"(crashes, kills, memory limits); new calls run again in {wait:.1f} s")
        while True:
            try:
                pending = self._waiting.pop(group)
            except KeyError:
                return
            if not pending.future.done():
                pending.future.set_result(failure("LimitExceeded", message, limit="restarts"))

    def _load(self, group: str) -> GroupLoad:
        """The group's load, made on first use (not a GroupLoad made and dropped per call, as
        `setdefault` would)."""
        load = self._loads.get(group)
        if load is None:
            load = self._loads[group] = GroupLoad()
        return load

    def _heavy(self, group: str) -> bool:
        load = self._loads.get(group)
        return load is not None and load.heavy

    def _set_priority(self, worker: Worker, group: str, *, idle: bool | None = None) -> None:
        """Heavy groups' calls run under SCHED_IDLE: only on CPU time nobody else wants, and
        preempted at once when another task wakes. A niceness still takes a share (and
        delays the wakeups of everyone else by a scheduler tick); SCHED_IDLE does not.
        (`idle` overrides the group's weight: False for a call told to stop.)

        Only with the privilege to restore the normal policy afterwards (root); else skipped.
        """
        if not CAN_RENICE or worker.gone:
            return
        if idle is None:
            idle = self._heavy(group)
        if worker.idle_priority != idle:
            policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
            with contextlib.suppress(OSError):
                os.sched_setscheduler(worker.pid, policy, os.sched_param(0))
                worker.idle_priority = idle

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the pool runs in, as `start` found it: `asyncio.get_running_loop()` makes a
        system call on Python 3.11 (getpid, to notice a fork), and a call asked for it twice."""
        loop = self._loop
        return loop if loop is not None else asyncio.get_running_loop()

    def _arm_deadline(self, worker: Worker, pending: PendingCall) -> None:
        """Start the call's clocks: one timer per call, at SLOW_CALL_SECONDS. Nearly every call
        ends before it, so the wall-clock deadline is armed only then (`_on_slow`), for what is
        left of the limit: a timer made and cancelled for every call cost the event loop more
        than the rest of the call's bookkeeping. A limit shorter than that gets its own timer
        at once."""
        loop = self._running_loop()
        pending.started_at = time.perf_counter()
        if pending.limits.wall_seconds <= SLOW_CALL_SECONDS:
            self._arm_wall_timers(loop, worker, pending, pending.limits.wall_seconds)
        pending.slow = loop.call_later(SLOW_CALL_SECONDS, self._on_slow, worker, pending)
        if self._heavy(pending.group):
            self._gate.heavy_started(worker)

    def _arm_wall_clock(self, worker: Worker, pending: PendingCall) -> None:
        """The wall-clock deadline for what is left of the limit (time paused excluded).

        Not while the worker is paused: resuming it arms the deadline (`_resume_worker`)."""
        if pending.deadline is not None or worker.paused_at is not None:
            return
        remaining = pending.limits.wall_seconds - (
            time.perf_counter() - pending.started_at - pending.paused_seconds)
        self._arm_wall_timers(asyncio.get_running_loop(), worker, pending, remaining)

    def _arm_wall_timers(self, loop: asyncio.AbstractEventLoop, worker: Worker,
                         pending: PendingCall, remaining: float) -> None:
        """The warning to the worker shortly before the deadline `remaining` seconds from now
        (`_on_wall_warning`, which then arms the deadline itself): one timer a call, held in
        `pending.deadline` whichever is next. It is cancelled while the worker is paused and
        armed again for what is left when it resumes, so the warning follows the same clock
        as the deadline: time paused never counts."""
        deadline_at = loop.time() + max(0.0, remaining)
        ahead = wall_warning_seconds(pending.limits.wall_seconds)
        pending.deadline = loop.call_at(
            deadline_at - ahead, self._on_wall_warning, worker, pending, deadline_at)

    def _on_slow(self, worker: Worker, pending: PendingCall) -> None:
        """A call still running after SLOW_CALL_SECONDS: its group counts as heavy from now
        on (no need to wait for it to finish), it yields the CPU to everyone else, and its CPU
        time is watched from outside from here on."""
        pending.slow = None
        if not worker.inflight or worker.inflight[0] is not pending or pending.future.done():
            return
        self._arm_wall_clock(worker, pending)
        own = pending.own_seconds(time.perf_counter())
        if own < SLOW_CALL_SECONDS:
            # Most of the time went waiting on the host (a slow provider's API behind fetch()):
            # that uses no CPU and must not cap the tenant's workers. Look again once the
            # call could have run for SLOW_CALL_SECONDS of its own.
            pending.slow = asyncio.get_running_loop().call_later(
                SLOW_CALL_SECONDS - own, self._on_slow, worker, pending)
            return
        self._load(pending.group).heavy = True
        self._set_priority(worker, pending.group)
        self._gate.heavy_started(worker)
        # Read now, the call has used at most SLOW_CALL_SECONDS of CPU before: the outside
        # check errs by that much in the call's favour, far inside its margin.
        pending.cpu_baseline = worker.cpu_seconds()
        pending.cpu_check = asyncio.get_running_loop().call_later(
            CPU_CHECK_SECONDS, self._check_cpu, worker, pending)

    def _check_cpu(self, worker: Worker, pending: PendingCall) -> None:
        """The outer belt of the CPU limit: the worker's own timer should have fired long
        before; a worker past the limit by the margin is killed."""
        pending.cpu_check = None
        if (worker.dead or not worker.inflight or worker.inflight[0] is not pending
                or pending.future.done()):
            return
        now_cpu = worker.cpu_seconds()
        if now_cpu is not None and pending.cpu_baseline is not None:
            limit = pending.limits.cpu_seconds
            margin = max(CPU_MARGIN_SECONDS, CPU_MARGIN_FRACTION * limit)
            if now_cpu - pending.cpu_baseline > limit + margin:
                self.stats.cpu_kills += 1
                elapsed = (time.perf_counter() - pending.started_at - pending.paused_seconds)
                pending.future.set_result(failure(
                    "LimitExceeded",
                    f"CPU time limit of {limit:g} s exceeded (stopped from outside)",
                    limit="cpu", duration_ms=elapsed * 1000))
                self._take_out(worker, "ran past its CPU limit", charge=True)
                return
        pending.cpu_check = asyncio.get_running_loop().call_later(
            CPU_CHECK_SECONDS, self._check_cpu, worker, pending)

    def _pause_worker(self, worker: Worker) -> None:
        """Stop a heavy call's worker (the yield gate decided); its wall clock stops too."""
        if worker.dead:
            return
        worker.send_signal(signal.SIGSTOP)
        worker.paused_at = time.perf_counter()
        head = worker.inflight[0] if worker.inflight else None
        worker.paused_call = head
        if head is not None and head.deadline is not None:
            head.deadline.cancel()  # the warning or the deadline, whichever is next
            head.deadline = None

    def _resume_worker(self, worker: Worker) -> None:
        paused_at, head = worker.paused_at, worker.paused_call
        worker.paused_at = worker.paused_call = None
        if worker.dead or paused_at is None:
            return
        worker.send_signal(signal.SIGCONT)
        if not worker.inflight:
            return
        running = worker.inflight[0]
        if running is head:
            head.paused_seconds += time.perf_counter() - paused_at
        elif not running.started_at:
            # The paused call ended meanwhile and its end resumed the worker before the call
            # behind it started: its clocks start with it (`_complete_head`). Armed here, its
            # deadline was measured from no start at all and had passed: it failed at once
            # as a wall-clock limit.
            return
        # The call running now (the paused one, or the next one if the paused one ended
        # meanwhile and the next one started) gets its deadline back, or its first one if its
        # slow check came while the worker was paused.
        if not running.future.done():
            self._arm_wall_clock(worker, running)

    def _on_wall_warning(self, worker: Worker, pending: PendingCall,
                         deadline_at: float) -> None:
        """The call's wall clock is nearly out: signal the worker to stop the script where it
        is (sandbox/worker.py `on_wall_warning`), which ends it as the wall-clock limit at the
        script's line and keeps the worker. The deadline is armed here, whatever follows: a
        worker that does not answer by then (a script in C code, which no signal handler
        interrupts) is killed.

        Not while the call waits on the host: today's outcome stays (the host's answer is
        bounded by the call's wall clock, and the script may still finish after it)."""
        pending.deadline = self._running_loop().call_at(
            deadline_at, self._on_deadline, worker, pending)
        if (worker.dead or worker.paused_at is not None or not worker.inflight
                or worker.inflight[0] is not pending or pending.future.done()
                or pending.asking):
            return
        # Under SCHED_IDLE on a busy machine the worker may not run again before the deadline
        # (the warning is then for nothing: the kill leaves no line). Stopping takes it
        # microseconds, so it gets the normal policy back for them; the next call on it gets
        # its group's again (`_start_on`).
        self._set_priority(worker, pending.group, idle=False)
        worker.send_signal(WALL_WARNING_SIGNAL)

    def _on_deadline(self, worker: Worker, pending: PendingCall) -> None:
        pending.deadline = None
        if not worker.inflight or worker.inflight[0] is not pending or pending.future.done():
            return
        elapsed = (time.perf_counter() - pending.started_at - pending.paused_seconds) * 1000
        if self._spent_its_cpu(worker, pending):
            # Computing all along, in C code where the worker's own CPU timer cannot stop it
            # (a regex backtracking, huge integer arithmetic): that is the CPU limit, which
            # tells the builder to fix their code rather than suspect a slow provider.
            outcome = failure("LimitExceeded",
                              f"CPU time limit of {pending.limits.cpu_seconds:g} s exceeded",
                              limit="cpu", duration_ms=elapsed)
        else:
            outcome = failure("LimitExceeded",
                              f"wall-clock limit of {pending.limits.wall_seconds:g} s exceeded",
                              limit="wall", duration_ms=elapsed)
        pending.future.set_result(outcome)
        self.stats.deadline_kills += 1
        self._take_out(worker, "held a call past its wall-clock deadline", charge=True)

    @staticmethod
    def _spent_its_cpu(worker: Worker, pending: PendingCall) -> bool:
        """The call used at least its CPU limit, as the worker's CPU time since the slow check
        shows (`_on_slow` reads the baseline; a call never found slow has none). What it used
        before that (at most SLOW_CALL_SECONDS) is not counted, in the call's favour."""
        if pending.cpu_baseline is None:
            return False
        now_cpu = worker.cpu_seconds()
        return now_cpu is not None and now_cpu - pending.cpu_baseline >= pending.limits.cpu_seconds

    def _complete_head(self, worker: Worker, outcome: Outcome) -> None:
        pending = worker.inflight.popleft()
        pending.end()
        if not worker.inflight:
            self._busy.discard(worker)
        self._on_host.discard(worker)
        self._gate.heavy_finished(worker)
        worker.last_used = time.monotonic()
        if not pending.future.done():
            pending.future.set_result(outcome)
        if worker.inflight and not worker.retiring:
            self._arm_deadline(worker, worker.inflight[0])
        if self._waiting:
            # (With none waiting, a pass would find nothing to start; the spares are topped
            # up as calls start, `_start_now`.)
            self._dispatch()

    # -- messages from workers ------------------------------------------------------------------
    def _on_line(self, worker: Worker, line: bytes) -> None:
        """One message from a worker, handled as it arrives (no task hop per message)."""
        try:
            # Counted before parsing: a breached worker's message of millions of empty
            # lists held the event loop half a second per message (message_budget.py).
            too_much = over_budget(line)
            if too_much is not None:
                raise ProtocolError(too_much)
            message = decode(line)
            kind = message["type"]
            if not worker.ready:
                self._on_ready(worker, message)
                return
            if not worker.inflight or message.get("id") != worker.inflight[0].id:
                raise ProtocolError(f"a {kind!r} message for a call that is not running")
            if kind == "outcome":
                outcome = self._within_limits(
                    outcome_from_json(message.get("outcome")), worker.inflight[0].limits, line)
                if outcome.retire:  # the worker exits by itself after this outcome
                    worker.retiring = True
                    self._impair(worker)
                    self._charge(worker)
                    asyncio.get_running_loop().call_later(
                        RETIRE_GRACE_SECONDS, self._retire_overdue, worker)
                self._complete_head(worker, outcome)
            elif kind == "capability":
                request = message.get("request")
                if not isinstance(request, dict):
                    raise ProtocolError("a capability request must be an object")
                if too_deep(line, request, MAX_REQUEST_DEPTH):
                    raise ProtocolError(
                        f"a capability request nested deeper than {MAX_REQUEST_DEPTH} levels")
                if worker.inflight[0].asking:
                    # A worker waits for each answer before it asks again: a second request
                    # meanwhile is a flood, not a script.
                    raise ProtocolError("a capability request before the last was answered")
                self._answer(worker, worker.inflight[0], request)
            elif kind == "source_missing":
                if worker.inflight[0].sent_source:
                    # Only a call sent by hash can lack its text. Believed anyway, a breached
                    # script sent its call round new workers for ever (each one breached
                    # again, its wall clock restarting with each).
                    raise ProtocolError("'source_missing' for a call that carried its source")
                self._resend_all(worker)
            else:
                raise ProtocolError(f"unexpected message {kind!r}")
        except ProtocolError as error:
            self._protocol_violation(worker, str(error))

    @staticmethod
    def _within_limits(outcome: Outcome, limits: Limits, line: bytes) -> Outcome:
        """The worker enforces output and result limits; check them again from outside."""
        # JSON may escape a character into up to 6 bytes; anything beyond that bound is a
        # result the worker should have refused.
        if len(line) > (limits.result_bytes + limits.output_bytes) * 6 + 65536:
            return failure("InvalidResult",
                           f"the result is larger than {limits.result_bytes} bytes as JSON",
                           limit="result", duration_ms=outcome.duration_ms)
        result = outcome.result
        if (type(result) is dict or type(result) is list) and too_deep(
                line, result, limits.result_depth):
            return failure("InvalidResult",
                           f"the result is nested deeper than {limits.result_depth} levels",
                           limit="result", duration_ms=outcome.duration_ms)
        if len(outcome.logs) > limits.output_bytes:
            return replace(outcome, logs=outcome.logs[: limits.output_bytes],
                           logs_truncated=True)
        return outcome

    def _on_ready(self, worker: Worker, message: dict[str, Any]) -> None:
        if message.get("type") == "unhardened":
            # A layer the worker must have could not be applied on this host (it exits
            # without running tenant code): the reason, not only its exit status.
            self._start_failed("a new sandbox worker could not harden itself and ran no "
                               f"tenant code: {str(message.get('error'))[:500]}")
            self._take_out(worker, "could not harden itself", charge=False)
            return
        if message.get("type") != "ready":
            raise ProtocolError("the worker's first message must be 'ready'")
        hardening = message.get("hardening")
        if isinstance(hardening, dict):
            self._note_layers(hardening)
        worker.ready = True
        worker.last_used = time.monotonic()
        if worker.ready_timer is not None:
            worker.ready_timer.cancel()
            worker.ready_timer = None
        self._spawn_error = None
        self._start_failures = 0
        self._starts_paused_until = 0.0  # a start worked: no reason to hold back the next
        self._starting -= 1
        self._spares.append(worker)
        self._dispatch()

    def _note_layers(self, hardening: dict[str, Any]) -> None:
        """Keep what a fresh worker says of its layers (for /healthz and /metrics), and log
        it: in full the first time, then only when the layers in effect change."""
        layers = wall_layers.layer_states(hardening)
        exposed = wall_layers.exposed(hardening)
        stats = self.stats
        if not stats.hardening:
            stats.hardening = hardening
            log.info("sandbox workers hardened: active=%s inactive=%s",
                     hardening.get("active"), hardening.get("inactive"))
            lines = hardening.get("exposed")
            for line in lines if isinstance(lines, list) else ():
                log.warning("sandbox workers are exposed: %s", line)
            lines = hardening.get("limited")
            for line in lines if isinstance(lines, list) else ():
                log.warning("sandbox workers are limited: %s", line)
        elif layers != stats.layers:
            log.warning("sandbox workers' layers changed: active=%s inactive=%s",
                        hardening.get("active"), hardening.get("inactive"))
        stats.layers = layers
        stats.exposed = exposed

    def _protocol_violation(self, worker: Worker, reason: str) -> None:
        """A worker that breaks the protocol is not trusted with another call."""
        if worker.inflight and not worker.inflight[0].future.done():
            worker.inflight[0].future.set_result(failure(
                "WorkerProtocolError", f"the worker sent an invalid message: {reason}"
            ))
        self._take_out(worker, "broke the protocol", charge=worker.group is not None)

    def _answer(self, worker: Worker, pending: PendingCall, request: dict[str, Any]) -> None:
        pending.asking = True
        pending.asked_at = time.perf_counter()
        task = asyncio.ensure_future(self._answer_one(worker, pending, request))
        pending.tasks.add(task)
        task.add_done_callback(pending.tasks.discard)
        self._on_host.add(worker)
        if self._waiting:
            self._dispatch()  # its room is free while the host answers

    async def _answer_one(self, worker: Worker, pending: PendingCall, request: dict[str, Any]
                          ) -> None:
        """Answer a capability request; the call's wall clock bounds it (the call's end
        cancels it)."""
        # The host is told how long it may take, over whatever the worker sent: a request
        # bounded only by its own timeout (fetch's 5 s) outlived a 2-s webhook, which then
        # ended as a wall-clock limit at no line, not as the FetchError the script catches.
        request["wall_seconds_left"] = pending.wall_seconds_left(time.perf_counter())
        try:
            reply = await pending.handler(request)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a host-side bug must not hang the tenant's call
            log.exception("capability handler failed")
            reply = {"ok": False, "error": f"the host could not complete the request ({error})"}
        pending.asking = False
        pending.host_seconds += time.perf_counter() - pending.asked_at
        if worker.dead or not worker.inflight or worker.inflight[0] is not pending:
            return
        self._on_host.discard(worker)
        worker.write(encode_capability_reply(pending.id, reply))

    def _resend_all(self, worker: Worker) -> None:
        """The worker lacked a source we thought it had (the two LRUs should never disagree).

        Its pipe may already hold more calls that depend on the same belief, so every call on
        it goes back to the queue (none had started) and the worker is replaced.
        """
        log.warning("sandbox worker lost a cached script; replacing it")
        self._take_out(worker, "", charge=False, requeue_all=True)

    # -- worker processes -----------------------------------------------------------------------
    def _replenish(self) -> None:
        """Keep `spare_workers` spares ready or starting, and one more per group waiting for a
        worker it may have, within `max_workers` + `spare_workers` processes."""
        if self._closed or self._template is None or not self._template.ready:
            return
        if self._starts_paused_until > time.monotonic():
            return  # after failed starts (`_start_failed`); a timer replenishes again
        wanted = self.spare_workers
        workerless = None  # a waiting group with no worker at all
        if self._waiting:
            now = time.monotonic()
            hungry = 0
            # Run after every dispatch pass, with many tenants waiting (each with its worker,
            # idle or at its cap, nearly always). A group can be short of a worker only if it
            # has none, or one of them is busy or not usable: the others, nearly all, are
            # passed over here, in C, in the queue's order (walking every waiting group's
            # workers in Python was most of a pass's work). The rest are ruled out by a walk
            # over their workers that stops at the first idle one, before the cap and the
            # budget are asked.
            by_group = self._by_group
            waiting = list(self._waiting.groups())
            looked_at: Iterable[str] = waiting
            if len(waiting) > FILTER_ABOVE_GROUPS:
                may_be_short = {worker.group for worker in self._busy}
                may_be_short |= self._impaired
                may_be_short.update(set(waiting).difference(by_group))
                looked_at = filter(may_be_short.__contains__, waiting)
            for group in looked_at:
                own = 0
                for worker in by_group.get(group, ()):
                    if worker.dead:
                        continue
                    if not worker.inflight and worker.usable:
                        break  # an idle worker: this group is not short of one
                    own += 1
                else:
                    # (A group's cap is never above `workers_per_group`.)
                    if (own >= self.workers_per_group or own >= self._group_cap(group)
                            or not self._budget(group).available(now)):
                        continue
                    hungry += 1
                    if not own and workerless is None:
                        workerless = group
            wanted = max(wanted, hungry)
        limit = self.max_workers + self.spare_workers
        have = len(self._spares) + self._starting
        if (workerless is not None and have == 0 and self._bound >= limit
                and self._reclaim_one(exclude=workerless)):
            # At the budget with no spare coming: a group without any worker gets the least
            # recently used idle one's place now, not when the idle sweep comes round. (The
            # reclaim dispatches and replenishes again, with room for the spawn.)
            return
        while have < wanted and self._bound + have < limit:
            have += 1
            self._starting += 1
            self._track(self._spawn())

    def _track(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _spawn_spec(self, uid: int | None) -> dict[str, Any]:
        return {"uid": uid, "gid": uid, "memory_bytes": self.limits.memory_bytes,
                "readable_paths": list(self._readable_paths)}

    def _allocate_uid(self) -> int | None:
        """A free uid of the range, drawn at random. A breached worker reads its own uid:
        handed out lowest first, it counted the workers held for other tenants."""
        uids = self.worker_uids
        if uids is None:
            return None
        for _ in range(UID_DRAWS):
            uid = uids[secrets.randbelow(len(uids))]
            if uid not in self._uids_used:
                break
        else:  # a range nearly full: the first free one after a random place
            first = secrets.randbelow(len(uids))
            in_order = (uids[(first + step) % len(uids)] for step in range(len(uids)))
            found = next((free for free in in_order if free not in self._uids_used), None)
            if found is None:
                raise SpawnError("every uid of the workers' range is in use")
            uid = found
        self._uids_used.add(uid)
        return uid

    async def _spawn(self) -> None:
        """Fork one spare from the template and wait (with a deadline) for its hello."""
        template = self._template
        uid: int | None = None
        try:
            if template is None:
                raise SpawnError("no worker template")
            uid, self._next_uid = self._next_uid, None
            if uid is None:
                uid = self._allocate_uid()
            if self.worker_uids is not None:
                # The next spawn's uid, reserved now: the template forks that worker ahead.
                with contextlib.suppress(SpawnError):  # the range is full: no head start
                    self._next_uid = self._allocate_uid()
            spawned = await template.spawn(
                self._spawn_spec(uid),
                None if self.worker_uids is not None and self._next_uid is None
                else self._spawn_spec(self._next_uid))
        except (SpawnError, OSError) as error:  # OSError: e.g. out of descriptors
            self._starting -= 1
            if uid is not None:
                # Kept for the next spawn: the template may hold a worker made for it.
                if self._next_uid is not None:
                    self._uids_used.discard(self._next_uid)
                self._next_uid = uid
            if self._closed:
                return
            if template is None or template.down:
                # The template went away: its restart has a backoff of its own.
                self._spawn_error = str(error)
                log.error("cannot start a sandbox worker: %s", error)
                return
            self._start_failed(f"cannot start a sandbox worker: {error}")
            if "did not answer" in str(error):
                template.kill()  # unresponsive: the supervisor starts a new one
            return
        self.stats.workers_started += 1
        worker = Worker(id=next(self._worker_ids), pid=spawned.pid, pidfd=spawned.pidfd,
                        uid=uid)
        self._workers.append(worker)
        self._by_pid[worker.pid] = worker
        early = self._early_exits.pop(worker.pid, None)
        if early is not None and time.monotonic() - early[1] < EARLY_EXIT_KEEP_SECONDS:
            worker.exit_status = early[0]
        loop = asyncio.get_running_loop()
        if worker.pidfd is not None:
            loop.add_reader(worker.pidfd, self._on_pidfd, worker)
        reader = WorkerReader(worker, self._on_line, self._protocol_violation, self._on_eof)
        try:
            await connect(worker, spawned, reader)
        except OSError as error:
            log.error("cannot attach a sandbox worker's pipes: %s", error)
            self._take_out(worker, "", charge=False)
            return
        worker.ready_timer = loop.call_later(self.worker_ready_seconds,
                                             self._on_ready_timeout, worker)
        if self._closed:
            self._take_out(worker, "", charge=False)

    def _on_ready_timeout(self, worker: Worker) -> None:
        worker.ready_timer = None
        if not worker.ready and not worker.dead:
            self._start_failed(f"a worker did not start in {self.worker_ready_seconds:g} s "
                               f"(pid {worker.pid})")
            self._take_out(worker, "did not start in time", charge=False)

    def _start_failed(self, reason: str) -> None:
        """A worker could not be started: say why (`start()` fails with it, `health()` names
        it while no spare is ready) and pause new starts, longer each time in a row."""
        self._spawn_error = reason
        delay = START_BACKOFF_SECONDS[min(self._start_failures, len(START_BACKOFF_SECONDS) - 1)]
        self._start_failures += 1
        log.error("%s; new workers are started again in %g s", reason, delay)
        self._starts_paused_until = time.monotonic() + delay
        if self._start_retry is None and not self._closed:
            self._start_retry = asyncio.get_running_loop().call_later(delay, self._retry_starts)

    def _retry_starts(self) -> None:
        self._start_retry = None
        if self._starts_paused_until > time.monotonic():  # paused again meanwhile
            self._start_retry = asyncio.get_running_loop().call_later(
                self._starts_paused_until - time.monotonic(), self._retry_starts)
            return
        self._dispatch()  # (which replenishes)

    def _charge(self, worker: Worker) -> None:
        if worker.start_charged:
            return  # a check's worker paid when it started
        if worker.group is not None:
            self._budget(worker.group).charge(time.monotonic())
            self._maybe_spent.add(worker.group)
            self.stats.starts_charged[worker.group] += 1

    def _take_out(self, worker: Worker, reason: str, *, charge: bool,
                  requeue_all: bool = False, reclaim: bool = False) -> None:
        """Out of service at once: the call it ran already has its outcome (or fails here),
        calls queued behind it go back to the queue, and the process is killed."""
        if worker.dead:
            return
        worker.dead = True
        self._impair(worker)
        worker.dead_reason = reason
        worker.dead_at = time.monotonic()
        if not worker.ready:
            self._starting -= 1
        self._gate.heavy_finished(worker)
        if worker.ready_timer is not None:
            worker.ready_timer.cancel()
            worker.ready_timer = None
        if worker in self._spares:
            self._spares.remove(worker)
        self._busy.discard(worker)
        self._on_host.discard(worker)
        if worker.group is not None:
            self._bound -= 1
        if charge:
            self._charge(worker)
        if worker.group is not None and not self._closed and not reclaim:
            self.stats.workers_replaced += 1
        inflight = list(worker.inflight)
        worker.inflight.clear()
        for pending in inflight:
            pending.end()
        if inflight and not requeue_all and not worker.retiring:
            head = inflight.pop(0)
            if not head.future.done():
                head.future.set_result(failure(
                    "WorkerCrashed", worker_stopped_message(worker.exit_status),
                    duration_ms=(time.perf_counter() - head.started_at) * 1000))
        for pending in reversed(inflight):
            if not pending.future.done():
                self._waiting.push_front(pending.group, pending)
        if not worker.gone and not worker.send_signal(signal.SIGKILL) and worker.pidfd is None \
                and self._template is not None:
            self._template.kill_worker(worker.pid)
        if worker.gone:
            self._forget(worker)
        self._dispatch()

    def _on_eof(self, worker: Worker) -> None:
        """Its pipe closed: the worker exited (or closed it, which is as bad). Wait a moment
        for the template's report of the exit status, for the message."""
        worker.eof = True
        self._impair(worker)
        if worker.dead:
            return
        if worker.exit_status is not None or worker.retiring:
            self._crashed(worker)
            return
        asyncio.get_running_loop().call_later(EXIT_STATUS_GRACE_SECONDS, self._crashed, worker)

    def _retire_overdue(self, worker: Worker) -> None:
        if not worker.dead:
            log.warning("sandbox worker %s said it retires but did not exit; killing it",
                        worker.pid)
            self._take_out(worker, "retired but did not exit", charge=False)

    def _crashed(self, worker: Worker) -> None:
        if worker.dead:
            return
        if not worker.ready:
            status = "" if worker.exit_status is None else f" (exit status {worker.exit_status})"
            self._unready_exit_pid = worker.pid if worker.exit_status is None else None
            self._start_failed(f"{_EXITED_BEFORE_READY}{status}")
        self._take_out(worker, "", charge=not worker.retiring and worker.group is not None)

    def _on_pidfd(self, worker: Worker) -> None:
        """The process is gone (a pidfd turns readable when it exits)."""
        if worker.pidfd is not None:
            asyncio.get_running_loop().remove_reader(worker.pidfd)
        self._gone(worker)

    def _on_exit_report(self, pid: int, status: int) -> None:
        if pid == self._unready_exit_pid and self._spawn_error == _EXITED_BEFORE_READY:
            # The report came after the grace (a busy host), perhaps after the process was
            # forgotten: the reason `health()` gives still gets its status.
            self._spawn_error = f"{_EXITED_BEFORE_READY} (exit status {status})"
        worker = self._by_pid.get(pid)
        if worker is None:
            # Before the spawn's reply was taken in (the worker died at once), or after the
            # process was forgotten: kept a moment for `_spawn`, which looks here.
            now = time.monotonic()
            self._early_exits = {known: (was, at) for known, (was, at) in self._early_exits.items()
                                 if now - at < EARLY_EXIT_KEEP_SECONDS}
            self._early_exits[pid] = (status, now)
            return
        worker.exit_status = status
        if worker.eof and not worker.dead:
            self._crashed(worker)
        if worker.pidfd is None:
            self._gone(worker)

    def _gone(self, worker: Worker) -> None:
        worker.gone = True
        if worker.dead:
            self._forget(worker)
        elif worker.eof and (worker.exit_status is not None or worker.retiring):
            self._crashed(worker)
        # else: the pipe's EOF follows, or came and waits a moment for the template's report
        # of the exit status (`_on_eof`), and reports the crash.

    def _impair(self, worker: Worker) -> None:
        """The worker is no longer usable (`Worker.usable`): its group may be short of one."""
        if worker.group is not None:
            self._impaired.add(worker.group)

    def _forget(self, worker: Worker) -> None:
        """The process is gone and out of service: release everything it held."""
        if worker in self._workers:
            self._workers.remove(worker)
        if self._by_pid.get(worker.pid) is worker:
            del self._by_pid[worker.pid]
        if worker.group is not None:
            workers = self._by_group.get(worker.group)
            if workers is not None and worker in workers:
                workers.remove(worker)
                if not workers:
                    del self._by_group[worker.group]
            if not any(w.dead or w.retiring or w.eof for w in workers or ()):
                self._impaired.discard(worker.group)
        if worker.uid is not None:
            self._uids_used.discard(worker.uid)
        worker.close_descriptors()
        if not worker.exited.done():
            worker.exited.set_result(None)
        if not self._closed:
            self._dispatch()

    def _forget_idle_groups(self, now: float) -> None:
        """What the pool learnt of a group with no worker and no waiting call goes: its load
        (a heavy group's after HEAVY_LOAD_KEPT_SECONDS of that), and that it runs checks
        (once its budget went too; `check` says so again). A group that comes back is
        measured afresh, as a new one is.

        A node sees groups come and go for months (tenants deleted on another node, tenants
        gone quiet, each tenant's checks' group after an upload): each one's load was kept
        for good, and past 10,000 of them the quick groups' loads were the ones forgotten,
        after each of their calls, so no quick tenant's calls were pipelined any more."""
        waiting = self._waiting
        for group, load in list(self._loads.items()):
            if group in self._by_group or group in waiting:
                load.idle_since = None
            elif not load.heavy:
                del self._loads[group]
            elif load.idle_since is None:
                load.idle_since = now
            elif now - load.idle_since >= HEAVY_LOAD_KEPT_SECONDS:
                del self._loads[group]
        if self._check_groups:
            self._check_groups = {group for group in self._check_groups
                                  if group in self._by_group or group in self._budgets
                                  or group in waiting}

    def _sweep(self) -> None:
        """Reclaim tenant workers idle longer than `idle_seconds`; forget restart budgets that
        are full again for groups with no worker."""
        if self._closed:
            return
        now = time.monotonic()
        expired = now - self.queue_seconds
        for pending in self._waiting.take_where(lambda p: p.queued_at < expired):
            if not pending.future.done():
                pending.future.set_result(failure(
                    "SandboxUnavailable",
                    f"no sandbox worker could take the call within {self.queue_seconds:g} s"))
        for group, budget in list(self._budgets.items()):
            if group not in self._by_group and budget.available(now) \
                    and budget.tokens >= budget.burst:
                del self._budgets[group]
                self._maybe_spent.discard(group)
        self._forget_idle_groups(now)
        cutoff = now - self.idle_seconds
        for workers in list(self._by_group.values()):
            for worker in list(workers):
                if worker.usable and not worker.inflight and worker.last_used < cutoff:
                    self.stats.workers_reclaimed += 1
                    self._take_out(worker, "", charge=False, reclaim=True)
        self._sweeper = asyncio.get_running_loop().call_later(IDLE_SWEEP_SECONDS, self._sweep)
