"""Hostile JSON bodies on the API: nested as deeply as the parser allows, or sent before any
credential. Each is answered with its precise status, never a 500, never work for a stranger."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.json_body import MAX_PROBLEMS
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup


async def test_a_dry_run_request_nested_deeply_is_a_422(service: Service) -> None:
    seed = await seed_setup(service)
    deep = "[" * 700 + "]" * 700  # within the parser's depth, beyond what recursion had left
    response = await seed.api.request(
        "POST", f"/api/v1/modules/{seed.module['id']}/dry-run",
        data='{"request": {"headers": ' + deep + '}}',
        headers={"Content-Type": "application/json"})
    assert response.status == 422, await response.text()
    body = await response.json()
    assert body["error"] == "invalid"
    assert body["message"].startswith("request.headers")


async def test_originate_asks_for_a_credential_before_reading_the_body(service: Service) -> None:
    # Without one, the body was parsed and validated first: a stranger got its 422 (and could
    # make the service walk up to the API's body limit of crafted JSON).
    for headers in ({}, {"Authorization": "Bearer vrk_not_a_key"}):
        response = await service.client.post(
            "/api/v1/calls/originate", data='{"bogus": 1}',
            headers={"Content-Type": "application/json", **headers})
        assert response.status == 401, await response.text()
        assert (await response.json())["error"] == "unauthorized"


async def test_a_number_too_long_to_read_is_a_400_in_the_clients_terms(service: Service) -> None:
    # Python's own message reached the client: "Exceeds the limit (4300 digits) for integer
    # string conversion ...; use sys.set_int_max_str_digits() to increase the limit".
    _, api = await service.new_tenant()
    for number in ("9" * 5000, "-" + "9" * 5000):
        response = await api.request(
            "POST", "/api/v1/modules", data='{"name": "m", "settings": {"n": ' + number + "}}",
            headers={"Content-Type": "application/json"})
        assert response.status == 400, await response.text()
        assert await response.json() == {
            "error": "bad_json",
            "message": "the body is not valid JSON: a number of 5000 digits is too long"}
    assert (await api.ok("GET", "/api/v1/modules"))["modules"] == []


async def test_a_body_of_many_unknown_fields_lists_the_first_hundred(service: Service) -> None:
    # Each problem was compared with every one listed before it: a 2 MiB body of 170,000
    # unknown fields held the event loop for many minutes, and the answer listed them all.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    body = {f"field{n}": n for n in range(1500)}
    response = await api.request("PATCH", f"/api/v1/modules/{module['id']}", json=body)
    assert response.status == 422, await response.text()
    answer = await response.json()
    assert answer["error"] == "invalid"
    assert answer["message"].startswith("field0: is not a field of this request")
    assert [d["field"] for d in answer["details"]] == [f"field{n}" for n in range(MAX_PROBLEMS)]
    assert (await api.ok("GET", f"/api/v1/modules/{module['id']}"))["name"] == "m"


def many_values(values: int) -> str:
    return (f"(body): holds more than {values:,} values (object members and array items, at "
            "every depth), more than a valid body of this request holds")


@pytest.mark.parametrize(("method", "path", "body", "values"), [
    ("POST", "/api/v1/modules", {f"f{i}": 1 for i in range(150_000)}, 2_000),
    ("PATCH", "/api/v1/modules/{module}", {"settings": {f"s{i}": [1] for i in range(100_000)}},
     2_000),
    ("POST", "/api/v1/users", {"name": "u", "z": [1] * 690_000}, 2_000),
    ("POST", "/api/v1/contacts", {"name": "c", "phones": [1] * 690_000}, 2_000),
    ("POST", "/api/v1/contacts/bulk", {"contacts": [1] * 690_000}, 25_000),
    ("PUT", "/api/v1/modules/{module}/bindings", {"bindings": {f"m{i}": 1 for i in range(150_000)}},
     12_000),
], ids=["unknown-fields", "settings", "user", "contact", "bulk", "bindings"])
async def test_a_body_holding_more_values_than_a_valid_one_is_refused_by_their_count(
        service: Service, method: str, path: str, body: Any, values: int) -> None:
    # 2 MiB of JSON is 690,000 array items or 150,000 members, checked one by one in the
    # event loop every tenant's webhooks share and a dict made for each of their errors:
    # 1-2 s of that loop a request, for any tenant key sending them in a loop.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    response = await api.request(method, path.format(module=module["id"]), json=body)
    assert response.status == 422, await response.text()
    assert await response.json() == {
        "error": "invalid", "message": many_values(values),
        "details": [{"field": "(body)", "message": many_values(values)[len("(body): "):]}]}
    assert [m["name"] for m in (await api.ok("GET", "/api/v1/modules"))["modules"]] == ["m"]
    assert (await api.ok("GET", "/api/v1/contacts"))["contacts"] == []
    assert (await api.ok("GET", f"/api/v1/modules/{module['id']}/bindings"))["bindings"] == []


async def test_the_largest_valid_bodies_hold_fewer_values_than_their_count(
        service: Service) -> None:
    _, api = await service.new_tenant()
    contacts = [{"name": f"c{i}", "phones": [f"+7916{i:03d}{j:04d}" for j in range(20)]}
                for i in range(1000)]
    created = await api.ok("POST", "/api/v1/contacts/bulk", {"contacts": contacts}, status=201)
    assert created["created"] == 1000
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    user = await api.ok("POST", "/api/v1/users", {"name": "u"}, status=201)
    bindings = {str(100_000 + i): user["id"] for i in range(10_000)}
    bound = await api.ok("PUT", f"/api/v1/modules/{module['id']}/bindings",
                         {"bindings": bindings})
    assert len(bound["bindings"]) == 10_000
