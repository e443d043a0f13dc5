"""Who may call what: 401 without the right credential; another tenant's ids are 404.

The isolation test gives tenant A one of everything, then tries every tenant endpoint with
tenant B's key and A's ids: each must answer 404, as if A's records did not exist, leave them
unchanged, and B's lists must never show them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import WSServerHandshakeError
from multidict import CIMultiDict

from tests.e2e.conftest import (
    SEED_SCRIPT,
    Api,
    Service,
    service_on_backend,
)
from tests.e2e.helpers import seed_setup, start

M, V, U, C, CALL, E, T = "mod_x", "ver_x", "usr_x", "con_x", "call_x", "exe_x", "utk_x"

# Every tenant endpoint, with a body good enough to get past validation.
TENANT_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/keys", None),
    ("DELETE", "/api/v1/keys/key_x", None),
    ("POST", "/api/v1/modules", {"name": "m"}),
    ("GET", "/api/v1/modules", None),
    ("GET", f"/api/v1/modules/{M}", None),
    ("PATCH", f"/api/v1/modules/{M}", {"description": "x"}),
    ("DELETE", f"/api/v1/modules/{M}", None),
    ("POST", f"/api/v1/modules/{M}/webhook-token", None),
    ("POST", f"/api/v1/modules/{M}/versions", {"source": SEED_SCRIPT}),
    ("GET", f"/api/v1/modules/{M}/versions", None),
    ("GET", f"/api/v1/modules/{M}/versions/{V}", None),
    ("POST", f"/api/v1/modules/{M}/versions/{V}/activate", None),
    ("POST", f"/api/v1/modules/{M}/rollback", None),
    ("POST", "/api/v1/check", {"source": SEED_SCRIPT}),
    ("POST", "/api/v1/users", {"name": "u"}),
    ("GET", "/api/v1/users", None),
    ("GET", f"/api/v1/users/{U}", None),
    ("POST", f"/api/v1/users/{U}/tokens", None),
    ("GET", f"/api/v1/users/{U}/tokens", None),
    ("DELETE", f"/api/v1/users/{U}/tokens/{T}", None),
    ("DELETE", f"/api/v1/users/{U}", None),
    ("GET", f"/api/v1/modules/{M}/bindings", None),
    ("PUT", f"/api/v1/modules/{M}/bindings", {"bindings": {"101": U}}),
    ("PATCH", f"/api/v1/modules/{M}/bindings", {"bindings": {"101": None}}),
    ("POST", "/api/v1/contacts", {"name": "c", "phones": ["+79161234567"]}),
    ("POST", "/api/v1/contacts/bulk", {"contacts": [{"name": "c", "phones": []}]}),
    ("GET", "/api/v1/contacts", None),
    ("GET", "/api/v1/contacts?phone=89161234567", None),
    ("GET", f"/api/v1/contacts/{C}", None),
    ("GET", f"/api/v1/contacts/{C}/activity", None),
    ("PATCH", f"/api/v1/contacts/{C}", {"name": "x", "phones": ["+79031112233"]}),
    ("POST", f"/api/v1/contacts/{C}/merge", {"contact_id": "con_y"}),
    ("DELETE", f"/api/v1/contacts/{C}", None),
    ("GET", "/api/v1/calls", None),
    ("GET", f"/api/v1/calls/{CALL}", None),
    ("GET", "/api/v1/executions", None),
    ("GET", f"/api/v1/executions/{E}", None),
]

OPERATOR_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/tenants", {"name": "t"}),
    ("GET", "/api/v1/tenants", None),
    ("GET", "/api/v1/tenants/ten_x", None),
    ("POST", "/api/v1/tenants/ten_x/keys", None),
    ("DELETE", "/api/v1/tenants/ten_x", None),
    ("DELETE", "/api/v1/tenants/ten_x?dry_run=true", None),
]


async def assert_401(api: Api, method: str, path: str, body: Any) -> None:
    response = await api.request(method, path, json=body)
    assert response.status == 401, f"{method} {path}: {response.status} {await response.text()}"
    assert (await response.json())["error"] == "unauthorized"


@pytest.mark.parametrize("credential", ["none", "bogus", "operator", "user"])
async def test_tenant_endpoints_need_a_tenant_key(service: Service, credential: str) -> None:
    _, api = await service.new_tenant()
    user = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    secret = {"none": None, "bogus": "vrk_not_a_real_key", "operator": service.operator.secret,
              "user": token["token"]}[credential]
    for method, path, body in TENANT_ENDPOINTS:
        await assert_401(service.api(secret), method, path, body)


async def test_malformed_authorization_header_is_401(service: Service) -> None:
    _, api = await service.new_tenant()
    for header in ("Basic abc", "Bearer", api.secret or ""):
        response = await service.client.get("/api/v1/modules", headers={"Authorization": header})
        assert response.status == 401, header


async def test_two_authorization_headers_are_400_not_the_first_one(service: Service) -> None:
    """Which credential a request with two meant is not for the service to guess: the API,
    the live endpoints and the console answer 400; a webhook's headers stay the script's."""
    seed = await seed_setup(service)
    key, token = seed.api.secret or "", seed.user_token
    two = [(f"Bearer {key}", "Bearer vrk_someone_else"), ("Bearer vrk_x", f"Bearer {key}")]
    for first, second in two:
        headers = CIMultiDict([("Authorization", first), ("Authorization", second)])
        for path in ("/api/v1/modules", "/console/", "/console/modules"):
            response = await service.client.get(path, headers=headers, allow_redirects=False)
            assert response.status == 400, (path, await response.text())
            body = await response.json()
            assert body["error"] == "ambiguous_credentials", body
            assert "Authorization" in body["message"]
    users = CIMultiDict([("Authorization", f"Bearer {token}"),
                         ("Authorization", f"Bearer {token}")])
    notifications = await service.client.get("/api/v1/notifications", headers=users)
    assert notifications.status == 400
    with pytest.raises(WSServerHandshakeError) as refused:
        await service.client.ws_connect("/api/v1/live", headers=users)
    assert refused.value.status == 400
    hook = await service.client.post(seed.hook_path, data=json.dumps(start()), headers=CIMultiDict(
        [("Content-Type", "application/json"), ("Authorization", "Basic a"),
         ("Authorization", "Basic b")]))
    assert hook.status == 200, await hook.text()


@pytest.mark.parametrize("credential", ["none", "bogus", "tenant"])
async def test_operator_endpoints_need_the_operator_token(service: Service,
                                                          credential: str) -> None:
    _, api = await service.new_tenant()
    secret = {"none": None, "bogus": "op_wrong", "tenant": api.secret}[credential]
    for method, path, body in OPERATOR_ENDPOINTS:
        await assert_401(service.api(secret), method, path, body)


async def one_of_everything(service: Service, api: Api) -> dict[str, Any]:
    module = await api.ok("POST", "/api/v1/modules",
                          {"name": "pbx", "settings": {"apiKey": "secret-value-xyz"},
                           "secrets": ["apiKey"]}, status=201)
    v1 = await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                      {"source": SEED_SCRIPT, "activate": True}, status=201)
    v2 = await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                      {"source": SEED_SCRIPT + "\n"}, status=201)
    user = await api.ok("POST", "/api/v1/users", {"name": "Anna"}, status=201)
    token = await api.ok("POST", f"/api/v1/users/{user['id']}/tokens", status=201)
    await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                 {"bindings": {"101": user["id"]}})
    contact = await api.ok("POST", "/api/v1/contacts",
                           {"name": "Olga", "phones": ["+79161234567"]}, status=201)
    response = await service.client.post(urlsplit(module["webhook_url"]).path, json={
        "type": "start", "callId": "c-1", "srcPhone": "+79161234567", "dstPhone": "101"})
    assert response.status == 200
    [call] = (await api.ok("GET", "/api/v1/calls"))["calls"]
    [execution] = (await api.ok("GET", "/api/v1/executions"))["executions"]
    [key] = (await api.ok("GET", "/api/v1/keys"))["keys"]
    module = await api.ok("GET", f"/api/v1/modules/{module['id']}")
    return {"module": module, "v1": v1, "v2": v2, "user": user, "token": token,
            "contact": contact, "call": call, "execution": execution, "key": key}


async def test_tenants_never_see_each_other(either: Service) -> None:
    service = either
    _, a = await service.new_tenant("a")
    _, b = await service.new_tenant("b")
    mine = await one_of_everything(service, a)
    await one_of_everything(service, b)  # B has records of its own, with the same names
    m, u = mine["module"]["id"], mine["user"]["id"]
    own_module = (await b.ok("GET", "/api/v1/modules"))["modules"][0]["id"]
    own_user = (await b.ok("GET", "/api/v1/users"))["users"][0]["id"]
    own_contact_id = (await b.ok("GET", "/api/v1/contacts"))["contacts"][0]["id"]
    ids = {M: m, V: mine["v2"]["id"], U: u, C: mine["contact"]["id"],
           CALL: mine["call"]["id"], E: mine["execution"]["id"], "key_x": mine["key"]["id"],
           T: mine["token"]["id"]}

    def theirs(path: str) -> str:
        for marker, real in ids.items():  # M, V, U... in TENANT_ENDPOINTS name A's records
            path = path.replace(marker, real)
        return path

    foreign = [(method, theirs(path), body) for method, path, body in TENANT_ENDPOINTS
               if theirs(path) != path]
    foreign += [
        ("GET", f"/api/v1/calls?module_id={m}", None),
        ("GET", f"/api/v1/executions?module_id={m}", None),
        # A's ids inside B's own module or body.
        ("GET", f"/api/v1/modules/{own_module}/versions/{mine['v1']['id']}", None),
        ("POST", f"/api/v1/modules/{own_module}/versions/{mine['v1']['id']}/activate", None),
        ("POST", f"/api/v1/modules/{own_module}/versions",
         {"source": SEED_SCRIPT, "base_version_id": mine["v1"]["id"]}),
        ("POST", f"/api/v1/modules/{own_module}/versions",
         {"source": SEED_SCRIPT, "base_version_id": mine["v1"]["id"], "activate": True}),
        ("PUT", f"/api/v1/modules/{own_module}/bindings", {"bindings": {"101": u}}),
        ("PATCH", f"/api/v1/modules/{own_module}/bindings", {"bindings": {"102": u}}),
        # A's token under B's own user.
        ("DELETE", f"/api/v1/users/{own_user}/tokens/{mine['token']['id']}", None),
        # A's contact merged into B's own.
        ("POST", f"/api/v1/contacts/{own_contact_id}/merge",
         {"contact_id": mine["contact"]["id"]}),
    ]
    assert len(foreign) >= 25
    for method, path, body in foreign:
        answer = await b.ok(method, path, body, status=404)
        assert answer["error"] == "not_found", (method, path, answer)

    # Nothing of A changed, and A's credentials and webhook still work.
    assert await a.ok("GET", f"/api/v1/modules/{m}") == mine["module"]
    assert mine["module"]["active_version"] == {"id": mine["v1"]["id"], "number": 1}
    assert len((await a.ok("GET", f"/api/v1/modules/{m}/versions"))["versions"]) == 2
    assert (await a.ok("GET", f"/api/v1/modules/{m}/bindings"))["bindings"][0]["user_id"] == u
    assert (await a.ok("GET", "/api/v1/keys"))["keys"][0]["revoked_at"] is None
    await service.api(mine["token"]["token"]).ok("GET", "/api/v1/notifications")
    assert await a.ok("GET", f"/api/v1/users/{u}") == mine["user"]
    assert await a.ok("GET", f"/api/v1/contacts/{mine['contact']['id']}") == mine["contact"]
    [token] = (await a.ok("GET", f"/api/v1/users/{u}/tokens"))["tokens"]
    assert token["id"] == mine["token"]["id"] and token["revoked_at"] is None
    response = await service.client.post(urlsplit(mine["module"]["webhook_url"]).path,
                                         json={"type": "bogus"})
    assert response.status == 400

    # B's lists hold only B's records.
    a_ids = {mine[k]["id"] for k in ("module", "user", "contact", "call", "execution", "key")}
    for path, field in [("/api/v1/modules", "modules"), ("/api/v1/users", "users"),
                        ("/api/v1/contacts", "contacts"), ("/api/v1/calls", "calls"),
                        ("/api/v1/executions", "executions"), ("/api/v1/keys", "keys"),
                        ("/api/v1/contacts?phone=89161234567", "contacts"),
                        ("/api/v1/calls?phone=89161234567", "calls")]:
        listed = (await b.ok("GET", path))[field]
        assert listed, path
        assert not a_ids & {item["id"] for item in listed}, path
    [own_contact] = (await b.ok("GET", "/api/v1/contacts?phone=89161234567"))["contacts"]
    assert own_contact["id"] != mine["contact"]["id"]


# --- Generated from the published document: every operation, every id it takes. ---

# A parameter or body field named `<kind>_id` (or ending so, as base_version_id) takes that
# kind's id; the fixture below holds one of each kind per tenant.
ID_KINDS = ("module", "version", "user", "contact", "call", "execution", "key", "token")
NO_SUCH = {"module": "mod_", "version": "ver_", "user": "usr_", "contact": "con_",
           "call": "call_", "execution": "exe_", "key": "key_", "token": "utk_"}

BODIES_WITHOUT_EXAMPLE: dict[str, dict[str, Any]] = {
    "ContactPatch": {"name": "x"},
    "MergeBody": {"contact_id": "con_x"},
}


@pytest.fixture(params=["sqlite", "postgres"])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    """The service on each storage backend: isolation is the store's queries' doing."""
    async with service_on_backend(request.param, tmp_path) as service:
        yield service


def kind_of(name: str) -> str | None:
    for kind in ID_KINDS:
        if name == f"{kind}_id" or name.endswith(f"_{kind}_id"):
            return kind
    return None


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def tenant_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation a tenant key or a user token may call, as (method, path, operation)."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            schemes = {name for entry in operation.get("security", []) for name in entry}
            if schemes & {"tenantKey", "userToken"}:
                found.append((method.upper(), path, operation))
    return found


def example_body(operation: dict[str, Any], document: dict[str, Any]) -> dict[str, Any] | None:
    content = (operation.get("requestBody") or {}).get("content", {})
    if "application/json" not in content:
        return None
    reference = content["application/json"]["schema"].get("$ref", "")
    schema = resolve(content["application/json"]["schema"], document)
    if not schema.get("examples"):
        # A body the document gives no example of: one here, or the new route is not covered.
        return dict(BODIES_WITHOUT_EXAMPLE[reference.rsplit("/", 1)[-1]])
    return dict(schema["examples"][0])


def body_id_fields(operation: dict[str, Any], document: dict[str, Any]) -> list[str]:
    content = (operation.get("requestBody") or {}).get("content", {})
    if "application/json" not in content:
        return []
    schema = resolve(content["application/json"]["schema"], document)
    return [name for name in schema.get("properties", {}) if kind_of(name)]


def fill(path: str, ids: dict[str, str]) -> str:
    for kind, value in ids.items():
        path = path.replace(f"{{{kind}_id}}", value)
    return path


async def full_house(service: Service, api: Api) -> dict[str, str]:
    """One of everything (module, two versions, user, token, binding, contact, call,
    execution, key), by kind."""
    made = await one_of_everything(service, api)
    return {"module": made["module"]["id"], "version": made["v2"]["id"],
            "user": made["user"]["id"], "contact": made["contact"]["id"],
            "call": made["call"]["id"], "execution": made["execution"]["id"],
            "key": made["key"]["id"], "token": made["token"]["id"],
            "user_token": made["token"]["token"]}


async def two_houses(service: Service) -> tuple[Api, dict[str, str], dict[str, str],
                                                dict[str, Any]]:
    """Tenants A and B, each with one of everything: B's key, A's ids, B's ids, and the
    API's document."""
    _, a = await service.new_tenant("a")
    _, b = await service.new_tenant("b")
    theirs = await full_house(service, a)
    mine = await full_house(service, b)
    document = await (await service.client.get("/api/v1/openapi.json")).json()
    return b, theirs, mine, document


