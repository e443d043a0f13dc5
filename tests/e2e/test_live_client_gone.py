"""A live socket's client that goes without a close frame (a tab killed, a network gone, a
hostile client hanging up), on the real service: its event loop is uvloop's, whose transports
differ from asyncio's where the in-process test service cannot see it (runtime/live_send.py).

The handler must end quietly and give its place back: it ended in an unhandled error
(`ValueError: negative file descriptor`, a traceback in the service's log for every such
client), so anyone holding a user token could fill the log with tracebacks."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp

from runtime.live_limits import PER_USER
from tests.e2e.raw_live import live_upgrade, read_until
from tests.e2e.service_process import ServiceProcess, call_json, seed_tenant

OPENED = 101
REFUSED = 429


def live_socket(port: int, token: str) -> tuple[socket.socket, int]:
    """A WebSocket to /api/v1/live, read up to "caught_up" when it opened; and the answer's
    status (101 opened, 429 over the per-user limit)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    raw.sendall(live_upgrade(token))
    answer = read_until(raw, b"\r\n\r\n")
    status = int(answer.split(b" ", 2)[1])
    if status == OPENED:
        read_until(raw, b'"caught_up"', answer)
    return raw, status


async def test_a_live_client_gone_without_a_close_frame_ends_its_socket_quietly(
        tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path)
    service.start()
    held: list[socket.socket] = []
    try:
        await service.wait_ready()
        async with aiohttp.ClientSession() as session:
            tenant = await seed_tenant(session, service.base)
            user = await call_json(session, "POST", tenant.api + "/users", tenant.key,
                                   {"name": "second"}, 201)
            token = (await call_json(session, "POST", f"{tenant.api}/users/{user['id']}/tokens",
                                     tenant.key, status=201))["token"]
        port = service.port
        for _ in range(PER_USER):
            raw, status = await asyncio.to_thread(live_socket, port, token)
            held.append(raw)
            assert status == OPENED
        # The user is at the limit; one client hangs up without a word.
        held.pop().close()

        # Its place comes back once its handler has ended (a generous deadline: never a
        # timing assertion, only a bound on waiting for the condition).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:
            raw, status = await asyncio.to_thread(live_socket, port, token)
            if status == OPENED:
                held.append(raw)
                break
            raw.close()
            assert status == REFUSED, status
            assert loop.time() < deadline, "the gone client's place was never given back"
            await asyncio.sleep(0.1)

        log = service.log()
        assert "unhandled error" not in log, log
        assert "Traceback" not in log, log
    finally:
        for raw in held:
            raw.close()
        service.stop()
