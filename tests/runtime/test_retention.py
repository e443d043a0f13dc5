"""Retention and usage, on both backends (tests/runtime/conftest.py): the pruner deletes old
executions (by age and by count), notifications and call history in bounded batches, never
calls, contacts or activity; usage per day and the modules' health survive the pruning, and
each tenant sees only its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime import ids
from runtime.config import ConfigError, RetentionConfig, load_config
from runtime.retention import PassReport, Pruner
from runtime.store import Store, Tx
from runtime.store.errors import StorageUnavailable
from runtime.store.models import (
    ActivityEntry,
    CallEventRecord,
    ContactPhone,
    EventEffect,
    Execution,
    ExecutionOutcome,
    Module,
    NewModule,
    Notification,
    NotificationKind,
    StorageLimits,
    Tenant,
    utc_now,
)
from runtime.store.retention import Figures
from tests.runtime.conftest import Backend
from tests.runtime.test_store import make_call

NOW = datetime(2026, 12, 6, 12, 5, 0, tzinfo=UTC)
WEBHOOK = "VoipParseWebhookRequest"


def config(**changes: object) -> RetentionConfig:
    return RetentionConfig.model_validate({"batch_pause_ms": 0, **changes})


def execution(module: Module, at: datetime, *, outcome: ExecutionOutcome = ExecutionOutcome.OK,
              function: str = WEBHOOK, cpu_ms: float = 2.0, fetches: int = 0,
              dry_run: bool = False) -> Execution:
    failed = outcome != ExecutionOutcome.OK
    return Execution(
        ids.new_id(ids.EXECUTION), module.tenant_id, module.id, None, function, outcome, at,
        duration_ms=3.0, cpu_ms=cpu_ms, dry_run=dry_run,
        error={"type": "ValueError", "message": f"bad at {at:%H:%M}", "line": 4}
        if failed else None,
        effects={"fetches": [{"url": "https://x.example/", "status": 200}] * fetches}
        if fetches else None)


async def record(store: Store, executions: list[Execution]) -> None:
    async def unit(tx: Tx) -> None:
        for e in executions:
            await tx.insert_execution(e)

    await store.write(unit)


async def tenant_with_module(store: Store, name: str) -> tuple[Tenant, Module]:
    tenant = await store.create_tenant(name)
    return tenant, await store.create_module(tenant.id, NewModule(name="m", region="RU"))


async def test_age_pruning_deletes_history_and_keeps_the_tenants_records(
    store: Store, backend: Backend
) -> None:
    tenant, module = await tenant_with_module(store, "acme")
    alice = await store.create_user(tenant.id, "alice")
    contact = await store.create_contact(tenant.id, "Bob", [ContactPhone("+79161234567",
                                                                          "+79161234567")])
    old, recent = NOW - timedelta(days=100), NOW - timedelta(days=1)
    calls = [make_call(tenant.id, module.id, created_at=at, updated_at=at, contact_id=contact.id,
                       provider_call_id=f"p{i}") for i, at in enumerate((old, recent))]

    def event(call_id: str, at: datetime) -> CallEventRecord:
        return CallEventRecord(ids.new_id(ids.CALL_EVENT), call_id, "NotifyStart", "in",
                               "79161234567", None, "101", None, {"n": 1},
                               EventEffect.APPLIED, at)

    async def history(tx: Tx) -> None:
        for call in calls:
            at = call.created_at
            await tx.insert_call(call)
            await tx.insert_call_event(event(call.id, at))
            await tx.insert_notification(Notification(
                ids.new_id(ids.NOTIFICATION), tenant.id, alice.id, call.id,
                NotificationKind.RINGING, {"call": call.id}, at))
            await tx.insert_activity(ActivityEntry(ids.new_id(ids.ACTIVITY), tenant.id,
                                                   contact.id, call.id, {"c": 1}, at, at))

    await store.write(history)
    await record(store, [execution(module, old), execution(module, NOW - timedelta(days=31)),
                         execution(module, recent)])
    kept = {t: await backend.count(t) for t in ("calls", "contacts", "contact_phones",
                                                 "activity", "call_notified")}

    report = await Pruner(store, config(), clock=lambda: NOW).run_pass()

    assert report.deleted == {"executions": 2, "notifications": 1, "call_events": 1}
    assert [e.created_at for e in await store.list_executions(tenant.id)] == [recent]
    assert [n.call_id for n in await store.list_notifications(tenant.id, alice.id)] \
        == [calls[1].id]
    assert await store.list_call_events(tenant.id, calls[0].id) == []
    assert len(await store.list_call_events(tenant.id, calls[1].id)) == 1
    assert {t: await backend.count(t) for t in kept} == kept
    # A second pass finds nothing more to do.
    assert (await Pruner(store, config(), clock=lambda: NOW).run_pass()).deleted == {}


async def test_count_pruning_keeps_each_modules_newest(store: Store) -> None:
    tenant, busy = await tenant_with_module(store, "acme")
    quiet = await store.create_module(tenant.id, NewModule(name="quiet", region="RU"))
    start = NOW - timedelta(hours=5)
    busy_rows = [execution(busy, start + timedelta(seconds=i)) for i in range(250)]
    await record(store, busy_rows + [execution(quiet, start + timedelta(seconds=i))
                                     for i in range(50)])

    report = await Pruner(store, config(executions_per_module=100, batch_rows=40),
                          clock=lambda: NOW).run_pass()

    assert report.deleted == {"executions": 150}
    left = await store.list_executions(tenant.id, limit=1000)
    assert sorted(e.id for e in left if e.module_id == busy.id) \
        == sorted(e.id for e in busy_rows[150:])
    assert sum(e.module_id == quiet.id for e in left) == 50


async def test_a_batch_is_bounded_and_a_pass_runs_several(store: Store, backend: Backend) -> None:
    _tenant, module = await tenant_with_module(store, "acme")
    await record(store, [execution(module, NOW - timedelta(days=40, seconds=i))
                         for i in range(95)])
    pruner = Pruner(store, config(batch_rows=20), clock=lambda: NOW)
    # Rolled up first (only counted executions may go), in batches of at most 20 rows.
    rolled = await store.write(lambda tx: tx.roll_up_usage(module.id, NOW, 20))
    assert rolled == 20

    async def prune(tx: Tx) -> int:
        return await tx.prune_executions(module.id, NOW - timedelta(days=30), None, 20)

    assert await store.write(prune) == 20  # 20 rolled up, 20 may go: no more
    assert await store.write(prune) == 0
    assert await backend.count("executions") == 75

    report = await pruner.run_pass()
    assert report.deleted == {"executions": 75}
    assert report.rolled_up == 75
    # 4 roll-up batches (20, 20, 20, 15), 4 deleting (the same), and one each for the module
    # list, the usage slots, notifications and call events.
    assert report.batches >= 1 + 4 + 4 + 1 + 1 + 1


async def test_a_pass_costs_no_unit_per_quiet_module(store: Store) -> None:
    """Modules pile up over months (integrations left in place, tenants gone quiet): a pass
    visited every one, two write units each (a roll-up, a prune) every 30 s, finding nothing:
    2,000 quiet modules took 15 s of every pass and 4,000 units of the SQLite writer. Only
    modules with executions to roll up or to prune are visited now."""
    tenant, first = await tenant_with_module(store, "acme")
    modules = [first] + [await store.create_module(tenant.id, NewModule(name=f"m{n}",
                                                                        region="RU"))
                         for n in range(40)]
    await record(store, [execution(m, NOW - timedelta(hours=2)) for m in modules])
    pruner = Pruner(store, config(executions_per_module=100), clock=lambda: NOW)
    assert (await pruner.run_pass()).rolled_up == len(modules)

    later = NOW + timedelta(days=1)  # a day on: nothing new, nothing old enough to go
    pruner.clock = lambda: later
    quiet = await pruner.run_pass()
    assert quiet.rolled_up == 0 and quiet.deleted == {}
    assert quiet.batches < 20, quiet

    # One module busy again: its new executions are rolled up, and its oldest beyond the
    # 100 it keeps go; the others are still not visited.
    busy = modules[7]
    await record(store, [execution(busy, later - timedelta(minutes=30, seconds=n))
                         for n in range(103)])
    report = await pruner.run_pass()
    assert report.rolled_up == 103 and report.deleted == {"executions": 4}
    assert report.batches < 20, report
    # A month on, every module's executions are old enough to go, and go.
    pruner.clock = lambda: NOW + timedelta(days=40)
    report = await pruner.run_pass()
    assert report.deleted == {"executions": len(modules) - 1 + 100}
    assert await store.list_executions(tenant.id, limit=1000) == []


async def test_the_usage_page_is_summed_by_the_database(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Usage per day was read as every ten-minute slot of every module over the days asked
    (up to 366), each one summed on the service's event loop: a tenant's usage page cost more
    every day of its first year (200 busy modules: 10 million rows). The database sums them
    by day now: a row per day comes back, whatever the history."""
    tenant, first = await tenant_with_module(store, "acme")
    modules = [first] + [await store.create_module(tenant.id, NewModule(name=f"m{n}",
                                                                        region="RU"))
                         for n in range(3)]
    # Four days of executions, every ten minutes, in every module: 4 x 144 x 4 slots.
    start = datetime(2026, 12, 2, tzinfo=UTC)
    rows = [execution(m, start + timedelta(minutes=10 * n, seconds=1))
            for m in modules for n in range(4 * 144)]
    for at in range(0, len(rows), 200):
        await record(store, rows[at:at + 200])
    pruner = Pruner(store, config(batch_rows=5000), clock=lambda: NOW)
    assert (await pruner.run_pass()).rolled_up == 4 * 4 * 144

    from runtime.store import retention as store_retention

    summed = 0
    figures = store_retention._figures

    def counted(row: object) -> Figures:
        nonlocal summed
        summed += 1
        return figures(row)

    monkeypatch.setattr(store_retention, "_figures", counted)
    usage = await store.usage(tenant.id, NOW, 30)

    by_day = {day.day.isoformat(): day.figures.executions for day in usage.days
              if day.figures.executions}
    assert by_day == {f"2026-12-0{d}": 4 * 144 for d in (2, 3, 4, 5)}
    assert summed <= 4, summed


