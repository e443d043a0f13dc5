"""Documentation metadata, attached to each handler in one place: `@documented(...)`.

    @routes.get("/api/v1/modules/{module_id}")
    @documented("Read a module", auth="tenant", response=ModuleOut, errors=[404])
    async def get_module(request): ...

The generator (`runtime.openapi.generate`) walks the application's route table and reads this
metadata off each route's handler; a route whose handler carries none, and that is not one of
the `EXCLUDED` routes below, is reported as undocumented (and fails a test).

Errors every operation of a kind can answer are added by the generator, so they are never
forgotten: 401 for any credential, 400/408/413/415/422 for a JSON body, 400 for a query string,
503 while the service shuts down. `errors=` names the others (404, 409, 429, ...).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel

Auth = Literal["none", "operator", "tenant", "user", "tenant_or_user", "tenant_or_user_header"]

AUTH_DESCRIPTIONS: dict[Auth, str] = {
    "none": "no credential",
    "operator": "the operator token",
    "tenant": "a tenant API key",
    "user": "a user token (header, or `?token=`)",
    "tenant_or_user": "a tenant API key or a user token (header, or `?token=`)",
    "tenant_or_user_header": "a tenant API key or a user token",
}

HandlerT = TypeVar("HandlerT", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])

ATTRIBUTE = "__openapi__"


@dataclass(frozen=True)
class Answer:
    description: str
    model: Any = None  # None: no body
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description


@dataclass(frozen=True)
class HeaderParam:
    """A request header the operation reads, besides the credential's Authorization."""

    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Doc:
    summary: str
    auth: Auth
    response: Any = None  # a model or dataclass type; None: no body (204 / redirect)
    status: int = 200
    media_type: str = "application/json"
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str | None = None
    # Other answers that are not errors (a redirect, a degraded health check).
    other: Mapping[int, Answer] = field(default_factory=dict)
    # What a listed error means for this operation, beside its generic description.
    error_notes: Mapping[int, str] = field(default_factory=dict)
    uses_store: bool = True  # may answer 503 while the service shuts down
    headers: Mapping[str, HeaderParam] = field(default_factory=dict)  # optional request headers
    # Headers the success answer may carry: name -> description.
    response_headers: Mapping[str, str] = field(default_factory=dict)


def documented(
    summary: str,
    *,
    auth: Auth,
    response: Any = None,
    status: int = 200,
    media_type: str = "application/json",
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: type[BaseModel] | None = None,
    errors: Sequence[int] = (),
    description: str | None = None,
    other: Mapping[int, Answer] | None = None,
    error_notes: Mapping[int, str] | None = None,
    uses_store: bool = True,
    headers: Mapping[str, HeaderParam] | None = None,
    response_headers: Mapping[str, str] | None = None,
) -> Callable[[HandlerT], HandlerT]:
    """Attach the operation's documentation to its handler (the handler itself is unchanged)."""
    doc = Doc(summary=summary, auth=auth, response=response, status=status,
              media_type=media_type, body=body, body_required=body_required, query=query,
              errors=tuple(errors), description=description, other=dict(other or {}),
              error_notes=dict(error_notes or {}), uses_store=uses_store,
              headers=dict(headers or {}), response_headers=dict(response_headers or {}))

    def attach(handler: HandlerT) -> HandlerT:
        setattr(handler, ATTRIBUTE, doc)
        return handler

    return attach


def doc_of(handler: object) -> Doc | None:
    doc = getattr(handler, ATTRIBUTE, None)
    return doc if isinstance(doc, Doc) else None


# --- routes the document leaves out, each with its reason --------------------------------------


@dataclass(frozen=True)
class Exclusion:
    method: str  # "*" for any
    path: str  # a regular expression over the route's canonical path
    reason: str
    # False: the rule may match nothing (routes another part of the service may not mount).
    must_match: bool = True

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and re.fullmatch(self.path, path) is not None


EXCLUDED: tuple[Exclusion, ...] = (
    Exclusion("*", r"/hooks/\{token\}(/\{rest\})?",
              "the webhook intake: any method, any path below the token, bodies defined by "
              "the telephony provider and answered by the tenant's script (contract §1, §5)"),
    Exclusion("GET", r"/api/v1/live",
              "a WebSocket (user token); OpenAPI 3.1 cannot describe its messages: "
              "hello, notification (as GET /api/v1/notifications items, with `missed`), "
              "caught_up; closed with 4401/4403 when its credential ends; docs/live.md "
              "describes them"),
    Exclusion("HEAD", r".*",
              "aiohttp answers HEAD for every GET route: the GET without its body"),
    Exclusion("*", r"/console(/.*)?",
              "the console's HTML pages and assets (cookie sessions), not the JSON API",
              must_match=False),
)


def exclusion_for(method: str, path: str) -> Exclusion | None:
    return next((e for e in EXCLUDED if e.matches(method, path)), None)
