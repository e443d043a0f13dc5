"""Text that is always valid Unicode (contract §3): undecodable bytes become U+FFFD.

Text reaches us with invalid pieces in two ways. aiohttp decodes header values (and, with its
pure-Python parser, the request line) as UTF-8 with `surrogateescape`, so a raw 0xFF byte
arrives as the lone surrogate U+DCFF; and JSON may spell any lone surrogate as an escape
(`"\\udcff"`, `"\\ud800"`). A lone surrogate cannot be encoded as UTF-8: it would fail later,
far from here, in the sandbox's pipe, the store or a log line. So every edge where outside text
enters passes it through `valid_text` once: header values of every request
(`runtime/edge.checked_headers`), what a webhook's script sees (`runtime/intake.py`), and a
request composed as JSON for a dry run, a replay or `voip-runtime run --request`. The JSON
API's other fields refuse such text instead (`runtime/json_body.validated`, a 422 naming the
field): a name or a script is not to be changed behind its author's back. They refuse the NUL
character too, for the same reason: SQLite keeps it, PostgreSQL's text cannot, so the store
would keep something else there than what the API answered (`text_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Lone surrogates that `surrogateescape` never produces (it maps bytes 0x80-0xFF to
# U+DC80-U+DCFF only): they stand for no byte, so they can only become U+FFFD.
_NOT_AN_ESCAPED_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def valid_text(text: str) -> str:
    """`text` with every lone surrogate resolved: an escaped byte is decoded as UTF-8 together
    with its neighbours (as the original bytes would have been), undecodable ones and any other
    surrogate become U+FFFD. Valid text comes back as the very same object."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    text = _NOT_AN_ESCAPED_BYTE.sub("\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def valid_strings(value: Any) -> Any:
    """A JSON value with `valid_text` applied to every string in it, keys included.

    Iterative: a request body's JSON may nest as deeply as the parser allows, deeper than what
    is left of Python's recursion limit when a handler gets to it."""
    top = _valid_leaf_or_empty(value)
    pending = [(value, top)] if isinstance(value, dict | list | tuple) else []
    while pending:
        source, copy = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, inner in items:
            made = _valid_leaf_or_empty(inner)
            if isinstance(copy, dict):
                copy[valid_text(key) if isinstance(key, str) else key] = made
            else:
                copy.append(made)
            if isinstance(inner, dict | list | tuple):
                pending.append((inner, made))
    return top


def _valid_leaf_or_empty(value: Any) -> Any:
    """A string made valid, a new empty container for a container, anything else as it is."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {}
    if isinstance(value, list | tuple):
        return []
    return value


def is_valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


UNICODE_PROBLEM = "text must be valid Unicode (it holds a lone surrogate such as \\udcff)"
NUL_PROBLEM = "text must not hold the NUL character (\\u0000)"


# Characters a name people read must not hold: the C0 and C1 controls and DEL (a newline, a
# tab, an escape sequence that recolours a terminal reading a log), the line and paragraph
# separators, and the bidirectional embeddings, overrides and isolates, which make a name
# display as another (U+202E turns "acme\u202egpj.exe" into "acmeexe.jpg"). Joiners and
# other format characters that scripts and emoji need stay allowed.
NAME_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_NAME_CONTROL = re.compile(f"[{NAME_CONTROLS}]")
# The same rule as a JSON Schema pattern (ECMA 262), with "not blank" in it: one pattern only.
NAME_PATTERN = rf"^[^{NAME_CONTROLS}]*[^\s{NAME_CONTROLS}][^{NAME_CONTROLS}]*$"


def name_problem(text: str) -> str | None:
    """Why `text` cannot be a name (a tenant's, a module's), or None when it can."""
    found = _NAME_CONTROL.search(text)
    if found is None:
        return None
    return (f"a name must not hold control characters (it holds U+{ord(found[0]):04X} at "
            f"character {found.start() + 1})")


def text_problem(text: str) -> str | None:
    """Why an API body's text cannot be kept exactly as it was sent, or None when it can."""
    if "\x00" in text:
        return NUL_PROBLEM
    return None if is_valid_text(text) else UNICODE_PROBLEM


# Where a value sits: (where its container sits, its key or index), the root a path's text.
# Spelled out only for the text found: a body nested 900 deep with a million items in it had a
# path of some 2,000 characters made for every item, gigabytes before any answer.
Place = tuple["Place | None", "str | int"]


def first_invalid_text(value: Any, path: str) -> tuple[str, str] | None:
    """Where in a JSON value the first string (or key) with a `text_problem` is, as a dotted
    path from `path`, and that problem; None when there is none. Iterative, one iterator per
    level of nesting, so deep or wide JSON costs memory by its depth only."""
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else (path, problem)
    if not isinstance(value, dict | list):
        return None
    root: Place = (None, path)
    levels: list[tuple[Place, bool, Iterator[tuple[Any, Any]]]] = [
        (root, isinstance(value, dict), _entries(value))]
    while levels:
        place, in_dict, entries = levels[-1]
        entry = next(entries, None)
        if entry is None:
            levels.pop()
            continue
        key, inner = entry
        if in_dict and isinstance(key, str) and (problem := text_problem(key)) is not None:
            return _spelled((place, "[key]")), problem
        if isinstance(inner, str):
            if (problem := text_problem(inner)) is not None:
                return _spelled((place, key)), problem
        elif isinstance(inner, dict | list):
            levels.append(((place, key), isinstance(inner, dict), _entries(inner)))
    return None


def _entries(container: dict[Any, Any] | list[Any]) -> Iterator[tuple[Any, Any]]:
    return iter(container.items()) if isinstance(container, dict) else enumerate(container)


def _spelled(place: Place) -> str:
    parts: list[str] = []
    at: Place | None = place
    while at is not None:
        at, segment = at
        parts.append(str(segment))
    return ".".join(reversed(parts))
