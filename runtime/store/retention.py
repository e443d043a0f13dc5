"""Retention and usage in SQL, once for both backends: the roll-up of executions into usage
slots, the pruning of old history in small batches, and the reads of usage and health.

Usage outlives the execution log. Executions are rolled up, module by module and in order of
`created_at`, into ten-minute slots (`usage_slots`); `usage_cursor.rolled_to` says how far.
Only executions before `rolled_to` may be pruned, so every execution is counted exactly once:
in a slot once rolled up, or from the log itself while it is newer than `rolled_to` (the
"tail" the reads add). The roll-up stays `ROLLUP_MARGIN` behind the clock, since an execution
is stamped before its unit commits; one stamped more than that before it commits (a node whose
clock is that far behind) would not be counted.

Batches are bounded by a row count and selected through an index, so one statement holds the
SQLite writer (shared with webhooks) for milliseconds. On PostgreSQL each batch first takes a
transaction-level advisory lock without waiting; the node that does not get it skips the batch,
so two nodes never prune or roll up at once (`Locks.retention`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runtime.store.dialect import Dialect, loads
from runtime.store.models import JSON
from runtime.store.port import Port

if TYPE_CHECKING:
    from runtime.store.locks import Locks

SLOT = timedelta(minutes=10)
ROLLUP_MARGIN = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PARSE_FUNCTION = "VoipParseWebhookRequest"  # sandbox.PARSE_FUNCTION (no sandbox import here)


def slot_of(moment: datetime) -> datetime:
    """The start of the ten-minute slot holding `moment` (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 10, second=0, microsecond=0)


def _fetch_count(effects: Any) -> int:
    """How many fetches an execution row's `effects` records ({"fetches": [...]})."""
    if isinstance(effects, str | bytes):
        effects = loads(effects)
    if isinstance(effects, dict) and isinstance(effects.get("fetches"), list):
        return len(effects["fetches"])
    return 0


def _day_in(d: Dialect, day: date) -> Any:
    # A DATE on PostgreSQL; ISO text on SQLite, where days compare as text.
    return day.isoformat() if d.name == "sqlite" else day


