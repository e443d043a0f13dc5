"""A builder who writes Python's own spelling: the result constructors with snake_case keys,
which the contract accepts in every result (§2 names `fail_reason`, §4 `src_phone`), through
the service: the test connection's answer, and a webhook's stored call and record."""

from __future__ import annotations

from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup

SNAKE_CASE = '''def VoipParseWebhookRequest(request):
    data = request.json()
    record = VoipCallRecord(direction=VoipCallDirection.In,
                            disposition=VoipCallDisposition.NoAnswer,
                            src_phone=data["from"], dst_phone=data["to"], call_id=data["id"],
                            duration=0)
    end = VoipWebhookRequest(event=VoipWebhookEvent.NotifyEnd, direction="in",
                             disposition="no_answer", src_phone=data["from"],
                             dst_phone=data["to"], call_id=data["id"])
    return VoipWebhookParseResult(event=end, call_record=record)


def VoipTestConnection():
    return VoipTestConnectionResult(success=False, fail_reason="the API key was refused")
'''


async def test_snake_case_constructors_work_as_their_results_do(service: Service) -> None:
    seed = await seed_setup(service, script=SNAKE_CASE)
    tested = await seed.api.ok("POST", f"/api/v1/modules/{seed.module['id']}/test-connection")
    # It answered 502: TypeError "VoipTestConnectionResult() got an unknown key 'fail_reason'".
    assert (tested["success"], tested["failReason"]) == (False, "the API key was refused")
    await seed.hook_ok({"id": "s-1", "from": "+7 903 555-00-11", "to": "101"})
    [call] = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    assert (call["provider_call_id"], call["state"], call["disposition"]) == (
        "s-1", "ended", "no_answer")
    [contact] = (await seed.api.ok("GET", "/api/v1/contacts"))["contacts"]
    assert contact["phones"][0]["normalized"] == "+79035550011"
