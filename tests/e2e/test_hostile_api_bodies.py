"""Hostile JSON bodies on the API: nested as deeply as the parser allows, or sent before any
credential. Each is answered with its precise status, never a 500, never work for a stranger."""

from __future__ import annotations

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
    body = {f"field{n}": n for n in range(5000)}
    response = await api.request("PATCH", f"/api/v1/modules/{module['id']}", json=body)
    assert response.status == 422, await response.text()
    answer = await response.json()
    assert answer["error"] == "invalid"
    assert answer["message"].startswith("field0: is not a field of this request")
    assert [d["field"] for d in answer["details"]] == [f"field{n}" for n in range(MAX_PROBLEMS)]
    assert (await api.ok("GET", f"/api/v1/modules/{module['id']}"))["name"] == "m"
