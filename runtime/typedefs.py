"""Typed application keys: every shared resource of the aiohttp app, named once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Mapping

    from runtime.cluster import Cluster
    from runtime.config import Config
    from runtime.hub import Hub
    from runtime.live_limits import LiveSocketLimits
    from runtime.metrics import Metrics
    from runtime.modules_cache import ModuleCache
    from runtime.ratelimit import TenantLimiter
    from runtime.runner import Runner
    from runtime.store import Store
    from sandbox import SandboxPool

CONFIG: web.AppKey[Config] = web.AppKey("config")
STORE: web.AppKey[Store] = web.AppKey("store")
POOL: web.AppKey[SandboxPool] = web.AppKey("pool")
HUB: web.AppKey[Hub] = web.AppKey("hub")
LIVE_LIMITS: web.AppKey[LiveSocketLimits] = web.AppKey("live_limits")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
LIMITER: web.AppKey[TenantLimiter] = web.AppKey("limiter")
MODULES: web.AppKey[ModuleCache] = web.AppKey("modules")
# The node's link to the others (PostgreSQL); None on SQLite, a single node by nature.
CLUSTER: web.AppKey[Cluster | None] = web.AppKey("cluster")
RUNNER: web.AppKey[Runner] = web.AppKey("runner")
OPERATOR_TOKEN: web.AppKey[str] = web.AppKey("operator_token")
# The methods of each route without path parameters, by path (runtime/errors.py, for 405s).
STATIC_ROUTES: web.AppKey[Mapping[str, frozenset[str]]] = web.AppKey("static_routes")
