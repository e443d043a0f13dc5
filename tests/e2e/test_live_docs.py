"""The Python client docs/live.md shows, run as written against a real service: it
follows an operator's notifications, and stops when its token is revoked."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from runtime.typedefs import HUB
from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, answer, seed_setup, start

LIVE_DOC = Path(__file__).resolve().parents[2] / "docs" / "live.md"


def documented_client() -> str:
    """The page's Python example, without its last line (which runs it forever)."""
    blocks = re.findall(r"```python\n(.*?)```", LIVE_DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "docs/live.md has one Python example"
    code = blocks[0]
    assert "asyncio.run(follow(" in code
    return code[:code.index("asyncio.run(follow(")]


async def eventually(condition: Any, what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"waited 10 s for {what}")


async def test_the_documented_client_follows_notifications_until_its_token_ends(
        service: Service) -> None:
    seed = await seed_setup(service)
    printed: list[str] = []
    namespace: dict[str, Any] = {"print": lambda *parts: printed.append(" ".join(map(str, parts)))}
    exec(compile(documented_client(), str(LIVE_DOC), "exec"), namespace)
    base = str(service.client.make_url("")).rstrip("/")
    follower = asyncio.create_task(namespace["follow"](base, seed.user_token))
    try:
        hub = service.client.app[HUB]
        await eventually(lambda: hub.connected_users() == 1, "the client to connect")
        await seed.hook_ok(start())
        await eventually(lambda: len(printed) >= 1, "the ringing notification")
        await seed.hook_ok(answer())
        await eventually(lambda: len(printed) >= 2, "the answered notification")
        assert printed == [f"ringing in {CLIENT}", f"answered in {CLIENT}"]
        # Revoking the token closes the socket with 4401, and the client stops for good.
        tokens = await seed.api.ok("GET", f"/api/v1/users/{seed.user['id']}/tokens")
        for token in tokens["tokens"]:
            await seed.api.ok("DELETE", f"/api/v1/users/{seed.user['id']}/tokens/{token['id']}",
                              status=204)
        await asyncio.wait_for(follower, 10)
        assert printed[-1] == "closed: 4401"
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def documented_number(pattern: str) -> int:
    """A limit as docs/live.md states it, so the page and the service cannot drift apart."""
    found = re.findall(pattern, LIVE_DOC.read_text(encoding="utf-8"))
    assert len(found) >= 1, f"docs/live.md no longer says {pattern}"
    assert len(set(found)) == 1, f"docs/live.md gives {pattern} as {found}"
    return int(found[0])


async def test_the_notification_page_limit_is_the_documented_one(service: Service) -> None:
    seed = await seed_setup(service)
    await seed.hook_ok(start())
    most = documented_number(r"`limit` up to (\d+)")
    auth = {"Authorization": f"Bearer {seed.user_token}"}
    page = await service.client.get(f"/api/v1/notifications?limit={most}", headers=auth)
    assert page.status == 200, await page.text()
    assert [item["kind"] for item in (await page.json())["notifications"]] == ["ringing"]
    over = await service.client.get(f"/api/v1/notifications?limit={most + 1}", headers=auth)
    assert over.status == 400
    assert (await over.json())["error"] == "bad_request"


def test_the_catch_up_limit_is_the_documented_one() -> None:
    from runtime.live_socket import CATCH_UP_LIMIT

    assert documented_number(r"(\d+) missed notifications come on the socket") == CATCH_UP_LIMIT
    assert documented_number(r"`\"missed\": true` \(at most (\d+)") == CATCH_UP_LIMIT
