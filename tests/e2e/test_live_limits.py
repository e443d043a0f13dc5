"""Live sockets are limited per user, per tenant and per node (runtime/live_limits.py), so one
tenant's sockets cannot take the connections everyone else needs (runtime/connection_budget.py
never closes a socket to make room)."""

from __future__ import annotations

import aiohttp
import pytest

from runtime.live_limits import PER_USER
from tests.e2e.conftest import Service
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
