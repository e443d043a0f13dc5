"""Liveness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.openapi import Answer, documented
from runtime.openapi.models import Health, dump
from runtime.typedefs import CLUSTER, METRICS, POOL, STORE

routes = web.RouteTableDef()


@routes.get("/healthz")
@documented("Liveness", auth="none", response=Health, uses_store=False,
            other={503: Answer("Degraded: the sandbox cannot serve calls as it should, or "
                               "the node cannot hear the other nodes (`problems` says why), "
                               "or the store refuses writes "
                               "(`storage.cause` says why; on a node without writes lately, "
                               "the database is asked, at most every 5 s).", Health)})
async def healthz(request: web.Request) -> web.Response:
    health = request.app[POOL].health()
    store = request.app[STORE]
    storage = store.health
    await storage.refresh(store.probe)  # an idle node asks the database (at most every 5 s)
    problems = list(health.problems)
    cluster = request.app.get(CLUSTER)
    away_since = cluster.away_since if cluster is not None else None
    if away_since is not None:
        problems.append(f"this node cannot hear the other nodes since {away_since.isoformat()} "
                        "(its cluster listener is reconnecting): it reads modules from the "
                        "database for every webhook, and its live sockets miss what the "
                        "others send until their clients catch up")
    healthy = health.healthy and away_since is None and storage.available
    body: dict[str, object] = {"status": "ok" if healthy else "degraded",
                               "workers": health.workers, "storage": storage.to_json()}
    if problems:
        body["problems"] = problems
    stats = request.app[POOL].stats
    if stats.layers:
        body["sandbox"] = {
            "active": [layer for layer, on in stats.layers.items() if on],
            "missing": [layer for layer, on in stats.layers.items() if not on],
            "exposed": stats.exposed}
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
