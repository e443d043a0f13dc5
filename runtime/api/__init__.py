"""The HTTP surface, one router per concern, composed here (and only here)."""

from __future__ import annotations

from aiohttp import web

from runtime.api import (
    bindings,
    calls,
    contacts,
    executions,
    health,
    hooks,
    live,
    modules,
    playback,
    runs,
    tenants,
    usage,
    users,
    versions,
)

ROUTERS: list[web.RouteTableDef] = [
    health.routes,
    hooks.routes,
    runs.routes,
    playback.routes,
    live.routes,
    tenants.routes,
    modules.routes,
    versions.routes,
    users.routes,
    bindings.routes,
    contacts.routes,
    calls.routes,
    executions.routes,
    usage.routes,
]
