"""What a builder's upload is refused for, as the service answers it: the line and the reason
(contract §2, §3: "refused at upload when the code shows it")."""

from __future__ import annotations

from tests.e2e.conftest import Service

GENERATOR_CALL = '''def VoipParseWebhookRequest(request):
    return {}


def VoipGenerateCall(src_phone, dst_phone):
    for number in (dst_phone, "8" + dst_phone[1:]):
        yield fetch("https://api.example.com/call?from=" + src_phone + "&to=" + number)
'''

LISTED_MEMBERS = '''def listed(function):
    def wrapper(*args):
        return list(function(*args))
    return wrapper


def VoipParseWebhookRequest(request):
    return {}


@listed
def VoipGetMembers():
    for extension in ("101", "102"):
        yield {"id": extension}
'''


async def test_a_contract_function_that_yields_is_refused_at_upload(service: Service) -> None:
    # Called, a generator function runs none of its body: this click-to-call answered 202
    # "placed" and rang no one, with nothing in the log.
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    body = await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                        {"source": GENERATOR_CALL, "activate": True}, status=422)
    assert body["error"] == "invalid_script"
    assert body["problems"] == [{"line": 7, "message": (
        "VoipGenerateCall is a generator function because of this yield, so the platform "
        "would get a generator and none of its body would run; return the result instead")}]
    listed = await api.ok("GET", f"/api/v1/modules/{module['id']}/versions")
    assert listed["versions"] == []

    # A decorator that consumes the generator makes an ordinary function of it.
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": LISTED_MEMBERS, "activate": True}, status=201)
    members = await api.ok("POST", f"/api/v1/modules/{module['id']}/load-members")
    assert [m["id"] for m in members["members"]] == ["101", "102"]