async def not_found_answer(api: Api, method: str, path: str, body: Any,
                           foreign: str, made_up: str) -> None:
    """`path`/`body` naming A's record answers exactly as naming a record that never existed."""
    response = await api.request(method, path, json=body)
    text = await response.text()
    ghost_path = path.replace(foreign, made_up)
    ghost_body = None if body is None else {
        k: (made_up if v == foreign else v) for k, v in body.items()}
    ghost = await api.request(method, ghost_path, json=ghost_body)
    # A user token naming any user but its own is refused before any lookup (403), for a
    # real id as for a made-up one; everything else is the 404 of a record that never was.
    # A list's filter may instead answer an empty page, as for an id that does not exist.
    refusals = (403, 404) if "?" not in path else (200, 404)
    assert response.status in refusals, f"{method} {path} {body}: {response.status} {text}"
    # The message may echo the id asked for, and nothing else differs.
    seen = json.loads(text.replace(foreign, made_up))
    assert (response.status, seen) == (ghost.status, await ghost.json()), (method, path, body)


async def test_every_documented_id_of_another_tenant_is_not_found(either: Service) -> None:
    service = either
    b, theirs, mine, document = await two_houses(service)
    b_user = service.api(mine["user_token"])
    # A route naming a record of a new kind must extend ID_KINDS (and full_house), or it would
    # go unchecked here.
    for _, path, operation in tenant_operations(document):
        for param in operation.get("parameters", []):
            assert param["in"] != "path" or kind_of(param["name"]), (path, param["name"])
    checked = 0
    for method, path, operation in tenant_operations(document):
        params = [p for p in operation.get("parameters", []) if kind_of(p["name"])]
        schemes = {name for entry in operation.get("security", []) for name in entry}
        callers = [b] + ([b_user] if "userToken" in schemes else [])
        for caller in callers:
            # A's id in each path or query parameter, B's own in the others.
            for param in params:
                kind = kind_of(param["name"])
                assert kind is not None
                ids = dict(mine) | {kind: theirs[kind]}
                url = fill(path, ids if param["in"] == "path" else mine)
                if param["in"] == "query":
                    url += f"?{param['name']}={theirs[kind]}"
                body = example_body(operation, document)
                if body is not None:
                    body = {k: (mine[kind_of(k) or ""] if kind_of(k) else v)
                            for k, v in body.items()}
                made_up = NO_SUCH[kind] + "0" * 26
                await not_found_answer(caller, method, url, body, theirs[kind], made_up)
                checked += 1
            # A's id in each id field of the body, B's own everywhere else.
            for field in body_id_fields(operation, document):
                kind = kind_of(field)
                assert kind is not None
                body = example_body(operation, document) or {}
                body = {k: (mine[kind_of(k) or ""] if kind_of(k) else v)
                        for k, v in body.items()} | {field: theirs[kind]}
                made_up = NO_SUCH[kind] + "0" * 26
                await not_found_answer(caller, method, fill(path, mine), body,
                                       theirs[kind], made_up)
                checked += 1
    # A user token in the query (for links a page opens, as a recording's): same answers.
    for method, path, operation in tenant_operations(document):
        if "userTokenQuery" not in credential_sets(document, operation):
            continue
        for param in operation.get("parameters", []):
            kind = kind_of(param["name"])
            if kind is None or param["in"] != "path":
                continue
            url = fill(path, dict(mine) | {kind: theirs[kind]})
            made_up = NO_SUCH[kind] + "0" * 26
            query = f"?token={mine['user_token']}"
            seen = await service.client.request(method, url + query)
            never = await service.client.request(method, url.replace(theirs[kind], made_up)
                                                 + query)
            assert seen.status == never.status == 404, (url, seen.status, never.status)
            assert json.loads((await seen.text()).replace(theirs[kind], made_up)) == \
                await never.json(), url
            checked += 1
    assert checked >= 40


