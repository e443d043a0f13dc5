"""A tenant may be allowed more than 500 modules (tenant_limits.max_modules), and more than 500
users (max_users is 10,000). The console's pages read the first 500 of each: the modules past
them were not on the modules list, their calls had no module name, an operator bound in one of
them saw none of its calls, and a call menu's line named a user past the first 500 by id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.config import TenantLimitsConfig
from runtime.store.models import NewModule
from runtime.typedefs import STORE
from tests.console.conftest import Browser
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config
from tests.e2e.helpers import record, seed_setup


@pytest.fixture
async def roomy(tmp_path: Path) -> AsyncIterator[tuple[Service, str]]:
    config = service_config(tmp_path, tenant_limits=TenantLimitsConfig(max_modules=1_000))
    client = TestClient(TestServer(create_app(config, OPERATOR_TOKEN), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN)), \
            str(client.make_url("")).rstrip("/")
    finally:
        await client.close()


async def test_modules_and_users_past_the_first_500_are_on_the_pages(
        roomy: tuple[Service, str]) -> None:
    service, base = roomy
    seed = await seed_setup(service)  # module "seed-json", user "operator" bound at 101
    store = service.client.app[STORE]
    for n in range(500):  # all before the seed's module and user by name
        await store.create_module(seed.tenant_id, NewModule(name=f"a-{n:03}", region="RU"))
        await store.create_user(seed.tenant_id, f"a-{n:03}")
    await seed.hook_ok(record("at-101"))  # a call at the operator's extension

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        operator = Browser(session, base)
        await operator.sign_in(seed.user_token)
        calls = unescape(await operator.page("/console/calls"))
        assert "No calls." not in calls
        assert "seed-json" in calls

    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        builder = Browser(session, base)
        await builder.sign_in(seed.api.secret or "")
        assert f'href="/console/modules/{seed.module["id"]}"' in await builder.page(
            "/console/modules")
        calls = unescape(await builder.page("/console/calls"))
        assert "seed-json: operator (101)" in calls, calls


async def test_the_module_page_says_where_to_bind_users_past_its_menus(
        roomy: tuple[Service, str]) -> None:
    """The module page's user menus list the first 500 users by name: it said each "lists
    every user", and a user past them could not be chosen there. The page says so and where
    to bind them (their own page, which can bind any extension of any module)."""
    service, base = roomy
    seed = await seed_setup(service)
    store = service.client.app[STORE]
    for n in range(501):
        await store.create_user(seed.tenant_id, f"a-{n:03}")
    last = await store.create_user(seed.tenant_id, "zz-last")
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        builder = Browser(session, base)
        await builder.sign_in(seed.api.secret or "")
        html = unescape(await builder.page(f"/console/modules/{seed.module['id']}"))
        assert "zz-last" not in html
        assert "list the first 500 users by name" in html
        assert "bind the extension from their page" in html
        user_page = await builder.page(f"/console/users/{last.id}")
        bound = await builder.post_form(f"/console/users/{last.id}/bindings",
                                        {"module_id": seed.module["id"], "member_id": "777"})
        assert bound.status == 303, await bound.text()
        assert "seed-json" in user_page
    bindings = await seed.api.ok("GET", f"/api/v1/modules/{seed.module['id']}/bindings")
    assert {"member_id": "777", "user_id": last.id}.items() <= next(
        b for b in bindings["bindings"] if b["member_id"] == "777").items()
