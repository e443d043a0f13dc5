"""Modules over HTTP: validation, masked secrets, webhook URL and token rotation, deletion."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Api, Service

# A script that answers every webhook with its apiKey setting, so a test can see what the
# runtime really stored without the API ever showing the secret.
ECHO_SCRIPT = """
def VoipParseWebhookRequest(request):
    return {"response": HttpResponse().content(str(settings.get("apiKey")))}
"""

SECRET = "sk_live_0123456789ab"


async def new_module(api: Api, **fields: Any) -> Any:
    body = {"name": "crm", **fields}
    return await api.ok("POST", "/api/v1/modules", body, status=201)


async def hook_text(service: Service, module: dict[str, Any]) -> tuple[int, str]:
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json={})
    return response.status, await response.text()


async def test_create_with_defaults(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    assert module["id"].startswith("mod_")
    assert module["name"] == "crm"
    assert module["description"] == ""
    assert module["region"] == "RU"
    assert module["settings"] == {} and module["secrets"] == [] and module["allowlist"] == []
    assert module["active_version"] is None
    assert module["webhook_url"].startswith(service.config.base_url + "/hooks/")
    assert len(module["webhook_url"].rsplit("/", 1)[1]) >= 32
    assert await api.ok("GET", f"/api/v1/modules/{module['id']}") == module
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == [module]


async def test_create_with_every_field(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(
        api, description="Main PBX", region="de",
        settings={"apiKey": SECRET, "baseUrl": "https://pbx.example.com", "port": 8443,
                  "ratio": 0.5, "debug": True},
        secrets=["apiKey"], allowlist=["pbx.example.com", "*.example.org", "bücher.example"],
    )
    assert module["region"] == "DE"
    assert module["settings"] == {"apiKey": "••••ab", "baseUrl": "https://pbx.example.com",
                                  "port": 8443, "ratio": 0.5, "debug": True}
    assert module["allowlist"] == ["pbx.example.com", "*.example.org", "xn--bcher-kva.example"]


async def test_duplicate_name_is_a_conflict(service: Service) -> None:
    _, api = await service.new_tenant()
    await new_module(api)
    body = await api.ok("POST", "/api/v1/modules", {"name": "crm"}, status=409)
    assert body["error"] == "conflict"
    assert "crm" in body["message"]
    other = await new_module(api, name="other")
    body = await api.ok("PATCH", f"/api/v1/modules/{other['id']}", {"name": "crm"}, status=409)
    assert body["error"] == "conflict"


@pytest.mark.parametrize(("fields", "named"), [
    ({"settings": {"db": {"host": "x"}}}, "settings"),
    ({"settings": {"hosts": ["a", "b"]}}, "settings"),
    ({"settings": {"nothing": None}}, "settings"),
    ({"settings": {"apiKey": "x"}, "secrets": ["token"]}, "secrets"),
    ({"secrets": ["apiKey"]}, "secrets"),
    ({"region": "XX"}, "region"),
    ({"region": "Russia"}, "region"),
    ({"allowlist": ["https://api.example.com"]}, "scheme"),
    ({"allowlist": ["api.example.com/v1"]}, "path"),
    ({"allowlist": ["API.example.com"]}, "lowercase"),
    ({"allowlist": ["*.com"]}, "wildcard"),
    ({"allowlist": ["not a host"]}, "allowlist"),
    ({"allowlist": "api.example.com"}, "allowlist"),
    ({"name": ""}, "name"),
    ({"colour": "red"}, "colour"),
])
async def test_invalid_module_is_422_naming_the_problem(
    service: Service, fields: dict[str, Any], named: str
) -> None:
    _, api = await service.new_tenant()
    body = await api.ok("POST", "/api/v1/modules", {"name": "crm", **fields}, status=422)
    assert body["error"] == "invalid"
    assert named in body["message"]
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []


async def test_a_setting_that_is_not_flat_is_named_in_jsons_words(service: Service) -> None:
    # The message said "not dict", "not list", "not NoneType": Python's names for what the
    # client sent as JSON.
    _, api = await service.new_tenant()
    for value, kind in (({"host": "x"}, "an object"), (["a"], "an array"), (None, "null")):
        body = await api.ok("POST", "/api/v1/modules", {"name": "crm", "settings": {"db": value}},
                            status=422)
        said = ("setting 'db' must be a string, number or boolean (settings are a flat object), "
                f"not {kind}")
        assert body["message"] == f"settings: {said}", body
        assert body["details"] == [{"field": "settings", "message": said}], body
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []


async def test_secrets_are_masked_everywhere(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api, settings={"apiKey": SECRET, "pin": "1234", "n": 42},
                              secrets=["apiKey", "pin"])
    assert module["settings"] == {"apiKey": "••••ab", "pin": "••••••", "n": 42}
    for path in ("/api/v1/modules", f"/api/v1/modules/{module['id']}"):
        response = await api.get(path)
        text = await response.text()
        assert response.status == 200
        assert SECRET not in text and "1234" not in text
    patched = await api.ok("PATCH", f"/api/v1/modules/{module['id']}", {"description": "x"})
    assert patched["settings"]["apiKey"] == "••••ab"


async def test_round_trip_patch_keeps_secret_values(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api, settings={"apiKey": SECRET, "url": "https://a.example"},
                              secrets=["apiKey"])
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": ECHO_SCRIPT, "activate": True}, status=201)
    got = await api.ok("GET", f"/api/v1/modules/{module['id']}")
    settings = {**got["settings"], "url": "https://b.example"}
    patched = await api.ok("PATCH", f"/api/v1/modules/{module['id']}", {"settings": settings})
    assert patched["settings"] == {"apiKey": "••••ab", "url": "https://b.example"}
    assert await hook_text(service, module) == (200, SECRET)
    # A new value replaces the secret; the whole settings object is replaced.
    patched = await api.ok("PATCH", f"/api/v1/modules/{module['id']}",
                           {"settings": {"apiKey": "new-secret-value-99"}})
    assert patched["settings"] == {"apiKey": "••••99"}
    assert await hook_text(service, module) == (200, "new-secret-value-99")


async def test_patch_checks_secrets_against_the_resulting_settings(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api, settings={"apiKey": SECRET}, secrets=["apiKey"])
    path = f"/api/v1/modules/{module['id']}"
    body = await api.ok("PATCH", path, {"settings": {"other": "x"}}, status=422)
    assert "apiKey" in body["message"]
    both = await api.ok("PATCH", path, {"settings": {"other": "x"}, "secrets": []})
    assert both["settings"] == {"other": "x"} and both["secrets"] == []
    secret_now = await api.ok("PATCH", path, {"secrets": ["other"]})
    assert secret_now["settings"] == {"other": "••••••"}


async def test_patch_changes_only_what_is_sent(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api, description="old", allowlist=["a.example.com"])
    path = f"/api/v1/modules/{module['id']}"
    patched = await api.ok("PATCH", path, {"name": "renamed", "region": "BY",
                                           "allowlist": ["*.example.net"]})
    assert patched["name"] == "renamed" and patched["region"] == "BY"
    assert patched["allowlist"] == ["*.example.net"]
    assert patched["description"] == "old"
    assert patched["webhook_url"] == module["webhook_url"]
    assert patched["updated_at"] >= module["updated_at"]
    body = await api.ok("PATCH", path, {"webhook_token": "mine"}, status=422)
    assert "webhook_token" in body["message"]
    await api.ok("PATCH", "/api/v1/modules/mod_unknown", {"name": "x"}, status=404)


async def test_rotating_the_webhook_token_retires_the_old_url(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api, settings={"apiKey": SECRET})
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": ECHO_SCRIPT, "activate": True}, status=201)
    assert (await hook_text(service, module))[0] == 200
    rotated = await api.ok("POST", f"/api/v1/modules/{module['id']}/webhook-token")
    assert rotated["webhook_url"] != module["webhook_url"]
    assert (await hook_text(service, module))[0] == 404
    assert await hook_text(service, rotated) == (200, SECRET)
    await api.ok("POST", "/api/v1/modules/mod_unknown/webhook-token", status=404)


async def test_delete_module(service: Service) -> None:
    _, api = await service.new_tenant()
    module = await new_module(api)
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": ECHO_SCRIPT, "activate": True}, status=201)
    assert (await hook_text(service, module))[0] == 200
    await api.ok("DELETE", f"/api/v1/modules/{module['id']}", status=204)
    body = await api.ok("GET", f"/api/v1/modules/{module['id']}", status=404)
    assert body == {"error": "not_found", "message": "module not found"}
    assert (await hook_text(service, module))[0] == 404
    await api.ok("DELETE", f"/api/v1/modules/{module['id']}", status=404)
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []
    # The name is free again.
    await new_module(api)


async def test_module_list_pages_by_name(service: Service) -> None:
    _, api = await service.new_tenant()
    for name in ("b", "c", "a"):
        await new_module(api, name=name)
    names = [m["name"] for m in (await api.ok("GET", "/api/v1/modules"))["modules"]]
    assert names == ["a", "b", "c"]
    page = await api.ok("GET", "/api/v1/modules?limit=2&offset=1")
    assert [m["name"] for m in page["modules"]] == ["b", "c"]
    await api.ok("GET", "/api/v1/modules?limit=0", status=400)
