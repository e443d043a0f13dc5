"""`voip-runtime serve`: load the configuration, start the app, say how to begin."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from aiohttp import web

from runtime import collector
from runtime.app import create_app
from runtime.config import (
    OPERATOR_TOKEN_FILE,
    Config,
    ConfigError,
    ensure_operator_token,
    load_config,
)
from runtime.connection_budget import ConnectionBudget, budget_for, descriptor_limit
from runtime.deadlines import Deadlines, listen
from runtime.edge_protocol import protocol_factory
from runtime.ids import visible_prefix
from runtime.logs import setup_logging
from runtime.one_service import claim_database, sqlite_database
from runtime.store.errors import DatabaseRefused
from sandbox.forkserver import SpawnError

log = logging.getLogger("runtime.server")

GETTING_STARTED = """\
voip-runtime is listening on {base}

Operator token{generated}: {shown}
({where}; set VOIP_RUNTIME_OPERATOR_TOKEN or operator_token to choose your own)

Console:       {base}/console/  (sign in with a tenant API key, or a user token for live calls)
API reference: {base}/api/v1/docs

Get started:
  curl -s -X POST {base}/api/v1/tenants -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' -d '{{"name": "acme"}}'
  curl -s -X POST {base}/api/v1/tenants/<tenant id>/keys -H 'Authorization: Bearer {token}'
  then, with the tenant's key: POST {base}/api/v1/modules, upload a script version, and point
  your provider at the module's webhook_url.
