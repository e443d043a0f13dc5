"""Connections nobody uses cannot take the service's descriptors (runtime/connection_budget.py).

The service runs with a descriptor limit of 256, as a process limit of 1024 would be with
four times the connections."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp

from runtime.connection_budget import connections_for
from tests.e2e.service_process import OPERATOR, ServiceProcess

DESCRIPTOR_LIMIT = 256
WORKERS = {"workers": 1, "tenant_workers": 4, "spare_workers": 1}
BUDGET = connections_for(DESCRIPTOR_LIMIT, 5)


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that never send a byte."""
    held = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.append(connection)
    return held


def still_open(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return connection.recv(1) != b""
    except BlockingIOError:
        return True  # nothing to read: the service has not closed it
    except ConnectionError:
        return False


async def test_idle_connections_beyond_the_descriptor_budget_do_not_lock_others_out(
    tmp_path: Path,
) -> None:
    service = ServiceProcess(tmp_path, sandbox=WORKERS)
    service.start(descriptor_limit=DESCRIPTOR_LIMIT)
    held: list[socket.socket] = []
    try:
        await service.wait_ready()
        async with aiohttp.ClientSession() as session:
            # A request in the app, its body still to come: never closed for room.
            reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
            writer.write(b"POST /api/v1/tenants HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: Bearer " + OPERATOR.encode() + b"\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"name\"")
            await writer.drain()
            await asyncio.sleep(0.5)

            # More idle connections than the process has descriptors (before, accept failed
            # from about 220 on and every client was reset for the keep-alive's 75 s).
            held = await asyncio.to_thread(open_idle, service.port, DESCRIPTOR_LIMIT + 100)
            await asyncio.sleep(1)

            async with session.get(service.base + "/healthz") as response:
                assert response.status == 200
            async with session.post(service.base + "/api/v1/tenants", json={"name": "later"},
                                    headers={"Authorization": f"Bearer {OPERATOR}"}) as response:
                assert response.status == 201, await response.text()

            writer.write(b": \"held\"}")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(4096), 10)
            assert answer.startswith(b"HTTP/1.1 201 "), answer
            writer.close()

        open_now = [connection for connection in held if still_open(connection)]
        # The newest idle connections are the ones kept; the oldest made room.
        assert 0 < len(open_now) < BUDGET
        assert still_open(held[-1]) and not still_open(held[0])
        assert "connections the service keeps" in service.log() or "to make room" in service.log()
    finally:
        for connection in held:
            connection.close()
        service.stop()
