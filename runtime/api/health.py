"""Liveness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.openapi import Answer, documented
from runtime.openapi.models import Health, dump
from runtime.typedefs import METRICS, POOL

routes = web.RouteTableDef()


@routes.get("/healthz")
@documented("Liveness", auth="none", response=Health, uses_store=False,
            other={503: Answer("Degraded: the sandbox cannot serve calls as it should "
                               "(`problems` says why).", Health)})
async def healthz(request: web.Request) -> web.Response:
    health = request.app[POOL].health()
    body: dict[str, object] = {"status": "ok" if health.healthy else "degraded",
                               "workers": health.workers}
    if health.problems:
        body["problems"] = list(health.problems)
    return web.json_response(dump(Health, body), status=200 if health.healthy else 503)


@routes.get("/metrics")
@documented("Prometheus metrics", auth="none", response=str, media_type="text/plain",
            uses_store=False)
async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )
