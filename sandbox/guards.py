"""The guard functions RestrictedPython's compiled code calls, and what a type may expose.

The policy (policy.py) rewrites every attribute read into `_getattr_`, every store target into
`_write_(obj)`, every subscript into `_getitem_`, every loop into `_getiter_`, etc. Those names
live here. `make_guards` hands each call a fresh dict of them (`SHARED_GUARDS` and the call's
own `_print_`).

What a type may expose is a table (READ_RULES, WRITABLE): reading is allowed unless a row
refuses the name; writing is refused unless a row allows the object.

Every guard first refuses to go on once the call is stopped (sandbox/stopping.py): a script that
swallowed its CPU limit cannot take one more step that reaches a guard.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # the C helpers behind str.format
import enum
import operator
import types
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox import injected, script_types, stopping
from sandbox.builtins_table import EXCEPTION_CLASSES
from sandbox.compiler import SCRIPT_FILENAME
from sandbox.modules import (
    VIEWS,
    ModuleView,
    view_has,
    view_member,
    view_members,
    view_name,
)

# -- tenant classes ------------------------------------------------------------------------------

# Every class a script defines goes through `__metaclass__` and is recorded here. A tenant class
# (and its instances) is the script's own: it may change it. Weak: classes die with their call.
_TENANT_CLASSES: Final[weakref.WeakSet[type]] = weakref.WeakSet()

# Bases a script may subclass, beyond its own classes.
ALLOWED_BASES: Final[frozenset[type]] = frozenset(
    {
        *EXCEPTION_CLASSES,
        injected.FetchError,
        injected.StorageError,
        VIEWS["json"].JSONDecodeError,
        VIEWS["re"].error,
        object,
        dict,
        list,
        set,
        frozenset,
        tuple,
        str,
        int,
        float,
    }
)


def is_tenant_class(obj: object) -> bool:
    return isinstance(obj, type) and obj in _TENANT_CLASSES


def is_tenant_instance(obj: object) -> bool:
    return type(obj) in _TENANT_CLASSES


def tenant_metaclass(
    name: str, bases: tuple[type, ...], namespace: dict[str, Any], **keywords: Any
) -> type:
    """`__metaclass__`: every `class` statement of a script builds its class here."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if keywords:
        raise TypeError("class keyword arguments are not allowed")
    for base in bases:
        if not (isinstance(base, type) and (base in ALLOWED_BASES or is_tenant_class(base))):
            shown = base.__name__ if isinstance(base, type) else type(base).__name__
            raise TypeError(f"a script's class cannot subclass {shown!r}")
    cls = type(name, bases, namespace)
    _TENANT_CLASSES.add(cls)
    return cls


# -- str.format ----------------------------------------------------------------------------------

FORMAT_METHODS: Final = frozenset({"format", "format_map"})


def check_format_template(template: str) -> None:
    """Refuse attribute fields ("{0.real}"), also when nested in a format spec ("{0:{1.x}}").

    Positional, keyword and index fields ("{0} {name} {d[key]}") are fine.
    """
    for _literal, field, spec, _conversion in _string.formatter_parser(template):
        if field is not None:
            _first, rest = _string.formatter_field_name_split(field)
            for is_attribute, _key in rest:
                if is_attribute:
                    raise ValueError(
                        f"format field {{{field}}} reads an attribute; only positional, "
                        "keyword and index fields are allowed"
                    )
        if spec:
            check_format_template(spec)


def safe_format(template: str, /, *args: Any, **kwargs: Any) -> str:
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if not isinstance(template, str):
        raise TypeError("format() needs a str")
    check_format_template(template)
    return str.format(template, *args, **kwargs)


def safe_format_map(template: str, mapping: Mapping[str, Any], /) -> str:
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if not isinstance(template, str):
        raise TypeError("format_map() needs a str")
    check_format_template(template)
    return str.format_map(template, mapping)


def _bind_format(template: str, name: str) -> Callable[..., str]:
    if name == "format":

        def format(*args: Any, **kwargs: Any) -> str:
            return safe_format(template, *args, **kwargs)

        return format

    def format_map(mapping: Mapping[str, Any]) -> str:
        return safe_format_map(template, mapping)

    return format_map


