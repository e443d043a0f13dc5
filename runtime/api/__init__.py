"""The HTTP surface, one router per concern, composed here (and only here)."""

from __future__ import annotations

from aiohttp import web

from runtime.api import health, hooks

ROUTERS: list[web.RouteTableDef] = [
    health.routes,
    hooks.routes,
]
