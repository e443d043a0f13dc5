"""Results of a million values within the 2 MiB result limit: the worker refuses them by their
containers' lengths (the service would check each value in the event loop every tenant
shares, and parse and store them there), and the service refuses what a worker hands over
beyond the same counts (tests/runtime/test_contract.py).

`[1] * 1_000_000` from VoipGetMembers held the service's event loop for 8 s ("[0]: must be a
dict (got int 1) (and 999999 more problems)": pydantic made a dict for each of the million
errors), and a webhook returning 150,000 unknown keys for 3 s: every tenant's webhooks waited,
and the pool, its loop held, took its busy workers for hung ones (/healthz 503). The tenant
reads why in the answer and the execution log; the module goes on serving. With the worker's
count alone, 150,000 keys still cost the event loop about a second (reading 2 MiB of JSON off
the pipe, then writing it into the execution row).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime.config import SandboxConfig
from tests.e2e.conftest import Service, service_on_backend
from tests.e2e.helpers import upload

SCRIPT = '''
def VoipParseWebhookRequest(request):
    n = int(request.query.get("n", "0"))
    if request.query.get("kind") == "call":
        return {"callRecord": {"direction": "in", "disposition": "answered", "srcPhone": "1",
                               "dstPhone": "2", "duration": 1, "call": [1] * n}}
    return {"key" + str(i): 1 for i in range(n)}


def VoipGetMembers():
    n = int(settings["n"])
    if settings.get("valid"):
        return [{"id": str(i)} for i in range(n)]
    return [1] * n
'''


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    # Megabytes out of a worker: on a loaded machine that can take more than a webhook's 2 s,
    # which is not what these tests are about.
    sandbox = SandboxConfig(workers=2, webhook_wall_seconds=60, other_wall_seconds=60)
    async with service_on_backend("sqlite", tmp_path, sandbox=sandbox) as service:
        yield service


async def test_a_members_list_of_a_million_values_is_refused_by_its_length(
        service: Service) -> None:
    _tenant, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules",
                          {"name": "m", "settings": {"n": 1_000_000}}, status=201)
    await upload(api, module["id"], SCRIPT)

    refused = await api.post(f"/api/v1/modules/{module['id']}/load-members")
    answer = await refused.json()
    assert refused.status == 502, answer
    message = ("the result holds more than 60,000 values (dict keys and list items, at every "
               "depth); a valid one holds far fewer")
    execution = await api.ok("GET", "/api/v1/executions/" + answer["details"]["execution_id"])
    assert execution["error"] == {"type": "InvalidResult", "message": message, "line": None}
    assert execution["limit"] == "result"
    assert execution["result"] is None

    # More members than a bindings table holds, within the values: refused by their number.
    await api.ok("PATCH", f"/api/v1/modules/{module['id']}",
                 {"settings": {"n": 20_001, "valid": True}})
    refused = await api.post(f"/api/v1/modules/{module['id']}/load-members")
    answer = await refused.json()
    assert refused.status == 502, answer
    assert answer["details"]["error"]["message"] == (
        "VoipGetMembers returned an invalid result: holds 20,001 members: at most 20,000 (as "
        "many as a module's bindings table holds); return the accounts users are bound to")

    # A list of that many members is what a module's bindings table holds: loaded.
    await api.ok("PATCH", f"/api/v1/modules/{module['id']}",
                 {"settings": {"n": 20_000, "valid": True}})
    loaded = await api.ok("POST", f"/api/v1/modules/{module['id']}/load-members")
    assert len(loaded["members"]) == 20_000
    assert loaded["members"][-1] == {"id": "19999", "user_id": None}


@pytest.mark.parametrize(("query", "what"), [
    ("n=150000", "150,000 unknown keys"),
    ("kind=call&n=1000000", "call data of a million items"),
], ids=["keys", "call-data"])
async def test_a_parse_result_of_too_many_values_is_refused_by_their_count(
        service: Service, query: str, what: str) -> None:
    _tenant, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await upload(api, module["id"], SCRIPT)
    path = "/" + module["webhook_url"].split("://", 1)[1].split("/", 1)[1]

    response = await service.client.post(f"{path}?{query}", data="{}")
    assert response.status == 500, what
    execution = await api.ok("GET", "/api/v1/executions/"
                             + (await response.json())["execution_id"])
    assert execution["error"] == {
        "type": "InvalidResult", "line": None,
        "message": "the result holds more than 10,000 values (dict keys and list items, at every "
                   "depth); a valid one holds far fewer"}, what
    assert execution["limit"] == "result"
    assert execution["result"] is None

    served = await service.client.post(f"{path}?n=0", data="{}")
    assert served.status == 200