def _day_out(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _row_bytes_sql(d: Dialect) -> str:
    """An execution row's captured text in bytes, in each database's words: what the log's
    byte budget counts (the other columns are ids, names, numbers and times: a few hundred
    bytes at most). The same sum as migration 0018's."""
    size = "length(CAST({} AS BLOB))" if d.name == "sqlite" else "octet_length({}::text)"
    return " + ".join([f"COALESCE({size.format(column)}, 0)"
                       for column in ("request", "result", "effects", "error")]
                      + [size.format("logs")])


def _fetches_sql(d: Dialect) -> str:
    # The JSON column's array length, in each database's words (NULL effects count 0).
    if d.name == "sqlite":
        return "COALESCE(json_array_length(e.effects, '$.fetches'), 0)"
    return "COALESCE(json_array_length(e.effects -> 'fetches'), 0)"


@dataclass(slots=True)
class Figures:
    """Counts over a span: the same shape for a slot, a day and a health window."""

    executions: int = 0
    failures: int = 0
    webhooks: int = 0
    webhook_failures: int = 0
    cpu_ms: float = 0.0
    fetches: int = 0

    def add(self, other: Figures) -> None:
        self.executions += other.executions
        self.failures += other.failures
        self.webhooks += other.webhooks
        self.webhook_failures += other.webhook_failures
        self.cpu_ms += other.cpu_ms
        self.fetches += other.fetches


@dataclass(frozen=True, slots=True)
class LastError:
    execution_id: str
    at: datetime
    error: JSON
    # Whether the execution is still in the log: retention may have pruned it since, and
    # the error's message, kept with the usage, outlives it (no link to a page that is gone).
    kept: bool = True


@dataclass(slots=True)
class ModuleHealth:
    module_id: str
    last_hour: Figures = field(default_factory=Figures)
    last_day: Figures = field(default_factory=Figures)
    last_error: LastError | None = None


@dataclass(slots=True)
class UsageDay:
    day: date
    figures: Figures = field(default_factory=Figures)
    # Module storage in use that day (today: now); None before the first snapshot.
    storage_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    days: list[UsageDay]  # newest first, one per day of the span (zeros included)
    storage_bytes: int  # module storage in use now, all the tenant's modules
    storage_keys: int


# Figures of executions `e`, in SQL; $3 is the webhook function's name.
_COUNTS = ("count(*) AS executions, "
           "SUM(CASE WHEN e.outcome <> 'ok' THEN 1 ELSE 0 END) AS failures, "
           "SUM(CASE WHEN e.function = $3 AND NOT e.dry_run THEN 1 ELSE 0 END) AS webhooks, "
           "SUM(CASE WHEN e.function = $3 AND NOT e.dry_run AND e.outcome <> 'ok' "
           "THEN 1 ELSE 0 END) AS webhook_failures, "
           "COALESCE(SUM(e.cpu_ms), 0) AS cpu_ms")


def _utc_day(d: Dialect, column: str) -> str:
    """The UTC day (YYYY-MM-DD) of a stored moment, in SQL (SQLite stores UTC text)."""
    return (f"substr({column}, 1, 10)" if d.name == "sqlite"
            else f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')")


def _figures(row: Any) -> Figures:
    return Figures(executions=int(row["executions"] or 0), failures=int(row["failures"] or 0),
                   webhooks=int(row["webhooks"] or 0),
                   webhook_failures=int(row["webhook_failures"] or 0),
                   cpu_ms=float(row["cpu_ms"] or 0), fetches=int(row["fetches"] or 0))


class RetentionTx:
    """The writes of retention, mixed into `SqlTx` (one batch per call, bounded by `limit`)."""

    _port: Port
    _d: Dialect
    _locks: Locks

    async def retention_turn(self) -> bool:
        """Whether this transaction may do retention work now (PostgreSQL: no other node's
        batch holds the retention lock). Call first in the unit."""
        return await self._locks.retention()

    async def retention_module_ids(self, until: datetime, before: datetime,
                                   keep: int | None, keep_bytes: int | None) -> list[str]:
        """The modules a pass has work for: executions to roll up (after the cursor, before
        `until`), or to prune (rolled up and before `before`, or the log over `keep` rows or
        `keep_bytes` bytes), as `roll_up_usage` and `prune_executions` would find them.

        One statement, an index probe or two per module. Every module was visited before, two
        write units each a pass whether or not it had executions: modules pile up over months
        (integrations left in place, tenants gone quiet), and 2,000 quiet ones took 15 s of
        every pass on SQLite, 4,000 units of the writer shared with webhooks."""
        d = self._d
        over = "".join(f" OR c.{column} > {int(limit)}" for column, limit in
                       (("kept", keep), ("kept_bytes", keep_bytes)) if limit is not None)
        rows = await self._port.all(
            "SELECT m.id FROM modules m LEFT JOIN usage_cursor c ON c.module_id = m.id "
            "WHERE EXISTS (SELECT 1 FROM executions e WHERE e.module_id = m.id "
            "AND e.created_at >= COALESCE(c.rolled_to, $1) AND e.created_at < $2) "
            "OR EXISTS (SELECT 1 FROM executions e WHERE e.module_id = m.id "
            f"AND e.created_at < $3 AND e.created_at < c.rolled_to){over} ORDER BY m.id",
            [d.time_in(EPOCH), d.time_in(until), d.time_in(before)])
        return [r["id"] for r in rows]

    async def retention_tenant_ids(self, before: datetime) -> list[str]:
        """The tenants with calls created before `before` and last changed before it (what
        `prune_calls` deletes): one statement, an index probe per tenant, where every tenant
        cost the pass a write unit."""
        return [r["id"] for r in await self._port.all(
            "SELECT t.id FROM tenants t WHERE EXISTS (SELECT 1 FROM calls c "
            "WHERE c.tenant_id = t.id AND c.created_at < $1 AND c.updated_at < $1) "
            "ORDER BY t.id", [self._d.time_in(before)])]

    async def roll_up_usage(self, module_id: str, until: datetime, limit: int) -> int:
        """Count up to `limit` of the module's executions created before `until` (and after
        the cursor) into usage slots and move the cursor past them. Returns `limit` while
        more remain (the caller goes on), else how many it counted."""
        d = self._d
        cursor_row = await self._port.one(
            "SELECT rolled_to FROM usage_cursor WHERE module_id = $1", [module_id])
        cursor = EPOCH if cursor_row is None else d.time_out(cursor_row["rolled_to"])
        if cursor >= until:
            return 0
        select = ("SELECT id, tenant_id, created_at, function, outcome, dry_run, cpu_ms, "
                  f"effects, error, {_row_bytes_sql(d)} AS bytes FROM executions "
                  "WHERE module_id = $1 AND created_at >= $2 AND created_at < $3 "
                  "ORDER BY created_at, id")
        rows = await self._port.all(select + " LIMIT $4",
                                    [module_id, d.time_in(cursor), d.time_in(until), limit + 1])
        more = len(rows) > limit
        if not rows:
            return 0
        # Just past the last row counted (not `until`): a row stamped earlier but committed
        # late (within the margin's bounds) is still ahead of the cursor.
        new_cursor = d.time_out(rows[-1]["created_at"]) + timedelta(milliseconds=1)
        if more:
            # Up to the next row's moment, so rows of one millisecond never straddle two
            # batches; when the whole batch is of that moment, that moment whole.
            moment = d.time_out(rows[limit]["created_at"])
            rows = [r for r in rows[:limit] if d.time_out(r["created_at"]) < moment]
            if not rows:
                rows = await self._port.all(
                    select.replace("created_at < $3", "created_at <= $3"),
                    [module_id, d.time_in(cursor), d.time_in(moment)])
                moment += timedelta(milliseconds=1)
            new_cursor = moment
        slots: dict[datetime, Figures] = defaultdict(Figures)
        tenant_id = None
        last_error: Any = None
        for r in rows:
            tenant_id = r["tenant_id"]
            failed = r["outcome"] != "ok"
            webhook = r["function"] == PARSE_FUNCTION and not r["dry_run"]
            slots[slot_of(d.time_out(r["created_at"]))].add(Figures(
                executions=1, failures=int(failed), webhooks=int(webhook),
                webhook_failures=int(webhook and failed), cpu_ms=float(r["cpu_ms"] or 0),
                fetches=_fetch_count(r["effects"])))
            if failed:
                last_error = r
        if slots:
            await self._port.many(
                "INSERT INTO usage_slots (module_id, slot, tenant_id, executions, failures, "
                "webhooks, webhook_failures, cpu_ms, fetches) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (module_id, slot) DO UPDATE SET "
                "executions = usage_slots.executions + excluded.executions, "
                "failures = usage_slots.failures + excluded.failures, "
                "webhooks = usage_slots.webhooks + excluded.webhooks, "
                "webhook_failures = usage_slots.webhook_failures + excluded.webhook_failures, "
                "cpu_ms = usage_slots.cpu_ms + excluded.cpu_ms, "
                "fetches = usage_slots.fetches + excluded.fetches",
                [(module_id, d.time_in(slot), tenant_id, f.executions, f.failures, f.webhooks,
                  f.webhook_failures, f.cpu_ms, f.fetches) for slot, f in slots.items()])
        await self._port.run(
            "INSERT INTO usage_cursor (module_id, rolled_to, kept, kept_bytes) "
            "VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (module_id) DO UPDATE SET rolled_to = excluded.rolled_to, "
            "kept = usage_cursor.kept + excluded.kept, "
            "kept_bytes = usage_cursor.kept_bytes + excluded.kept_bytes",
            [module_id, d.time_in(new_cursor), len(rows), sum(int(r["bytes"]) for r in rows)])
        if last_error is not None:
            await self._port.run(
                "UPDATE usage_cursor SET last_error_id = $2, last_error_at = $3, "
                "last_error = $4 WHERE module_id = $1",
                [module_id, last_error["id"], last_error["created_at"], last_error["error"]])
        return limit if more else len(rows)

    async def prune_executions(self, module_id: str, before: datetime, keep: int | None,
                               limit: int, keep_bytes: int | None = None) -> int:
        """Delete up to `limit` of the module's oldest executions that are older than `before`
        or beyond its newest `keep`, or that take its log over `keep_bytes` bytes of captured
        text (the newest rows within the budget stay), among those already rolled up;
        returns how many."""
        d = self._d
        cursor = await self._port.one(
            "SELECT rolled_to, kept, kept_bytes FROM usage_cursor WHERE module_id = $1",
            [module_id])
        if cursor is None:
            return 0
        rolled = d.time_out(cursor["rolled_to"])
        cutoff = min(before, rolled)
        # `kept` counts the rolled-up rows still here (an upper bound: rows deleted by other
        # means are not subtracted), so the cap's walk down the index is skipped for modules
        # below it, which are most.
        if keep is not None and cursor["kept"] > keep:
            boundary = await self._port.value(  # the keep-th newest
                "SELECT created_at FROM executions WHERE module_id = $1 "
                "ORDER BY created_at DESC LIMIT 1 OFFSET $2", [module_id, keep - 1])
            if boundary is not None:
                # Ties with the keep-th newest stay: a cap is "about this many".
                cutoff = min(max(before, d.time_out(boundary)), rolled)
        gone = await self._port.all(
            "DELETE FROM executions WHERE id IN (SELECT id FROM executions "
            "WHERE module_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3) "
            f"RETURNING {_row_bytes_sql(d)} AS bytes", [module_id, d.time_in(cutoff), limit])
        deleted, freed = len(gone), sum(int(r["bytes"]) for r in gone)
        # `kept_bytes` is the rolled-up rows' bytes, as `kept` their count. Over the budget,
        # the oldest of them go until what they leave fits: the log keeps fewer rows, not
        # smaller ones (the newest stay whole).
        excess = 0 if keep_bytes is None else int(cursor["kept_bytes"]) - freed - keep_bytes
        room = limit - deleted
        if excess > 0 and room > 0:
            oldest = await self._port.all(
                f"SELECT id, {_row_bytes_sql(d)} AS bytes FROM executions "
                "WHERE module_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3",
                [module_id, d.time_in(rolled), room])
            doomed: list[str] = []
            covered = 0
            for row in oldest:
                if covered >= excess:
                    break
                doomed.append(row["id"])
                covered += int(row["bytes"])
            await self._port.many("DELETE FROM executions WHERE id = $1",
                                  [(i,) for i in doomed])
            deleted += len(doomed)
            freed += covered
            if len(oldest) < room and covered < excess:
                # Every rolled-up row is gone and the figure was still over: it counted rows
                # deleted by other means. Nothing rolled up is left: the figure is 0.
                freed = int(cursor["kept_bytes"])
        if deleted or freed:
            await self._port.run(
                "UPDATE usage_cursor SET kept = CASE WHEN kept > $2 THEN kept - $2 ELSE 0 END, "
                "kept_bytes = CASE WHEN kept_bytes > $3 THEN kept_bytes - $3 ELSE 0 END "
                "WHERE module_id = $1", [module_id, deleted, freed])
        return deleted

    async def prune_usage(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` usage slots and `limit` storage snapshots older than `before`;
        returns how many rows in all."""
        slots = await self._port.run(
            "DELETE FROM usage_slots WHERE (module_id, slot) IN (SELECT module_id, slot FROM "
            "usage_slots WHERE slot < $1 ORDER BY slot LIMIT $2)",
            [self._d.time_in(before), limit])
        days = await self._port.run(
            "DELETE FROM usage_storage WHERE (module_id, day) IN (SELECT module_id, day FROM "
            "usage_storage WHERE day < $1 ORDER BY day LIMIT $2)",
            [_day_in(self._d, before.astimezone(UTC).date()), limit])
        return slots + days

    async def snapshot_storage(self, day: date) -> int:
        """Keep each module's storage in use now as its figure for `day` (the last snapshot
        of a day is that day's); returns how many modules."""
        return await self._port.run(
            "INSERT INTO usage_storage (module_id, day, tenant_id, bytes, keys) "
            "SELECT u.module_id, $1, m.tenant_id, u.bytes, u.keys FROM storage_usage u "
            "JOIN modules m ON m.id = u.module_id WHERE true "
            "ON CONFLICT (module_id, day) DO UPDATE SET bytes = excluded.bytes, "
            "keys = excluded.keys", [_day_in(self._d, day)])

    async def prune_notifications(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` of the oldest notifications older than `before`. Only the
        `limit` lowest `seq` are looked at (seq follows time), so a pass with nothing to do
        reads `limit` rows, never the table."""
        return await self._port.run(
            "DELETE FROM notifications WHERE seq IN (SELECT seq FROM (SELECT seq, created_at "
            "FROM notifications ORDER BY seq LIMIT $2) oldest WHERE created_at < $1)",
            [self._d.time_in(before), limit])

    async def prune_call_events(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` of the oldest call history events received before `before`
        (ids begin with their creation time: the lowest ids are the oldest)."""
        return await self._port.run(
            "DELETE FROM call_events WHERE id IN (SELECT id FROM (SELECT id, received_at "
            "FROM call_events ORDER BY id LIMIT $2) oldest WHERE received_at < $1)",
            [self._d.time_in(before), limit])

    async def prune_calls(self, tenant_id: str, before: datetime, limit: int) -> int:
        """Delete up to `limit` of the tenant's calls created and last changed (ended, or
        for one that never ended, its last event) before `before`, oldest first, through
        the index by tenant and creation (`calls_tenant`). What belongs to a call goes with
        it (ON DELETE CASCADE): its history events, whom it rang, its notifications, its
        activity entry, its once-only mark. Its contact stays."""
        moment = self._d.time_in(before)
        return await self._port.run(
            "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE tenant_id = $1 "
            "AND created_at < $2 AND updated_at < $2 ORDER BY created_at LIMIT $3)",
            [tenant_id, moment, limit])

    async def prune_dial_once(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` of the oldest claimed call forms posted before `before`
        (through their index by age)."""
        return await self._port.run(
            "DELETE FROM dial_once WHERE form_key IN (SELECT form_key FROM dial_once "
            "WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            [self._d.time_in(before), limit])


    async def prune_revoked_credentials(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` user tokens and up to `limit` API keys revoked before
        `before` (through their partial indexes of revoked rows, migration 0013). An API key
        that a stored version names as its author (`created_by_key_id`) is kept while that
        version is: it says who uploaded the version."""
        moment = self._d.time_in(before)
        tokens = await self._port.run(
            "DELETE FROM user_tokens WHERE id IN (SELECT id FROM user_tokens "
            "WHERE revoked_at IS NOT NULL AND revoked_at < $1 ORDER BY revoked_at LIMIT $2)",
            [moment, limit])
        keys = await self._port.run(
            "DELETE FROM api_keys WHERE id IN (SELECT id FROM api_keys k "
            "WHERE revoked_at IS NOT NULL AND revoked_at < $1 AND NOT EXISTS ("
            "SELECT 1 FROM script_versions v WHERE v.created_by_key_id = k.id) "
            "ORDER BY revoked_at LIMIT $2)", [moment, limit])
        return tokens + keys

    async def release_free_pages(self, at_least: int, limit: int) -> int:
        """SQLite: give up to `limit` of the database file's free pages back to the
        filesystem (the file shrinks at the next checkpoint) while more than `at_least` bytes'
        worth and an eighth of the file are free; returns how many. Deleted rows leave free
        pages that new rows reuse: the eighth, or `at_least`, stays for them, so a service
        pruning as much as it writes does not shrink and grow its file all the time. Only a
        database made with incremental auto-vacuum (sqlite._connect) can; others, and
        PostgreSQL (whose VACUUM makes dead rows' room reusable), answer 0."""
        if self._d.name != "sqlite" or await self._port.value("PRAGMA auto_vacuum") != 2:
            return 0
        free = int(await self._port.value("PRAGMA freelist_count"))
        kept = max(at_least // int(await self._port.value("PRAGMA page_size")),
                   int(await self._port.value("PRAGMA page_count")) // 8)
        pages = min(limit, free - kept)
        # One page a statement: Python's sqlite3 steps a PRAGMA once, and each step of
        # incremental_vacuum frees one page (executescript would commit the unit's batch).
        for _ in range(pages):
            await self._port.run("PRAGMA incremental_vacuum(1)")
        return max(pages, 0)

    async def prune_signed_out(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` of the kept console sign-outs whose sessions expired by `now`
        (through their index by expiry)."""
        return await self._port.run(
            "DELETE FROM console_signed_out WHERE session_id IN (SELECT session_id FROM "
            "console_signed_out WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)",
            [self._d.time_in(now), limit])


class UsageReads:
    """The reads of usage and health, mixed into `Reads` (tenant-scoped)."""

    _port: Port
    _d: Dialect

    async def _tail(self, tenant_id: str, since: datetime, group: str) -> list[Any]:
        """Figures of the tenant's executions not rolled up yet (newer than their module's
        cursor) created at/after `since`, grouped by `group` ("module" or "day")."""
        d = self._d
        key = "e.module_id" if group == "module" else _utc_day(d, "e.created_at")
        return await self._port.all(
            f"SELECT {key} AS k, {_COUNTS}, SUM({_fetches_sql(d)}) AS fetches "
            "FROM modules m JOIN executions e ON e.module_id = m.id "
            "LEFT JOIN usage_cursor c ON c.module_id = m.id "
            "WHERE m.tenant_id = $1 AND e.created_at >= $2 AND (c.rolled_to IS NULL "
            f"OR e.created_at >= c.rolled_to) GROUP BY {key}",
            [tenant_id, d.time_in(since), PARSE_FUNCTION])

    async def module_health(self, tenant_id: str, now: datetime) -> dict[str, ModuleHealth]:
        """Per module of the tenant: webhooks and failures in the last hour and day (by
        ten-minute slot: the window starts at the slot holding now - 1 h / now - 24 h), and
        the last failure the log recorded."""
        d = self._d
        hour, day = slot_of(now - timedelta(hours=1)), slot_of(now - timedelta(days=1))
        health: dict[str, ModuleHealth] = {}
        for r in await self._port.all(
                "SELECT m.id, c.last_error_id, c.last_error_at, c.last_error, "
                "x.id AS kept FROM modules m "
                "LEFT JOIN usage_cursor c ON c.module_id = m.id "
                "LEFT JOIN executions x ON x.id = c.last_error_id WHERE m.tenant_id = $1",
                [tenant_id]):
            entry = health[r["id"]] = ModuleHealth(r["id"])
            if r["last_error_id"] is not None:
                error = r["last_error"]
                entry.last_error = LastError(r["last_error_id"], d.time_out(r["last_error_at"]),
                                         loads(error) if isinstance(error, str) else error,
                                         kept=r["kept"] is not None)
        for r in await self._port.all(
                "SELECT module_id, slot, webhooks, webhook_failures FROM usage_slots "
                "WHERE tenant_id = $1 AND slot >= $2", [tenant_id, d.time_in(day)]):
            found = health.get(r["module_id"])
            if found is None:
                continue
            figures = Figures(webhooks=r["webhooks"], webhook_failures=r["webhook_failures"])
            found.last_day.add(figures)
            if d.time_out(r["slot"]) >= hour:
                found.last_hour.add(figures)
        for window, since in (("hour", hour), ("day", day)):
            for r in await self._tail(tenant_id, since, "module"):
                tail = health.get(r["k"])
                if tail is not None:
                    (tail.last_hour if window == "hour" else tail.last_day).add(_figures(r))
        tail_errors = await self._port.all(
            "SELECT e.id, e.module_id, e.created_at, e.error FROM executions e "
            "JOIN usage_cursor c ON c.module_id = e.module_id JOIN modules m ON m.id = "
            "e.module_id WHERE m.tenant_id = $1 AND e.created_at >= c.rolled_to AND "
            "e.outcome <> 'ok' ORDER BY e.created_at, e.id", [tenant_id])
        tail_errors += await self._port.all(
            "SELECT e.id, e.module_id, e.created_at, e.error FROM executions e "
            "JOIN modules m ON m.id = e.module_id WHERE m.tenant_id = $1 AND NOT EXISTS "
            "(SELECT 1 FROM usage_cursor c WHERE c.module_id = m.id) AND e.created_at >= $2 "
            "AND e.outcome <> 'ok' ORDER BY e.created_at, e.id", [tenant_id, d.time_in(day)])
        # Oldest first, ties in the order they were made (ids, as the roll-up reads them): the
        # newest wins.
        for r in tail_errors:
            failing = health.get(r["module_id"])
            if failing is not None:
                error = r["error"]
                failing.last_error = LastError(r["id"], d.time_out(r["created_at"]),
                                         loads(error) if isinstance(error, str) else error)
        return health

    async def usage(self, tenant_id: str, now: datetime, days: int) -> Usage:
        """The tenant's figures per UTC day, for `days` days up to today's (newest first)."""
        d = self._d
        today = now.astimezone(UTC).date()
        first = today - timedelta(days=days - 1)
        since = datetime(first.year, first.month, first.day, tzinfo=UTC)
        by_day = {first + timedelta(days=i): UsageDay(first + timedelta(days=i))
                  for i in range(days)}
        # Summed by the database, a row a day: the slots of every module over up to 366
        # days (10 million rows for 200 busy modules) came back one by one, summed here.
        day = _utc_day(d, "slot")
        for r in await self._port.all(
                f"SELECT {day} AS k, SUM(executions) AS executions, SUM(failures) AS failures, "
                "SUM(webhooks) AS webhooks, SUM(webhook_failures) AS webhook_failures, "
                "SUM(cpu_ms) AS cpu_ms, SUM(fetches) AS fetches "
                f"FROM usage_slots WHERE tenant_id = $1 AND slot >= $2 GROUP BY {day}",
                [tenant_id, d.time_in(since)]):
            entry = by_day.get(date.fromisoformat(r["k"]))
            if entry is not None:
                entry.figures.add(_figures(r))
        for r in await self._tail(tenant_id, since, "day"):
            entry = by_day.get(date.fromisoformat(r["k"]))
            if entry is not None:
                entry.figures.add(_figures(r))
        for r in await self._port.all(
                "SELECT day, SUM(bytes) AS bytes FROM usage_storage WHERE tenant_id = $1 "
                "AND day >= $2 GROUP BY day", [tenant_id, _day_in(d, first)]):
            entry = by_day.get(_day_out(r["day"]))
            if entry is not None:
                entry.storage_bytes = int(r["bytes"])
        storage = await self._port.one(
            "SELECT COALESCE(SUM(u.bytes), 0) AS bytes, COALESCE(SUM(u.keys), 0) AS keys "
            "FROM storage_usage u JOIN modules m ON m.id = u.module_id WHERE m.tenant_id = $1",
            [tenant_id])
        by_day[today].storage_bytes = int(storage["bytes"])
        return Usage(days=sorted(by_day.values(), key=lambda u: u.day, reverse=True),
                     storage_bytes=int(storage["bytes"]), storage_keys=int(storage["keys"]))
