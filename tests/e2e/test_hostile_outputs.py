"""What a hostile script hands back: results and logs whose JSON text is far larger than their
UTF-8 bytes. They are refused precisely, and the worker goes on serving."""

from __future__ import annotations

from tests.e2e.conftest import Service
from tests.e2e.helpers import upload

SCRIPT = '''
def VoipParseWebhookRequest(request):
    n = int(request.query.get("n", "0"))
    return {"response": {"status": 200, "headers": {}, "body": "\\x01" * n}}
'''


async def test_a_result_of_control_characters_is_refused_as_too_large(service: Service) -> None:
    # 1.5 MB of U+0001 is within the 2 MiB result limit as UTF-8, and 9 MB as JSON text (each
    # is "\\u0001"): more than a worker may send. The pool saw a protocol error and replaced
    # the worker; the tenant read "WorkerProtocolError".
    _tenant, api = await service.new_tenant("outputs")
    module = await api.ok("POST", "/api/v1/modules", {"name": "outputs"}, status=201)
    await upload(api, module["id"], SCRIPT)
    path = "/" + module["webhook_url"].split("://", 1)[1].split("/", 1)[1]

    response = await service.client.post(path + "?n=1500000", data="{}")
    assert response.status == 500
    execution = await api.ok("GET", "/api/v1/executions/" + (await response.json())["execution_id"])
    assert execution["error"]["type"] == "InvalidResult", execution["error"]
    assert execution["limit"] == "result"
    assert "bytes as JSON text (its strings escaped), more than the" in (
        execution["error"]["message"])

    served = await service.client.post(path + "?n=3", data="{}")
    assert served.status == 200
    assert await served.read() == b"\x01\x01\x01"