async def test_usage_per_day_survives_pruning_and_is_the_tenants_own(store: Store) -> None:
    acme, module = await tenant_with_module(store, "acme")
    globex, theirs = await tenant_with_module(store, "globex")
    yesterday = NOW - timedelta(days=1)
    await record(store, [
        execution(module, yesterday, cpu_ms=10.0, fetches=2),
        execution(module, yesterday + timedelta(minutes=1), outcome=ExecutionOutcome.ERROR,
                  cpu_ms=5.0),
        execution(module, yesterday + timedelta(minutes=2), function="VoipTestConnection",
                  cpu_ms=1.5, fetches=1),
        execution(module, NOW - timedelta(seconds=20), cpu_ms=4.0),  # not rolled up yet
        execution(theirs, yesterday, cpu_ms=99.0, fetches=9),
    ])
    await store.write(lambda tx: tx.storage_set(
        module.id, "k", {"v": "x" * 100}, expires_at=None, now=NOW,
        limits=StorageLimits(max_keys=10, max_bytes=10_000)))

    before = await store.usage(acme.id, NOW, 3)
    # Everything older than a day goes: only the usage slots keep yesterday.
    await Pruner(store, config(executions_days=1), clock=lambda: NOW + timedelta(hours=2)
                 ).run_pass()
    assert [e.created_at for e in await store.list_executions(acme.id)] \
        == [NOW - timedelta(seconds=20)]
    after = await store.usage(acme.id, NOW, 3)

    assert before == after
    assert [u.day for u in after.days] == [NOW.date(), yesterday.date(),
                                           (NOW - timedelta(days=2)).date()]
    assert after.days[1].figures == Figures(executions=3, failures=1, webhooks=2,
                                            webhook_failures=1, cpu_ms=16.5, fetches=3)
    assert after.days[0].figures == Figures(executions=1, webhooks=1, cpu_ms=4.0)
    assert after.days[2].figures == Figures()
    assert after.storage_keys == 1 and after.storage_bytes > 100
    theirs_usage = await store.usage(globex.id, NOW, 3)
    assert theirs_usage.days[1].figures.cpu_ms == 99.0
    assert theirs_usage.storage_bytes == 0


