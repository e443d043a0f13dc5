"""How much structure a worker's message may hold, counted before the pool parses it.

The pool parses every worker message in the event loop every tenant's webhooks share, and
parsing costs per value, not per byte: 8 MiB of `[[],[],...]` (2.8 million lists) held the
loop about half a second, message after message, from a worker whose language wall was
breached. An honest worker never sends that much structure (it refuses a result over
RESULT_VALUES itself), so the pool refuses such a message unparsed, as a protocol violation.

The count is of the bytes that make values outside strings (`[`, `{` and `,`: a value needs
one of them, but the first of a container's) and of the quotes that delimit strings: text
inside strings costs the parser next to nothing, and an honest fetch() body sent as text
(`body=json.dumps(data)`, up to the whole message) is full of brackets and commas. Counting
raw bytes (bytes.count, in C) bounds both from above; only a line over its budget by that
count has its strings taken out and is counted again.

The budget depends on the kind of message, read from the line's head (every sender writes
`{"type":` first; a line that does not gets the smallest budget):

- an outcome: a result of at most MEMBERS_RESULT_VALUES values, each at most two structural
  bytes and two strings (a key and its value, four quotes), and an error's traceback and
  compile problems (a 64 KiB script has at most a few thousand problems);
- a capability request: a fetch() body as JSON of FETCH_BODY_MAX_BYTES, all of it
  structure at worst, with room for the request's other fields; a storage value (64 KiB)
  and a text body (a string) are far below it;
- anything else (ready, source_missing, unhardened): a hardening report and an id.
"""

from __future__ import annotations

from typing import Final

from sandbox.limits import KIB, MEMBERS_RESULT_VALUES, MIB

OUTCOME_BUDGET: Final = 6 * MEMBERS_RESULT_VALUES
# sandbox/injected.py's FETCH_BODY_MAX_BYTES (not imported: the pool's process does not load the
# worker's namespace; tests/sandbox/test_message_budget.py checks they agree).
FETCH_BODY_BYTES: Final = 1 * MIB
CAPABILITY_BUDGET: Final = FETCH_BODY_BYTES + 64 * KIB
OTHER_BUDGET: Final = 64 * KIB

_OUTCOME_HEAD: Final = b'{"type":"outcome"'
_CAPABILITY_HEAD: Final = b'{"type":"capability"'


def budget_for(line: bytes) -> int:
    if line.startswith(_OUTCOME_HEAD):
        return OUTCOME_BUDGET
    if line.startswith(_CAPABILITY_HEAD):
        return CAPABILITY_BUDGET
    return OTHER_BUDGET


def _structure(data: bytes) -> int:
    return data.count(b"[") + data.count(b"{") + data.count(b",")


def over_budget(line: bytes) -> str | None:
    """Why `line` holds more structure than an honest message of its kind, or None.

    Exact for valid JSON; for a line that is not, the parser stops at the first byte our
    reading of it differs at (a backslash outside a string), and what comes before that is
    counted exactly."""
    budget = budget_for(line)
    if _structure(line) <= budget and line.count(b'"') <= budget:
        return None  # (nearly every message: both counts only bound what is outside strings)
    # Escapes out (left to right, as the parser pairs them), so every quote left delimits
    # a string: the odd pieces between quotes are strings' text.
    bare = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    quotes = bare.count(b'"')
    if quotes > budget:
        return f"a message of {quotes // 2} strings, more than {budget // 2} for its kind"
    outside = _structure(b"".join(bare.split(b'"')[::2]))
    if outside > budget:
        return (f"a message of {outside} brackets and commas, more than {budget} "
                "for its kind")
    return None
