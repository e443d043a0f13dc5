"""Compact JSON text through the standard library's C encoder, and JSON text read through its C
scanner, without their Python frames.

`JSONEncoder.encode` reaches the C encoder (`c_make_encoder`) through two Python frames
(`encode`, then `iterencode`'s one-shot branch); on the paths that encode for every call or
every row (worker messages, the store's JSON columns) those frames were a third of each
encode. `dumper(encoder)` gives a function producing exactly `encoder.encode(value)`; `loads`
is `json.loads` for a str (the worker's messages, and a script's `request.json()`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_make_encoder: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)


class JSONObject(dict[str, Any]):
    """A JSON object (a dict with str keys) that keeps its compact text once an `acyclic`
    dumper wrote it, for the one who made it and will not change it afterwards (a contract
    model's dump, shared by every reader). A dumper meeting it again hands back the text;
    one meeting it inside another JSONObject puts the text in place (a webhook's event is
    stored in the call's history, then again inside the result in the execution log: it is
    encoded once). Any other dumper reads it as the dict it is."""

    text: str | None = None


def dumper(encoder: json.JSONEncoder, *, acyclic: bool = False) -> Callable[[Any], str]:
    """`encoder.encode`, through the C encoder directly when there is one. Only for an
    encoder without indent, key sorting or float subclass tricks (compact text).

    `acyclic`: for values that cannot hold a cycle (parsed JSON, and dicts and lists built
    from it by the caller's own code): one C encoder, made once, without the dict of markers
    that detects a cycle (making the encoder and its markers was a fifth of encoding a
    small value). A cycle would then end in RecursionError, not encode's ValueError."""
    if _make_encoder is None or encoder.indent is not None or encoder.sort_keys:
        return encoder.encode
    make = _make_encoder
    strings = (json.encoder.encode_basestring_ascii if encoder.ensure_ascii
               else json.encoder.encode_basestring)
    key_separator, item_separator = encoder.key_separator, encoder.item_separator
    default, skipkeys, allow_nan = encoder.default, encoder.skipkeys, encoder.allow_nan

    if acyclic:
        # Holds no state between calls without markers: any number of callers may share it.
        shared = make(None, default, strings, None, key_separator, item_separator, False,
                      skipkeys, allow_nan)
        join = "".join

        def dumps_acyclic(value: Any) -> str:
            kind = type(value)
            if kind is str:
                return strings(value)  # (as `encode` does for a lone string)
            if kind is JSONObject:
                text = value.text
                if text is None:
                    text = value.text = object_text(value)
                return text
            return join(shared(value, 0))

        def object_text(value: JSONObject) -> str:
            for item in value.values():
                if type(item) is JSONObject:
                    break
            else:
                return join(shared(value, 0))
            # What the encoder writes for a dict, its JSONObject values' texts in place.
            return "{" + item_separator.join([
                strings(key) + key_separator + dumps_acyclic(item)
                for key, item in value.items()]) + "}"

        return dumps_acyclic

    def dumps(value: Any) -> str:
        if type(value) is str:
            return strings(value)  # (as `encode` does for a lone string)
        # A fresh marker dict per call, as `encode` uses: an encode that fails (NaN, a type
        # JSON lacks) leaves its entries behind in the dict it used.
        return "".join(make({}, default, strings, None, key_separator, item_separator,
                            False, skipkeys, allow_nan)(value, 0))

    return dumps


# The stdlib decoder's own scanner (json.loads's configuration), and the whitespace json.loads
# skips around the value (json.decoder.WHITESPACE, which always matches, if only the empty string).
scan_once: Callable[[str, int], tuple[Any, int]] = (
    json.JSONDecoder().scan_once)  # type: ignore[attr-defined]
whitespace = re.compile(r"[ \t\n\r]*", re.VERBOSE | re.MULTILINE | re.DOTALL).match
# JSON's whitespace, as `whitespace` matches it.
WHITESPACE_CHARS = " \t\n\r"


def value_start(text: str) -> int:
    """Where the value in `text` starts: after the whitespace `json.loads` skips. (Nearly
    every text starts with its value: the pattern only runs when the first character is
    whitespace, which saves its match object.)"""
    if text[:1] in WHITESPACE_CHARS:  # ("" too: the pattern then finds 0)
        return whitespace(text, 0).end()  # type: ignore[union-attr]
    return 0


def only_whitespace_from(text: str, position: int) -> bool:
    """Whether nothing but JSON whitespace follows `position` (stripping the usual empty or
    one-character tail costs less than matching it)."""
    return not text[position:].strip(WHITESPACE_CHARS)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan; a finite number minus itself is 0
        raise ValueError(f"{text[:40]} is too large for a float")
    return value


# The same scanner refusing NaN, Infinity and -Infinity, which json.loads takes, and numbers
# too large for a float (1e400, which it reads as infinity): no JSON writer of ours (nor the
# store, which refuses them when it writes) ever produces them.
strict_scan_once: Callable[[str, int], tuple[Any, int]] = (
    json.JSONDecoder(parse_constant=_not_json,  # type: ignore[attr-defined]
                     parse_float=_finite).scan_once)


# A JSON escape of a surrogate code point (U+D800 to U+DFFF), in either case.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# The C encoder writing non-ASCII as it is: the UTF-8 encoding of what it writes fails on a
# lone surrogate, wherever it lies (a key, a value, however deep).
_as_written = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def lone_surrogate_in(text: str, value: Any) -> bool:
    """Whether `value`, parsed from `text`, holds a lone surrogate. Strict UTF-8 text cannot
    carry one, but JSON can spell one as an escape ("\\ud800"), which the scanner takes. A
    text with no surrogate escape (nearly every one) is not walked; one with an escaped pair
    (a single character beyond U+FFFF) is walked and passes."""
    if "\\u" not in text or _SURROGATE_ESCAPE.search(text) is None:
        return False
    try:
        _as_written(value).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _loader(scan: Callable[[str, int], tuple[Any, int]], *, unicode_only: bool = False
            ) -> Callable[[str], Any]:
    def loads(text: str) -> Any:
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        try:
            value, end = scan(text, value_start(text))
        except StopIteration as stop:
            raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        if end != len(text) and not only_whitespace_from(text, end):
            raise json.JSONDecodeError(
                "Extra data", text, whitespace(text, end).end())  # type: ignore[union-attr]
        if unicode_only and lone_surrogate_in(text, value):
            raise ValueError("a string holds a lone surrogate (an escape such as \\ud800), "
                             "which is not text UTF-8 can carry")
        return value

    return loads


# `json.loads(text)` for a str without its three Python frames: the same scanner, the same
# whitespace around the value, the same errors (json.JSONDecodeError, a ValueError).
loads = _loader(scan_once)
# The same, refusing NaN and the infinities, and lone surrogates spelled as escapes (a
# ValueError): for the pipe between the pool and its workers, whose other side may have been
# breached. Neither can be stored or sent: a breached worker's logs holding "\\ud800" failed
# the store's write of its execution row, a storage key holding one the capability handler.
loads_strict = _loader(strict_scan_once, unicode_only=True)
