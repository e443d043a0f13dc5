"""The OpenAPI 3.1 document, built from the route table and the handlers' `@documented` metadata.

Schemas come from pydantic (its JSON Schema is draft 2020-12, OpenAPI 3.1's dialect): request
bodies from the handlers' `Body` models in validation mode, replies from the `Out` models and
the store's dataclasses in serialization mode, all in one pass so shared types become one
component each.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from aiohttp import web
from pydantic import TypeAdapter

from runtime.openapi.doc import AUTH_DESCRIPTIONS, Auth, Doc, doc_of, exclusion_for
from runtime.openapi.examples import EXAMPLES
from runtime.openapi.models import Error

Mode = Literal["validation", "serialization"]
Key = tuple[str, Any]
OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "operatorToken": {
        "type": "http", "scheme": "bearer",
        "description": "The operator's token (configuration `operator_token`, or the one "
                       "`voip-runtime serve` generated and printed). Creates tenants and keys.",
    },
    "tenantKey": {
        "type": "http", "scheme": "bearer",
        "description": "A tenant API key (`vrk_...`), created by the operator and shown once. "
                       "Manages that tenant's modules, users, contacts and bindings, and reads "
                       "its calls and execution log. Another tenant's ids answer 404.",
    },
    "userToken": {
        "type": "http", "scheme": "bearer",
        "description": "A user token (`vut_...`), created with the tenant key. Opens the "
                       "user's notifications and plays recordings.",
    },
    "userTokenQuery": {
        "type": "apiKey", "in": "query", "name": "token",
        "description": "The user token as `?token=`, for clients that cannot set headers "
                       "(a browser's WebSocket or <audio> element).",
    },
}

SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    "none": [],
    "operator": [{"operatorToken": []}],
    "tenant": [{"tenantKey": []}],
    "user": [{"userToken": []}, {"userTokenQuery": []}],
    "tenant_or_user": [{"tenantKey": []}, {"userToken": []}, {"userTokenQuery": []}],
    "tenant_or_user_header": [{"tenantKey": []}, {"userToken": []}],
}

ERRORS: dict[int, str] = {
    400: "Bad request: the body is not JSON (`bad_json`) or is missing, is not what its "
         "`Content-Encoding` says (`bad_encoding`), or a query parameter is malformed "
         "(`bad_request`); or the request carries more than one `Authorization` header "
         "(`ambiguous_credentials`).",
    401: ("Missing, unknown or revoked credential, or one of another kind than the operation "
          "takes (`unauthorized`; the message says which)."),
    403: "The credential may not do this (`forbidden`).",
    404: "No such resource (`not_found`); another tenant's ids answer exactly the same.",
    409: "The request conflicts with the current state (`conflict` and the codes below).",
    408: "The body did not arrive within the configured time (`request_timeout`); the "
         "connection is closed.",
    413: "The body is larger than the service accepts (`payload_too_large`; a compressed "
         "body counts decoded).",
    415: "The body is labelled as another type than JSON (`unsupported_media_type`: its "
         "`Content-Type` must be `application/json`, a `+json` type, or absent), or its "
         "`Content-Encoding` is not one the service decodes (`unsupported_encoding`; `gzip` "
         "and `deflate` are).",
    422: "The body is JSON but not valid (`invalid`, with every wrong field in `details`).",
    429: "A per-tenant limit refused the call (`rate_limited`); retry after `Retry-After`.",
    501: "The module's script does not define the function (`not_supported`).",
    502: "The module's script failed or returned an invalid result (`script_failed`; the "
         "execution id and the error are in `details`).",
    503: "The service is shutting down (`unavailable`); retry after `Retry-After`.",
}

ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "required": True,
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds", "required": True,
                          "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds", "required": True,
                          "schema": {"type": "string"}}},
}

PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Undocumented:
    method: str
    path: str
    handler: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Any
    doc: Doc


def operations(app: web.Application) -> tuple[list[Operation], list[Undocumented]]:
    """The documented routes, and the routes neither documented nor excluded."""
    found: list[Operation] = []
    missing: list[Undocumented] = []
    for route in app.router.routes():
        method, path = route.method, route.resource.canonical if route.resource else ""
        doc = doc_of(route.handler)
        if doc is not None and method != "HEAD":
            found.append(Operation(method, path, route.handler, doc))
        elif exclusion_for(method, path) is None:
            name = getattr(route.handler, "__qualname__", repr(route.handler))
            missing.append(Undocumented(method, path, name))
    return found, missing


def _strip_nulls(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter is absent, never `null`: drop the null branch."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _close_objects(schema: Any) -> None:
    """Objects with named properties take no others (pydantic leaves that open for dataclasses),
    so a reply that grows an undocumented field fails the schema instead of passing silently."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            _close_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_objects(value)


