"""The app's services an operation works with, named once (instead of an aiohttp request)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from runtime.config import Config
from runtime.hub import Hub
from runtime.modules_cache import ModuleCache
from runtime.runner import Runner
from runtime.store import Store
from runtime.typedefs import CONFIG, HUB, MODULES, POOL, RUNNER, STORE
from sandbox import SandboxPool


@dataclass(frozen=True, slots=True)
class Services:
    config: Config
    store: Store
    pool: SandboxPool
    runner: Runner
    modules: ModuleCache
    hub: Hub

    @classmethod
    def of(cls, app: web.Application) -> Services:
        return cls(config=app[CONFIG], store=app[STORE], pool=app[POOL], runner=app[RUNNER],
                   modules=app[MODULES], hub=app[HUB])


def services(request: web.Request) -> Services:
    """The services of the app serving `request`."""
    return Services.of(request.app)
