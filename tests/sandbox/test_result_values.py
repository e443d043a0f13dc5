"""A result's values (dict entries and list items, at every depth) are counted by the worker
as it converts the result, by each container's length before its items: more than the
function's count (sandbox/limits.py) never crosses the pipe to the host, whose event loop
checks, parses and stores a result at a cost per value (runtime/result_bounds.py)."""

from __future__ import annotations

import pytest

from sandbox.limits import MEMBERS_RESULT_VALUES, RESULT_VALUES
from tests.sandbox.lang_support import run, script

MEMBERS = "VoipGetMembers"


def refusal(values: int) -> str:
    return (f"the result holds more than {values:,} values (dict keys and list items, at every "
            "depth); a valid one holds far fewer")


@pytest.mark.parametrize("body", [
    "return [1] * 1_000_000",
    "return {'k' + str(i): 1 for i in range(150_000)}",
    "return {'callRecord': {'call': [[1] * 100] * 100}}",
    "return {'response': {'status': 200, 'headers': dict.fromkeys(map(str, range(10_001)), '')}}",
], ids=["list", "keys", "nested", "headers"])
def test_a_parse_result_of_more_values_is_refused_before_it_leaves_the_worker(body: str) -> None:
    outcome = run(script(body))
    assert outcome["ok"] is False
    assert outcome["limit"] == "result"
    assert outcome["error"]["type"] == "InvalidResult"
    assert outcome["error"]["message"] == refusal(RESULT_VALUES)
    assert outcome["result"] is None


def test_a_result_of_as_many_values_crosses_whole() -> None:
    # Its two dicts' entries and the list's items: RESULT_VALUES in all.
    outcome = run(script(f"return {{'callRecord': {{'call': [0] * {RESULT_VALUES - 2}}}}}"))
    assert outcome["ok"] is True, outcome["error"]
    assert len(outcome["result"]["callRecord"]["call"]) == RESULT_VALUES - 2


def test_members_are_counted_against_their_own_count() -> None:
    members = MEMBERS_RESULT_VALUES // 3
    source = script("return {}") + (
        f"\n\ndef {MEMBERS}():\n"
        "    n = int(settings['n'])\n"
        "    return [{'id': str(i), 'name': 'n'} for i in range(n)]\n")
    outcome = run(source, MEMBERS, settings={"n": members})
    assert outcome["ok"] is True, outcome["error"]
    assert len(outcome["result"]) == members
    outcome = run(source, MEMBERS, settings={"n": members + 1})
    assert outcome["limit"] == "result"
    assert outcome["error"]["message"] == refusal(MEMBERS_RESULT_VALUES)
