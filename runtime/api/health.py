"""Liveness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.openapi import Answer, documented
from runtime.openapi.models import Health, dump
from runtime.typedefs import METRICS, POOL, STORE

routes = web.RouteTableDef()


@routes.get("/healthz")
@documented("Liveness", auth="none", response=Health, uses_store=False,
            other={503: Answer("Degraded: the sandbox cannot serve calls as it should "
                               "(`problems` says why), or the store refuses writes "
                               "(`storage.cause` says why; on a node without writes lately, "
                               "the database is asked, at most every 5 s).", Health)})
async def healthz(request: web.Request) -> web.Response:
    health = request.app[POOL].health()
    store = request.app[STORE]
    storage = store.health
    await storage.refresh(store.probe)  # an idle node asks the database (at most every 5 s)
    healthy = health.healthy and storage.available
    body: dict[str, object] = {"status": "ok" if healthy else "degraded",
                               "workers": health.workers, "storage": storage.to_json()}
    if health.problems:
        body["problems"] = list(health.problems)
    return web.json_response(dump(Health, body), status=200 if healthy else 503)


@routes.get("/metrics")
@documented("Prometheus metrics", auth="none", response=str, media_type="text/plain",
            uses_store=False)
async def metrics(request: web.Request) -> web.Response:
    store = request.app[STORE]
    await store.health.refresh(store.probe)  # voip_storage_available current on idle nodes
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )
