"""What one execution row may keep, so that the execution log's bound in rows
(retention.executions_per_module, for retention.executions_days) is a bound in bytes too.

Each JSON column (request, result, effects, error) keeps at most EXECUTION_JSON_CAP bytes of
JSON text AS STORED, strings escaped: a body of control characters is six bytes a character
once escaped, so cutting the raw text to the cap (as the request's cut once did) let a row
keep 390 KB of request; and a script's result (up to sandbox.result_kib, 2 MiB) or an invalid
one was kept whole. The logs keep at most EXECUTION_LOG_CAP bytes. So a row holds at most
EXECUTION_ROW_BOUND bytes (README, "Limits").

A value over its cap keeps its shape where it can: its longest strings are cut (each to the
same length, the longest that fits, ending with CUT_MARK), so the console still shows a
reply's status and headers, an error's type and line. Only a value whose shape alone is over
the cap (thousands of keys) becomes {"truncated": true, "text": the start of its JSON text}.
"""

from __future__ import annotations

from typing import Any

from runtime.store.dialect import dumps
from runtime.store.models import (
    EXECUTION_JSON_CAP,
    EXECUTION_LOG_CAP,
    EXECUTION_REQUEST_CAP,
    JSON,
    KIB,
)

CUT_MARK = "…"
# The columns beside those capped (ids, names, numbers, times): well under this.
_FIXED_COLUMNS = 1 * KIB
EXECUTION_ROW_BOUND = EXECUTION_LOG_CAP + EXECUTION_REQUEST_CAP + 3 * EXECUTION_JSON_CAP \
    + _FIXED_COLUMNS


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def cap_utf8(text: str, cap: int) -> tuple[str, bool]:
    data = text.encode("utf-8")
    if len(data) <= cap:
        return text, False
    return data[:cap].decode("utf-8", errors="ignore"), True


def json_string_prefix(text: str, room: int) -> str:
    """A prefix of `text` whose JSON string form (quotes and escapes included) is at most
    `room` bytes: the escapes are counted, not just the UTF-8 bytes."""
    room = max(room, 0)
    cut, _ = cap_utf8(text[:room], room)  # (a character is a byte at least)
    while cut:
        size = utf8_size(dumps(cut))
        if size <= room:
            break
        cut = cut[:len(cut) * room // size - 1]  # shrinks by the excess, at least a character
    return cut


def _strings(value: Any, found: list[str], most: int) -> bool:
    """Collect the strings of `value` in order; False once it has more than `most` parts."""
    stack = [value]
    parts = 0
    while stack:
        item = stack.pop()
        parts += 1
        if parts > most:
            return False
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return True


def _replaced(value: Any, strings: Any) -> Any:
    """`value` with its strings, in `_strings`' order, taken from the iterator `strings`."""
    if isinstance(value, str):
        return next(strings)
    if isinstance(value, dict):
        return {k: _replaced(v, strings) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, strings) for v in value]
    return value


# Values with more parts than this are not cut string by string (the cut stays a couple of
# encodings of the value on a unit's path): they keep the start of their text.
_SHAPED_PARTS = 256
_MARK_BYTES = utf8_size(CUT_MARK)


def cap_json(value: JSON, cap: int, text: str | None = None) -> tuple[JSON, bool]:
    """`value` when its JSON text (`text`, when the caller has it) fits `cap` bytes, else a cut
    one that does (see the module doc), and whether it was cut."""
    if value is None:
        return value, False
    text = dumps(value) if text is None else text
    if len(text) * 4 <= cap or utf8_size(text) <= cap:  # (n characters: at most 4n bytes)
        return value, False
    strings: list[str] = []
    if _strings(value, strings, _SHAPED_PARTS):
        # What the value is without its strings' contents, then the room left shared among
        # its strings, shortest first: those under their share are kept whole, and what they
        # leave goes to the longer ones, which are cut to theirs.
        bare = utf8_size(dumps(_replaced(value, iter([""] * len(strings)))))
        # (A string longer than `cap` characters is cut whatever its size: a share is `cap`
        # at most. So no string is encoded whole here.)
        sizes = [utf8_size(dumps(s)) - 2 if len(s) <= cap else cap + 1 for s in strings]
        room, left = cap - bare, len(strings)
        shares = [0] * left
        for i in sorted(range(left), key=sizes.__getitem__):
            shares[i] = min(sizes[i], max(room, 0) // left)
            room -= shares[i]
            left -= 1
        if room >= 0:
            cut = [s if shares[i] == sizes[i] else (
                json_string_prefix(s, shares[i] - _MARK_BYTES + 2) + CUT_MARK
                if shares[i] >= _MARK_BYTES else "") for i, s in enumerate(strings)]
            return _replaced(value, iter(cut)), True
    room = cap - utf8_size(dumps({"truncated": True, "text": ""}))
    return {"truncated": True, "text": json_string_prefix(text, room + 2)}, True


def as_kept(value: JSON) -> JSON:
    """What the execution log keeps of a result or effects: a replay compares a new run's
    with a stored one's like this, so a cut reply is not "changed" for being cut."""
    return cap_json(value, EXECUTION_JSON_CAP)[0]


def cap_request(request: JSON) -> JSON:
    """Keep a stored request under the cap; the body is what grows, so it is cut first (and
    says so: `body_truncated`), the rest of the request kept."""
    if request is None or utf8_size(dumps(request)) <= EXECUTION_REQUEST_CAP:
        return request
    if isinstance(request, dict) and isinstance(request.get("body"), str):
        others: dict[str, JSON] = {k: v for k, v in request.items() if k != "body"}
        room = EXECUTION_REQUEST_CAP - utf8_size(dumps({**others, "body": "",
                                                         "body_truncated": True})) + 2
        if room > 2:
            body = json_string_prefix(request["body"], room)
            return {**others, "body": body, "body_truncated": True}
    capped, _ = cap_json(request, EXECUTION_REQUEST_CAP)
    return capped
