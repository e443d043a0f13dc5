"""Live sockets are limited per user, per tenant and per node (runtime/live_limits.py), so one
tenant's sockets cannot take the connections everyone else needs (runtime/connection_budget.py
never closes a socket to make room)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from runtime.live_limits import PER_USER
from runtime.typedefs import LIVE_LIMITS
from tests.e2e.conftest import Service, service_on_backend
from tests.e2e.helpers import seed_setup
from tests.e2e.test_live_credentials import open_live


async def test_one_user_opens_at_most_the_per_user_limit_of_live_sockets(
        service: Service) -> None:
    seed = await seed_setup(service)
    sockets = [await open_live(service, seed.user_token) for _ in range(PER_USER)]

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await service.client.ws_connect(f"/api/v1/live?token={seed.user_token}")
    assert refused.value.status == 429
    assert refused.value.headers is not None and refused.value.headers["Retry-After"] == "10"
    async with service.client.get(f"/api/v1/live?token={seed.user_token}", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as response:
        assert response.status == 429
        body = await response.json()
    assert body["error"] == "too_many_sockets"
    assert f"this user has {PER_USER} live sockets open" in body["message"]

    # Another user of the tenant is not held back by this one's sockets.
    other = await seed.api.ok("POST", "/api/v1/users", {"name": "second"}, status=201)
    token = await seed.api.ok("POST", f"/api/v1/users/{other['id']}/tokens", status=201)
    other_socket = await open_live(service, token["token"])

    # A socket closed gives its place back.
    await sockets.pop().close()
    sockets.append(await open_live(service, seed.user_token))
    for socket in [*sockets, other_socket]:
        await socket.close()


async def test_a_silent_peer_is_dropped_by_the_heartbeat_and_its_place_freed(
        tmp_path: Path) -> None:
    """A peer gone without a word (no close, no reset) answers no ping: its socket is closed
    after a heartbeat and a half, and the place it held under the limits is given back."""
    async with service_on_backend("sqlite", tmp_path, live_heartbeat_seconds=1.0) as service:
        seed = await seed_setup(service)
        url = f"/api/v1/live?token={seed.user_token}"
        # autoping=False, and never read: nothing answers the server's pings.
        silent = [await service.client.ws_connect(url, autoping=False)
                  for _ in range(PER_USER)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await service.client.ws_connect(url)
        assert refused.value.status == 429
        limits = service.client.app[LIVE_LIMITS]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20  # generous: the machine is busy
        while limits.open_sockets:
            assert loop.time() < deadline, f"{limits.open_sockets} silent sockets stayed"
            await asyncio.sleep(0.1)
        # Every place is back, and each silent socket was closed by the server.
        assert limits.refusal(seed.tenant_id, seed.user["id"]) is None
        ended = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING,
                 aiohttp.WSMsgType.ERROR)
        for socket in silent:  # what it was sent before: hello, caught_up, pings; then the end
            while (message := await socket.receive(timeout=10)).type not in ended:
                assert message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING)
            await socket.close()
        # A peer that answers (aiohttp's client does while it reads, as browsers do) outlives
        # many pings.
        answering = await open_live(service, seed.user_token)
        reading = asyncio.ensure_future(answering.receive())
        await asyncio.sleep(3.5)  # three pings
        assert not reading.done() and limits.open_sockets == 1
        reading.cancel()
        await answering.close()
