"""Who plays which recording (runtime/call_access.py): a tenant key any call of its tenant; a
user token only the calls that rang, were answered or ended at that user (they were notified),
or that are at an extension bound to them; any other call answers 404, as an unknown id does.
The console's player follows the same rule: tests/console/test_live_sessions.py.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Service
from tests.e2e.helpers import RECORD_BASE, SeedSetup, answer, end, record, seed_setup, start


async def recorded_calls(seed: SeedSetup) -> dict[str, str]:
    """c-1 rang at 101 (the seed's operator), c-2 at 102 (nobody's): provider id -> call id."""
    for payload in (start("c-1"), answer("c-1"), end("c-1"), record("c-1", record_id="r-1"),
                    start("c-2", dst="102"), end("c-2", "no_answer", dst="102"),
                    {**record("c-2", "no_answer", 5, record_id="r-2"), "dstPhone": "102"}):
        await seed.hook_ok(payload)
    calls = (await seed.api.ok("GET", "/api/v1/calls"))["calls"]
    return {c["provider_call_id"]: c["id"] for c in calls}


async def play(seed: SeedSetup, call_id: str, token: str | None) -> tuple[int, Any]:
    """(status, Location or JSON error) of playing with a user token, or the tenant key."""
    path = f"/api/v1/calls/{call_id}/recording"
    if token is None:
        response = await seed.api.get(path, allow_redirects=False)
    else:
        response = await seed.service.client.get(f"{path}?token={token}",
                                                 allow_redirects=False)
    if response.status == 302:
        return 302, response.headers["Location"]
    return response.status, (await response.json())


async def test_a_user_token_plays_only_that_users_calls(service: Service) -> None:
    seed = await seed_setup(service)
    calls = await recorded_calls(seed)
    ivan = await seed.api.ok("POST", "/api/v1/users", {"name": "ivan"}, status=201)
    ivan_token = (await seed.api.ok("POST", f"/api/v1/users/{ivan['id']}/tokens",
                                    status=201))["token"]

    # The tenant key plays every call of the tenant.
    assert await play(seed, calls["c-1"], None) == (302, f"{RECORD_BASE}/r-1")
    assert await play(seed, calls["c-2"], None) == (302, f"{RECORD_BASE}/r-2")
    # The operator at 101 plays the call that rang there, not the one at 102.
    assert await play(seed, calls["c-1"], seed.user_token) == (302, f"{RECORD_BASE}/r-1")
    status, body = await play(seed, calls["c-2"], seed.user_token)
    assert (status, body["error"]) == (404, "not_found")
    # Ivan was told of neither call: as if they did not exist, the JSON form included.
    for call_id in calls.values():
        status, body = await play(seed, call_id, ivan_token)
        assert (status, body["error"]) == (404, "not_found")
        json_form = await service.client.get(
            f"/api/v1/calls/{call_id}/recording?format=json",
            headers={"Authorization": f"Bearer {ivan_token}"})
        assert json_form.status == 404
    # Bound to 102 now, Ivan plays the calls at his extension (their recording included).
    await seed.api.ok("PATCH", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"102": ivan["id"]}})
    assert await play(seed, calls["c-2"], ivan_token) == (302, f"{RECORD_BASE}/r-2")
    status, _ = await play(seed, calls["c-1"], ivan_token)
    assert status == 404


async def test_a_user_who_was_notified_keeps_playing_after_the_binding_moves(
        service: Service) -> None:
    seed = await seed_setup(service)
    calls = await recorded_calls(seed)
    ivan = await seed.api.ok("POST", "/api/v1/users", {"name": "ivan"}, status=201)
    # 101 moves to Ivan: the seed's operator was notified of c-1, and still plays it.
    await seed.api.ok("PUT", f"/api/v1/modules/{seed.module['id']}/bindings",
                      {"bindings": {"101": ivan["id"]}})
    assert await play(seed, calls["c-1"], seed.user_token) == (302, f"{RECORD_BASE}/r-1")


async def test_a_tenant_key_in_the_url_is_refused_and_runs_nothing(service: Service) -> None:
    # `?token=` is documented for a user token (userTokenQuery); a tenant key there played
    # the recording too, putting the tenant's admin credential in access logs and histories.
    seed = await seed_setup(service)
    calls = await recorded_calls(seed)
    before = len((await seed.api.ok("GET", "/api/v1/executions"))["executions"])
    status, body = await play(seed, calls["c-1"], seed.api.secret)
    assert (status, body) == (401, {
        "error": "unauthorized", "message": "a tenant API key goes in the Authorization header, "
                                            "never in the URL (?token= takes a user token)"})
    assert len((await seed.api.ok("GET", "/api/v1/executions"))["executions"]) == before
    # In the header it plays; a user token in the URL still does.
    assert await play(seed, calls["c-1"], None) == (302, f"{RECORD_BASE}/r-1")
    assert await play(seed, calls["c-1"], seed.user_token) == (302, f"{RECORD_BASE}/r-1")


async def test_head_on_a_recording_is_405_and_runs_no_script(service: Service) -> None:
    """aiohttp answers HEAD on a GET route by running the GET: a link checker or a preview
    ran the module's VoipGetCallLink (its fetches, an execution row) for a body it never
    reads. Only GET plays."""
    seed = await seed_setup(service)
    calls = await recorded_calls(seed)
    before = (await seed.api.ok("GET", "/api/v1/executions"))["executions"]
    path = f"/api/v1/calls/{calls['c-1']}/recording"
    for query, headers in (("", {"Authorization": f"Bearer {seed.api.secret}"}),
                           (f"?token={seed.user_token}", {}),
                           ("?format=json", {"Authorization": f"Bearer {seed.api.secret}"})):
        response = await service.client.head(path + query, headers=headers,
                                              allow_redirects=False)
        assert (response.status, response.headers.get("Allow")) == (405, "GET"), query
    assert (await seed.api.ok("GET", "/api/v1/executions"))["executions"] == before
    assert await play(seed, calls["c-1"], None) == (302, f"{RECORD_BASE}/r-1")
