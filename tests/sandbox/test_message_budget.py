"""A worker's message is counted before the pool parses it (sandbox/message_budget.py): a
breached worker's 8 MiB of nested empty lists is refused unparsed, as a protocol violation, and
the largest messages an honest worker sends still pass."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sandbox import Call, Limits, SandboxPool
from sandbox.injected import FETCH_BODY_MAX_BYTES, STORAGE_VALUE_MAX_BYTES
from sandbox.limits import MEMBERS_RESULT_VALUES, RESULT_VALUES
from sandbox.message_budget import CAPABILITY_BUDGET, FETCH_BODY_BYTES, over_budget
from sandbox.protocol import MAX_MESSAGE_BYTES, encode, encode_outcome
from tests.sandbox.probe_worker import PROBE_ENTRY, probe

LIMITS = Limits(wall_seconds=30, cpu_seconds=10)

# Writes one line of 8 MiB (less than the largest message the pool reads) holding millions of
# empty lists, straight onto the pipe, as the outcome of the call it is running.
FLOOD = (
    "import os\n"
    "from sandbox.forkserver import WORKER_OUT_FD\n"
    "head = b'{\"type\":\"outcome\",\"id\":' + str(args[0]).encode()\n"
    "head += b',\"outcome\":{\"ok\":true,'\n"
    "head += b'\"duration_ms\":1.0,\"cpu_ms\":1.0,\"result\":['\n"
    "tail = b'[]]}}\\n'\n"
    "n = (args[1] - len(head) - len(tail)) // 3\n"
    "data = memoryview(head + b'[],' * n + tail)\n"
    "while data:\n"
    "    data = data[os.write(WORKER_OUT_FD, data):]\n"
    "os._exit(0)\n"
)


def empty_lists(size: int) -> int:
    """How many empty lists `[[],[],...]` holds in `size` bytes of compact JSON."""
    return (size - 1) // 3


def test_the_budget_knows_the_fetch_body_limit() -> None:
    assert FETCH_BODY_BYTES == FETCH_BODY_MAX_BYTES


def test_a_line_of_nested_empty_lists_is_over_budget_and_honest_lines_are_not() -> None:
    flood = encode({"type": "outcome", "id": 1,
                    "outcome": {"ok": True, "result": [[]] * (MAX_MESSAGE_BYTES // 3 - 100)}})
    assert len(flood) < MAX_MESSAGE_BYTES
    assert over_budget(flood) is not None
    # A capability request of as much structure, and one of as many strings.
    assert over_budget(flood.replace(b'"outcome"', b'"capability"', 1)) is not None
    strings = encode({"type": "capability", "id": 1,
                      "request": {"op": "fetch", "json": [""] * (MAX_MESSAGE_BYTES // 4)}})
    assert over_budget(strings) is not None
    # The largest honest ones: a text body of commas and brackets (a string, not structure),
    # quotes escaped inside it; a result of RESULT_VALUES values; a JSON body at its limit.
    text = "[{\"a\":\\,}]," * (MAX_MESSAGE_BYTES // 20)
    assert over_budget(encode({"type": "capability", "id": 1,
                               "request": {"op": "fetch", "body": text}})) is None
    assert over_budget(encode_outcome(1, {
        "ok": True, "result": {str(i): [str(i)] for i in range(RESULT_VALUES // 2)},
        "error": None, "limit": None, "logs": "x,[{" * 16_000, "logs_truncated": False,
        "duration_ms": 1.0, "cpu_ms": 1.0, "retire": False})) is None
    body: list[list[None]] = [[]] * empty_lists(FETCH_BODY_MAX_BYTES)
    assert len(json.dumps(body, separators=(",", ":"))) <= FETCH_BODY_MAX_BYTES
    line = encode({"type": "capability", "id": 1, "request": {
        "op": "fetch", "url": "https://example.com/", "method": "POST",
        "headers": {"X-" + str(i): "v,[{" for i in range(100)}, "body": None, "json": body,
        "timeout": None, "follow_redirects": True}})
    assert over_budget(line) is None
    assert CAPABILITY_BUDGET > FETCH_BODY_MAX_BYTES


async def test_a_worker_flooding_the_pool_with_nested_lists_is_replaced() -> None:
    async with SandboxPool(size=1, limits=LIMITS, worker_entry=PROBE_ENTRY) as pool:
        first = await asyncio.wait_for(pool.run(probe("import os\nresult = os.getpid()"),
                                                group="A"), 60)
        assert first.ok, first
        # The probe is told its call's id: the pool numbers calls from 1, this is its second.
        outcome = await asyncio.wait_for(
            pool.run(probe(FLOOD, 2, MAX_MESSAGE_BYTES - 1), group="A"), 60)
        assert not outcome.ok
        assert outcome.error is not None
        assert outcome.error.type == "WorkerProtocolError"
        assert "brackets and commas" in outcome.error.message
        assert pool.stats.workers_replaced >= 1
        after = await asyncio.wait_for(pool.run(probe("import os\nresult = os.getpid()"),
                                                group="A"), 60)
        assert after.ok, after


# The largest messages a real worker sends, at their worst shape (empty lists: the most
# structure per byte): a fetch() JSON body and a storage value at their limits, and a result
# of RESULT_VALUES values.
HONEST = f"""
def VoipParseWebhookRequest(request):
    return {{}}

def f():
    try:
        fetch("https://example.com/", method="POST",
              body=[[]] * {empty_lists(FETCH_BODY_MAX_BYTES)})
    except FetchError as error:
        fetched = str(error)
    storage.set("k", [[]] * {empty_lists(STORAGE_VALUE_MAX_BYTES)})
    return [fetched] + [[]] * {RESULT_VALUES - 1}
"""


async def test_the_largest_honest_messages_pass() -> None:
    asked: list[dict[str, Any]] = []

    async def host(request: dict[str, Any]) -> dict[str, Any]:
        asked.append(request)
        if request.get("op") == "fetch":
            return {"ok": False, "error": "not fetched in this test"}
        return {"ok": True}

    async with SandboxPool(size=1, limits=LIMITS) as pool:
        outcome = await asyncio.wait_for(
            pool.run(Call(source=HONEST, function="f", args=()), group="A", handler=host), 60)
        assert outcome.ok, outcome
        assert outcome.result[0] == "not fetched in this test"
        assert len(outcome.result) == RESULT_VALUES
        assert [request["op"] for request in asked] == ["fetch", "storage.set"]
        assert len(asked[0]["json"]) == empty_lists(FETCH_BODY_MAX_BYTES)
        assert len(asked[1]["value"]) == empty_lists(STORAGE_VALUE_MAX_BYTES)
        assert pool.stats.workers_replaced == 0


async def test_a_members_result_of_as_many_values_passes() -> None:
    # MEMBERS_RESULT_VALUES values, an id and a name each member: the outcome's budget is the
    # members' count, not a parse result's.
    members = MEMBERS_RESULT_VALUES // 3
    source = ("def VoipParseWebhookRequest(request):\n    return {}\n\n"
              "def VoipGetMembers():\n"
              f"    return [{{'id': str(i), 'name': 'n,[{{'}} for i in range({members})]\n")
    async with SandboxPool(size=1, limits=LIMITS) as pool:
        outcome = await asyncio.wait_for(
            pool.run(Call(source=source, function="VoipGetMembers", args=()), group="A"), 60)
        assert outcome.ok, outcome
        assert len(outcome.result) == members
        assert outcome.result[-1] == {"id": str(members - 1), "name": "n,[{"}
