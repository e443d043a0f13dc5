"""Click-to-call over the API rings once per `Idempotency-Key`: a client that sends
`POST /api/v1/calls/originate` again (its first answer was lost to a timeout, a dropped
connection, a retrying HTTP library) gets the first answer back and nothing rings a second
time, as the console's call forms do (tests/console/test_dial_once.py). Without the header
every request rings, as before."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Service
from tests.e2e.helpers import CLIENT, SEED_SCRIPT, SeedSetup, seed_setup
from tests.e2e.test_openapi import assert_conforms

SCRIPT = SEED_SCRIPT + """

def VoipGenerateCall(src_phone, dst_phone):
    log("calling", dst_phone, "from", src_phone)
"""
OTHER_NUMBER = "+79031112233"


async def dialled(seed: SeedSetup) -> list[str]:
    """The numbers the module was asked to call, oldest first (one execution each)."""
    listed = await seed.api.ok("GET", "/api/v1/executions?function=VoipGenerateCall")
    numbers = []
    for entry in reversed(listed["executions"]):
        execution = await seed.api.ok("GET", f"/api/v1/executions/{entry['id']}")
        numbers.append(execution["logs"].split()[1])
    return numbers


async def originate(seed: SeedSetup, number: str = CLIENT, key: str | None = None,
                    status: int = 202) -> tuple[dict[str, Any], str | None]:
    headers = {"Authorization": f"Bearer {seed.user_token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    response = await seed.service.client.post(
        "/api/v1/calls/originate", json={"module_id": seed.module["id"], "number": number},
        headers=headers)
    assert response.status == status, await response.text()
    document = await seed.api.ok("GET", "/api/v1/openapi.json")
    body = await assert_conforms(document, response)
    assert body is not None
    return body, response.headers.get("Idempotent-Replayed")


async def test_the_same_idempotency_key_rings_once(service: Service) -> None:
    seed = await seed_setup(service, "acme", script=SCRIPT)
    first, replayed = await originate(seed, key="order-1001-call")
    assert replayed is None
    again, replayed = await originate(seed, key="order-1001-call")
    assert again == first and replayed == "true"
    assert await dialled(seed) == [CLIENT]

    # Another key, or the same key for another call, is another call.
    await originate(seed, key="order-1002-call")
    await originate(seed, OTHER_NUMBER, key="order-1001-call")
    # Without the header every request rings.
    await originate(seed, OTHER_NUMBER)
    await originate(seed, OTHER_NUMBER)
    assert await dialled(seed) == [CLIENT, CLIENT, OTHER_NUMBER, OTHER_NUMBER, OTHER_NUMBER]

    # A tenant key calling for the same user is the same call: the key is the tenant's.
    response = await service.client.post(
        "/api/v1/calls/originate", json={"module_id": seed.module["id"], "number": CLIENT,
                                         "user_id": seed.user["id"]},
        headers={"Authorization": f"Bearer {seed.api.secret}",
                 "Idempotency-Key": "order-1001-call"})
    assert response.status == 202 and response.headers["Idempotent-Replayed"] == "true"
    assert await response.json() == first
    assert len(await dialled(seed)) == 5


async def test_a_key_of_another_tenant_is_not_shared(service: Service) -> None:
    acme = await seed_setup(service, "acme", script=SCRIPT)
    globex = await seed_setup(service, "globex", script=SCRIPT)
    await originate(acme, key="call-1")
    _, replayed = await originate(globex, key="call-1")
    assert replayed is None
    assert await dialled(globex) == [CLIENT]


async def test_a_failed_call_is_not_kept_so_trying_again_rings(service: Service) -> None:
    seed = await seed_setup(service, "acme", script=SCRIPT)
    module_id = seed.module["id"]
    await seed.api.ok("PUT", f"/api/v1/modules/{module_id}/bindings", {"bindings": {}})
    refused, _ = await originate(seed, key="call-1", status=409)
    assert refused["error"] == "no_extension"
    await seed.api.ok("PUT", f"/api/v1/modules/{module_id}/bindings",
                      {"bindings": {"101": seed.user["id"]}})
    _, replayed = await originate(seed, key="call-1")
    assert replayed is None and await dialled(seed) == [CLIENT]


async def test_a_malformed_idempotency_key_is_refused_before_anything_rings(
        service: Service) -> None:
    seed = await seed_setup(service, "acme", script=SCRIPT)
    for key in ("", "x" * 256, "two words", "ключ"):
        refused, _ = await originate(seed, key=key, status=400)
        assert refused["error"] == "bad_request"
        assert "Idempotency-Key" in refused["message"]
    assert await dialled(seed) == []
