"""The builtins a script sees: exactly the contract's list (§3), written out as a table.

RestrictedPython's `safe_builtins` is not used: it carries `BaseException` and friends and lacks
`dict`, `list`, `min`... Every call gets a copy of its own of this table (the executor builds it
once with `fresh_builtins` and copies it for each call), so nothing a script does to its builtins
namespace can reach the next call.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

# Plain functions and types, by contract name. `pow` is replaced by the guarded one (guards.py).
_PLAIN_NAMES: Final = (
    "abs", "all", "any", "bool", "bytes", "bin", "callable", "chr", "dict", "divmod",
    "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
)  # fmt: skip

# The exception classes a script may raise, catch and subclass. Never BaseException, SystemExit,
# KeyboardInterrupt or GeneratorExit: bare `except:` is compiled as `except Exception:`.
EXCEPTION_NAMES: Final = (
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError",
    "LookupError", "NameError", "NotImplementedError", "OverflowError", "RuntimeError",
    "StopIteration", "TypeError", "UnicodeDecodeError", "UnicodeEncodeError", "ValueError",
    "ZeroDivisionError",
)  # fmt: skip

# Plain types the contract adds for classes (§3). `super` is among them: what a super object
# exposes is decided by `_getattr_` like any other object's attributes.
_CLASS_NAMES: Final = ("object", "property", "staticmethod", "classmethod", "super")

CONTRACT_BUILTINS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "None": None,
        "True": True,
        "False": False,
        **{name: getattr(builtins, name) for name in _PLAIN_NAMES},
        **{name: getattr(builtins, name) for name in EXCEPTION_NAMES},
        **{name: getattr(builtins, name) for name in _CLASS_NAMES},
    }
)

EXCEPTION_CLASSES: Final[frozenset[type[BaseException]]] = frozenset(
    getattr(builtins, name) for name in EXCEPTION_NAMES
)


def fresh_builtins(
    *,
    guarded_pow: Callable[..., Any],
    safe_import: Callable[..., Any],
    guarded_getattr: Callable[..., Any],
    guarded_hasattr: Callable[..., Any],
) -> dict[str, Any]:
    """A new builtins dict for one call.

    `pow`, `getattr` and `hasattr` are the guarded ones (guards.py). Beyond the contract's names
    it holds two the compiled code needs and a script can never name (the policy refuses names
    starting with "_"): `__build_class__` (class statements) and `__import__` (our curated
    import).
    """
    table = dict(CONTRACT_BUILTINS)
    table["pow"] = guarded_pow
    table["getattr"] = guarded_getattr
    table["hasattr"] = guarded_hasattr
    table["__build_class__"] = builtins.__build_class__
    table["__import__"] = safe_import
    return table


def _undefined_name(exc: BaseException) -> str | None:
    """The name of Python's own NameError (exactly that class and its wording), else None."""
    if type(exc) is not NameError:
        return None
    name = exc.name
    if type(name) is not str or exc.args != (f"name {name!r} is not defined",):
        return None
    return name


def type_checking_note(exc: BaseException, type_checking_names: frozenset[str]) -> str:
    """For Python's own NameError naming what the script bound only in its `if TYPE_CHECKING:`
    block: a sentence saying that block never runs. A typed script imports `cast`, `Any` or
    its own `TypedDict` there, as the guide says; "name 'cast' is not defined" alone reads
    like the import was lost. "" for any other error."""
    name = _undefined_name(exc)
    if name is None or name not in type_checking_names:
        return ""
    return (f" ({name!r} comes from the \"if TYPE_CHECKING:\" block, which never runs: what it "
            "binds is for type checkers, in annotations only"
            + ("; cast(T, value) is value itself at run time" if name == "cast" else "")
            + ")")


def missing_builtin_note(exc: BaseException) -> str:
    """For Python's own NameError naming a builtin the contract leaves out (`type`, `setattr`,
    `open`, ...): a sentence saying the sandbox does not offer it; naming `request` outside
    the parse function's parameters: a sentence saying whose argument it is. "name 'type' is not
    defined" alone reads like a typo to a builder who knows Python; "" for any other error.

    Only the interpreter's own NameError is read (exactly that class and its wording), never an
    attribute of a script's own exception class."""
    name = _undefined_name(exc)
    if name is None:
        return ""
    if name == "request":
        # The contract lists `request` among the injected names, so a helper reading it as a
        # global reads like the sandbox forgot it; it is the parse function's argument.
        return (" ('request' is not a global name: it is the argument VoipParseWebhookRequest "
                "receives; pass it on to the function that reads it)")
    if name in CONTRACT_BUILTINS or not hasattr(builtins, name):
        return ""
    instead = BUILTINS_INSTEAD.get(name)
    return (f" ({name!r} is a Python builtin the sandbox does not offer: a script has only "
            "the builtins the module reference lists, §3.9" + (f"; {instead}" if instead else "")
            + ")")


# What a builder reaching for a builtin the sandbox lacks writes instead.
BUILTINS_INSTEAD: Final[dict[str, str]] = {
    "type": "isinstance(value, str) tells a value's type",
    "setattr": ("write obj.name = value; for names known only as it runs (TypeScript's "
                "Object.assign(this, data)), keep the values in a dict: self.fields = dict(data)"),
    "delattr": "write del obj.name",
    "open": "a script has no files: keep what must last in storage",
    **dict.fromkeys(("exit", "quit"), "return from the function instead"),
}
