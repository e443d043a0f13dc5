"""The application factory: resources as cleanup contexts, routers composed in one place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from runtime.api import ROUTERS
from runtime.cluster import start_cluster
from runtime.config import Config, http_url
from runtime.connection_budget import budget_for
from runtime.console import setup_console
from runtime.edge import edge, handler_args, scope_middleware
from runtime.errors import only_static_methods, shadowed_static_routes, static_routes
from runtime.fetcher import own_host_ports
from runtime.hub import EndReason, Hub
from runtime.live_limits import LiveSocketLimits
from runtime.metrics import Metrics
from runtime.modules_cache import ModuleCache
from runtime.openapi import install as install_openapi
from runtime.operations import call_once
from runtime.ratelimit import TenantLimiter
from runtime.retention import Pruner
from runtime.runner import Runner
from runtime.store import Store, StoreError
from runtime.store.open import open_store
from runtime.tenant_removal import TenantRemoval
from runtime.typedefs import (
    CLUSTER,
    CONFIG,
    HUB,
    LIMITER,
    LIVE_LIMITS,
    METRICS,
    MODULES,
    OPERATOR_TOKEN,
    POOL,
    RUNNER,
    STATIC_ROUTES,
    STORE,
)
from sandbox import SandboxPool

log = logging.getLogger("runtime.app")

RESUME_RETRY_SECONDS = 30  # as the 503s' Retry-After while the storage fails


def own_addresses(config: Config) -> tuple[tuple[str, int], ...]:
    """(host, port) pairs a script's fetch() must never reach: this service itself."""
    return own_host_ports([http_url(config.listen.host, config.listen.port), config.base_url])


async def store_context(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store: Store = await open_store(config.resolved_storage_url,
                                    commit_window=config.commit_window_ms / 1000)
    app[STORE] = store
    app[METRICS].watch_storage(store.health)
    app[MODULES] = ModuleCache(store)
    cluster = await start_cluster(store, app[HUB], app[MODULES])  # PostgreSQL: several nodes
    app[CLUSTER] = cluster
    if cluster is not None:
        app[METRICS].watch_cluster(lambda: cluster.away_since is None)
    yield
    if cluster is not None:
        await cluster.close()
    await store.close()


async def pool_context(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    sandbox = config.sandbox
    pool = SandboxPool(
        size=sandbox.workers,
        limits=sandbox.webhook_limits,
        inflight_per_worker=sandbox.inflight_per_worker,
        max_workers=sandbox.tenant_workers,
        spare_workers=sandbox.spare_workers,
        workers_per_group=sandbox.workers_per_tenant,
        idle_seconds=sandbox.idle_worker_seconds,
        restart_burst=sandbox.restart_burst,
        restarts_per_minute=sandbox.restarts_per_minute,
        check_burst=sandbox.check_burst,
        checks_per_minute=sandbox.checks_per_minute,
        worker_uids=sandbox.worker_uids,
    )
    await pool.start()
    app[POOL] = pool
    app[METRICS].watch_pool(pool)
    yield
    await pool.close()


async def runner_context(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    app[RUNNER] = Runner(
        config=config, store=app[STORE], pool=app[POOL], hub=app[HUB],
        metrics=app[METRICS], limiter=app[LIMITER], refused_hosts=own_addresses(config),
    )
    yield


async def retention_context(app: web.Application) -> AsyncIterator[None]:
    """The pruner runs while the app does; it stops (after its batch) before the store closes."""
    pruner = Pruner(app[STORE], app[CONFIG].retention, pruned=app[METRICS].retention_pruned)
    pruner.start()
    yield
    await pruner.close()


async def finish_deletions(removal: TenantRemoval) -> None:
    """Finish the tenant deletions an earlier run left cut short. The store may be failing
    too (what cut them short): then try again later, for as long as the app runs."""
    while True:
        try:
            await removal.resume()
            return
        except StoreError as error:
            log.warning("finishing the deletion of tenants cut short failed (%s); "
                        "trying again in %d s", error, RESUME_RETRY_SECONDS)
        except Exception:  # a bug: said once, not every 30 s; DELETE again finishes it
            log.exception("finishing the deletion of tenants cut short failed")
            return
        await asyncio.sleep(RESUME_RETRY_SECONDS)


async def tenant_deletions_context(app: web.Application) -> AsyncIterator[None]:
    """Deletions cut short (tenants marked `deleting_at`) are finished in the background from
    the start: the tenants are hidden and refuse new work meanwhile. Stopping cuts the work
    between two units, which the next start resumes."""
    removal = TenantRemoval(app[STORE], app[HUB], app[MODULES], app[POOL])
    task = asyncio.create_task(finish_deletions(removal), name="finish tenant deletions")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_live_sockets(app: web.Application) -> None:
    """At shutdown (the listener is closed already): live sockets would hold the shutdown for
    its whole grace period, then be cut without a close frame. Close them with 1001 now;
    webhooks and API requests in flight finish meanwhile, before the cleanup contexts close
    the runner, the pool and, last, the store (which commits what is queued)."""
    closing = app[HUB].end_all_local(EndReason.SHUTTING_DOWN)
    if closing:
        log.info("shutting down: closing %d live socket(s)", closing)


def create_app(config: Config, operator_token: str) -> web.Application:
    app = web.Application(
        middlewares=[edge],  # deadlines, header text, JSON errors: runtime/edge.py
        # Bodies are read by runtime/bodies.py with their own limits; this only bounds any
        # aiohttp reader that might still be reached.
        client_max_size=max(config.max_webhook_body_kib, config.http.max_api_body_kib) * 1024,
        handler_args=handler_args(config.http),
    )
    app[CONFIG] = config
    app[OPERATOR_TOKEN] = operator_token
    app[HUB] = Hub()
    app[LIVE_LIMITS] = LiveSocketLimits(budget_for(config))
    call_once.install(app)  # click-to-call once per key: the console's forms and the API
    app[METRICS] = Metrics()
    limits = config.tenant_limits
    app[LIMITER] = TenantLimiter(
        limits.webhooks_per_second, limits.webhook_burst, limits.concurrent_executions,
        run_rate=limits.runs_per_second, run_burst=limits.run_burst,
        queued=limits.queued_executions, queue_wait_seconds=limits.queue_wait_seconds,
    )
    app.cleanup_ctx.extend([store_context, pool_context, runner_context, retention_context,
                            tenant_deletions_context])
    app.on_shutdown.append(close_live_sockets)
    for router in ROUTERS:
        app.add_routes(router)
    install_openapi(app)
    setup_console(app)
    app[STATIC_ROUTES] = static_routes(app.router)
    for path, methods in shadowed_static_routes(app.router).items():
        scope_middleware(app, path, only_static_methods(path, methods))
    return app
