"""A live socket's client that goes without a close frame (a tab killed, a network gone, a
hostile client hanging up), on the real service: its event loop is uvloop's, whose transports
differ from asyncio's where the in-process test service cannot see it (runtime/live_send.py).

The handler must end quietly and give its place back: it ended in an unhandled error
(`ValueError: negative file descriptor`, a traceback in the service's log for every such
client), so anyone holding a user token could fill the log with tracebacks."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path

import aiohttp

from runtime.live_limits import PER_USER
from tests.e2e.service_process import ServiceProcess, call_json, seed_tenant

OPENED = 101
REFUSED = 429


def live_socket(port: int, token: str) -> tuple[socket.socket, int]:
    """A WebSocket to /api/v1/live, read up to "caught_up" when it opened; and the answer's
    status (101 opened, 429 over the per-user limit)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall((f"GET /api/v1/live?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += _more(raw, answer)
    status = int(answer.split(b" ", 2)[1])
    while status == OPENED and b'"caught_up"' not in answer:
        answer += _more(raw, answer)
    return raw, status


def _more(raw: socket.socket, so_far: bytes) -> bytes:
    """The next bytes; the service closing the connection first fails the test (an empty
    read would otherwise be read again forever)."""
    data = raw.recv(4096)
    assert data, f"the service closed the connection after {so_far[:300]!r}"
    return data


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