async def test_module_health_counts_webhooks_failures_and_the_last_error(store: Store) -> None:
    acme, module = await tenant_with_module(store, "acme")
    _globex, theirs = await tenant_with_module(store, "globex")
    quiet = await store.create_module(acme.id, NewModule(name="quiet", region="RU"))
    last_failure = execution(module, NOW - timedelta(minutes=30), outcome=ExecutionOutcome.ERROR)
    await record(store, [
        execution(module, NOW - timedelta(minutes=5)),
        last_failure,
        execution(module, NOW - timedelta(hours=3), outcome=ExecutionOutcome.LIMIT),
        execution(module, NOW - timedelta(hours=2)),
        execution(module, NOW - timedelta(hours=30), outcome=ExecutionOutcome.ERROR),
        execution(module, NOW - timedelta(minutes=1), dry_run=True),  # not a webhook
        execution(module, NOW - timedelta(minutes=1), function="VoipTestConnection"),
        execution(theirs, NOW - timedelta(minutes=5), outcome=ExecutionOutcome.ERROR),
    ])

    async def check() -> None:
        health = await store.module_health(acme.id, NOW)
        assert set(health) == {module.id, quiet.id}
        h = health[module.id]
        assert (h.last_hour.webhooks, h.last_hour.webhook_failures) == (2, 1)
        assert (h.last_day.webhooks, h.last_day.webhook_failures) == (4, 2)
        assert h.last_error is not None
        assert h.last_error.execution_id == last_failure.id
        assert h.last_error.error["message"] == "bad at 11:35"
        assert health[quiet.id].last_day == Figures() and health[quiet.id].last_error is None

    await check()  # from the log alone
    # Rolled up, and the one 30 h old pruned: the same figures, from the usage slots.
    await Pruner(store, config(executions_days=1), clock=lambda: NOW).run_pass()
    await check()


