"""`PoolReads`: the pool as reads (and NOTIFYs) use it, each statement on a connection of its
own, with the bounds a server that hangs needs (postgres.py's units have the same two).

asyncpg's `Pool.fetch` waits for a free connection without a bound, and when its statement
goes unanswered past the pool's command_timeout it returns the connection only after asyncpg's
cancel request to that same hung server has timed out too: an API read or a console page
answered after two or three timeouts, not one. Here the wait for a connection is bounded
(ACQUIRE_TIMEOUT_SECONDS in postgres.py), and a connection whose statement timed out is closed
at once (the pool opens a new one). Both raise TimeoutError, an OSError: "database
unreachable" (errors.storage_unavailable), answered 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy


class PoolReads:
    __slots__ = ("acquire_timeout", "pool")

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout

    async def _acquire(self) -> PoolConnectionProxy:
        # A timer on this task, not acquire(timeout=...), which runs the acquire in a task of
        # its own (asyncio.wait_for): a cost on every read for a wait that nearly never happens.
        async with asyncio.timeout(self.acquire_timeout):
            conn: PoolConnectionProxy = await self.pool.acquire()
        return conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy]:
        conn = await self._acquire()
        try:
            yield conn
        except TimeoutError:
            conn.terminate()  # the server did not answer: no cancel request to wait for
            raise
        finally:
            await self.pool.release(conn)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self._connection() as conn:
            status: str = await conn.execute(sql, *args)
            return status

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._connection() as conn:
            await conn.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._connection() as conn:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        async with self._connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._connection() as conn:
            return await conn.fetchval(sql, *args)
