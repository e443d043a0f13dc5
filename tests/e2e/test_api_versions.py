"""Script versions over HTTP: checked before stored, activation, rollback, edit conflicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runtime.config import SandboxConfig
from tests.e2e.conftest import Api, Service, service_on_backend


def answering(text: str) -> str:
    """A valid script whose webhook answer is `text`, to see which version is live."""
    return ("def VoipParseWebhookRequest(request):\n"
            f"    return {{'response': HttpResponse().content({text!r})}}\n")


COMPILE_ERROR = "def VoipParseWebhookRequest(request):\n    return request.__class__\n"


async def new_module(api: Api) -> Any:
    return await api.ok("POST", "/api/v1/modules", {"name": "crm"}, status=201)


async def upload(api: Api, module: dict[str, Any], source: str, status: int = 201,
                 **fields: Any) -> Any:
    return await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                        {"source": source, **fields}, status=status)


async def versions(api: Api, module: dict[str, Any]) -> list[Any]:
    body = await api.ok("GET", f"/api/v1/modules/{module['id']}/versions")
    result: list[Any] = body["versions"]
    return result


async def live_answer(service: Service, module: dict[str, Any]) -> str:
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json={})
    assert response.status == 200
    return await response.text()


async def test_compile_error_is_422_with_its_line_and_nothing_stored(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    body = await upload(api, module, COMPILE_ERROR, status=422)
    assert body["error"] == "invalid_script"
    assert body["message"].startswith("line 2:")
    assert "__class__" in body["message"]
    assert body["problems"][0]["line"] == 2
    assert await versions(api, module) == []


async def test_every_problem_is_listed(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    source = ("import os\n"
              "def VoipParseWebhookRequest(request):\n"
              "    return request._secret\n")
    body = await upload(api, module, source, status=422)
    assert [p["line"] for p in body["problems"]] == [1, 3]
    assert body["message"].startswith("line 1:")


async def test_missing_parse_function_is_422(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    body = await upload(api, module, "def helper():\n    return 1\n", status=422)
    assert body["error"] == "invalid_script"
    assert "VoipParseWebhookRequest" in body["message"]
    assert len(body["problems"]) == 1
    assert await versions(api, module) == []


async def test_async_def_is_refused_with_advice(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    body = await upload(api, module,
                        "async def VoipParseWebhookRequest(request):\n    return None\n",
                        status=422)
    assert body["problems"][0]["line"] == 1
    assert "def" in body["message"]


async def test_source_over_64_kib_is_422(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    padding = "# " + "я" * 33_000 + "\n"  # 2 bytes each in UTF-8: over 64 KiB, under 64 K chars
    body = await upload(api, module, padding + answering("x"), status=422)
    assert body["error"] == "invalid_script"
    assert "65536" in body["message"]
    assert await versions(api, module) == []


async def test_upload_without_activating(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    [key] = (await api.ok("GET", "/api/v1/keys"))["keys"]
    version = await upload(api, module, answering("one"))
    assert set(version) >= {"id", "number", "sha256", "created_at", "created_by_key_id",
                            "base_version_id", "active"}
    assert "source" not in version
    assert version["number"] == 1 and version["active"] is False
    assert version["created_by_key_id"] == key["id"]
    assert len(version["sha256"]) == 64
    got = await api.ok("GET", f"/api/v1/modules/{module['id']}")
    assert got["active_version"] is None
    one = await api.ok("GET", f"/api/v1/modules/{module['id']}/versions/{version['id']}")
    assert one["source"] == answering("one")
    # No active script yet: the webhook says so.
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json={})
    assert response.status == 503


async def test_activate_and_rollback(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    v1 = await upload(api, module, answering("one"), activate=True)
    assert v1["active"] is True
    assert await live_answer(service, module) == "one"
    v2 = await upload(api, module, answering("two"), activate=True, base_version_id=v1["id"])
    assert v2["number"] == 2 and v2["base_version_id"] == v1["id"]
    assert await live_answer(service, module) == "two"
    listed = await versions(api, module)
    assert [(v["number"], v["active"]) for v in listed] == [(2, True), (1, False)]
    assert all("source" not in v for v in listed)

    rolled = await api.ok("POST", f"/api/v1/modules/{module['id']}/rollback")
    assert rolled["active_version"] == {"id": v1["id"], "number": 1}
    assert await live_answer(service, module) == "one"
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/rollback", status=409)
    assert body["error"] == "conflict"

    activated = await api.ok("POST",
                             f"/api/v1/modules/{module['id']}/versions/{v2['id']}/activate")
    assert activated["active_version"] == {"id": v2["id"], "number": 2}
    assert await live_answer(service, module) == "two"


async def test_rollback_without_versions_is_409(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/rollback", status=409)
    assert body["error"] == "conflict"
    await api.ok("POST", "/api/v1/modules/mod_unknown/rollback", status=404)


async def test_activate_unknown_or_other_modules_version_is_404(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    other = await api.ok("POST", "/api/v1/modules", {"name": "other"}, status=201)
    theirs = await upload(api, other, answering("other"))
    path = f"/api/v1/modules/{module['id']}/versions"
    await api.ok("POST", f"{path}/{theirs['id']}/activate", status=404)
    await api.ok("POST", f"{path}/ver_unknown/activate", status=404)
    await api.ok("GET", f"{path}/{theirs['id']}", status=404)


async def test_stale_base_version_is_a_conflict_and_not_stored(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    v1 = await upload(api, module, answering("one"), activate=True)
    # Two people edit v1; the first one to activate wins, the second is told.
    await upload(api, module, answering("alice"), activate=True, base_version_id=v1["id"])
    body = await upload(api, module, answering("bob"), status=409, activate=True,
                        base_version_id=v1["id"])
    assert body["error"] == "conflict"
    assert v1["id"] in body["message"]
    assert [v["number"] for v in await versions(api, module)] == [2, 1]
    assert await live_answer(service, module) == "alice"
    # Without activating, an edit of an older version is kept as a draft.
    draft = await upload(api, module, answering("bob"), base_version_id=v1["id"])
    assert draft["number"] == 3 and draft["active"] is False


async def test_unknown_base_version_is_404(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    for activate in (False, True):
        body = await upload(api, module, answering("x"), status=404, base_version_id="ver_nope",
                            activate=activate)
        assert "ver_nope" in body["message"]
    assert await versions(api, module) == []


async def test_version_body_is_validated(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    body = await upload(api, module, answering("x"), status=422, activated=True)
    assert "activated" in body["message"]
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/versions", {}, status=422)
    assert body["message"].startswith("source:")
    await upload(api, {"id": "mod_unknown"}, answering("x"), status=404)


async def test_check_stores_nothing(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    assert await api.ok("POST", "/api/v1/check", {"source": answering("x")}) == {"ok": True}
    body = await api.ok("POST", "/api/v1/check", {"source": COMPILE_ERROR}, status=422)
    assert body["error"] == "invalid_script"
    assert body["problems"][0]["line"] == 2
    body = await api.ok("POST", "/api/v1/check", {"source": "x = 1\n"}, status=422)
    assert "VoipParseWebhookRequest" in body["message"]
    assert await versions(api, module) == []


async def test_each_tenants_checks_are_scheduled_as_a_group_of_their_own(
        service: Service, monkeypatch: Any) -> None:
    # The pool's fairness (and the yield gate) work per group: if every tenant's checks shared
    # one group, one tenant's slow checks would make everyone's uploads wait.
    from runtime.typedefs import POOL

    pool = service.client.app[POOL]
    groups: list[str] = []
    real_check = pool.check

    async def spy(source: str, **kwargs: Any) -> Any:
        groups.append(kwargs.get("group", ""))
        return await real_check(source, **kwargs)

    monkeypatch.setattr(pool, "check", spy)
    a_id, a = await service.new_tenant("a")
    b_id, b = await service.new_tenant("b")
    await a.ok("POST", "/api/v1/check", {"source": answering("x")})
    module = await new_module(b)
    await b.ok("POST", f"/api/v1/modules/{module['id']}/versions",
               {"source": answering("y")}, status=201)
    assert groups == [f"check:{a_id}", f"check:{b_id}"]


async def test_checks_past_the_tenants_budget_of_checks_are_429_not_a_script_problem(
        tmp_path: Path) -> None:
    """Each check starts a sandbox worker, charged to the tenant's own budget of checks
    (sandbox.check_burst, checks_per_minute): past it, a 429 with Retry-After, and the
    tenant's other work and another tenant's checks go on."""
    sandbox = SandboxConfig(workers=2, check_burst=2, checks_per_minute=1)
    async with service_on_backend("sqlite", tmp_path, sandbox=sandbox) as service:
        _, api = await service.new_tenant()
        module = await new_module(api)
        source = {"source": answering("x")}
        for _ in range(2):
            assert await api.ok("POST", "/api/v1/check", source) == {"ok": True}
        response = await api.post("/api/v1/check", source)
        body = await response.json()
        assert response.status == 429, body
        assert body["error"] == "rate_limited"
        assert "script checks started sandbox workers too often" in body["message"]
        assert "sandbox.check_burst" in body["message"]
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        # An upload checks too: refused alike, and nothing is stored.
        await upload(api, module, answering("x"), status=429)
        assert await versions(api, module) == []
        _, other = await service.new_tenant("other")
        assert await other.ok("POST", "/api/v1/check", source) == {"ok": True}