async def test_the_last_error_of_one_millisecond_is_the_failure_made_last(store: Store) -> None:
    """Two webhooks failing in the same millisecond (a burst to a broken module): the last
    error is the one made last, by id (creation order, every listing's tie-breaker), not
    whichever the database read last, which for the log's tail was the order the rows were
    stored in (the later-made one can commit first)."""
    acme, module = await tenant_with_module(store, "acme")
    at = NOW - timedelta(minutes=5)
    made_first = execution(module, at, outcome=ExecutionOutcome.ERROR)
    made_last = execution(module, at, outcome=ExecutionOutcome.LIMIT)
    assert made_first.id < made_last.id
    await record(store, [made_last])
    await record(store, [made_first])

    async def last_error_id() -> str | None:
        last_error = (await store.module_health(acme.id, NOW))[module.id].last_error
        return None if last_error is None else last_error.execution_id

    assert await last_error_id() == made_last.id  # from the log alone
    await Pruner(store, config(), clock=lambda: NOW + timedelta(hours=1)).run_pass()
    assert await last_error_id() == made_last.id  # rolled up


async def test_two_nodes_never_prune_at_once_postgres(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("SQLite is one node")
    node_a, node_b = await backend.open(), await backend.open()
    _tenant, module = await tenant_with_module(node_a, "acme")
    await record(node_a, [execution(module, NOW - timedelta(days=40))])
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold(tx: Tx) -> None:
        assert await tx.retention_turn()
        holding.set()
        await release.wait()

    held = asyncio.create_task(node_a.write(hold))
    try:
        await holding.wait()
        report = await Pruner(node_b, config(), clock=lambda: NOW).run_pass()
    finally:
        release.set()  # a failing check must not leave node A's unit waiting forever
        await held
    assert report.skipped and report.deleted == {}
    report = await Pruner(node_b, config(), clock=lambda: NOW).run_pass()
    assert not report.skipped and report.deleted == {"executions": 1}


async def test_storage_is_noted_per_day_and_usage_outlives_its_module(store: Store) -> None:
    acme, module = await tenant_with_module(store, "acme")
    yesterday = NOW - timedelta(days=1)
    limits = StorageLimits(max_keys=10, max_bytes=10_000)
    await store.write(lambda tx: tx.storage_set(module.id, "a", "x" * 50, expires_at=None,
                                                now=yesterday, limits=limits))
    await Pruner(store, config(), clock=lambda: yesterday).run_pass()  # notes yesterday's
    await store.write(lambda tx: tx.storage_set(module.id, "b", "y" * 500, expires_at=None,
                                                now=NOW, limits=limits))
    await record(store, [execution(module, yesterday, cpu_ms=7.0)])
    await Pruner(store, config(), clock=lambda: NOW).run_pass()

    usage = await store.usage(acme.id, NOW, 3)
    assert usage.days[0].storage_bytes == usage.storage_bytes > 550  # today: now
    assert 50 < (usage.days[1].storage_bytes or 0) < 100  # yesterday: as noted then
    assert usage.days[2].storage_bytes is None  # never noted

    assert await store.delete_module(acme.id, module.id)
    after = await store.usage(acme.id, NOW, 3)
    assert after.days[1].figures.executions == 1 and after.days[1].figures.cpu_ms == 7.0
    assert 50 < (after.days[1].storage_bytes or 0) < 100
    assert after.storage_bytes == 0


async def test_usage_older_than_its_period_goes(store: Store, backend: Backend) -> None:
    acme, module = await tenant_with_module(store, "acme")
    await record(store, [execution(module, NOW - timedelta(days=d)) for d in (2, 20)])
    report = await Pruner(store, config(usage_days=10, executions_days=1),
                          clock=lambda: NOW).run_pass()
    assert report.deleted == {"executions": 2, "usage": 1}
    usage = await store.usage(acme.id, NOW, 30)
    assert [u.day for u in usage.days if u.figures.executions] == [(NOW - timedelta(days=2)
                                                                    ).date()]
    assert await backend.count("usage_slots") == 1


async def test_close_stops_a_running_pruner_between_batches(store: Store,
                                                            backend: Backend) -> None:
    _tenant, module = await tenant_with_module(store, "acme")
    await record(store, [execution(module, NOW - timedelta(days=40, seconds=i))
                         for i in range(300)])
    pruner = Pruner(store, config(batch_rows=10, batch_pause_ms=5, interval_seconds=60),
                    clock=lambda: NOW)
    pruner.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(pruner.close(), timeout=5)
    # 300 rows in batches of 10 with 5 ms pauses take 60 batches: it stopped part way.
    assert await backend.count("executions") > 0
    assert pruner.passes == 1  # the pass in progress ended; no other began
    # Whatever was deleted had been counted first: usage still sees all 300.
    usage = await store.usage(module.tenant_id, NOW, 41)
    assert sum(u.figures.executions for u in usage.days) == 300


def test_retention_settings_are_validated(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("retention:\n  executions_days: 7\n  executions_per_module: null\n"
                      "  call_events_days: 365\n")
    retention = load_config(config).retention
    assert (retention.executions_days, retention.executions_per_module,
            retention.call_events_days, retention.notifications_days) == (7, None, 365, 30)
    assert load_config(None).retention.executions_days == 30  # the default
    for bad in ("executions_days: 0", "executions_per_module: 5", "batch_rows: 100000",
                "usage_days: forever", "keep_forever: true"):
        config.write_text(f"retention:\n  {bad}\n")
        with pytest.raises(ConfigError) as error:
            load_config(config)
        assert "retention." + bad.split(":")[0] in str(error.value)


async def test_a_pass_the_storage_refuses_is_one_warning_and_the_next_pass_runs(
        store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """The database away (or the disk full) for a while: each pass says so in one line, not a
    traceback per pass for months of an unattended service; passes go on."""
    passes = 0

    async def refused() -> None:
        nonlocal passes
        passes += 1
        raise StorageUnavailable("database unreachable", "TimeoutError: ")

    pruner = Pruner(store, config(interval_seconds=0.01), clock=lambda: NOW)
    monkeypatch.setattr(pruner, "run_pass", refused)
    pruner.start()
    while passes < 2:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(pruner.close(), timeout=5)
    assert "retention pass stopped: database unreachable (TimeoutError: ); the next pass " \
           "tries again" in caplog.text, caplog.text
    assert "Traceback" not in caplog.text, caplog.text


async def test_expired_storage_is_purged_in_batches_and_leaves_the_usage_figures(
        store: Store, backend: Backend) -> None:
    """`ttl` keys go once expired, whether or not the module ever reaches its quota (they
    stayed, counted as storage in use, until a write found the module full)."""
    acme, module = await tenant_with_module(store, "acme")
    limits = StorageLimits(max_keys=1000, max_bytes=1_000_000)
    earlier = NOW - timedelta(hours=2)

    async def fill(tx: Tx) -> None:
        for i in range(250):
            await tx.storage_set(module.id, f"call:{i}", {"n": i}, now=earlier, limits=limits,
                                 expires_at=earlier + timedelta(minutes=5))
        await tx.storage_set(module.id, "later", 1, expires_at=NOW + timedelta(hours=1),
                             now=earlier, limits=limits)
        await tx.storage_set(module.id, "kept", 2, expires_at=None, now=earlier, limits=limits)

    await store.write(fill)
    assert (await store.usage(acme.id, NOW, 1)).storage_keys == 252

    report = await Pruner(store, config(batch_rows=100), clock=lambda: NOW).run_pass()
    assert report.deleted == {"storage": 250}
    usage = await store.usage(acme.id, NOW, 1)
    assert (usage.storage_keys, usage.storage_bytes) == (
        2, len("later") + 1 + len("kept") + 1)
    assert await backend.count("storage") == 2
    assert (await store.storage_get(module.id, "later", NOW)) is not None
    assert (await Pruner(store, config(), clock=lambda: NOW).run_pass()).deleted == {}


async def test_revoked_credentials_go_after_their_period_and_live_ones_stay(
    store: Store,
) -> None:
    tenant, module = await tenant_with_module(store, "acme")
    author, author_secret = await store.create_api_key(tenant.id)
    revoked, revoked_secret = await store.create_api_key(tenant.id)
    live, _ = await store.create_api_key(tenant.id)
    await store.add_version(tenant.id, module.id, "x = 1\n", created_by_key_id=author.id)
    user = await store.create_user(tenant.id, "alice")
    made = [await store.create_user_token(tenant.id, user.id) for _ in range(3)]
    tokens = [token for token, _ in filter(None, made)]
    for key in (author, revoked):
        assert await store.revoke_api_key(tenant.id, key.id)
    for token in tokens[:2]:
        assert await store.revoke_user_token(tenant.id, user.id, token.id)
    revoked_at = utc_now()

    # Within the period: listed as revoked, and revoking again says it was (False: 404).
    soon = Pruner(store, config(revoked_credentials_days=90),
                  clock=lambda: revoked_at + timedelta(days=89))
    assert (await soon.run_pass()).deleted == {}
    listed = await store.list_user_tokens(tenant.id, user.id)
    assert listed is not None and sum(t.revoked_at is not None for t in listed) == 2
    assert not await store.revoke_user_token(tenant.id, user.id, tokens[0].id)
    assert not await store.revoke_api_key(tenant.id, revoked.id)

    later = Pruner(store, config(revoked_credentials_days=90),
                   clock=lambda: revoked_at + timedelta(days=91))
    assert (await later.run_pass()).deleted == {"revoked_credentials": 3}
    listed = await store.list_user_tokens(tenant.id, user.id)
    assert [t.id for t in listed or ()] == [tokens[2].id]
    # The key that uploaded a version stays while the version names it; the live one stays.
    assert sorted(k.id for k in await store.list_api_keys(tenant.id)) == sorted(
        [author.id, live.id])
    [version] = await store.list_versions(tenant.id, module.id)
    assert version.created_by_key_id == author.id
    # A revoked secret is refused alike before and after: no key has it.
    for secret in (author_secret, revoked_secret):
        assert await store.find_api_key(ids.hash_secret(secret)) is None
    assert (await later.run_pass()).deleted == {}



class _RetryingStore:
    """A store whose every unit runs once, is rolled back, and runs again: what PostgreSQL does
    with a unit that met a deadlock (store/base.py: a unit may run again)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def write(self, unit: Any) -> Any:
        await self._store.dry_run(unit)
        return await self._store.write(unit)


async def test_a_pass_whose_units_run_twice_does_what_a_pass_does(store: Store) -> None:
    tenant, first = await tenant_with_module(store, "acme")
    second = await store.create_module(tenant.id, NewModule(name="second", region="RU"))
    start = NOW - timedelta(hours=5)
    settings = config(executions_per_module=100, batch_rows=40)

    async def seeded_pass(target: object, module: Module) -> PassReport:
        await record(store, [execution(module, start + timedelta(seconds=i)) for i in range(250)])
        return await Pruner(target, settings, clock=lambda: NOW).run_pass()  # type: ignore[arg-type]

    plain = await seeded_pass(store, first)
    retried = await seeded_pass(_RetryingStore(store), second)

    assert retried.deleted == plain.deleted == {"executions": 150}
    # The module listed once, so pruned once: no batches beyond the plain pass's.
    assert retried.batches == plain.batches
