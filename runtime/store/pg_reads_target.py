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
from collections.abc import Sequence
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

    async def _release(self, conn: PoolConnectionProxy, error: BaseException | None) -> None:
        if isinstance(error, TimeoutError):
            conn.terminate()  # the server did not answer: no cancel request to wait for
        await self.pool.release(conn)

    async def execute(self, sql: str, *args: Any) -> str:
        conn = await self._acquire()
        failed: BaseException | None = None
        try:
            status: str = await conn.execute(sql, *args)
            return status
        except BaseException as error:
            failed = error
            raise
        finally:
            await self._release(conn, failed)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn = await self._acquire()
        failed: BaseException | None = None
        try:
            await conn.executemany(sql, rows)
        except BaseException as error:
            failed = error
            raise
        finally:
            await self._release(conn, failed)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        conn = await self._acquire()
        failed: BaseException | None = None
        try:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows
        except BaseException as error:
            failed = error
            raise
        finally:
            await self._release(conn, failed)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        conn = await self._acquire()
        failed: BaseException | None = None
        try:
            return await conn.fetchrow(sql, *args)
        except BaseException as error:
            failed = error
            raise
        finally:
            await self._release(conn, failed)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await self._acquire()
        failed: BaseException | None = None
        try:
            return await conn.fetchval(sql, *args)
        except BaseException as error:
            failed = error
            raise
        finally:
            await self._release(conn, failed)