_STR_FORMAT: Final = str.format
_STR_FORMAT_MAP: Final = str.format_map


_BUILTIN_METHOD: Final = types.BuiltinMethodType


# -- reading attributes --------------------------------------------------------------------------

# Names refused on every object: frames, code, tracebacks, generator internals (also refused at
# compile time when written literally), and Python 2 spellings of function internals.
RESTRICTED_ATTRIBUTES: Final[frozenset[str]] = frozenset(
    INSPECT_ATTRIBUTES
    | {"gi_running", "gi_suspended", "func_globals", "func_code", "func_closure", "f_locals"}
)


@dataclass(frozen=True, slots=True)
class ReadRule:
    """A row of the read table: on objects `applies` to, `refused` names are not readable."""

    what: str
    applies: Callable[[object], bool]
    refused: frozenset[str]


READ_RULES: Final[tuple[ReadRule, ...]] = (
    # `mro()` walks up to BaseException and object. Harmless (the executor catches
    # BaseException and bare except is `except Exception`), but nothing needs it: refused.
    ReadRule("a class", lambda o: isinstance(o, type), frozenset({"mro"})),
    # AttributeError.obj is the object a failed lookup was made on: raised inside host code,
    # that can be one of the host's internal objects.
    ReadRule("an exception", lambda o: isinstance(o, BaseException), frozenset({"obj"})),
)


READ_RULE_NAMES: Final[frozenset[str]] = frozenset().union(*(r.refused for r in READ_RULES))


def _init_allowed(obj: object) -> bool:
    """`__init__` is readable only on the script's own objects (super().__init__(...))."""
    if type(obj) is super:
        bound = obj.__self__  # type: ignore[attr-defined]
        return is_tenant_instance(bound) or is_tenant_class(bound)
    return is_tenant_instance(obj) or is_tenant_class(obj)


def _checked_class_init(cls: type) -> Callable[..., None]:
    """`Base.__init__(self, ...)`: only ever applied to the script's own instances."""
    init = cls.__init__  # type: ignore[misc]

    def __init__(self: object, *args: Any, **kwargs: Any) -> None:
        if not is_tenant_instance(self):
            raise TypeError("__init__ can only be applied to the script's own objects")
        init(self, *args, **kwargs)

    return __init__


def attribute_refusal(obj: object, name: str) -> str | None:
    """Why reading `obj.name` is refused, or None when the read may go ahead."""
    if name.startswith("_") and name != "_":
        if name == "__init__" and _init_allowed(obj):
            return None
        return f'"{name}" is an invalid attribute name because it starts with "_"'
    if name in RESTRICTED_ATTRIBUTES:
        return f'"{name}" is a restricted attribute'
    if name in READ_RULE_NAMES:
        for rule in READ_RULES:
            if name in rule.refused and rule.applies(obj):
                return f'"{name}" is not available on {rule.what} in the sandbox'
    return None


# Names `attribute_refusal` may refuse beyond those starting with "_": a script's ordinary
# reads (`data.get`) skip the rule tables.
_NAMES_TO_CHECK: Final[frozenset[str]] = RESTRICTED_ATTRIBUTES | READ_RULE_NAMES


def _plain_reads(sample: object) -> frozenset[str]:
    """The names `guarded_getattr` would hand out unchanged on an object of `sample`'s exact
    type, worked out here once: every public name but those the rule tables and the format
    swap look at. For an exact builtin type every such attribute is a method (or a number,
    such as `int.real`) of an immutable type, the same for every instance; what the format
    swap would look for is checked here, on the sample."""
    names = set()
    for name in dir(type(sample)):
        if name.startswith("_") or name in _NAMES_TO_CHECK or name in FORMAT_METHODS:
            continue
        value = getattr(sample, name)
        if value is _STR_FORMAT or value is _STR_FORMAT_MAP or (
                type(value) is _BUILTIN_METHOD and isinstance(value.__self__, str)
                and value.__name__ in FORMAT_METHODS):
            raise RuntimeError(f"{type(sample).__name__}.{name} is str.format under a name")
        names.add(name)
    return frozenset(names)