"""


def shown_operator_token(token: str, generated: bool) -> str:
    """The operator token as the start's banner says it: whole only when it was generated just
    now (the one moment its operator must be told it). Otherwise it is in the configuration or
    the token file already, and a supervisor keeps every start's output in its log, which
    more people read than the file: a generated token's first characters say which it is, a
    token the operator chose is not shown at all."""
    if generated:
        return token
    if token.startswith("op_"):
        return f"{visible_prefix(token)}… (not printed again)"
    return "(not printed)"


class CannotListen(Exception):
    """The listening address cannot be opened (in use, not this host's, not permitted): the
    service exits 1 saying which, as for a database it may not open."""


async def settle_garbage_collector(app: web.Application) -> None:
    """Once everything is loaded: the collector as the service runs it (runtime/collector.py)."""
    collector.settle()


# Beyond the longest a script may run: time to commit its effects and answer.
SHUTDOWN_MARGIN_SECONDS = 5.0


def shutdown_grace(config: Config) -> float:
    """Seconds SIGTERM waits for requests in flight before cutting them off."""
    sandbox = config.sandbox
    return max(sandbox.webhook_wall_seconds, sandbox.other_wall_seconds) + SHUTDOWN_MARGIN_SECONDS


# aiohttp rounds a wait longer than this up to a whole second of the loop's clock.
AIOHTTP_CEIL_THRESHOLD_SECONDS = 5.0


def handler_wait(grace: float) -> float:
    """aiohttp's `shutdown_timeout` for a stop that waits `grace` for requests in flight.

    aiohttp waits its timeout for a request's handler, then fails the request's body and waits
    as long again for the same handler before cancelling it: half the grace each, so a stuck
    request holds the stop for the grace, not twice it. (A handler that has its body runs on
    through both halves; one still receiving it at half the grace is from a client too slow
    to be waited for.) Each wait over 5 s ends at the next whole second: a second less each
    keeps the two within the grace."""
    half = grace / 2
    return half - 1 if half > AIOHTTP_CEIL_THRESHOLD_SECONDS else half


def connection_budget(config: Config) -> ConnectionBudget:
    """The client connections this process can hold beside what it needs for itself."""
    limit = budget_for(config)
    log.info("keeping at most %d client connections open (descriptor limit %d)",
             limit, descriptor_limit())
    return ConnectionBudget(limit)


@asynccontextmanager
async def listening(app: web.Application, config: Config, *, host: str | None = None,
                    port: int | None = None) -> AsyncIterator[int]:
    """The app served on its port, with every connection under the header and body deadlines
    (`runtime/deadlines.py`); yields the port (useful when 0 asked for any free one).

    Not `web.run_app`: its sites hand aiohttp's protocol straight to the event loop, and the
    deadlines need to watch each connection's pace from outside it."""
    # Stopping: the listener closes, then the runner's cleanup runs on_shutdown (live sockets
    # closed, runtime/app.py), waits up to the grace for requests in flight, and then the
    # cleanup contexts drain and close (the store last, committing what is queued).
    runner = web.AppRunner(app, access_log=None,
                           shutdown_timeout=handler_wait(shutdown_grace(config)))
    await runner.setup()
    server: asyncio.Server | None = None
    try:
        assert runner.server is not None
        deadlines = Deadlines(header_seconds=config.http.header_timeout_seconds,
                              body_seconds=config.http.body_timeout_seconds,
                              stall_seconds=config.http.response_stall_seconds)
        address = (host or config.listen.host, config.listen.port if port is None else port)
        try:
            # aiohttp's protocol, answering what it cannot parse as JSON (runtime/edge_protocol.py)
            protocol = protocol_factory(runner.server)
            server = await listen(protocol, *address, deadlines, connection_budget(config))
        except OSError as error:  # in use, not an address of this host, not permitted
            # The system's words for its errno: uvloop's own message repeats the address.
            reason = (os.strerror(error.errno) if error.errno and error.errno > 0
                      else error.strerror or str(error))
            raise CannotListen(f"cannot listen on {address[0]}:{address[1]}: {reason} "
                               "(choose another with --host/--port or listen: in the "
                               "configuration)") from None
        yield server.sockets[0].getsockname()[1]
    finally:
        if server is not None:
            server.close()  # stop accepting; the runner then ends the open connections
        await runner.cleanup()


async def run_until_stopped(app: web.Application, config: Config,
                            announce: Callable[[], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with listening(app, config):
        announce()
        await stop.wait()


def serve(config_path: Path | None, *, host: str | None = None, port: int | None = None) -> int:
    try:
        config = load_config(config_path, listen={
            k: v for k, v in (("host", host), ("port", port)) if v is not None})
    except ConfigError as error:
        print(f"voip-runtime: {error}", file=sys.stderr)
        return 2
    setup_logging(config.log_format, config.log_level)
    try:
        token, generated = ensure_operator_token(config)
    except OSError as error:
        # Started where this user may not write (a unit's WorkingDirectory=/, a read-only
        # home, a data directory another user owns): the operator's setup, in one line.
        print(f"voip-runtime: cannot prepare the data directory {config.data_dir.absolute()}: "
              f"{error.strerror or error} (set data_dir: in a --config file to a directory "
              "this user may write)", file=sys.stderr)
        return 1
    database = sqlite_database(config.resolved_storage_url)
    try:
        # Held until the process ends: one service per SQLite file (one_service.py).
        claim = claim_database(database) if database is not None else None
    except DatabaseRefused as error:
        print(f"voip-runtime: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"voip-runtime: cannot open the database {database}: "
              f"{error.strerror or error} (its directory must be one this user may write)",
              file=sys.stderr)
        return 1
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = create_app(config, token)
    app.on_startup.append(settle_garbage_collector)

    async def say_stopping(_app: web.Application) -> None:
        log.info("stopping: new connections refused; finishing requests in flight "
                 "(up to %.0f s), then committing and exiting", shutdown_grace(config))

    app.on_shutdown.insert(0, say_stopping)

    def announce() -> None:
        # Called once the listening socket is open, so the URL printed works.
        print(GETTING_STARTED.format(
            base=config.base_url, shown=shown_operator_token(token, generated),
            token=token if generated else "<operator token>",
            generated=" (generated now)" if generated else "",
            where=where,
        ), file=sys.stderr, flush=True)

    if config.operator_token:
        where = "from the configuration"
    else:
        where = f"kept in {(config.data_dir / OPERATOR_TOKEN_FILE).resolve()}"
    try:
        with suppress(KeyboardInterrupt):
            asyncio.run(run_until_stopped(app, config, announce))
    except (DatabaseRefused, CannotListen) as error:
        # An operator's mistake or a damaged file, not a bug: one line that says which file
        # (or address) and what to do, and a failing exit status for the supervisor, no
        # traceback.
        print(f"voip-runtime: {error}", file=sys.stderr)
        return 1
    except SpawnError as error:
        # The pool's start found no worker can be made on this host (a layer a worker must
        # have is missing, the uid range is taken): the host's setup, said as such.
        print(f"voip-runtime: no sandbox worker can start, so no script can run: {error}",
              file=sys.stderr)
        return 1
    finally:
        if claim is not None:
            claim.release()
    log.info("stopped")
    return 0
