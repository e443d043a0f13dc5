"""Liveness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.typedefs import METRICS, POOL

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    healthy = pool.live_workers > 0
    return web.json_response(
        {"status": "ok" if healthy else "degraded", "workers": pool.live_workers},
        status=200 if healthy else 503,
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )
