"""Serving the document and the reference page; both are built once, when the app starts."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from runtime.openapi.doc import documented
from runtime.openapi.generate import build_document, operations
from runtime.openapi.reference import render_reference

log = logging.getLogger("runtime.openapi")

routes = web.RouteTableDef()

DOCUMENT: web.AppKey[bytes] = web.AppKey("openapi_document", bytes)
REFERENCE: web.AppKey[str] = web.AppKey("openapi_reference", str)

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


async def build_on_startup(app: web.Application) -> None:
    """Once every router is mounted: the route table is final, so is the document."""
    document: dict[str, Any] = build_document(app)
    _, missing = operations(app)
    for route in missing:
        log.warning("route %s %s (%s) is neither documented nor excluded",
                    route.method, route.path, route.handler)
    app[DOCUMENT] = json.dumps(document, ensure_ascii=False).encode("utf-8")
    app[REFERENCE] = render_reference(document)


def install(app: web.Application) -> None:
    app.add_routes(routes)
    app.on_startup.append(build_on_startup)


@routes.get("/api/v1/openapi.json")
@documented("This document (OpenAPI 3.1)", auth="none", response=dict, uses_store=False)
async def openapi_document(request: web.Request) -> web.Response:
    """The API described for tools: every operation, its parameters, bodies and errors."""
    return web.Response(body=request.app[DOCUMENT], content_type="application/json",
                        headers={"Cache-Control": "no-cache"})


@routes.get("/api/v1/docs")
@documented("The API reference (HTML)", auth="none", response=str, media_type="text/html",
            uses_store=False)
async def reference_page(request: web.Request) -> web.Response:
    """This document rendered for people, served by the service itself (no script)."""
    return web.Response(text=request.app[REFERENCE], content_type="text/html",
                        headers={"Content-Security-Policy": PAGE_CSP,
                                 "Cache-Control": "no-cache"})