def _types(ops: Iterable[Operation]) -> list[tuple[Key, Mode, TypeAdapter[Any]]]:
    inputs: list[tuple[Key, Mode, TypeAdapter[Any]]] = [
        (("out", Error), "serialization", TypeAdapter(Error)),
    ]
    seen: set[tuple[str, Any]] = {("out", Error)}

    def add(kind: str, tp: Any) -> None:
        if tp is not None and (kind, tp) not in seen:
            seen.add((kind, tp))
            mode: Mode = "validation" if kind in ("in", "query") else "serialization"
            inputs.append(((kind, tp), mode, TypeAdapter(tp)))

    for op in ops:
        add("in", op.doc.body)
        add("query", op.doc.query)
        if op.doc.media_type == "application/json":
            add("out", op.doc.response)
        for answer in op.doc.other.values():
            add("out", answer.model)
    return inputs


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(op: Operation, query: dict[str, Any] | None) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1}}
        for name in PATH_PARAMETER.findall(op.path)
    ]
    if query is not None:
        required = set(query.get("required", ()))
        for name, prop in query.get("properties", {}).items():
            schema = _strip_nulls({k: v for k, v in prop.items()
                                   if k not in ("title", "description")})
            if schema.get("default", ...) is None:
                del schema["default"]
            description = prop.get("description") or schema.pop("description", None)
            param: dict[str, Any] = {"name": name, "in": "query",
                                     "required": name in required, "schema": schema}
            if description:
                param["description"] = description
            params.append(param)
    params.extend({"name": name, "in": "header", "required": False,
                   "description": header.description, "schema": dict(header.schema)}
                  for name, header in op.doc.headers.items())
    return params


def _responses(op: Operation, schemas: dict[tuple[Key, Mode], Any]) -> dict[str, Any]:
    doc = op.doc
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": _first_line(doc.summary)}
    if doc.response is not None:
        if doc.media_type == "application/json":
            success["content"] = _json_content(schemas[(("out", doc.response), "serialization")])
        else:
            success["content"] = {doc.media_type: {"schema": {"type": "string"}}}
    if doc.response_headers:
        success["headers"] = {name: {"description": text, "required": False,
                                     "schema": {"type": "string"}}
                              for name, text in doc.response_headers.items()}
    responses[str(doc.status)] = success
    for status, answer in doc.other.items():
        entry: dict[str, Any] = {"description": answer.description}
        if answer.model is not None:
            entry["content"] = _json_content(
                schemas[(("out", answer.model), "serialization")])
        if answer.headers:
            entry["headers"] = {name: {"description": text, "required": True,
                                       "schema": {"type": "string"}}
                                for name, text in answer.headers.items()}
        responses[str(status)] = entry
    for status in sorted(error_statuses(doc)):
        description = ERRORS[status]
        if status in doc.error_notes:
            description = f"{description} Here: {doc.error_notes[status]}"
        entry = {"description": description,
                 "content": _json_content({"$ref": REF.format(model="Error")})}
        if status in ERROR_HEADERS:
            entry["headers"] = copy.deepcopy(ERROR_HEADERS[status])
        responses[str(status)] = entry
    return responses


def error_statuses(doc: Doc) -> set[int]:
    statuses = set(doc.errors)
    if doc.auth != "none":
        statuses.update((400, 401))  # 400: more than one Authorization header
    if doc.body is not None:
        statuses.update((400, 408, 413, 415, 422))
    if doc.query is not None:
        statuses.add(400)
    if doc.uses_store:
        statuses.add(503)
    return statuses


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _description(op: Operation) -> str:
    parts = [op.doc.description or inspect.getdoc(op.handler) or ""]
    parts.append(f"Credential: {AUTH_DESCRIPTIONS[op.doc.auth]}.")
    return "\n\n".join(p for p in parts if p)