# A script's commonest reads (`data.get`, `text.strip`, `items.append`), by the exact type of
# the object read: `guarded_getattr` gives these the answer its general path would give, without
# walking it. Subclasses (a script's own) are not here: they take the general path.
# (Plain dicts, no script reaches them: a mapping proxy's `get` costs a method call more.)
_PLAIN_SAMPLES: Final[tuple[object, ...]] = (
    {}, [], "", (), set(), frozenset(), 0, 0.0, True, b"")
_PLAIN_READS: Final[dict[type, frozenset[str]]] = {
    type(sample): _plain_reads(sample) for sample in _PLAIN_SAMPLES
}


def _contract_members(kind: type[enum.Enum]) -> dict[str, enum.Enum]:
    members = dict(kind.__members__)
    for name, member in members.items():
        # What the general path would read: a public name, the class's own attribute.
        if name.startswith("_") or name in _NAMES_TO_CHECK or kind.__dict__[name] is not member:
            raise RuntimeError(f"{kind.__name__}.{name} is not read as a plain member")
    return members


# The contract's enum members by class (`VoipCallDirection.In`), read without the enum
# metaclass's attribute lookup (its Python-level `__getattr__` makes every read of a class
# attribute a slow one). No script can change these classes (`_write_` refuses them).
_ENUM_TYPE: Final = type(injected.VoipCallDirection)
_CONTRACT_MEMBERS: Final[dict[object, dict[str, enum.Enum]]] = {
    kind: _contract_members(kind) for kind in injected.CONTRACT_ENUMS
}


def guarded_getattr(obj: object, name: str) -> Any:
    """`_getattr_`: every `obj.name` read of a script.

    The value read is swapped when it is the real str.format / format_map, however reached
    (instance, class, super()).

    On every script's hot path, so its common case is spelled for the interpreter: the name
    test `"_" <= name < "`"` is `name.startswith("_")` for a str (every string starting with
    "_" sorts from "_" up to, not including, "`", the next character; every other string sorts
    outside) at half the cost of a method call; the view test is by exact type (ModuleView has
    no subclasses, and a script cannot make one: it is not a base `__metaclass__` allows); a
    builtin method's `__self__` is tested before its `__name__` (a new string each time it is
    read, and most builtin methods a script reads, `data.get`, are not bound to a str).
    """
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if type(name) is not str:
        raise TypeError("attribute name must be a str")
    kind = type(obj)
    plain = _PLAIN_READS.get(kind)
    if plain is not None:
        if name in plain:
            return getattr(obj, name)
    elif kind is _ENUM_TYPE:
        members = _CONTRACT_MEMBERS.get(obj)  # (a class: hashed by identity)
        if members is not None:
            member = members.get(name)
            if member is not None:
                return member
    if "_" <= name < "`" or name in _NAMES_TO_CHECK:
        refusal = attribute_refusal(obj, name)
        if refusal is not None:
            raise AttributeError(refusal)
        if name == "__init__":
            if isinstance(obj, type):
                return _checked_class_init(obj)
            return getattr(obj, "__init__")  # noqa: B009
    if type(obj) is ModuleView:
        # A view's only attributes are its members (modules.py).
        return view_member(obj, name)
    value = getattr(obj, name)
    if value is _STR_FORMAT:
        return safe_format
    if value is _STR_FORMAT_MAP:
        return safe_format_map
    if (
        type(value) is _BUILTIN_METHOD
        and isinstance(value.__self__, str)
        and value.__name__ in FORMAT_METHODS
    ):
        return _bind_format(value.__self__, value.__name__)
    return value


_NO_DEFAULT: Final = object()


def getattr_builtin(obj: object, name: str, default: Any = _NO_DEFAULT, /) -> Any:
    """The `getattr` builtin: `_getattr_`'s rules. A refused name is refused even with a default
    (a default is for a missing attribute, never a way to probe what the sandbox hides)."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if type(name) is not str:
        raise TypeError("getattr(): attribute name must be a str")
    refusal = attribute_refusal(obj, name)
    if refusal is not None:
        raise AttributeError(refusal)
    if default is _NO_DEFAULT:
        return guarded_getattr(obj, name)
    try:
        return guarded_getattr(obj, name)
    except AttributeError:
        return default


def hasattr_builtin(obj: object, name: str, /) -> bool:
    """The `hasattr` builtin: False for a missing attribute; a refused name is an error."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if type(name) is not str:
        raise TypeError("hasattr(): attribute name must be a str")
    refusal = attribute_refusal(obj, name)
    if refusal is not None:
        raise AttributeError(refusal)
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


