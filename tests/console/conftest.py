"""Console tests: a real service on loopback (tests.e2e), signed in through the console's own
sign-in form, with its cookie and CSRF token as a browser would have them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer

from runtime.app import create_app
from runtime.store.reads import QueryReads
from tests.e2e.conftest import OPERATOR_TOKEN, Api, Service, service_config

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_META.search(html) or CSRF_FIELD.search(html)
    assert found, "no CSRF token on the page"
    return unescape(found.group(1))


@dataclass
class Browser:
    """A cookie-keeping HTTP client speaking to the console like a browser without scripts."""

    session: ClientSession
    base: str
    csrf: str = ""

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        return await self.session.get(self.base + path, **kwargs)

    async def page(self, path: str, status: int = 200) -> str:
        response = await self.get(path)
        text = await response.text()
        assert response.status == status, f"GET {path}: {response.status} {text[:500]}"
        if 'name="csrf-token"' in text:
            self.csrf = csrf_of(text)
        return text

    async def post_form(self, path: str, data: dict[str, Any] | list[tuple[str, str]],
                        *, csrf: bool = True, **kwargs: Any) -> ClientResponse:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            fields.append(("csrf_token", self.csrf))
        return await self.session.post(self.base + path, data=fields,
                                       allow_redirects=kwargs.pop("allow_redirects", False),
                                       **kwargs)

    async def post_json(self, path: str, body: Any, *, csrf: bool = True) -> ClientResponse:
        headers = {"Accept": "application/json", "Origin": self.base}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return await self.session.post(self.base + path, json=body, headers=headers)

    async def sign_in(self, credential: str) -> ClientResponse:
        form = await self.page("/console/sign-in")
        token = unescape(CSRF_FIELD.search(form).group(1))  # type: ignore[union-attr]
        response = await self.session.post(
            self.base + "/console/sign-in",
            data={"credential": credential, "csrf_token": token, "next": ""},
            allow_redirects=False)
        assert response.status == 303, await response.text()
        location = response.headers["Location"]
        await self.page(location)
        return response


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[Service, str]]:
    config = service_config(tmp_path)
    app = create_app(config, OPERATOR_TOKEN)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    base = str(client.make_url("")).rstrip("/")
    try:
        yield Service(client, config, Api(client, OPERATOR_TOKEN)), base
    finally:
        await client.close()


@pytest.fixture
async def browser(console: tuple[Service, str]) -> AsyncIterator[Browser]:
    _, base = console
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        yield Browser(session, base)


@contextmanager
def counting_reads(store: QueryReads, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[Counter[str]]:
    """The store's reads while the block runs, by query name (a page's reads counted)."""
    reads: Counter[str] = Counter()
    original = store._read

    async def counted(query: Any, *args: Any) -> Any:
        reads[query.__name__] += 1
        return await original(query, *args)

    with monkeypatch.context() as patch:
        patch.setattr(store, "_read", counted)
        yield reads
