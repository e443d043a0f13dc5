"""Turn what a script hands to the host into JSON-safe primitives, under limits: the exact-types
rule.

Used for a script's return value (`to_json_safe`) and for whatever it gives `storage` and
`fetch()` (`to_plain_json`, called by sandbox/injected.py), so host code never holds, serialises or
calls into a script's object: a script's subclass of dict or str could carry behaviour (its own
`items()`, `keys()`, `encode()`) into the host, so it is refused, as is everything but dict (str
keys), list, tuple (becomes a list), str, int, float (finite), bool and None. Our own objects
that may cross are named by the caller (`special`: the HttpResponse builder and the contract's
enum members for results, the enum members for storage and fetch). Nothing here runs tenant
code: exact builtin types are walked with their C methods only, and the copy shares no container
with the script.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sandbox.limits import Limits
from sandbox.outcome import LimitName

# Our own types a converter turns into plain data first (type -> conversion).
Special = Mapping[type, Callable[[Any], Any]]

MAX_INT_BITS: Final = 4096  # ~1,233 digits: far beyond any id; json.dumps refuses > 4,300 digits


class ResultError(Exception):
    """The result cannot cross to the host; `limit` is set when a result limit was exceeded."""

    def __init__(self, message: str, limit: LimitName | None = None) -> None:
        super().__init__(message)
        self.limit: LimitName | None = limit


class TooLarge(ResultError):
    """The value is larger or deeper than allowed (its type is fine)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What is being converted, for the messages ("the result ... (at result['a'])")."""

    noun: str  # "the result"
    root: str  # how a path starts: "result"
    hint: str  # what to do instead of an unsupported type
    limit: LimitName | None  # reported when the value is too large or too deep


RESULT: Final = Target(
    "the result", "result", "return dicts, lists, strings, numbers, booleans or None", "result"
)


class _Converter:
    """One conversion. `path` is where the value being converted sits (a segment per container
    level, so its length is the nesting depth); it is formatted only when an error needs it."""

    def __init__(self, target: Target, max_bytes: int, max_depth: int, special: Special,
                 max_values: int | None = None) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.special = special
        # Dict entries and list items left to convert (None: no such bound).
        self.values_left = max_values
        self.max_values = max_values
        self.used = 0
        self.path: list[str | int] = []
        self.active: set[int] = set()  # ids of the containers on the current path (cycles)

    def where(self) -> str:
        if not self.path:
            return ""
        text = self.target.root + "".join(
            f"[{segment}]" if isinstance(segment, int) else f"[{segment[:40]!r}]"
            for segment in self.path
        )
        return f" (at {text})"

    def too_large(self) -> TooLarge:
        return TooLarge(
            f"{self.target.noun} is larger than {self.max_bytes} bytes as JSON",
            limit=self.target.limit,
        )

    def text(self, value: str) -> str:
        if value.isascii():  # a flag of the str object: its UTF-8 size is its length
            size = len(value)
        else:
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:
                raise ResultError(
                    f"{self.target.noun} holds a string that is not valid Unicode{self.where()}"
                ) from None
        self.used += size + 2
        if self.used > self.max_bytes:
            raise self.too_large()
        return value

    def convert(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if value is None or kind is bool:
            size = 5
        elif kind is int:
            if value.bit_length() > MAX_INT_BITS:
                raise ResultError(
                    f"{self.target.noun} holds an integer too large for JSON{self.where()}"
                )
            size = len(str(value))
        elif kind is float:
            if not math.isfinite(value):
                raise ResultError(
                    f"{self.target.noun} holds {value!r}, which JSON cannot carry{self.where()}"
                )
            size = len(repr(value))
        elif kind is dict or kind is list or kind is tuple:
            return self.container(value)
        else:
            conversion = self.special.get(kind)
            if conversion is not None:
                return self.convert(conversion(value))
            hint = _AS_LIST_HINT if kind in _LISTABLE else self.target.hint
            raise ResultError(
                f"{self.target.noun} cannot hold a value of type {_type_name(value)!r}"
                f"{self.where()}; {hint}"
            )
        self.used += size
        if self.used > self.max_bytes:
            raise self.too_large()
        return value

    def container(self, value: Any) -> Any:
        path = self.path
        if len(path) >= self.max_depth:
            raise TooLarge(
                f"{self.target.noun} is nested deeper than {self.max_depth} levels",
                limit=self.target.limit,
            )
        marker = id(value)
        if marker in self.active:
            raise ResultError(f"{self.target.noun} refers to itself{self.where()}")
        self.active.add(marker)
        self.used += 2
        if self.used > self.max_bytes:
            raise self.too_large()
        if self.values_left is not None:
            # Counted by the container's length, before its items: a list of a million is
            # refused in one step.
            self.values_left -= len(value)
            if self.values_left < 0:
                raise TooLarge(
                    f"{self.target.noun} holds more than {self.max_values:,} values (dict keys "
                    "and list items, at every depth); a valid one holds far fewer",
                    limit=self.target.limit,
                )
        # A failed conversion is abandoned whole, so the path and the marks are only undone on
        # the way back from a success.
        if type(value) is dict:
            out: dict[str, Any] = {}
            special = self.special
            for key, item in list(dict.items(value)):
                if type(key) is not str and type(key) in special:
                    key = special[type(key)](key)
                if type(key) is not str:
                    raise ResultError(
                        f"{self.target.noun}'s dict keys must be strings, not "
                        f"{_type_name(key)!r}{self.where()}"
                    )
                if key.isascii():  # the common case inline: quotes, colon and comma
                    self.used += len(key) + 4
                else:
                    self.text(key)
                    self.used += 2
                out[key] = self.member(item, key)
            self.active.discard(marker)
            return out
        items = []
        for index, item in enumerate(list(value)):
            self.used += 1  # its comma
            items.append(self.member(item, index))
        self.active.discard(marker)
        return items

    def member(self, item: Any, step: str | int) -> Any:
        """A dict's value or a list's item, at `step` under the container. The common values
        are counted here as `convert` counts them (a special value converted first, as
        `convert` would): ASCII text, None, booleans and ints; anything else is converted
        with `step` on the path."""
        kind = type(item)
        if kind is not str:
            conversion = self.special.get(kind)
            if conversion is not None:
                item = conversion(item)
                kind = type(item)
        if kind is str and item.isascii():
            self.used += len(item) + 2
        elif item is None or kind is bool:
            self.used += 5
        elif kind is int and item.bit_length() <= MAX_INT_BITS:
            self.used += len(str(item))
        else:
            if self.used > self.max_bytes:
                raise self.too_large()
            self.path.append(step)
            item = self.convert(item)
            self.path.pop()
            return item
        if self.used > self.max_bytes:
            raise self.too_large()
        return item


# Builtin collections and lazy sequences a script may hand over where a list is meant (a
# TypeScript `items.map(...)` ported as `map(...)`, a generator, `d.keys()`): exact types, so a
# script's class named `map` gets the general hint.
_LISTABLE: Final = frozenset({
    map, filter, zip, enumerate, reversed, range, set, frozenset, types.GeneratorType,
    type({}.keys()), type({}.values()), type({}.items()), type(iter([])), type(iter(())),
})
_AS_LIST_HINT: Final = "make it a list first, with list(...)"


def _type_name(value: Any) -> str:
    name = type(value).__name__
    return name if isinstance(name, str) else "unknown"


def to_json_safe(value: Any, limits: Limits, special: Special, max_values: int) -> Any:
    """A script's result as plain JSON data, under the result limits and holding at most
    `max_values` values (sandbox/limits.py `result_values`); ResultError says why not."""
    return _Converter(RESULT, limits.result_bytes, limits.result_depth, special,
                      max_values).convert(value)


def to_plain_json(
    value: Any, target: Target, *, max_bytes: int, max_depth: int, special: Special
) -> Any:
    """`value` as a plain copy for the host (storage values, fetch bodies); ResultError says why
    not. `max_bytes` bounds the work: the caller measures the exact JSON size of the copy."""
    return _Converter(target, max_bytes, max_depth, special).convert(value)
