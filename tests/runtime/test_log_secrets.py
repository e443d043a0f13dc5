"""What the service's log says of a request that failed: never a credential from its path."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from runtime.errors import json_errors
from runtime.logs import path_for_log

TOKEN = "Zk3vQ9xL0aBcDeFgHiJkLmNoPqRsTuVwXyZ012345678"


def test_path_for_log_keeps_the_first_characters_of_a_webhook_token_only() -> None:
    assert path_for_log(f"/hooks/{TOKEN}") == "/hooks/Zk3v…"
    assert path_for_log(f"/hooks/{TOKEN}/events/call") == "/hooks/Zk3v…/events/call"
    assert path_for_log("/api/v1/modules/mod_1") == "/api/v1/modules/mod_1"


async def test_an_unhandled_error_on_a_webhook_is_logged_without_its_token(
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/hooks/{token}/{rest:.*}", broken)
    async with TestClient(TestServer(app)) as client:
        with caplog.at_level(logging.ERROR):
            response = await client.post(f"/hooks/{TOKEN}/end")
        assert response.status == 500
        assert await response.json() == {"error": "internal",
                                         "message": "internal server error"}
    assert "unhandled error on POST /hooks/Zk3v…/end" in caplog.text
    assert TOKEN not in caplog.text
