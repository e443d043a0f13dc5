"""The compile policy: RestrictedPython's transformer, narrowed and widened to contract §3.

Narrowed: only a class's `__init__` may start with "_", no `exec`/`eval`/`compile`, no
`match` class patterns, only curated imports, `printed` is not special, private keyword
names are refused. Widened: augmented assignment to items and attributes (`counts[k] += 1`,
`self.total += x`) is rewritten through `_write_`, `_getitem_`/`_getattr_` and `_inplacevar_`;
`super().__init__` and `Base.__init__` reach `_getattr_`, which decides whose `__init__` it is.
Annotations are checked like any expression and then removed: they never run (see below).
Also: `a ** b` becomes `_pow_(a, b)`, and bare `except:` becomes `except _catchable_:`
(Exception), so a script can never catch BaseException-family exceptions the host raises.

Messages are RestrictedPython's "Line N: ..." records; compiler.py turns them into problems.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
)

from sandbox import locations
from sandbox.locations import copy_locations
from sandbox.modules import LISTED_MEMBERS, VIEWS, view_has, view_members

# RestrictedPython's own copy_locations walks every rewritten subtree again, so compiling a
# nested expression cost the square of its depth (sandbox/locations.py); its transformer's
# methods, which ScriptPolicy inherits, look the name up in their module.
locations.install()

# Names a script may not use at all (as a call, a value or a target).
REFUSED_NAMES: Final[dict[str, str]] = {
    "exec": '"exec" is not allowed: a script cannot run code from strings.',
    "eval": '"eval" is not allowed: a script cannot run code from strings.',
    "compile": '"compile" is not allowed: a script cannot compile code.',
    "printed": '"printed" is a reserved name.',
}

# Attributes refused at compile time on top of RestrictedPython's INSPECT_ATTRIBUTES.
EXTRA_REFUSED_ATTRIBUTES: Final = frozenset(
    {"func_globals", "func_code", "func_closure", "gi_running", "gi_suspended"}
)

# Names `_getattr_` refuses on some objects only (guards.READ_RULES): a value pattern's dotted
# name is read natively, so they are refused there outright.
VALUE_PATTERN_REFUSED: Final = frozenset({"mro", "obj"})

ALLOWED_MODULES_TEXT: Final = ", ".join(sorted(VIEWS))
_HTTP: Final = ("to call an HTTP API use fetch(url, method=..., headers=..., body=...), which "
                "needs no import")
# What a builder reaching for a usual module (by its top-level name) uses here instead.
INSTEAD: Final[dict[str, str]] = {
    **dict.fromkeys(("requests", "httpx", "urllib3", "urllib.request", "http", "aiohttp",
                     "socket"), _HTTP),
    "logging": "to write to the execution log use log(...) or print(...), which need no import",
    **dict.fromkeys(("zoneinfo", "pytz"), "for Moscow time use "
                    "datetime.timezone(datetime.timedelta(hours=3)), and so for any fixed offset"),
    **dict.fromkeys(("random", "secrets"), "for a unique id use uuid.uuid4()"),
    "asyncio": "fetch() is an ordinary call: write def, not async def",
    "dataclasses": "write a plain class with __init__",
    "copy": "copy a dict with dict(d), a list with list(items)",
    "collections": "a dict keeps insertion order; for defaultdict write d.setdefault(key, []) "
                   "or d.get(key, 0) + 1, for namedtuple a plain class with __init__",
    "functools": "a decorator works without functools.wraps; for reduce write a loop, for "
                 "partial a lambda",
    "itertools": "use comprehensions, zip, enumerate and range",
    "operator": "use a lambda, such as key=lambda row: row['name']",
    "enum": "the Voip... enums need no import; for your own constants write a class of them",
    **dict.fromkeys(("email", "calendar"), "read a date such as 'Tue, 04 Mar 2025 10:15:02 "
                    "+0000' with datetime.strptime(text, '%a, %d %b %Y %H:%M:%S %z'); a UTC "
                    "timestamp is int(moment.replace(tzinfo=timezone.utc).timestamp())"),
    **dict.fromkeys(("decimal", "fractions"), "count money in whole cents as an int, or use "
                    "round(value, 2)"),
    "binascii": "bytes.hex(), bytes.fromhex() and base64 cover it",
    **dict.fromkeys(("xml", "lxml", "html"), "there is no XML or HTML parser: read a small "
                    "body with re, write one with string formatting"),
    **dict.fromkeys(("os", "sys"), "a script reads its configuration from settings, such as "
                    "settings['apiKey'], not from the environment"),
}

_Visit = Any  # what a visit_ method returns: a node, a list of nodes or None


def _name(ident: str, ctx: ast.expr_context | None = None) -> ast.Name:
    return ast.Name(ident, ctx or ast.Load())


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(func), args=list(args), keywords=[])


def _is_type_checking(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`, as written."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return (
        isinstance(test, ast.Attribute)
        and test.attr == "TYPE_CHECKING"
        and isinstance(test.value, ast.Name)
        and test.value.id == "typing"
    )


def _is_main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"` (either way round): a builder's own test run at the bottom of
    the file. A script is never `__main__` in the sandbox (its `__name__` is the executor's,
    and no script can assign a `_` name), so the block could never run: it is left out of the
    compiled code like `if TYPE_CHECKING:`, never checked, never compiled."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(a, ast.Name) and a.id == "__name__" and isinstance(b, ast.Constant)
               and b.value == "__main__" for a, b in (sides, sides[::-1]))


def _bound_names(statements: list[ast.stmt]) -> Iterator[str]:
    """The names `statements` bind: imports, classes, functions and assignment targets."""
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    if alias.name != "*":
                        yield alias.asname or alias.name.split(".", 1)[0]
            elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                yield node.name
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                yield node.id


# RestrictedPython's words (and ours, for keywords) for a name starting with "_", which say
# what is wrong and not what to write instead.
_UNDERSCORE_REFUSAL: Final = re.compile(
    r'"(?P<name>_[^"]*)" is an invalid (?:variable name|attribute name|keyword argument) '
    r'because it starts with "_"\.?')


# What a builder reading a special attribute wants, written the sandbox's way.
_SPECIAL_ATTRIBUTE_INSTEAD: Final[dict[str, str]] = {
    **dict.fromkeys(("__name__", "__qualname__"),
                    "a function's name for a log: write it out, or give it to the decorator, "
                    "as @traced(\"go\"); an error's kind and message: repr(error)"),
    "__class__": "a value's kind: isinstance(value, Call); an error's kind and message: "
                 "repr(error)",
    "__dict__": "an instance's fields: keep them in a dict of its own, as self.fields = {}",
}

# The public methods of a named tuple, which Python's documentation shows (`parts._replace(
# query=...)`) though they start with "_": no rename makes them work.
_NAMED_TUPLE_METHODS: Final = frozenset({"_replace", "_asdict", "_fields", "_make"})


def underscore_advice(node: ast.AST, info: str) -> str:
    """A refusal of a name starting with "_" with what to write instead (any other refusal
    unchanged): `self._total`, `def __str__` and `type(x).__name__` are a Python developer's
    habits, and "... because it starts with "_"" alone does not say what the sandbox offers."""
    found = _UNDERSCORE_REFUSAL.fullmatch(info)
    if found is None:
        return info
    name = found["name"]
    said = info if info.endswith(".") else info + "."
    if isinstance(node, ast.Attribute) and name in _NAMED_TUPLE_METHODS:
        return (f"{said} {name} of a named tuple (what urlparse and urlsplit return) is not "
                "available in the sandbox: build the new one with urlunsplit((parts.scheme, "
                "parts.netloc, parts.path, new_query, parts.fragment)), or read the fields by "
                "name (parts.query).")
    if not (name.startswith("__") and name.endswith("__") and len(name) > 4):
        plain = name.lstrip("_") or "value"
        return (f"{said} Names starting with \"_\" are refused in the sandbox: rename it, "
                f"such as \"{plain}\".")
    if isinstance(node, ast.FunctionDef):
        return (f"{said} Special methods other than __init__ are not available in the sandbox: "
                "write a plain method instead (def describe(self): ..., called as "
                "obj.describe()).")
    if isinstance(node, ast.Attribute):
        return (f"{said} Python's special attributes are not readable in the sandbox ("
                + _SPECIAL_ATTRIBUTE_INSTEAD.get(name, "an error's kind and message: repr(error)")
                + ").")
    return f"{said} Python's special names are not available in the sandbox."


# The types whose class pattern matches the subject itself (`case str(caller)`): a JSON
# payload's type check, which a capture and an isinstance guard write as well.
_SELF_MATCHING_TYPES: Final = frozenset(
    {"bool", "bytes", "dict", "float", "frozenset", "int", "list", "set", "str", "tuple"})


def _type_check_advice(node: ast.MatchClass) -> str:
    """For `case str(caller)` or `case int()`: the capture and guard that check the same."""
    cls = node.cls
    if not (isinstance(cls, ast.Name) and cls.id in _SELF_MATCHING_TYPES) or node.kwd_patterns \
            or len(node.patterns) > 1:
        return ""
    inner = node.patterns[0] if node.patterns else None
    name = (inner.name if isinstance(inner, ast.MatchAs) and inner.pattern is None
            and inner.name else "value")
    return (f" For {cls.id}({name if node.patterns else ''}) write a capture and a guard: "
            f"case {name} if isinstance({name}, {cls.id}), or inside a mapping "
            f"case {{\"key\": {name}}} if isinstance({name}, {cls.id}).")


class ScriptPolicy(RestrictingNodeTransformer):
    """The tenant script policy. Default deny stays: an unknown node is refused."""

    def error(self, node: ast.AST, info: str) -> None:
        super().error(node, underscore_advice(node, info))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # True while directly in a class body: only there may a `def` be named __init__.
        self._class_body: list[bool] = [False]
        # The `from __future__` statements that come first in the module (visit_Module).
        self._future_allowed: set[int] = set()
        # Names an `if TYPE_CHECKING:` block binds (visit_If): the block never runs, so a
        # NameError for one of them says so (executor.script_error).
        self.type_checking_names: set[str] = set()

    @contextmanager
    def _scope(self, class_body: bool) -> Iterator[None]:
        self._class_body.append(class_body)
        try:
            yield
        finally:
            self._class_body.pop()

    # -- names ----------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> _Visit:
        if node.id in REFUSED_NAMES:
            self.error(node, REFUSED_NAMES[node.id])
            return node
        return super().visit_Name(node)

    def visit_Global(self, node: ast.Global) -> _Visit:
        for name in node.names:
            self.check_name(node, name)
        return self.node_contents_visit(node)

    def visit_keyword(self, node: ast.keyword) -> _Visit:
        if node.arg is not None and node.arg.startswith("_"):
            self.error(
                node, f'"{node.arg}" is an invalid keyword argument because it starts with "_"'
            )
        return self.node_contents_visit(node)

    def visit_Call(self, node: ast.Call) -> _Visit:
        # RestrictedPython's visit_Call minus its own exec/eval message (visit_Name has ours).
        needs_wrap = any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        )
        node = self.node_contents_visit(node)
        if not needs_wrap:
            return node
        node.args.insert(0, node.func)
        node.func = _name("_apply_")
        copy_locations(node.func, node.args[0])
        return node

    # -- attributes -----------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> _Visit:
        if node.attr == "__init__":
            # super().__init__(...) and Base.__init__(self, ...): read only, checked at run time.
            if not isinstance(node.ctx, ast.Load):
                self.error(node, '"__init__" can be defined in a class, not assigned.')
                return node
            node = self.node_contents_visit(node)
            new_node = _call("_getattr_", node.value, ast.Constant("__init__"))
            copy_locations(new_node, node)
            return new_node
        if node.attr in EXTRA_REFUSED_ATTRIBUTES:
            self.error(
                node,
                f'"{node.attr}" is a restricted name, that is forbidden to access in '
                "RestrictedPython.",
            )
        return super().visit_Attribute(node)

    # -- definitions ----------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> _Visit:
        if not (node.name == "__init__" and self._class_body[-1]):
            self.check_name(node, node.name)
        self.check_function_argument_names(node)
        self._drop_return_annotation(node)
        with self.print_info.new_print_scope(), self._scope(class_body=False):
            node = self.node_contents_visit(node)
            self.inject_print_collector(node)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> _Visit:
        with self._scope(class_body=False):
            return super().visit_Lambda(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> _Visit:
        with self._scope(class_body=True):
            new_node = cast(ast.ClassDef, super().visit_ClassDef(node))
        # RestrictedPython builds the new class node from a parsed template: its own location
        # is line 1. Errors raised by `__metaclass__` must name the tenant's line.
        copy_locations(new_node, node)
        for keyword in new_node.keywords:
            copy_locations(keyword, node)
            copy_locations(keyword.value, node)
        return new_node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> _Visit:
        self.error(
            node,
            f'"async def {node.name}" is not supported: write "def {node.name}(...)". '
            "Here fetch() is an ordinary call; it needs no await.",
        )

    def visit_Await(self, node: ast.Await) -> _Visit:
        self.error(node, '"await" is not supported: fetch() is an ordinary call, no await.')

    def visit_AsyncFor(self, node: ast.AsyncFor) -> _Visit:
        self.error(node, '"async for" is not supported: write "for".')

    def visit_AsyncWith(self, node: ast.AsyncWith) -> _Visit:
        self.error(node, '"async with" is not supported.')

    # -- statements -----------------------------------------------------------------------------

    # -- match (contract §3): every pattern but class patterns ---------------------------------
    # CPython matches patterns natively, not through the guards: a value pattern's dotted name
    # is read with LOAD_ATTR, a mapping pattern calls the subject's `get`, a sequence pattern
    # its `len` and items. So the names written are checked here, at upload, by the rules
    # `_getattr_` applies (a value pattern only compares; nothing it reads reaches the script);
    # the subject of a mapping or sequence pattern must be a real mapping or sequence, and the
    # injected ones (headers, query, settings) only hand out their values, as `[k]` does. Class
    # patterns read attributes named by `__match_args__` outside the guards: refused.

    def visit_Match(self, node: ast.Match) -> _Visit:
        return self.node_contents_visit(node)

    def visit_match_case(self, node: ast.match_case) -> _Visit:
        node = self.node_contents_visit(node)
        self._rest_through_guard(node)
        return node

    def _rest_through_guard(self, case: ast.match_case) -> None:
        """`case {"k": v, **rest}:` binds `rest` through `_match_rest_`, not CPython's copy.

        CPython copies the subject and deletes each key as the pattern wrote it, so `**rest` on
        the case-insensitive `request.headers` would fail for a key written in another case.
        Rewritten: `case {"k": v} as _tmpN if (rest := _match_rest_(_tmpN, ("k",))) is not None
        and <guard>:`. Only for constant keys outside OR patterns (alternatives must bind the
        same names); the rest are left to CPython.
        """
        rests: list[tuple[str, str, list[ast.expr]]] = []
        policy = self

        class Rewrite(ast.NodeTransformer):
            def visit_MatchOr(self, node: ast.MatchOr) -> ast.AST:
                return node

            def visit_MatchMapping(self, node: ast.MatchMapping) -> ast.AST:
                self.generic_visit(node)
                if node.rest is None or not all(isinstance(k, ast.Constant) for k in node.keys):
                    return node
                tmp = policy.gen_tmp_name()
                rests.append((node.rest, tmp, node.keys))
                plain = ast.MatchMapping(keys=node.keys, patterns=node.patterns, rest=None)
                wrapped = ast.MatchAs(pattern=plain, name=tmp)
                copy_locations(plain, node)
                copy_locations(wrapped, node)
                return wrapped

        case.pattern = Rewrite().visit(case.pattern)
        if not rests:
            return
        tests: list[ast.expr] = []
        for rest, tmp, keys in rests:
            keys_tuple = ast.Tuple(
                elts=[ast.Constant(k.value) for k in keys if isinstance(k, ast.Constant)],
                ctx=ast.Load(),
            )
            bind = ast.NamedExpr(
                target=_name(rest, ast.Store()),
                value=_call("_match_rest_", _name(tmp), keys_tuple),
            )
            bound = ast.Compare(left=bind, ops=[ast.IsNot()], comparators=[ast.Constant(None)])
            tests.append(bound)
        if case.guard is not None:
            tests.append(case.guard)
        guard = tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests)
        for new in ast.walk(guard):
            if isinstance(new, ast.expr) and not hasattr(new, "lineno"):
                copy_locations(new, case.pattern)
        case.guard = guard

    def visit_MatchValue(self, node: ast.MatchValue) -> _Visit:
        if isinstance(node.value, ast.Attribute):
            self._check_value_pattern(node, node.value)
            return node  # left as written: a pattern's value must stay a dotted name
        return self.node_contents_visit(node)

    def _check_value_pattern(self, node: ast.AST, value: ast.expr) -> None:
        while isinstance(value, ast.Attribute):
            attr = value.attr
            if attr.startswith("_"):
                self.error(
                    node, f'"{attr}" is an invalid attribute name because it starts with "_".'
                )
            elif attr in INSPECT_ATTRIBUTES or attr in EXTRA_REFUSED_ATTRIBUTES:
                self.error(node, f'"{attr}" is a restricted name.')
            elif attr in VALUE_PATTERN_REFUSED:
                self.error(node, f'"{attr}" cannot be read in a pattern.')
            value = value.value
        if isinstance(value, ast.Name):
            self.visit_Name(value)

    def visit_MatchSingleton(self, node: ast.MatchSingleton) -> _Visit:
        return node

    def visit_MatchSequence(self, node: ast.MatchSequence) -> _Visit:
        return self.node_contents_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> _Visit:
        if node.name is not None:
            self.check_name(node, node.name)
        return node

    def visit_MatchMapping(self, node: ast.MatchMapping) -> _Visit:
        if node.rest is not None:
            self.check_name(node, node.rest)
        for key in node.keys:
            if isinstance(key, ast.Attribute):
                self._check_value_pattern(node, key)
            else:
                self.visit(key)
        for pattern in node.patterns:
            self.visit(pattern)
        return node

    def visit_MatchAs(self, node: ast.MatchAs) -> _Visit:
        if node.name is not None:
            self.check_name(node, node.name)
        return self.node_contents_visit(node)

    def visit_MatchOr(self, node: ast.MatchOr) -> _Visit:
        return self.node_contents_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> _Visit:
        self.error(
            node,
            "Class patterns such as \"case Point(x=0)\" are not allowed: they read attributes "
            "outside the sandbox's checks. Use a mapping pattern (case {\"type\": \"start\"}) or "
            "a guard (case x if isinstance(x, Point))." + _type_check_advice(node),
        )
        return node

    def visit_TryStar(self, node: ast.AST) -> _Visit:
        self.error(node, '"except*" is not allowed: use "except".')

    def visit_Nonlocal(self, node: ast.Nonlocal) -> _Visit:
        for name in node.names:
            self.check_name(node, name)
        return node

    # -- annotations ----------------------------------------------------------------------------
    # An annotation is checked like any expression (so `x: __import__("os")` is refused at
    # upload) and then removed from the compiled code: annotations never run. A script cannot
    # read `__annotations__` (a "_" name), so nothing a script sees depends on them, and an
    # expression that never runs cannot be a way around a guard at def time.

    def _checked_annotation(self, annotation: ast.expr | None) -> None:
        if annotation is not None:
            self.visit(annotation)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> _Visit:
        """`x: int = v` is `x = v`; a bare `x: int` does nothing."""
        self._checked_annotation(node.annotation)
        if node.value is None:
            # Keep a statement: `x: int` may be the only line of a class body.
            replacement: ast.stmt = ast.Pass()
            copy_locations(replacement, node)
            if not isinstance(node.target, ast.Name):
                self.visit(node.target)  # `self._x: int` is refused like any `_` attribute
            return replacement
        assign = ast.Assign(targets=[node.target], value=node.value)
        copy_locations(assign, node)
        return self.visit(assign)

    def visit_arg(self, node: ast.arg) -> _Visit:
        self._checked_annotation(node.annotation)
        node.annotation = None
        return node

    def _drop_return_annotation(self, node: ast.FunctionDef) -> None:
        self._checked_annotation(node.returns)
        node.returns = None

    # -- `from __future__ import annotations` and `if TYPE_CHECKING:` -----------------------------

    def visit_Module(self, node: ast.Module) -> _Visit:
        # Future imports are legal only first in the file (after a docstring).
        self._future_allowed.clear()
        body = node.body
        start = (
            1
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            else 0
        )
        for statement in body[start:]:
            if not (isinstance(statement, ast.ImportFrom) and statement.module == "__future__"):
                break
            self._future_allowed.add(id(statement))
        return super().visit_Module(node)

    def _future_import(self, node: ast.ImportFrom) -> _Visit:
        """`from __future__ import annotations` is accepted and dropped (annotations never run)."""
        if id(node) not in self._future_allowed:
            self.error(node, "from __future__ imports must come first in the script.")
            return node
        for alias in node.names:
            if alias.name != "annotations" or alias.asname is not None:
                self.error(
                    node,
                    f'"from __future__ import {alias.name}" is not allowed: only '
                    '"from __future__ import annotations" is.',
                )
                return node
        return None

    def visit_If(self, node: ast.If) -> _Visit:
        """`if TYPE_CHECKING:` is for type checkers only, and `if __name__ == "__main__":` for
        running the file outside the service (_is_main_guard): neither block is compiled.

        It is where a typed script imports the published stubs (docs/modules.md); a script that
        rebinds TYPE_CHECKING cannot run the block, which is not in the compiled code at all.
        """
        if _is_type_checking(node.test) or _is_main_guard(node.test):
            if _is_type_checking(node.test):
                self.type_checking_names.update(_bound_names(node.body))
            if not node.orelse:
                replacement: ast.stmt = ast.Pass()
                copy_locations(replacement, node)
                return replacement
            return [self.visit(statement) for statement in node.orelse]
        return self.node_contents_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> _Visit:
        bare = node.type is None
        new_node = cast(ast.ExceptHandler, super().visit_ExceptHandler(node))
        if bare:
            # bare except catches what `except Exception` catches, never the host's
            # BaseException-family signals (limits, interrupts).
            new_node.type = _name("_catchable_")
            copy_locations(new_node.type, new_node)
        return new_node

    def visit_BinOp(self, node: ast.BinOp) -> _Visit:
        node = self.node_contents_visit(node)
        if isinstance(node.op, ast.Pow):
            new_node = _call("_pow_", node.left, node.right)
            copy_locations(new_node, node)
            return new_node
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> _Visit:
        """`x.a += v` and `x[k] += v`, through the same guards as their plain forms.

        x.a += v   ->  _tmpN = _write_(x); _tmpN.a = _inplacevar_('+=', _getattr_(_tmpN, 'a'), v)
        x[k] += v  ->  _tmpN = _write_(x); _tmpM = k
                       _tmpN[_tmpM] = _inplacevar_('+=', _getitem_(_tmpN, _tmpM), v)
        The temporaries start with "_", so a script can never see them. Evaluation order is
        Python's: the object, the key, the current value, then the right-hand side.
        """
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        op = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        if isinstance(target, ast.Attribute):
            self._check_attribute_name(target)
            obj_tmp = self.gen_tmp_name()
            obj = self.visit(target.value)
            value = self.visit(node.value)
            current = _call("_getattr_", _name(obj_tmp), ast.Constant(target.attr))
            store: ast.expr = ast.Attribute(_name(obj_tmp), target.attr, ast.Store())
            statements: list[ast.stmt] = [
                ast.Assign([_name(obj_tmp, ast.Store())], _call("_write_", obj)),
                ast.Assign([store], _call("_inplacevar_", op, current, value)),
            ]
        elif isinstance(target, ast.Subscript):
            if isinstance(target.slice, ast.Slice):
                self.error(
                    node,
                    "Augmented assignment to a slice is not supported: "
                    "write x[a:b] = x[a:b] + ... instead.",
                )
                return node
            obj_tmp, key_tmp = self.gen_tmp_name(), self.gen_tmp_name()
            obj = self.visit(target.value)
            key = self.visit(target.slice)
            value = self.visit(node.value)
            current = _call("_getitem_", _name(obj_tmp), _name(key_tmp))
            store = ast.Subscript(_name(obj_tmp), _name(key_tmp), ast.Store())
            statements = [
                ast.Assign([_name(obj_tmp, ast.Store())], _call("_write_", obj)),
                ast.Assign([_name(key_tmp, ast.Store())], key),
                ast.Assign([store], _call("_inplacevar_", op, current, value)),
            ]
        else:  # pragma: no cover  (the grammar allows only the three)
            self.not_allowed(node)
            return node
        for statement in statements:
            copy_locations(statement, node)
        return statements

    def _check_attribute_name(self, node: ast.Attribute) -> None:
        probe = ast.Attribute(ast.Constant(None), node.attr, ast.Load())
        copy_locations(probe, node)
        if node.attr == "__init__":
            self.error(node, '"__init__" can be defined in a class, not assigned.')
        else:
            self.visit_Attribute(probe)  # records the same errors a plain read would

    # -- imports --------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> _Visit:
        for alias in node.names:
            if alias.name not in VIEWS:
                self.error(node, self._unknown_module(alias.name))
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> _Visit:
        module = node.module or ""
        if module == "__future__" and not node.level:
            return self._future_import(node)
        if node.level:
            self.error(node, "Relative imports are not allowed.")
        elif module not in VIEWS:
            self.error(node, self._unknown_module(module))
        else:
            view = VIEWS[module]
            for alias in node.names:
                if alias.name != "*" and not view_has(view, alias.name):
                    self.error(
                        node,
                        f'Cannot import "{alias.name}" from "{module}": '
                        f"it is not available in the sandbox{self._view_offers(module)}",
                    )
        return super().visit_ImportFrom(node)

    @staticmethod
    def _view_offers(module: str) -> str:
        """The rest of a refused `from module import name`: what to do instead."""
        if module == "typing":
            return '. Annotations never run: import it under "if TYPE_CHECKING:".'
        members = sorted(view_members(VIEWS[module]))
        if len(members) > LISTED_MEMBERS:
            return "."
        return f', whose "{module}" offers only {", ".join(members)}.'

    @staticmethod
    def _unknown_module(name: str) -> str:
        instead = INSTEAD.get(name) or INSTEAD.get(name.split(".", 1)[0])
        return (
            f'Module "{name}" is not available in the sandbox'
            + (f" ({instead})" if instead else "")
            + f"; a script may import: {ALLOWED_MODULES_TEXT}."
        )