# -- writing -------------------------------------------------------------------------------------

# What a script may change (attributes, items, `del`): its own containers and its own classes and
# instances. Everything else (injected objects, module views, host classes, enums, functions) is
# refused, whether or not Python itself would allow it.
WRITABLE: Final[tuple[tuple[str, Callable[[object], bool]], ...]] = (
    ("a plain container", lambda o: type(o) in (dict, list, set, bytearray)),
    ("an instance of the script's class", is_tenant_instance),
    ("a class of the script", is_tenant_class),
)


def describe(obj: object) -> str:
    if isinstance(obj, ModuleView):
        return f"module {view_name(obj)!r}"
    if isinstance(obj, type):
        return f"class {obj.__name__!r}"
    if isinstance(obj, injected.ReadOnlyMapping):
        return f"read-only {obj._label.lower()}"
    if isinstance(obj, script_types.ResultType | script_types.TypeName):
        return f"type {script_types.type_name(obj)!r}"
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        return f"function {obj.__name__!r}"
    return f"a {type(obj).__name__!r} object"


def guarded_write(obj: object) -> object:
    """`_write_(obj)`: the target of every `obj.x = ...`, `obj[k] = ...` and `del`."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    for _what, allows in WRITABLE:
        if allows(obj):
            return obj
    if type(obj) is types.FunctionType and obj.__code__.co_filename == SCRIPT_FILENAME:
        # The builder's own function (a memo such as `lookup.cache = {}`): not the sandbox's,
        # so say where such a value can live instead.
        raise TypeError(f"cannot set an attribute of {describe(obj)}: keep the value in a "
                        "variable, a dict or an instance of a class of the script")
    raise TypeError(f"cannot change {describe(obj)}: it belongs to the sandbox and is read-only")


# -- items, iteration, calls ---------------------------------------------------------------------

# Classes whose subscription means something to a script: enum lookup by name, generic aliases
# in annotations (`list[str]`).
_SUBSCRIPTABLE_CLASSES: Final[frozenset[type]] = frozenset(
    {*injected.CONTRACT_ENUMS, dict, list, tuple, set, frozenset, type}
)


def guarded_getitem(obj: Any, key: Any) -> Any:
    """`_getitem_`: `obj[key]` reads. Refuses subscripting host classes (class_getitem hooks)."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if isinstance(obj, type) and obj not in _SUBSCRIPTABLE_CLASSES:
        raise TypeError(f"class {obj.__name__!r} is not subscriptable in the sandbox")
    return obj[key]


def guarded_getiter(obj: Any) -> Iterator[Any]:
    """`_getiter_`: every `for`, comprehension and unpacking. Refuses capability objects."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if isinstance(obj, ModuleView | injected.Storage | injected.FetchResponse):
        raise TypeError(f"{describe(obj)} is not iterable")
    return iter(obj)


def guarded_unpack(it: Any, spec: Mapping[str, Any], getiter: Callable[[Any], Any]) -> Any:
    """`_unpack_sequence_`: `a, (b, c) = x`, each level through `_getiter_`."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    return guarded_unpack_sequence(it, spec, getiter)  # type: ignore[no-untyped-call]


