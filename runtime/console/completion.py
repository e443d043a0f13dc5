"""What the console's editor completes, built from the definitions the sandbox itself uses.

Nothing here is a hand-kept list of the contract: the injected names, their members, signatures
and one-line docs are read from the typed stub `sandbox/stubs.stub_text()` (itself generated
from `INJECTED_MEMBERS`, `script_types.RESULT_TYPES` and the contract's enums), the builtins
from `sandbox/builtins_table.py`, and the importable modules from the curated views of
`sandbox/modules.VIEWS` (each listed member's signature and doc from the real module object).
A name injected into scripts without an entry here fails tests/console/test_completion.py.

The editor (static/js/completion.js) fetches `completion_json()` once from GET
/console/completion.json; the URL carries the data's hash so a browser may cache it for good.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import hashlib
import importlib
import inspect
import json
import keyword
from typing import Any, Final, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from runtime.console.web import PREFIX, require_builder
from sandbox import builtins_table, injected, modules, script_types, stubs
from sandbox.call import PARSE_FUNCTION

routes = web.RouteTableDef()

# CodeMirror's completion kinds (they pick the icon).
Kind = Literal["class", "constant", "enum", "function", "keyword", "method", "namespace",
               "property", "type", "variable"]

# The contract's functions whose parameters have a known type (contract §2): the parse
# function's first argument is the request, whatever the script names it.
PARAMETER_TYPES: Final[dict[str, list[str]]] = {
    PARSE_FUNCTION: [script_types.type_name(script_types.FETCH_REQUEST_TYPE)],
}

# Builtin types whose methods a script reaches through injected values (`request.body.strip()`,
# `request.form().get(...)`, `settings.get(...)`); their members come from Python itself.
PYTHON_TYPES: Final[dict[str, type]] = {
    "str": str, "dict": dict, "list": list, "Mapping": collections.abc.Mapping,
    # settings, request.headers and request.query: a Mapping's members and a dict's copy()
    "ReadOnlyMapping": injected.ReadOnlyMapping,
}

# `async`/`await` are refused at upload (contract §3): never offered.
REFUSED_KEYWORDS: Final = frozenset({"async", "await"})


class Entry(BaseModel):
    """One completion: CodeMirror's fields, plus the type a member or a call gives (for
    `a.b().` chains) and, for the result types, the keyword arguments they take."""

    model_config = ConfigDict(frozen=True)

    label: str
    type: Kind
    detail: str = ""
    info: str = ""
    returns: str | None = None
    apply: str | None = None


class CompletionData(BaseModel):
    """Everything the editor needs; `types` and `modules` are keyed by the names `returns`
    and the import bindings use."""

    globals: list[Entry]
    builtins: list[Entry]
    keywords: list[Entry]
    types: dict[str, list[Entry]]
    keys: dict[str, list[Entry]]
    values: dict[str, str]
    parameters: dict[str, list[str]]
    modules: dict[str, list[Entry]]


DOC_CAP: Final = 200


def first_line(doc: str | None) -> str:
    """A doc's first sentence as one line (Python's own docs wrap it over several)."""
    paragraph = (doc or "").strip().split("\n\n", 1)[0]
    line = " ".join(paragraph.split())
    end = line.find(". ")
    line = line[:end + 1] if end > 0 else line
    return line if len(line) <= DOC_CAP else line[:DOC_CAP - 1].rstrip() + "…"


def type_head(annotation: ast.expr | None) -> str | None:
    """The type a value of this annotation has, as a key of `types` (`Mapping[str, str]` ->
    `Mapping`, `str | None` -> `str`); None when nothing is known (`Any`, other unions)."""
    if annotation is None:
        return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        # `X | None`: completing X's members is what a builder wants after a None check.
        parts = [p for p in (annotation.left, annotation.right)
                 if not (isinstance(p, ast.Constant) and p.value is None)]
        return type_head(parts[0]) if len(parts) == 1 else None
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Name):
        return None if node.id in ("Any", "None", "object") else node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def is_property(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list)


def signature_of(node: ast.FunctionDef) -> str:
    """`(code: int) -> HttpResponse`: the stub's parameters without `self`."""
    args = node.args
    if args.args and args.args[0].arg == "self":
        args = ast.arguments(posonlyargs=args.posonlyargs, args=args.args[1:],
                             vararg=args.vararg, kwonlyargs=args.kwonlyargs,
                             kw_defaults=args.kw_defaults, kwarg=args.kwarg,
                             defaults=args.defaults)
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"({ast.unparse(args)}){returns}"


def function_entry(node: ast.FunctionDef, *, member: bool) -> Entry:
    doc = first_line(ast.get_docstring(node))
    if member and is_property(node):
        shown = ast.unparse(node.returns) if node.returns is not None else "Any"
        return Entry(label=node.name, type="property", detail=f": {shown}", info=doc,
                     returns=type_head(node.returns))
    return Entry(label=node.name, type="method" if member else "function",
                 detail=signature_of(node), info=doc, returns=type_head(node.returns))


