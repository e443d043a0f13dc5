"""The baseline for bench/webhooks.py: a bare aiohttp handler doing the same work without the
sandbox — parse the JSON body, build the same result the seed module builds, validate it with
the contract's models, act on it and store the execution row in one durable (group-committed)
SQLite unit, then answer.

    python bench/baseline_server.py --port 8099 --data DIR

`/hooks/empty` answers the same way having done nothing but read the body: what HTTP alone
costs on the machine, the ceiling any webhook handler here works under.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime import collector, ids
from runtime.acting import ActContext, act
from runtime.contract import ParseResult, validate_result
from runtime.store import SqliteStore, Store
from runtime.store.base import Tx
from runtime.store.models import Execution, ExecutionOutcome, NewModule, utc_now

STORE = web.AppKey("store", SqliteStore)
MODULE = web.AppKey("module", tuple)
# What the service's webhook answers carry, so both answers cost the same to send.
REPLY_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


def seed_result(data: dict[str, object]) -> dict[str, object]:
    """What scripts/seed-json/script.py returns for a "start" webhook, in plain Python."""
    return {"event": {
        "event": "notify_start", "direction": "in", "disposition": "unknown",
        "srcPhone": str(data["srcPhone"]), "dstPhone": str(data["dstPhone"]),
        "callId": str(data["callId"]),
    }}


async def handle(store: Store, tenant_id: str, module_id: str, body: bytes) -> None:
    """Everything the baseline does with a webhook's body: parse, validate, act and log, in
    one durable unit (bench/unit_of_work.py measures this alone)."""
    data = json.loads(body)
    result = validate_result("VoipParseWebhookRequest", seed_result(data))
    assert isinstance(result, ParseResult)
    execution_id = ids.new_id(ids.EXECUTION)
    created_at = utc_now()
    # A moment of its own, as the service's runner takes one when the script has run.
    context = ActContext(tenant_id=tenant_id, module_id=module_id, region="RU",
                         execution_id=execution_id, now=utc_now())

    async def unit(tx: Tx) -> None:
        effects = await act(tx, context, result)
        # Made once, with its effects (dataclasses.replace of a made one cost microseconds).
        await tx.insert_execution(Execution(
            id=execution_id, tenant_id=tenant_id, module_id=module_id, version_id=None,
            function="VoipParseWebhookRequest", outcome=ExecutionOutcome.OK, created_at=created_at,
            request={"method": "POST", "body": data}, result=result.to_json(),
            effects=effects.to_json()))

    await store.write(unit)


async def hook(request: web.Request) -> web.Response:
    tenant_id, module_id = request.app[MODULE]
    await handle(request.app[STORE], tenant_id, module_id, await request.read())
    return web.Response(status=200, headers=REPLY_HEADERS)


async def empty(request: web.Request) -> web.Response:
    """The machine's ceiling for comparison: read the body, answer, do nothing else."""
    await request.read()
    return web.Response(status=200, headers=REPLY_HEADERS)


async def setup(app: web.Application, data_dir: Path, commit_window: float) -> None:
    store = await SqliteStore.open(data_dir / "baseline.db", commit_window=commit_window)
    tenant = await store.create_tenant("baseline")
    module = await store.create_module(tenant.id, NewModule(name="seed", region="RU"))
    app[STORE] = store
    app[MODULE] = (tenant.id, module.id)
    collector.settle()  # the garbage collector as the service settles it at startup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--commit-window-ms", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application()
    app.router.add_post("/hooks/baseline", hook)
    app.router.add_post("/hooks/empty", empty)

    async def on_startup(app: web.Application) -> None:
        await setup(app, args.data, args.commit_window_ms / 1000)

    async def on_cleanup(app: web.Application) -> None:
        await app[STORE].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