async def test_ids_of_the_wrong_kind_are_not_found(either: Service) -> None:
    """B's own call id where a contact id is expected (and every other mix-up): 404."""
    service = either
    _, b = await service.new_tenant("b")
    mine = await full_house(service, b)
    document = await (await service.client.get("/api/v1/openapi.json")).json()
    checked = 0
    for method, path, operation in tenant_operations(document):
        for param in operation.get("parameters", []):
            kind = kind_of(param["name"])
            if kind is None or param["in"] != "path":
                continue
            for other in ID_KINDS:
                if other == kind:
                    continue
                url = fill(path, dict(mine) | {kind: mine[other]})
                body = example_body(operation, document)
                if body is not None:
                    body = {k: (mine[kind_of(k) or ""] if kind_of(k) else v)
                            for k, v in body.items()}
                made_up = NO_SUCH[kind] + "0" * 26
                response = await b.request(method, url, json=body)
                text = await response.text()
                assert response.status == 404, f"{method} {url}: {response.status} {text}"
                ghost = await b.request(method, fill(path, dict(mine) | {kind: made_up}),
                                        json=body)
                assert ghost.status == 404
                assert json.loads(text.replace(mine[other], made_up)) == await ghost.json() \
                    or json.loads(text) == await ghost.json(), (method, url)
                checked += 1
        # And in each id field of the body (a call id as a merge's contact_id, ...).
        for field in body_id_fields(operation, document):
            kind = kind_of(field)
            assert kind is not None
            for other in ID_KINDS:
                if other == kind:
                    continue
                base = {k: (mine[kind_of(k) or ""] if kind_of(k) else v)
                        for k, v in (example_body(operation, document) or {}).items()}
                made_up = NO_SUCH[kind] + "0" * 26
                response = await b.request(method, fill(path, mine),
                                           json=base | {field: mine[other]})
                ghost = await b.request(method, fill(path, mine), json=base | {field: made_up})
                text = await response.text()
                assert response.status == ghost.status, (method, path, field, other, text)
                assert ghost.status in (403, 404), (method, path, field, ghost.status)
                assert json.loads(text.replace(mine[other], made_up)) == await ghost.json(), (
                    method, path, field, other)
                checked += 1
    assert checked >= 100
    # Nothing of B's was touched by the mix-ups.
    assert (await b.ok("GET", f"/api/v1/modules/{mine['module']}"))["id"] == mine["module"]
    assert (await b.ok("GET", f"/api/v1/contacts/{mine['contact']}"))["id"] == mine["contact"]
    [token] = (await b.ok("GET", f"/api/v1/users/{mine['user']}/tokens"))["tokens"]
    assert token["revoked_at"] is None


