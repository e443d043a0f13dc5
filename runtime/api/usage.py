"""Usage and retention: the tenant's figures per day, how long history is kept, and each
module's health (the modules router puts it in the module's JSON)."""

from __future__ import annotations

from aiohttp import web

from runtime.api.common import reply
from runtime.auth import require_tenant
from runtime.config import RetentionConfig
from runtime.openapi import documented
from runtime.openapi.models import ModuleHealthOut, RetentionOut, UsageOut, UsageQuery, dump
from runtime.operations.usage import query_days
from runtime.store.models import JSON, utc_now
from runtime.store.retention import ModuleHealth
from runtime.typedefs import CONFIG, STORE

routes = web.RouteTableDef()


def retention_json(config: RetentionConfig) -> dict[str, JSON]:
    return dump(RetentionOut, {
        "executions_days": config.executions_days,
        "executions_per_module": config.executions_per_module,
        "executions_mib_per_module": config.executions_mib_per_module,
        "notifications_days": config.notifications_days,
        "call_events_days": config.call_events_days,
        "calls_days": config.calls_days,
        "usage_days": config.usage_days,
        "revoked_credentials_days": config.revoked_credentials_days,
    })


def health_json(health: ModuleHealth) -> dict[str, JSON]:
    last = health.last_error
    error = last.error if last is not None and isinstance(last.error, dict) else {}
    return dump(ModuleHealthOut, {
        "last_hour": {"webhooks": health.last_hour.webhooks,
                      "failures": health.last_hour.webhook_failures},
        "last_day": {"webhooks": health.last_day.webhooks,
                     "failures": health.last_day.webhook_failures},
        "last_error": None if last is None else {
            "execution_id": last.execution_id, "created_at": last.at,
            "type": error.get("type"), "message": error.get("message"),
        },
    })


@routes.get("/api/v1/retention")
@documented("How long history is kept", auth="tenant", response=RetentionOut)
async def get_retention(request: web.Request) -> web.Response:
    await require_tenant(request)
    return reply(retention_json(request.app[CONFIG].retention))


@routes.get("/api/v1/usage")
@documented("Usage per day", auth="tenant", query=UsageQuery, response=UsageOut,
            description="The tenant's executions, failures, webhooks, CPU seconds and fetches "
                        "per UTC day (they outlive the execution log: rolled up before it is "
                        "pruned), and the module storage in use now.")
async def get_usage(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    days = query_days(request)
    usage = await request.app[STORE].usage(auth.tenant_id, utc_now(), days)
    return reply(dump(UsageOut, {
        "days": [{
            "day": u.day, "executions": u.figures.executions, "failures": u.figures.failures,
            "webhooks": u.figures.webhooks, "webhook_failures": u.figures.webhook_failures,
            "cpu_seconds": round(u.figures.cpu_ms / 1000, 3), "fetches": u.figures.fetches,
            "storage_bytes": u.storage_bytes,
        } for u in usage.days],
        "storage": {"bytes": usage.storage_bytes, "keys": usage.storage_keys},
        "retention": retention_json(request.app[CONFIG].retention),
    }))
