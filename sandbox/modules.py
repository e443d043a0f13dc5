"""Curated, read-only views of the standard modules a script may import (contract §3).

A script never holds a real module object: a real module re-exports others (`json.codecs`,
`datetime.sys`, `uuid.os`). A `ModuleView` is an immutable object with exactly the listed names.

Whatever those functions import lazily is imported here, eagerly, at import time: the worker
loses filesystem access after it starts, so a first `datetime.strptime` inside a call could
otherwise fail to load `_strptime`, and a first `"..".encode("cp1251")` its codec.

The `re` and `urllib.parse` functions remember their arguments in module-level caches (compiled
patterns, split URLs, quoters). Their views pass exact builtin types (`exact_arguments`): a
script's str subclass in such a cache would keep its class, and through its methods the call's
whole namespace, alive into later calls. sandbox/leftovers.py drops what the views cannot cover.
"""

from __future__ import annotations

import _strptime  # type: ignore[import-not-found]  # noqa: F401  (datetime.strptime imports it lazily)
import base64
import codecs
import datetime
import functools
import hashlib
import hmac
import json
import math
import operator
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Final, NoReturn

from sandbox import script_types, stopping


@script_types.shown_as("module")
class ModuleView:
    """A module as a script sees it: named, read-only, only the public names we list.

    The members are also the instance's own attributes (its `__dict__`, which no script can
    name), so the interpreter's `from re import match` finds them by a plain attribute lookup,
    as values (an instance's own attributes are never bound as methods). `_getattr_` reads
    them from `_view_members` (`view_member`).
    """

    __slots__ = ("__dict__", "_view_members", "_view_name")
    _view_name: str
    _view_members: Mapping[str, Any]

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_view_name", name)
        object.__setattr__(self, "_view_members", MappingProxyType(dict(members)))
        for member in members:
            if member.startswith("_"):  # never the class's own names, nor a slot's
                raise ValueError(f"a module view's member must be public, not {member!r}")
        object.__getattribute__(self, "__dict__").update(members)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: for a name the view does not have, which
        # `view_member` refuses with its message.
        return view_member(self, name)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise TypeError(f"module {self._view_name!r} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise TypeError(f"module {self._view_name!r} is read-only")

    def __repr__(self) -> str:
        return f"<module {self._view_name!r}>"

    def __dir__(self) -> list[str]:
        return sorted(self._view_members)


# Helpers for the host, deliberately not methods: a view's only public names are its members.
def view_name(view: ModuleView) -> str:
    return view._view_name


def view_has(view: ModuleView, name: str) -> bool:
    return name in view._view_members


def view_members(view: ModuleView) -> Mapping[str, Any]:
    return view._view_members


# A view with at most this many members names them all when a script asks for another.
LISTED_MEMBERS = 16


def view_member(view: ModuleView, name: str) -> Any:
    """The member `name`, or the AttributeError Python would give for a module, saying that
    the sandbox offers only part of it (`time.sleep` exists in Python, not here)."""
    try:
        return view._view_members[name]
    except KeyError:
        members = sorted(view._view_members)
        offered = (f"the sandbox's {view._view_name!r} offers only {', '.join(members)}"
                   if len(members) <= LISTED_MEMBERS else
                   "the sandbox offers part of it: see the module reference, §3.11")
        raise AttributeError(
            f"module {view._view_name!r} has no attribute {name!r} ({offered})") from None


def _pick(module: ModuleType, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names}


def _exact(value: Any) -> Any:
    """A str, int or float of a subclass as its exact builtin value (C methods only: no method of
    the script's class runs). Other values pass unchanged."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or kind is bytes:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return operator.index(value)  # an exact int since Python 3.10
    if isinstance(value, float):
        return float.__float__(value)
    return value


def exact_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` called with its str, int and float arguments as exact builtin values (and
    refused once the call is stopped, like a guard)."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if stopping.STOPPED is not None:
            raise stopping.refusal()
        return function(
            *[_exact(arg) for arg in args], **{key: _exact(v) for key, v in kwargs.items()}
        )

    return call


def _pick_exact(module: ModuleType, names: Iterable[str]) -> dict[str, Any]:
    """Like `_pick`, functions wrapped by `exact_arguments` (classes and constants as they are)."""
    picked = _pick(module, names)
    return {
        name: exact_arguments(value) if callable(value) and not isinstance(value, type) else value
        for name, value in picked.items()
    }


RE_NAMES: Final = (
    "compile", "match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split",
    "escape", "error", "NOFLAG", "A", "ASCII", "I", "IGNORECASE", "L", "LOCALE", "M",
    "MULTILINE", "S", "DOTALL", "U", "UNICODE", "X", "VERBOSE",
)  # fmt: skip
BASE64_NAMES: Final = tuple(
    f"{prefix}{op}"
    for prefix in ("b64", "urlsafe_b64", "standard_b64", "b32", "b16")
    for op in ("encode", "decode")
)
HASHLIB_NAMES: Final = (
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_512", "blake2b",
    "blake2s", "new",
)  # fmt: skip
URLLIB_PARSE_NAMES: Final = (
    "urlparse", "urlsplit", "urlunparse", "urlunsplit", "urljoin", "parse_qs", "parse_qsl",
    "urlencode", "quote", "quote_plus", "unquote", "unquote_plus",
)  # fmt: skip

UUID_NAMES: Final = (
    "UUID", "uuid3", "uuid4", "uuid5", "NAMESPACE_DNS", "NAMESPACE_URL", "NAMESPACE_OID",
    "NAMESPACE_X500",
)  # fmt: skip

# hmac calls a `digestmod` that is not a name: only hashlib's own constructors, never a script's
# function (it would run inside hmac, holding a half-built object).
_HASHLIB_CONSTRUCTORS: Final = frozenset(getattr(hashlib, name) for name in HASHLIB_NAMES)


def _digestmod(digestmod: Any) -> Any:
    if isinstance(digestmod, str):
        return str.__str__(digestmod)
    if digestmod in _HASHLIB_CONSTRUCTORS:
        return digestmod
    raise TypeError(
        "digestmod must be a hash name such as 'sha256' or a hashlib function such as "
        "hashlib.sha256"
    )


def _hmac_new(key: Any, msg: Any = None, digestmod: Any = "") -> hmac.HMAC:
    """hmac.new, its digestmod checked (hmac itself demands one)."""
    return hmac.new(_exact(key), _exact(msg), _digestmod(digestmod) if digestmod else digestmod)


def _hmac_digest(key: Any, msg: Any, digest: Any) -> bytes:
    """hmac.digest, its digest checked."""
    return hmac.digest(_exact(key), _exact(msg), _digestmod(digest))


URLLIB_PARSE_VIEW: Final = ModuleView(
    "urllib.parse", _pick_exact(urllib.parse, URLLIB_PARSE_NAMES)
)

# Import name -> view. `import urllib.parse` binds the `urllib` view, which holds only `parse`.
VIEWS: Final[Mapping[str, ModuleView]] = MappingProxyType(
    {
        "json": ModuleView("json", _pick(json, ("loads", "dumps", "JSONDecodeError"))),
        "re": ModuleView("re", _pick_exact(re, RE_NAMES)),
        "math": ModuleView("math", _pick(math, (n for n in dir(math) if not n.startswith("_")))),
        "datetime": ModuleView(
            "datetime",
            _pick(
                datetime,
                ("date", "datetime", "time", "timedelta", "timezone", "MINYEAR", "MAXYEAR"),
            ),
        ),
        "time": ModuleView(
            "time",
            _pick(time, ("time", "time_ns", "monotonic", "perf_counter", "gmtime", "strftime")),
        ),
        "base64": ModuleView("base64", _pick_exact(base64, BASE64_NAMES)),
        "hashlib": ModuleView("hashlib", _pick(hashlib, HASHLIB_NAMES)),
        "hmac": ModuleView(
            "hmac",
            {"new": _hmac_new, "digest": _hmac_digest, "compare_digest": hmac.compare_digest},
        ),
        "urllib": ModuleView("urllib", {"parse": URLLIB_PARSE_VIEW}),
        "urllib.parse": URLLIB_PARSE_VIEW,
        "uuid": ModuleView(
            "uuid",
            _pick_exact(uuid, UUID_NAMES),
        ),
        # Only for `if TYPE_CHECKING:` (typed scripts import the published stubs there; the
        # policy drops such blocks from the compiled code, so the value is never what decides).
        "typing": ModuleView("typing", {"TYPE_CHECKING": False}),
    }
)

MODULE_NAMES: Final[frozenset[str]] = frozenset(VIEWS)

# Codecs a Russian-speaking telephony script may plausibly use; each is a lazily imported module.
_WARM_CODECS: Final = (
    "utf-8", "utf-8-sig", "ascii", "latin-1", "utf-16", "utf-16-le", "utf-16-be", "utf-32",
    "cp1251", "cp1252", "koi8-r", "koi8-u", "cp866", "mac-cyrillic", "iso8859-5", "idna",
    "unicode-escape", "raw-unicode-escape", "punycode",
)  # fmt: skip


def _warm_lazy_imports() -> None:
    """Run each lazily importing path once, while the filesystem is still there."""
    for name in _WARM_CODECS:
        codecs.lookup(name)
    "bücher.example".encode("idna")
    datetime.datetime.strptime("2024-01-02 03:04:05 +0300", "%Y-%m-%d %H:%M:%S %z")
    datetime.datetime.now().astimezone().strftime("%c %Z")
    time.strftime("%Y", time.gmtime())
    time.localtime()
    re.compile(r"\N{LATIN SMALL LETTER A}\w+", re.I)
    for name in HASHLIB_NAMES[:-1]:
        getattr(hashlib, name)(b"x").hexdigest()
        hashlib.new(name, b"x").hexdigest()
    hmac.new(b"k", b"m", "sha1").hexdigest()
    hmac.new(b"k", b"m", hashlib.sha256).digest()
    hmac.digest(b"k", b"m", "sha256")
    uuid.uuid4()
    uuid.uuid5(uuid.NAMESPACE_URL, "x")
    uuid.uuid3(uuid.NAMESPACE_DNS, "x")
    urllib.parse.parse_qs("a=1&b=%D0%B0")
    urllib.parse.quote("а б")
    base64.b32decode(base64.b32encode(b"x"))
    json.loads(json.dumps({"a": [1.5, "б"]}))


_warm_lazy_imports()
