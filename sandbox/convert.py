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


# Where a value sits in the converted value, as segments; formatted only when an error needs it
# (a formatted path per value would cost more than the conversion itself).
Path = tuple[str | int, ...]


class _Converter:
    def __init__(self, target: Target, max_bytes: int, max_depth: int, special: Special) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.special = special
        self.used = 0
        self.active: set[int] = set()  # ids of the containers on the current path (cycles)

    def where(self, path: Path) -> str:
        if not path:
            return ""
        text = self.target.root + "".join(
            f"[{segment}]" if isinstance(segment, int) else f"[{segment[:40]!r}]"
            for segment in path
        )
        return f" (at {text})"

    def count(self, size: int) -> None:
        self.used += size
        if self.used > self.max_bytes:
            raise TooLarge(
                f"{self.target.noun} is larger than {self.max_bytes} bytes as JSON",
                limit=self.target.limit,
            )

    def text(self, value: str, path: Path) -> str:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ResultError(
                f"{self.target.noun} holds a string that is not valid Unicode{self.where(path)}"
            ) from None
        self.count(size + 2)
        return value

    def convert(self, value: Any, path: Path, depth: int) -> Any:
        kind = type(value)
        if value is None or kind is bool:
            self.count(5)
            return value
        if kind is str:
            return self.text(value, path)
        if kind is int:
            if value.bit_length() > MAX_INT_BITS:
                raise ResultError(
                    f"{self.target.noun} holds an integer too large for JSON{self.where(path)}"
                )
            self.count(len(str(value)))
            return value
        if kind is float:
            if not math.isfinite(value):
                raise ResultError(
                    f"{self.target.noun} holds {value!r}, which JSON cannot carry{self.where(path)}"
                )
            self.count(len(repr(value)))
            return value
        if kind is dict or kind is list or kind is tuple:
            return self.container(value, path, depth)
        conversion = self.special.get(kind)
        if conversion is not None:
            return self.convert(conversion(value), path, depth)
        raise ResultError(
            f"{self.target.noun} cannot hold a value of type {_type_name(value)!r}"
            f"{self.where(path)}; {self.target.hint}"
        )

    def container(self, value: Any, path: Path, depth: int) -> Any:
        if depth >= self.max_depth:
            raise TooLarge(
                f"{self.target.noun} is nested deeper than {self.max_depth} levels",
                limit=self.target.limit,
            )
        marker = id(value)
        if marker in self.active:
            raise ResultError(f"{self.target.noun} refers to itself{self.where(path)}")
        self.active.add(marker)
        try:
            self.count(2)
            if type(value) is dict:
                out: dict[str, Any] = {}
                for key, item in list(dict.items(value)):
                    if type(key) is not str and type(key) in self.special:
                        key = self.special[type(key)](key)
                    if type(key) is not str:
                        raise ResultError(
                            f"{self.target.noun}'s dict keys must be strings, not "
                            f"{_type_name(key)!r}{self.where(path)}"
                        )
                    self.text(key, path)
                    self.count(2)
                    out[key] = self.convert(item, (*path, key), depth + 1)
                return out
            items = []
            for index, item in enumerate(list(value)):
                self.count(1)
                items.append(self.convert(item, (*path, index), depth + 1))
            return items
        finally:
            self.active.discard(marker)


def _type_name(value: Any) -> str:
    name = type(value).__name__
    return name if isinstance(name, str) else "unknown"


def to_json_safe(value: Any, limits: Limits, special: Special) -> Any:
    """A script's result as plain JSON data, under the result limits; ResultError says why not."""
    return _Converter(RESULT, limits.result_bytes, limits.result_depth, special).convert(
        value, (), 0
    )


def to_plain_json(
    value: Any, target: Target, *, max_bytes: int, max_depth: int, special: Special
) -> Any:
    """`value` as a plain copy for the host (storage values, fetch bodies); ResultError says why
    not. `max_bytes` bounds the work: the caller measures the exact JSON size of the copy."""
    return _Converter(target, max_bytes, max_depth, special).convert(value, (), 0)
