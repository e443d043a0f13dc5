"""Compile a tenant script: size, syntax, policy and the contract's static checks, all at once.

`compile_script` never raises on hostile input: deep nesting, huge sources, null bytes and
compiler crashes become `CompileProblem`s with the tenant's line numbers and plain words.
Compiled code is cached by the source's sha256 (a bounded LRU): each call re-runs the module,
never the compiler.
"""

from __future__ import annotations

import _thread
import ast
import difflib
import hashlib
import re
import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import CodeType, MappingProxyType
from typing import Final

from sandbox.call import REQUIRED_FUNCTIONS, SCRIPT_FUNCTIONS
from sandbox.limits import Limits
from sandbox.outcome import CompileProblem
from sandbox.policy import ScriptPolicy

SCRIPT_FILENAME: Final = "<script>"
CACHE_SIZE: Final = 256
SOURCE_LIMIT_MARK: Final = "bytes; the limit is"  # compile problems about the size say this

_LINE_RECORD = re.compile(r"^Line (\d+|None): (.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CompiledScript:
    code: CodeType
    sha256: str
    # Top-level plain `def`s of the script: name -> the line of its (last) `def`.
    functions: Mapping[str, int]
    # Names bound only for type checkers, in an `if TYPE_CHECKING:` block that never runs.
    type_checking_names: frozenset[str] = frozenset()


CompileResult = CompiledScript | list[CompileProblem]

_cache: OrderedDict[str, tuple[int, CompileResult]] = OrderedDict()
# `_thread`, not `threading`: this module is imported by the worker template, and importing
# `threading` there registers an after-fork hook that costs every forked worker about 125
# copy-on-write page faults (~0.3 ms of CPU) before it runs a line of its own.
_cache_lock = _thread.allocate_lock()
# The script looked up last and its cache entry (`compile_script`'s first check).
_last: tuple[object, tuple[int, CompileResult] | None] = (None, None)


def compile_script(source: str, limits: Limits) -> CompileResult:
    """The compiled script, or every problem found (sorted by line)."""
    # A worker runs one script call after call, handed the same str object each time: the
    # last one looked up is checked first, by identity (one tuple, replaced whole, so a thread
    # reading it sees one entry or the other).
    last = _last
    if last[0] is source:
        cached: tuple[int, CompileResult] | None = last[1]
    else:
        cached = _cached(source)
        if cached is not None:
            _remember_last(source, cached)
    if cached is None:
        try:
            encoded = source.encode("utf-8", "surrogatepass")
        except (AttributeError, UnicodeError):
            return [CompileProblem(None, "the script must be UTF-8 text")]
        size = len(encoded)
        if size > limits.source_bytes:
            return [source_too_large(size, limits)]
        cached = (size, _compile_uncached(source, hashlib.sha256(encoded).hexdigest()))
        with _cache_lock:
            _cache[source] = cached
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        _remember_last(source, cached)
    size, result = cached
    if size > limits.source_bytes:
        return [source_too_large(size, limits)]
    return list(result) if isinstance(result, list) else result


def _cached(source: str) -> tuple[int, CompileResult] | None:
    # The cache is keyed by the text itself: a worker gets the same str object for a script it
    # already holds, so the lookup is a cached hash and an identity check, no re-hashing.
    with _cache_lock:
        cached = _cache.get(source) if isinstance(source, str) else None
        if cached is not None:
            _cache.move_to_end(source)
    return cached


def _remember_last(source: str, cached: tuple[int, CompileResult]) -> None:
    global _last
    _last = (source, cached)


def source_too_large(size: int, limits: Limits) -> CompileProblem:
    return CompileProblem(
        None, f"the script is {size} {SOURCE_LIMIT_MARK} {limits.source_bytes} bytes"
    )


def is_source_limit(problems: list[CompileProblem]) -> bool:
    return len(problems) == 1 and SOURCE_LIMIT_MARK in problems[0].message


BYTE_ORDER_MARK = "\ufeff"
_TOO_DEEP = "the script is nested too deeply to compile; split the expression or the blocks"


def _compile_uncached(source: str, key: str) -> CompileResult:
    # A UTF-8 byte order mark opening the text is the file's encoding marker, no part of the
    # script, as Python reads a file (an editor on Windows writes one; pasted or uploaded
    # through the API it arrived as a character and failed with "invalid non-printable
    # character U+FEFF" where `python script.py` and `voip-runtime run` ran it).
    source = source.removeprefix(BYTE_ORDER_MARK)
    try:
        tree = ast.parse(source, filename=SCRIPT_FILENAME)
    except SyntaxError as error:
        return [_syntax_problem(error)]
    except (RecursionError, MemoryError):
        return [CompileProblem(None, _TOO_DEEP)]
    except (ValueError, TypeError) as error:  # e.g. null bytes
        return [CompileProblem(None, f"the script cannot be read: {error}")]

    problems = contract_problems(tree)
    errors: list[str] = []
    try:
        policy = ScriptPolicy(errors, [], {})
        policy.visit(tree)
    except (RecursionError, MemoryError):
        return [*problems, CompileProblem(None, _TOO_DEEP)]
    problems.extend(_line_record(record) for record in errors)
    if problems:
        return _sorted(problems)
    try:
        code = compile(tree, SCRIPT_FILENAME, "exec", dont_inherit=True)
    except SyntaxError as error:
        return [_syntax_problem(error)]
    except (RecursionError, MemoryError):
        return [CompileProblem(None, _TOO_DEEP)]
    except (ValueError, TypeError) as error:
        return [CompileProblem(None, f"the script cannot be compiled: {error}")]
    defs = _top_level_defs(tree)
    functions = MappingProxyType({name: node.lineno for name, node in defs.items()})
    return CompiledScript(code=code, sha256=key, functions=functions,
                          type_checking_names=frozenset(policy.type_checking_names))


def _sorted(problems: list[CompileProblem]) -> list[CompileProblem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _syntax_problem(error: SyntaxError) -> CompileProblem:
    if "too many nested" in (error.msg or "") or "too complex" in (error.msg or ""):
        return CompileProblem(error.lineno, _TOO_DEEP)
    text = (error.text or "").strip()
    shown = f": {text[:200]}" if text else ""
    hint = _SAME_QUOTE_HINT if _same_quote_in_f_string(error.msg or "", text) else ""
    return CompileProblem(error.lineno, f"syntax error: {error.msg}{shown}{hint}")


# An f-string opened with a quote and holding that quote inside a replacement field:
# f"{data["id"]}", valid from Python 3.12 (a template string `${data.id}` ported as written),
# which Python 3.11 reports only as "f-string: unmatched '['" or "expecting '}'".
_SAME_QUOTE = re.compile(r"""\b[fF][rR]?(["'])(?:(?!\1).)*?\{[^}]*?\1""")
_SAME_QUOTE_HINT: Final = (
    " (inside an f-string's braces, quote with the other kind of quote, as "
    "f\"{data['id']}\": the same quote there is Python 3.12's, and scripts run on Python "
    f"{sys.version_info.major}.{sys.version_info.minor})")


def _same_quote_in_f_string(message: str, text: str) -> bool:
    return message.startswith("f-string") and _SAME_QUOTE.search(text) is not None


def _line_record(record: str) -> CompileProblem:
    match = _LINE_RECORD.match(record)
    if match is None:
        return CompileProblem(None, record)
    line = None if match.group(1) == "None" else int(match.group(1))
    return CompileProblem(line, match.group(2))


def _top_level_defs(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _top_level_assignment(tree: ast.Module, name: str) -> int | None:
    """The line of the first top-level statement that assigns `name`, if any."""
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node.lineno
    return None


def _signature_text(name: str) -> str:
    count = SCRIPT_FUNCTIONS[name]
    return f"{count} positional argument" + ("" if count == 1 else "s")


def _accepts(node: ast.FunctionDef, count: int) -> bool:
    args = node.args
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    kwonly_required = any(d is None for d in args.kw_defaults)
    fits = required <= count and (count <= positional or args.vararg is not None)
    return fits and not kwonly_required


def contract_problems(tree: ast.Module) -> list[CompileProblem]:
    """The contract's static checks (§2): required functions, arities, near-miss names."""
    problems: list[CompileProblem] = []
    defs = _top_level_defs(tree)
    for name in REQUIRED_FUNCTIONS:
        if name not in defs and not _async_def(tree, name):
            assigned = _top_level_assignment(tree, name)
            if assigned is not None:
                # `VoipParseWebhookRequest = lambda request: ...`, or a class's static method
                # given the name: JavaScript's `const f = (request) => ...` ported as written.
                problems.append(CompileProblem(
                    assigned,
                    f"{name} is assigned here; the platform calls it only when it is written "
                    f'as a plain "def {name}(request):" (not a lambda or another function '
                    f"given the name)",
                ))
                continue
            problems.append(
                CompileProblem(
                    None,
                    f"the script must define {name}(request) at the top level, "
                    f'as a plain "def {name}(request):"',
                )
            )
    lowered = {name.lower(): name for name in SCRIPT_FUNCTIONS}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.name in SCRIPT_FUNCTIONS:
            if isinstance(node, ast.FunctionDef) and not _accepts(
                node, SCRIPT_FUNCTIONS[node.name]
            ):
                problems.append(
                    CompileProblem(
                        node.lineno,
                        f"{node.name} is called with {_signature_text(node.name)}; "
                        "its parameters must accept exactly that",
                    )
                )
            if isinstance(node, ast.FunctionDef):
                problems.extend(_generator_problem(node))
            continue
        close = difflib.get_close_matches(node.name.lower(), list(lowered), n=1, cutoff=0.85)
        if close:
            problems.append(
                CompileProblem(
                    node.lineno,
                    f'"{node.name}" is not a function the platform calls; '
                    f"did you mean {lowered[close[0]]}?",
                )
            )
    return problems


def _generator_problem(node: ast.FunctionDef) -> list[CompileProblem]:
    """A contract function with `yield` in it is a generator function: calling it runs none of
    its body and hands back a generator, which no result can hold, and which the platform
    drops unrun from VoipGenerateCall (a click-to-call that rings no one, saying nothing).
    A decorated one is left alone: its decorator may consume the generator (`list(fn())`)."""
    found = None if node.decorator_list else _first_yield(node)
    if found is None:
        return []
    return [
        CompileProblem(
            found.lineno,
            f"{node.name} is a generator function because of this yield, so the platform "
            "would get a generator and none of its body would run; return the result instead",
        )
    ]


def _first_yield(function: ast.FunctionDef) -> ast.Yield | ast.YieldFrom | None:
    """The first `yield` of the function's own body (nested functions, lambdas and classes
    are scopes of their own). Walked with a stack, not recursion: the tree may be deep."""
    stack: list[ast.AST] = list(reversed(function.body))
    first: ast.Yield | ast.YieldFrom | None = None
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            if first is None or (node.lineno, node.col_offset) < (first.lineno, first.col_offset):
                first = node
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return first


def _async_def(tree: ast.Module, name: str) -> bool:
    # An `async def` of a required name already gets the policy's "write def" message.
    return any(isinstance(n, ast.AsyncFunctionDef) and n.name == name for n in tree.body)
