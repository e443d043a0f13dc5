"""Text that is always valid Unicode (contract §3): undecodable bytes become U+FFFD.

Text reaches us with invalid pieces in two ways. aiohttp decodes header values (and, with its
pure-Python parser, the request line) as UTF-8 with `surrogateescape`, so a raw 0xFF byte
arrives as the lone surrogate U+DCFF; and JSON may spell any lone surrogate as an escape
(`"\\udcff"`, `"\\ud800"`). A lone surrogate cannot be encoded as UTF-8: it would fail later,
far from here, in the sandbox's pipe, the store or a log line. So every edge where outside text
enters passes it through `valid_text` once: header values of every request
(`runtime/edge.checked_headers`), what a webhook's script sees (`runtime/intake.py`), and a
request composed as JSON for a dry run, a replay or `voip-runtime run --request`. The JSON
API's other fields refuse such text instead (`runtime/api/common.read_body`, a 422 naming the
field): a name or a script is not to be changed behind its author's back.
"""

from __future__ import annotations

import re
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
    """A JSON value with `valid_text` applied to every string in it, keys included."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_strings(k): valid_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_strings(item) for item in value]
    return value


def is_valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_invalid_text(value: Any, path: str) -> str | None:
    """Where in a JSON value the first string (or key) that is not valid Unicode is, as a
    dotted path from `path`; None when all are valid. Iterative: JSON may nest deeply."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if not is_valid_text(item):
                return where
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and not is_valid_text(key):
                    return f"{where}.[key]"
                pending.append((inner, f"{where}.{key}"))
        elif isinstance(item, list):
            pending.extend((inner, f"{where}.{index}") for index, inner in enumerate(item))
    return None