def _tag(op: Operation) -> str:
    """The router's module (`runtime.api.modules` -> `modules`); these documents: `reference`."""
    module = str(getattr(op.handler, "__module__", "api"))
    return "reference" if module.startswith("runtime.openapi") else module.rsplit(".", 1)[-1]


def _version() -> str:
    try:
        return metadata.version("voip-runtime")
    except metadata.PackageNotFoundError:
        return "0"


INFO_DESCRIPTION = """\
The JSON API of voip-runtime, a hosted runtime for telephony integration scripts.

Every error is JSON `{"error": code, "message": text}` (sometimes with `details`), with the
status listed on each operation; a 500 is a bug, never an answer to a request. Times are
ISO-8601 in UTC with milliseconds (`2025-03-04T10:15:02.123Z`). Lists take `limit` (1..500)
and `offset` and answer newest first unless said otherwise. Text in a JSON body holding a lone
surrogate (`"\\udcff"`) or the NUL character (`"\\u0000"`) could not be stored as sent, so
it is refused with a 422 naming the field (except in a request composed for a dry run, which is
run as a webhook carrying such bytes would be).

Credentials travel as `Authorization: Bearer <secret>`: the operator token, a tenant API key
or a user token (see the security schemes). Two routes are not JSON operations and are
described in the product's `docs/` instead: the webhook URLs (`/hooks/{token}/...`), answered
by the tenant's script (`docs/reference.md`), and the live WebSocket (`/api/v1/live`, a user
token): its messages `hello`, `notification` and `caught_up`, catching up with `?after=` and
reconnecting are in `docs/live.md`.
"""


def build_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of every documented route of `app` (call once routes are final)."""
    ops, _ = operations(app)
    ids = [op.handler.__name__ for op in ops]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"handler names must be unique (operation ids): {duplicates}")
    keyed, definitions = TypeAdapter.json_schemas(_types(ops), ref_template=REF)
    components = dict(definitions.get("$defs", {}))
    queries: dict[Any, dict[str, Any]] = {}
    for op in ops:
        if op.doc.query is not None:
            ref = keyed[(("query", op.doc.query), "validation")]
            name = ref["$ref"].rsplit("/", 1)[-1] if "$ref" in ref else None
            queries[op.doc.query] = components[name] if name else ref
    used_refs = _refs(keyed, exclude_kind="query") | _refs(components, exclude_names=queries)
    # Query models are parameters, not components; drop them unless a body uses them too.
    for model in queries:
        name = model.__name__
        if name in components and name not in used_refs:
            del components[name]
    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(ops, key=lambda o: (o.path, o.method)):
        operation: dict[str, Any] = {
            "operationId": op.handler.__name__,
            "tags": [_tag(op)],
            "summary": op.doc.summary,
            "description": _description(op),
            "security": SECURITY[op.doc.auth],
        }
        params = _parameters(op, queries.get(op.doc.query) if op.doc.query else None)
        if params:
            operation["parameters"] = params
        if op.doc.body is not None:
            operation["requestBody"] = {
                "required": op.doc.body_required,
                "content": _json_content(keyed[(("in", op.doc.body), "validation")]),
            }
        operation["responses"] = _responses(op, keyed)
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    _close_objects(components)
    for name, examples in EXAMPLES.items():
        if name in components:
            components[name].setdefault("examples", examples)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "voip-runtime API", "version": _version(),
                 "description": INFO_DESCRIPTION},
        "tags": [{"name": t} for t in sorted({_tag(op) for op in ops})],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


def _refs(value: Any, *, exclude_kind: str | None = None,
          exclude_names: Iterable[Any] = ()) -> set[str]:
    """Component names referenced from `value` (skipping query models' own entries)."""
    names: set[str] = set()
    skip = {getattr(m, "__name__", m) for m in exclude_names}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                names.add(ref.rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    if isinstance(value, dict):
        for key, node in value.items():
            if exclude_kind and isinstance(key, tuple) and key[0][0] == exclude_kind:
                continue
            if isinstance(key, str) and key in skip:
                continue
            walk(node)
    return names
