"""A stop waits for requests in flight up to its grace period (runtime/server.shutdown_grace),
once: aiohttp waits its `shutdown_timeout` for a handler, then, having only failed the
request's body, as long again for the same handler, so a stuck request held the stop twice
the grace. Meanwhile new connections are refused.

(What finishes within the grace is answered and stored: tests/e2e/test_shutdown.py.)"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from runtime.app import create_app
from runtime.bodies import read_body
from runtime.config import SandboxConfig
from runtime.server import listening, shutdown_grace
from tests.e2e import raw_http
from tests.e2e.conftest import OPERATOR_TOKEN, service_config
from tests.e2e.test_http_edge import read_until_closed

# aiohttp rounds a wait over 5 s up to a whole second of the loop's clock: at most that much
# past the grace, and the loaded machine's own slowness (the old code took twice the grace:
# at least 11 s for the short grace of 5.5 s, 30 s for the default 15 s).
MARGIN_SECONDS = 4.0


async def refused_while(stop: asyncio.Future[None], port: int) -> bool:
    """Whether a new connection is refused before `stop` is done."""
    while not stop.done():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
        except ConnectionError:  # refused (or reset while the listener closes)
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("wall", [0.5, None], ids=["short", "default"])
async def test_a_stuck_request_holds_the_stop_no_longer_than_the_grace(
        tmp_path: Path, wall: float | None) -> None:
    walls = {} if wall is None else {"webhook_wall_seconds": wall, "other_wall_seconds": wall}
    config = service_config(tmp_path, sandbox=SandboxConfig(workers=1, **walls))
    grace = shutdown_grace(config)
    loop = asyncio.get_running_loop()
    began = asyncio.Event()
    cut_at: list[float] = []

    async def stuck(request: web.Request) -> web.Response:
        # What never ends by itself (a store that stopped answering, say).
        began.set()
        try:
            await asyncio.Event().wait()
        finally:
            cut_at.append(loop.time())
        raise AssertionError("unreachable")

    app = create_app(config, OPERATOR_TOKEN)
    app.router.add_get("/test/stuck", stuck)
    async with aiohttp.ClientSession() as session, AsyncExitStack() as stack:
        port = await stack.enter_async_context(listening(app, config, host="127.0.0.1",
                                                         port=0))
        request = asyncio.ensure_future(session.get(f"http://127.0.0.1:{port}/test/stuck"))
        await asyncio.wait_for(began.wait(), 30)

        stopping = loop.time()
        stop = asyncio.ensure_future(stack.aclose())
        refused = await refused_while(stop, port)
        await asyncio.wait_for(asyncio.shield(stop), 4 * grace)
        stopped = loop.time()
        try:
            response = await request
        except aiohttp.ClientError:
            pass  # cut off without an answer: nothing was acknowledged
        else:
            assert response.status >= 500

    assert refused, "a new connection was accepted while stopping"
    assert cut_at, "the stuck request was never cut off"
    assert stopped - stopping <= grace + MARGIN_SECONDS, (stopped - stopping, grace)


async def test_an_answer_given_while_stopping_says_the_connection_closes(
        tmp_path: Path) -> None:
    """A keep-alive client would otherwise send its next request on a connection about to
    close, and lose it unanswered: the answer finished during the stop says
    `Connection: close`."""
    config = service_config(tmp_path, sandbox=SandboxConfig(workers=1))
    began, release = asyncio.Event(), asyncio.Event()

    async def held(request: web.Request) -> web.Response:
        began.set()
        await release.wait()
        return web.json_response({"held": True})

    app = create_app(config, OPERATOR_TOKEN)
    app.router.add_get("/test/held", held)
    async with AsyncExitStack() as stack:
        port = await stack.enter_async_context(listening(app, config, host="127.0.0.1",
                                                         port=0))
        reader, writer = await raw_http.connect(port)
        writer.write(b"GET /test/held HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # keep-alive
        await writer.drain()
        await asyncio.wait_for(began.wait(), 30)
        stop = asyncio.ensure_future(stack.aclose())
        assert await refused_while(stop, port)  # the stop has begun
        release.set()
        received = await asyncio.wait_for(read_until_closed(reader), 30)
        writer.close()
        await asyncio.wait_for(asyncio.shield(stop), 60)
    response = raw_http.parse_response(received)
    assert response.status == 200 and response.json() == {"held": True}
    assert response.headers.get("connection", "").lower() == "close", response.headers


async def test_a_body_still_arriving_halfway_through_the_stop_is_refused_503(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """aiohttp fails the body of a request still receiving it halfway through the stop: the
    request is answered 503 with Retry-After (nothing was acknowledged), not dropped without
    an answer."""
    config = service_config(tmp_path, sandbox=SandboxConfig(
        workers=1, webhook_wall_seconds=0.5, other_wall_seconds=0.5))
    began = asyncio.Event()

    async def upload(request: web.Request) -> web.Response:
        began.set()
        body = await read_body(request, 1024)
        return web.json_response({"size": len(body)})

    app = create_app(config, OPERATOR_TOKEN)
    app.router.add_post("/test/upload", upload)
    async with AsyncExitStack() as stack:
        port = await stack.enter_async_context(listening(app, config, host="127.0.0.1",
                                                         port=0))
        reader, writer = await raw_http.connect(port)
        writer.write(raw_http.head("POST", "/test/upload", [("Content-Length", "10")]) + b"12")
        await writer.drain()
        await asyncio.wait_for(began.wait(), 30)
        stop = asyncio.ensure_future(stack.aclose())
        received = await asyncio.wait_for(read_until_closed(reader), 60)
        writer.close()
        await asyncio.wait_for(asyncio.shield(stop), 60)
    assert received, "the request was dropped without an answer"
    response = raw_http.parse_response(received)
    assert response.status == 503, response.text
    assert response.json()["error"] == "unavailable"
    assert response.headers["retry-after"] == "5"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
