"""Turn a script's return value into JSON-safe primitives, under the result limits.

Exact types only: a script's subclass of dict or str could carry behaviour into the host, so it
is refused, as is everything but dict (str keys), list, tuple (becomes a list), str, int, float
(finite), bool and None. Two of our own objects are converted: the HttpResponse builder and the
contract's enum members. Nothing here runs tenant code: exact builtin types are walked with
their C methods only.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Final

from sandbox.api import CONTRACT_ENUMS, ResponseBuilder, response_result
from sandbox.limits import Limits
from sandbox.outcome import LimitName

MAX_INT_BITS: Final = 4096  # ~1,233 digits: far beyond any id; json.dumps refuses > 4,300 digits


class ResultError(Exception):
    """The result cannot cross to the host; `limit` is set when a result limit was exceeded."""

    def __init__(self, message: str, limit: LimitName | None = None) -> None:
        super().__init__(message)
        self.limit: LimitName | None = limit


# Where a value sits in the result, as segments; formatted only when an error needs it (a
# formatted path per value would cost more than the conversion itself).
Path = tuple[str | int, ...]


def _where(path: Path) -> str:
    if not path:
        return ""
    text = "result" + "".join(
        f"[{segment}]" if isinstance(segment, int) else f"[{segment[:40]!r}]" for segment in path
    )
    return f" (at {text})"


class _Converter:
    def __init__(self, limits: Limits) -> None:
        self.max_bytes = limits.result_bytes
        self.max_depth = limits.result_depth
        self.used = 0
        self.active: set[int] = set()  # ids of the containers on the current path (cycles)

    def count(self, size: int) -> None:
        self.used += size
        if self.used > self.max_bytes:
            raise ResultError(
                f"the result is larger than {self.max_bytes} bytes as JSON", limit="result"
            )

    def text(self, value: str, path: Path) -> str:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ResultError(
                f"the result holds a string that is not valid Unicode{_where(path)}"
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
                raise ResultError(f"the result holds an integer too large for JSON{_where(path)}")
            self.count(len(str(value)))
            return value
        if kind is float:
            if not math.isfinite(value):
                raise ResultError(
                    f"the result holds {value!r}, which JSON cannot carry{_where(path)}"
                )
            self.count(len(repr(value)))
            return value
        if kind in CONTRACT_ENUMS:
            member: enum.StrEnum = value
            return self.text(str.__str__(member), path)
        if kind is ResponseBuilder:
            return self.convert(response_result(value), path, depth)
        if kind is dict or kind is list or kind is tuple:
            return self.container(value, path, depth)
        raise ResultError(
            f"the result cannot hold a value of type {_type_name(value)!r}{_where(path)}; "
            "return dicts, "
            "lists, strings, numbers, booleans or None"
        )

    def container(self, value: Any, path: Path, depth: int) -> Any:
        if depth >= self.max_depth:
            raise ResultError(
                f"the result is nested deeper than {self.max_depth} levels", limit="result"
            )
        marker = id(value)
        if marker in self.active:
            raise ResultError(f"the result refers to itself{_where(path)}")
        self.active.add(marker)
        try:
            self.count(2)
            if type(value) is dict:
                out: dict[str, Any] = {}
                for key, item in list(value.items()):
                    if type(key) in CONTRACT_ENUMS:
                        key = str.__str__(key)
                    if type(key) is not str:
                        raise ResultError(
                            f"the result's dict keys must be strings, not "
                            f"{_type_name(key)!r}{_where(path)}"
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


def to_json_safe(value: Any, limits: Limits) -> Any:
    """The result as plain JSON data; ResultError says why not."""
    return _Converter(limits).convert(value, (), 0)
