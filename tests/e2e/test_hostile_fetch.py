"""A hostile tenant's fetch(): what comes back from an allowed host reaches the script as a
response or a FetchError, whatever its bytes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.e2e.conftest import Service
from tests.e2e.helpers import serving, upload

FETCH_SCRIPT = '''
def VoipParseWebhookRequest(request):
    url = settings["url"]
    try:
        response = fetch(url)
    except FetchError as error:
        return {"response": HttpResponse().status(200).content({"fetch_error": str(error)})}
    text = response.text()
    return {"response": HttpResponse().content({"status": response.status, "chars": len(text)})}
'''


async def _module(service: Service, url: str) -> tuple[Any, dict[str, Any]]:
    _tenant, api = await service.new_tenant("fetcher")
    module = await api.ok("POST", "/api/v1/modules", {
        "name": "fetcher", "settings": {"url": url}, "allowlist": ["127.0.0.1"],
    }, status=201)
    await upload(api, module["id"], FETCH_SCRIPT)
    return api, module


async def test_a_binary_body_within_the_limit_reaches_the_script_or_is_a_fetch_error(
        service: Service) -> None:
    # 3 MiB of bytes that are not UTF-8 (a recording, an archive): within the 5 MiB limit.
    body = b"\xff" * (3 * 1024 * 1024)

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/octet-stream")

    async def text(_request: web.Request) -> web.Response:
        return web.Response(text="й" * 1024 * 1024)

    app = web.Application()
    app.router.add_get("/blob", handler)
    app.router.add_get("/text", text)
    async with serving(app) as base:
        _api, module = await _module(service, base + "/blob")
        response = await service.client.post(_hook_path(module), data="{}")
        assert response.status == 200, await response.text()
        error = (await response.json())["fetch_error"]
        # The worker's channel is intact: the next call, fetching 2 MiB of text, succeeds.
        await _api.ok("PATCH", f"/api/v1/modules/{module['id']}",
                      {"settings": {"url": base + "/text"}})
        response = await service.client.post(_hook_path(module), data="{}")
        assert response.status == 200, await response.text()
        assert await response.json() == {"status": 200, "chars": 1024 * 1024}
    # As text its 3 MiB are 9 MiB of U+FFFD, more than a worker reads in one message: the
    # script is told by a FetchError it can catch (it saw the channel's own ProtocolError).
    assert error.startswith("too large: the host's answer is 9437"), error
    assert "a script can receive" in error


def _hook_path(module: dict[str, Any]) -> str:
    return "/" + module["webhook_url"].split("://", 1)[1].split("/", 1)[1]


REQUEST_BOMB_SCRIPT = '''
def VoipParseWebhookRequest(request):
    kind = request.query.get("kind")
    try:
        if kind == "body":
            fetch(settings["url"], method="POST", body="x" * 9000000)
        elif kind == "url":
            fetch(settings["url"] + "?" + "x" * 9000000)
        elif kind == "headers":
            fetch(settings["url"], headers={"X-" + str(i): "v" * 1000 for i in range(9000)})
        else:
            return {"response": HttpResponse().content(fetch(settings["url"]).text())}
    except FetchError as error:
        return {"response": HttpResponse().content(str(error))}
    return {}
'''


async def test_a_fetch_request_larger_than_the_host_reads_is_a_fetch_error(
        service: Service) -> None:
    # A 9 MB body, URL or header set made a capability message the pool reads as a broken
    # worker: the call failed with WorkerProtocolError (nothing the script could catch) and the
    # tenant's worker was replaced.
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="fine")

    app = web.Application()
    app.router.add_route("*", "/page", page)
    async with serving(app) as base:
        api, module = await _module(service, base + "/page")
        await upload(api, module["id"], REQUEST_BOMB_SCRIPT)
        for kind in ("body", "url", "headers"):
            response = await service.client.post(_hook_path(module) + f"?kind={kind}", data="")
            assert response.status == 200, await response.text()
            text = await response.text()
            assert text.startswith("the request is 9"), (kind, text)
            assert text.endswith("bytes as JSON text, more than the 8388608 the host reads")
        response = await service.client.post(_hook_path(module) + "?kind=none", data="")
        assert await response.text() == "fine"