def documented_fields(body: list[ast.stmt]) -> list[tuple[ast.AnnAssign, str]]:
    """Annotated names, each with the string statement written after it (its doc)."""
    found: list[tuple[ast.AnnAssign, str]] = []
    for index, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            after = body[index + 1] if index + 1 < len(body) else None
            doc = ""
            if (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                doc = first_line(after.value.value)
            found.append((node, doc))
    return found


def required_key(field: ast.AnnAssign) -> bool:
    annotation = field.annotation
    return isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "Required"


# Each result type's keys as the sandbox defines them. The stub declares every key in camelCase
# and snake_case, and a key required in either spelling as optional in both (a TypedDict has no
# "one of"); the editor offers the documented camelCase key, marked required when it is.
RESULT_KEYS: Final[dict[str, dict[str, script_types.Key]]] = {
    script_types.type_name(kind): {key.name: key for key in script_types.key_names(kind)}
    for kind in script_types.RESULT_TYPES
}


def key_required(type_name: str, field: ast.AnnAssign) -> bool:
    key = RESULT_KEYS.get(type_name, {}).get(ast.unparse(field.target))
    return key.required if key is not None else required_key(field)


def key_entry(field: ast.AnnAssign, doc: str, required: bool) -> Entry:
    """A result type's key, offered as a keyword argument (`srcPhone=`)."""
    annotation = field.annotation
    shown = ast.unparse(annotation.slice if isinstance(annotation, ast.Subscript)
                        and required_key(field) else annotation)
    name = ast.unparse(field.target)
    return Entry(label=name, type="property",
                 detail=f": {shown}" + (" (required)" if required else ""),
                 info=doc.split(" (required: this or ")[0], apply=f"{name}=")


def base_names(node: ast.ClassDef) -> set[str]:
    return {ast.unparse(base) for base in node.bases}


class StubReader:
    """Completion entries from the stub's syntax tree."""

    def __init__(self, text: str) -> None:
        self.tree = ast.parse(text)
        self.injected = set(stubs.injected_names())
        self.globals: dict[str, Entry] = {}
        self.types: dict[str, list[Entry]] = {}
        self.keys: dict[str, list[Entry]] = {}
        self.values: dict[str, str] = {}

    def read(self) -> None:
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                self.read_class(node)
            elif isinstance(node, ast.FunctionDef) and node.name in self.injected:
                self.globals[node.name] = function_entry(node, member=False)
        for field, doc in documented_fields(self.tree.body):
            name = ast.unparse(field.target)
            if name not in self.injected:
                continue
            self.globals[name] = Entry(label=name, type="variable",
                                       detail=f": {ast.unparse(field.annotation)}", info=doc)
            head = type_head(field.annotation)
            if head is not None:
                self.values[name] = head

    def read_class(self, node: ast.ClassDef) -> None:
        doc = first_line(ast.get_docstring(node))
        bases = base_names(node)
        if "enum.StrEnum" in bases:
            members = [Entry(label=ast.unparse(a.targets[0]), type="constant",
                             detail=f" = {ast.unparse(a.value)}",
                             info=f"{node.name}.{ast.unparse(a.targets[0])}, the string "
                                  f"{ast.unparse(a.value)}")
                       for a in node.body if isinstance(a, ast.Assign)]
            self.types[node.name] = members
            info = doc or "An enum of the contract; each member is a string: " + \
                ", ".join(m.label for m in members) + "."
            self.add_global(Entry(label=node.name, type="enum", detail="(enum)", info=info))
            return
        if "TypedDict" in bases:
            known = RESULT_KEYS.get(node.name)
            fields = [(f, d) for f, d in documented_fields(node.body)
                      if known is None or ast.unparse(f.target) in known]
            self.keys[node.name] = [key_entry(field, field_doc, key_required(node.name, field))
                                    for field, field_doc in fields]
            required = [ast.unparse(f.target) for f, _ in fields if key_required(node.name, f)]
            shown = ", ".join([*required, "..."] if len(required) < len(fields) else required)
            self.add_global(Entry(label=node.name, type="class", detail=f"(*, {shown}) -> dict",
                                  info=doc, returns="dict"))
            return
        if "Exception" in bases:
            self.add_global(Entry(label=node.name, type="class", detail="(Exception)",
                                  info=doc or "An exception class the runtime raises; a script "
                                              "may catch it."))
            return
        members = [function_entry(f, member=True) for f in node.body
                   if isinstance(f, ast.FunctionDef)]
        self.types[node.name] = members
        if isinstance(script_types.TYPE_NAMES.get(node.name), script_types.TypeName):
            # Named in annotations only: the runtime makes these objects, a call is refused.
            self.add_global(Entry(label=node.name, type="type", detail="(type)", info=doc))
        else:
            self.add_global(Entry(label=node.name, type="class", detail="()", info=doc,
                                  returns=node.name))

    def add_global(self, entry: Entry) -> None:
        if entry.label in self.injected:
            self.globals[entry.label] = entry


def python_members(kind: type) -> list[Entry]:
    """A Python type's public members, with their signatures where Python knows them."""
    entries: list[Entry] = []
    for name in sorted(n for n in dir(kind) if not n.startswith("_")):
        value = inspect.getattr_static(kind, name)
        member = getattr(kind, name)
        if not callable(member) or isinstance(value, property):
            entries.append(Entry(label=name, type="property", info=first_line(
                inspect.getdoc(member))))
            continue
        entries.append(Entry(label=name, type="method", detail=signature_text(member),
                             info=first_line(inspect.getdoc(member))))
    return entries


def signature_text(value: Any) -> str:
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return "(...)"
    parameters = [p for p in signature.parameters.values() if p.name != "self"]
    return str(signature.replace(parameters=parameters))


def module_member(view_name: str, name: str, value: Any) -> Entry:
    """A view's member, its signature and doc from the real module's attribute (a view may
    wrap it: `hmac.new` is checked, `re.sub` passes exact strings)."""
    if isinstance(value, modules.ModuleView):
        return Entry(label=name, type="namespace", detail="(module)",
                     info=f"The curated view of {modules.view_name(value)}.",
                     returns=modules.view_name(value))
    real = getattr(importlib.import_module(view_name), name, value)
    doc = first_line(inspect.getdoc(real))
    if isinstance(real, type):
        return Entry(label=name, type="class", detail=signature_text(real), info=doc,
                     returns=f"{view_name}.{name}")
    if callable(real):
        return Entry(label=name, type="function", detail=signature_text(real), info=doc)
    if type(real) in (int, float, str):
        return Entry(label=name, type="constant", detail=f" = {real!r}")
    return Entry(label=name, type="constant", detail=f": {type(real).__name__}")


def read_modules() -> tuple[dict[str, list[Entry]], dict[str, list[Entry]]]:
    """Each importable name's members, and the members of the classes those modules hold
    (`datetime.datetime.` -> `now`, `strptime`, ...)."""
    views: dict[str, list[Entry]] = {}
    classes: dict[str, list[Entry]] = {}
    for import_name, view in sorted(modules.VIEWS.items()):
        names = sorted(dir(view))
        entries = [module_member(modules.view_name(view), n, modules.view_member(view, n))
                   for n in names]
        views[import_name] = entries
        for entry in entries:
            if entry.type == "class" and entry.returns is not None:
                classes[entry.returns] = python_members(modules.view_member(view, entry.label))
    return views, classes


def read_builtins() -> list[Entry]:
    table = builtins_table.fresh_builtins(
        guarded_pow=pow, safe_import=__import__, guarded_getattr=getattr,
        guarded_hasattr=hasattr)
    entries: list[Entry] = []
    for name in sorted(n for n in table if not n.startswith("_")):
        value = table[name]
        if value is None or isinstance(value, bool):
            continue  # None, True and False are keywords: offered with them
        kind: Kind = "class" if isinstance(value, type) else "function"
        entries.append(Entry(label=name, type=kind, detail=signature_text(value),
                             info=first_line(inspect.getdoc(value))))
    # print() is not in the builtins table: the sandbox's compiler turns it into the call's
    # log writer (sandbox/policy.py), which takes print's arguments.
    entries.append(Entry(label="print", type="function",
                         detail=signature_text(builtins.print),
                         info="Write to the execution's log, like log()."))
    return sorted(entries, key=lambda e: e.label)


def completion_data() -> CompletionData:
    reader = StubReader(stubs.stub_text())
    reader.read()
    views, classes = read_modules()
    types = {**reader.types, **classes}
    for name, kind in PYTHON_TYPES.items():
        types[name] = python_members(kind)
    return CompletionData(
        globals=sorted(reader.globals.values(), key=lambda e: e.label),
        builtins=read_builtins(),
        keywords=[Entry(label=k, type="keyword") for k in keyword.kwlist
                  if k not in REFUSED_KEYWORDS],
        types=types,
        keys=reader.keys,
        values=reader.values,
        parameters=PARAMETER_TYPES,
        modules=views,
    )


@functools.cache
def completion_json() -> tuple[str, str]:
    """The data as JSON and its short hash (the same for the process's whole life)."""
    text = json.dumps(completion_data().model_dump(exclude_defaults=True),
                      ensure_ascii=False, separators=(",", ":"))
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


def completion_url() -> str:
    return f"{PREFIX}/completion.json?v={completion_json()[1]}"


@routes.get(PREFIX + "/completion.json")
async def completion(request: web.Request) -> web.StreamResponse:
    await require_builder(request)
    text, digest = completion_json()
    response = web.Response(text=text, content_type="application/json")
    # The URL the editor uses names the data's hash: a browser may keep it until it changes.
    if request.query.get("v") == digest:
        response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    response.enable_compression()
    return response
