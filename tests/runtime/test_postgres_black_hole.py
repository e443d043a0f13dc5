"""A PostgreSQL server behind a network black hole (packets dropped, nothing refused): a
statement on a pool connection is abandoned after the storage URL's `?command_timeout=`,
and its caller hears "database unreachable" then, not after asyncpg's cancel request to the
same black hole has timed out as well (and, for a unit, its ROLLBACK after it). The black
hole is a TCP relay of the test's own in front of the shared test server, which is never
stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from runtime.store.base import Tx
from runtime.store.errors import StorageUnavailable, StoreError
from runtime.store.postgres import PostgresStore
from tests import pg
from tests.runtime.conftest import PostgresBackend

COMMAND_TIMEOUT = 3.0
# One command_timeout and a margin smaller than another: the old code waited at least two
# (the statement's, then its cancel request's) before the caller heard anything.
ANSWERED_WITHIN = COMMAND_TIMEOUT * 1.7


class BlackHole:
    """Relays TCP to the server until `swallow()`: from then on it accepts connections and
    takes bytes both ways without passing any on, like a host that went away."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.swallowing = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def swallow(self) -> None:
        self.swallowing = True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.swallowing:
            await self._pipe(reader, None)
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self._tasks.add(task)

    async def _pipe(self, source: asyncio.StreamReader,
                    sink: asyncio.StreamWriter | None) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if sink is not None and not self.swallowing:
                    sink.write(data)
                    await sink.drain()
            if sink is not None and not self.swallowing:
                sink.close()  # the other side hung up: so does the relay

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def hole_and_store() -> AsyncIterator[tuple[BlackHole, PostgresStore]]:
    url = await pg.postgres_url()
    parts = urlsplit(url)
    hole = BlackHole(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await hole.start()
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    if parts.password:
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{port}"
    query = f"{parts.query}&" if parts.query else ""
    relayed = urlunsplit(parts._replace(netloc=netloc,
                                        query=f"{query}command_timeout={COMMAND_TIMEOUT:g}"))
    backend = PostgresBackend(url, pg.new_schema_name())
    store = await PostgresStore.open(relayed, schema=backend.schema, pool_size=2)
    try:
        yield hole, store
    finally:
        await store.close()
        await hole.close()
        await backend.close()


async def answered(call: asyncio.Future[object]) -> BaseException:
    """What `call` raised, awaited no longer than ANSWERED_WITHIN."""
    with pytest.raises((StoreError, StorageUnavailable)) as raised:
        await asyncio.wait_for(call, ANSWERED_WITHIN)
    return raised.value


async def test_a_read_is_answered_after_one_command_timeout(
        hole_and_store: tuple[BlackHole, PostgresStore]) -> None:
    hole, store = hole_and_store
    tenant = await store.create_tenant("before")  # the pool's connections open, relayed
    assert (await store.get_tenant(tenant.id)) is not None
    hole.swallow()
    error = await answered(asyncio.ensure_future(store.get_tenant(tenant.id)))
    assert "database unavailable: TimeoutError" in str(error)


async def test_a_unit_is_answered_after_one_command_timeout(
        hole_and_store: tuple[BlackHole, PostgresStore]) -> None:
    hole, store = hole_and_store
    await store.create_tenant("before")
    hole.swallow()

    async def unit(tx: Tx) -> None:
        await tx.create_tenant("while it hangs")

    error = await answered(asyncio.ensure_future(store.write(unit)))
    assert isinstance(error, StorageUnavailable)
    assert error.cause == "database unreachable"
    assert store.health.state == "unavailable"
