"""Domain errors raised below the handlers are answered by what they mean, in the API and in
the console alike: a closed sandbox pool (the service is shutting down) is a 503 with
Retry-After, not a 500; a tenant over its limits a 429 with Retry-After."""

from __future__ import annotations

import asyncio
import json

from runtime.errors import ApiError, domain_error
from runtime.ratelimit import Refused
from runtime.store.errors import Conflict, NotFound, StoreClosed
from runtime.typedefs import LIMITER, POOL
from sandbox import PoolClosed
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup, start


def test_each_domain_error_has_its_answer() -> None:
    answers = {
        type(error).__name__: (answer.status, answer.code, answer.headers)
        for error in (Refused("webhook rate limit of 5/s exceeded", 2.2),
                      PoolClosed("the sandbox pool is closed"), StoreClosed(),
                      NotFound("version v_1 not found"), Conflict("a module of that name"))
        if (answer := domain_error(error)) is not None
    }
    assert answers == {
        "Refused": (429, "rate_limited", {"Retry-After": "3"}),
        "PoolClosed": (503, "unavailable", {"Retry-After": "5"}),
        "StoreClosed": (503, "unavailable", {"Retry-After": "5"}),
        "NotFound": (404, "not_found", {}),
        "Conflict": (409, "conflict", {}),
    }
    refused = domain_error(Refused("at most 4 executions at once", 1))
    assert refused is not None and refused.message == "at most 4 executions at once"
    api_error = ApiError(418, "teapot", "no")
    assert domain_error(api_error) is api_error
    assert domain_error(ValueError("a bug")) is None  # still a logged 500


async def test_a_closed_pool_is_503_in_the_api_the_console_and_webhooks(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    module = seed.module["id"]
    app = service.client.server.app
    assert app is not None
    await app[POOL].close()
    answers = [
        await seed.api.post(f"/api/v1/modules/{module}/dry-run", {}),
        await seed.api.post(f"/api/v1/modules/{module}/test-connection"),
        await seed.api.post("/api/v1/check", {"source": "x = 1\n"}),
        await seed.post_hook(start("c-1")),
        await browser.post_json(f"/console/modules/{module}/dry-run", {}),
    ]
    for response in answers:
        body = json.loads(await response.text())
        assert (response.status, body["error"]) == (503, "unavailable"), body
        assert response.headers["Retry-After"] == "5"
    page = await browser.post_form(f"/console/modules/{module}/test-connection", {})
    assert page.status == 200  # the module page, saying why the test could not run
    assert "shutting down" in await page.text()
    calls = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert calls == []  # the webhook was refused, not half-done: the provider retries


async def test_a_tenant_over_its_limits_is_429_in_the_console_too(
        console: tuple[Service, str], browser: Browser) -> None:
    service, _ = console
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    app = service.client.server.app
    assert app is not None
    app[LIMITER].concurrent = 0  # every run is over the tenant's concurrency limit
    module = seed.module["id"]
    api, console_answer = await asyncio.gather(
        seed.api.post(f"/api/v1/modules/{module}/dry-run", {}),
        browser.post_json(f"/console/modules/{module}/dry-run", {}))
    assert api.status == console_answer.status == 429
    assert await api.json() == await console_answer.json()
    assert api.headers["Retry-After"] == console_answer.headers["Retry-After"]
    page = await browser.post_form(f"/console/modules/{module}/test-connection", {})
    assert page.status == 200 and "at once" in await page.text()
