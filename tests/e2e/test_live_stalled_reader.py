"""A live socket whose client stops reading (a frozen tab, a phone that lost its radio with the
connection still up, a hostile client keeping a socket open for nothing): the server's sends
wait for room in the connection, which never comes. The server must still end such a socket:
when its credential ends, and when its client stops answering pings (docs/live.md), and so
give back its place under the live limits."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from runtime.live_limits import PER_USER
from runtime.typedefs import HUB
from tests.e2e.conftest import Service, service_on_backend
from tests.e2e.helpers import seed_setup
from tests.e2e.raw_live import live_upgrade, read_until
from tests.e2e.test_live_credentials import open_live

TCP_CLOSE = 7  # tcpi_state of a connection the peer reset (linux/tcp_states.h)


def stalled_live_socket(port: int, token: str) -> socket.socket:
    """A WebSocket to /api/v1/live that reads up to the server's "caught_up" (live messages
    reach it from then on) and then nothing: its receive buffer small, so the server's sends
    fill it and wait."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    raw.sendall(live_upgrade(token))
    # A byte at a time: nothing past "caught_up" is taken out of the small buffer.
    answer = read_until(raw, b'"caught_up"', chunk=1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return raw


def tcp_state(raw: socket.socket) -> int:
    return raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


async def fill_until_stuck(service: Service, user_id: str) -> None:
    """Live messages for the user until the server's sends to the stalled socket wait: 8 MiB,
    beyond the most the kernel buffers for one connection (net.ipv4.tcp_wmem's 4 MiB here)
    and aiohttp's own 64 KiB (no compression: the client did not offer it)."""
    hub = service.client.app[HUB]
    for n in range(128):
        await hub.publish(user_id, {"type": "padding", "n": n, "data": "x" * 65536})
    await asyncio.sleep(1)  # the handler sends until the buffers are full, then waits


async def reset_by_server(raw: socket.socket, seconds: float = 20) -> bool:
    """Whether the server dropped the connection (RST) within `seconds`. Not a close: the
    client takes nothing, so a FIN behind the data it never reads would never reach it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if tcp_state(raw) == TCP_CLOSE:
            return True
        await asyncio.sleep(0.05)
    return False


async def stalled(service: Service, token: str) -> socket.socket:
    port = service.client.server.port
    assert port is not None
    # In a thread: the service answers on this loop.
    return await asyncio.to_thread(stalled_live_socket, port, token)


async def test_a_stalled_live_socket_ends_when_its_token_is_revoked(service: Service) -> None:
    seed = await seed_setup(service)
    raw = await stalled(service, seed.user_token)
    try:
        await fill_until_stuck(service, seed.user["id"])
        tokens = await seed.api.ok("GET", f"/api/v1/users/{seed.user['id']}/tokens")
        [token] = tokens["tokens"]
        await seed.api.ok("DELETE", f"/api/v1/users/{seed.user['id']}/tokens/{token['id']}",
                          status=204)
        assert await reset_by_server(raw), "the revoked token's socket is still open"
    finally:
        raw.close()


async def test_a_stalled_live_socket_that_stops_answering_pings_ends_and_gives_its_place_back(
        tmp_path: Path) -> None:
    async with service_on_backend("sqlite", tmp_path, live_heartbeat_seconds=0.5) as service:
        seed = await seed_setup(service)
        sockets = [await stalled(service, seed.user_token) for _ in range(PER_USER)]
        try:
            await fill_until_stuck(service, seed.user["id"])
            for raw in sockets:
                assert await reset_by_server(raw), "a socket that answers no ping is open"
            # Their places under the per-user limit are free again.
            await (await open_live(service, seed.user_token)).close()
        finally:
            for raw in sockets:
                raw.close()