def guarded_iter_unpack(
    it: Any, spec: Mapping[str, Any], getiter: Callable[[Any], Any]
) -> Iterable[Any]:
    """`_iter_unpack_sequence_`: `for a, b in x`."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    return guarded_iter_unpack_sequence(it, spec, getiter)  # type: ignore[no-untyped-call,no-any-return]


def guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`_apply_`: calls with `*args`/`**kwargs`. Private keyword names never reach host code."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    for name in kwargs:
        # str's own startswith: a name may be a script's str subclass with one of its own.
        if str.startswith(name, "_"):
            raise TypeError(f'keyword argument "{str.__str__(name)}" starts with "_"')
    return func(*args, **kwargs)


def guarded_match_rest(subject: Any, keys: tuple[Any, ...]) -> dict[Any, Any]:
    """`_match_rest_`: what `**rest` binds in a mapping pattern (policy.py rewrites it here).

    A plain dict of the subject's other items, as CPython builds it, except that the keys of a
    case-insensitive mapping (`request.headers`) are left out whatever their case.
    """
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if isinstance(subject, injected.CaseInsensitiveMapping):
        lowered = {key.lower() for key in keys if isinstance(key, str)}
        return {
            name: value
            for name, value in subject.items()
            if not (isinstance(name, str) and name.lower() in lowered)
        }
    rest = dict(subject)
    for key in keys:
        del rest[key]
    return rest


# -- arithmetic ----------------------------------------------------------------------------------

# `**` on ints is the one cheap way to ask for minutes of CPU in one expression
# (10 ** 10 ** 8). Results estimated above ~100,000 decimal digits are refused.
MAX_POW_BITS: Final = 332_200


def guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    """`**` (policy) and the `pow` builtin."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if (
        mod is None
        and isinstance(base, int)
        and isinstance(exp, int)
        and exp > 1
        and abs(base) > 1
        and (abs(base).bit_length() - 1) * exp > MAX_POW_BITS
    ):
        raise OverflowError("the result of ** would have more than 100,000 digits")
    return pow(base, exp) if mod is None else pow(base, exp, mod)


_INPLACE: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": guarded_pow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """`_inplacevar_`: `x += y` for names, items and attributes (the policy rewrites all three)."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    try:
        func = _INPLACE[op]
    except KeyError:
        raise TypeError(f"augmented assignment {op!r} is not supported") from None
    return func(target, value)


# -- imports -------------------------------------------------------------------------------------


# Each view's member names, by the name it is imported as.
_VIEW_NAMES: Final[dict[str, frozenset[str]]] = {
    name: frozenset(view_members(view)) for name, view in VIEWS.items()
}


def safe_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: Iterable[str] | None = (),
    level: int = 0,
) -> ModuleView:
    """`__import__`: only curated module views, never a real module."""
    if stopping.STOPPED is not None:
        raise stopping.refusal()
    if level != 0:
        raise ImportError("relative imports are not available in the sandbox")
    view = VIEWS.get(name)
    if view is None:
        raise ImportError(f"module {name!r} is not available in the sandbox", name=name)
    names = tuple(fromlist or ())
    if names and not _VIEW_NAMES[name].issuperset(names):  # (one C call for the usual case)
        for member in names:
            if not view_has(view, member):
                raise ImportError(f"cannot import name {member!r} from {name!r}", name=name)
    if not names and "." in name:
        # `import urllib.parse` binds the top-level package view.
        return VIEWS[name.split(".", 1)[0]]
    return view


# -- the guard dict ------------------------------------------------------------------------------


# The guard names every call shares: module-level functions and a class, none of which a script
# can change (`_write_` refuses them all). Each call's namespace gets them in a dict of its own.
SHARED_GUARDS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_getiter,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_apply_": guarded_apply,
        "_unpack_sequence_": guarded_unpack,
        "_iter_unpack_sequence_": guarded_iter_unpack,
        "__metaclass__": tenant_metaclass,
        "_pow_": guarded_pow,
        "_match_rest_": guarded_match_rest,
        # bare `except:` is compiled to `except _catchable_:` (policy.py)
        "_catchable_": Exception,
    }
)


def print_guard(output: injected.OutputLog) -> Callable[..., injected.PrintCollector]:
    """`_print_`, the one guard that is the call's own: it writes to this call's log."""

    def print_factory(_getattr: Any = None) -> injected.PrintCollector:
        if stopping.STOPPED is not None:
            raise stopping.refusal()
        return injected.PrintCollector(output)

    return print_factory


def make_guards(output: injected.OutputLog) -> dict[str, Any]:
    """The guard names of one call, in a new dict. `_print_` writes to this call's log."""
    guards = dict(SHARED_GUARDS)
    guards["_print_"] = print_guard(output)
    return guards