def credential_sets(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    return {name for entry in operation.get("security", []) for name in entry}


async def test_dead_credentials_are_refused_everywhere(either: Service) -> None:
    """A revoked key, a deleted user's token, a revoked token, a deleted tenant's key and
    token, and a user token on a route for tenant keys only: 401 on every documented
    operation, and nothing changes."""
    service = either
    _, b = await service.new_tenant("b")
    mine = await full_house(service, b)
    spare = await b.ok("POST", "/api/v1/users", {"name": "Gone"}, status=201)
    gone = await b.ok("POST", f"/api/v1/users/{spare['id']}/tokens", status=201)
    revoked = await b.ok("POST", f"/api/v1/users/{mine['user']}/tokens", status=201)
    await b.ok("DELETE", f"/api/v1/users/{mine['user']}/tokens/{revoked['id']}", status=204)
    await b.ok("DELETE", f"/api/v1/users/{spare['id']}", status=204)
    _, dead_key_api = await service.new_tenant("c")
    [dead_key] = (await dead_key_api.ok("GET", "/api/v1/keys"))["keys"]
    await dead_key_api.ok("DELETE", f"/api/v1/keys/{dead_key['id']}", status=204)
    gone_tenant, gone_api = await service.new_tenant("d")
    gone_user = await gone_api.ok("POST", "/api/v1/users", {"name": "D"}, status=201)
    gone_token = await gone_api.ok("POST", f"/api/v1/users/{gone_user['id']}/tokens",
                                   status=201)
    await service.operator.ok("DELETE", f"/api/v1/tenants/{gone_tenant}")
    document = await (await service.client.get("/api/v1/openapi.json")).json()
    dead = {"deleted user's token": gone["token"], "revoked token": revoked["token"],
            "revoked key": dead_key_api.secret, "deleted tenant's key": gone_api.secret,
            "deleted tenant's user token": gone_token["token"]}
    checked = 0
    for method, path, operation in tenant_operations(document):
        url = fill(path, mine)
        body = example_body(operation, document)
        if body is not None:
            body = {k: (mine[kind_of(k) or ""] if kind_of(k) else v) for k, v in body.items()}
        secrets = dict(dead)
        if "userToken" not in credential_sets(document, operation):
            secrets["live user token on a tenant-key route"] = mine["user_token"]
        for what, secret in secrets.items():
            response = await service.api(secret).request(method, url, json=body)
            text = await response.text()
            assert response.status == 401, f"{what}: {method} {url}: {response.status} {text}"
            checked += 1
    assert checked >= 100
    assert (await b.ok("GET", f"/api/v1/modules/{mine['module']}"))["id"] == mine["module"]


async def test_no_read_of_b_shows_anything_of_a(either: Service) -> None:
    """Both tenants with the same names and phone numbers: every documented read B may make
    (with its key and its user's token, on its own ids) holds not one of A's ids."""
    service = either
    b, theirs, mine, document = await two_houses(service)
    secrets = {"tenantKey": b.secret, "userToken": mine["user_token"]}
    checked = 0
    for method, path, operation in tenant_operations(document):
        if method != "GET":
            continue
        for scheme in credential_sets(document, operation) & set(secrets):
            response = await service.api(secrets[scheme]).request("GET", fill(path, mine))
            # (the call here has no recording: its 404 must not name A's either)
            assert response.status == 200 or path.endswith("/recording"), (
                path, scheme, response.status)
            text = await response.text()
            for kind in ID_KINDS:
                assert theirs[kind] not in text, (path, scheme, kind)
            checked += 1
    assert checked >= 15
