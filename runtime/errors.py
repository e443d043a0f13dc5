"""HTTP errors as values a person can act on: every error is JSON {"error", "message"}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from aiohttp import web

from runtime.logs import path_for_log
from runtime.ratelimit import Refused
from runtime.store.errors import (
    Conflict,
    NotFound,
    StorageUnavailable,
    StoreClosed,
    storage_unavailable,
)
from runtime.store.health import RETRY_AFTER_SECONDS
from runtime.typedefs import METRICS, STATIC_ROUTES
from sandbox import PoolClosed

log = logging.getLogger("runtime.http")

T = TypeVar("T")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        details: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details

    def response(self) -> web.Response:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return web.json_response(body, status=self.status, headers=self.headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def found(value: T | None, what: str) -> T:
    """The value, or a 404 when it is None (another tenant's ids look exactly like unknown)."""
    if value is None:
        raise not_found(what)
    return value


def bad_request(message: str, details: object = None) -> ApiError:
    return ApiError(400, "bad_request", message, details=details)


def unprocessable(message: str, details: object = None) -> ApiError:
    return ApiError(422, "invalid", message, details=details)


def invalid_field(field: str, message: str) -> ApiError:
    """A 422 `invalid` for one field, shaped as the body validation's are: the message names
    the field, `details` lists it."""
    return unprocessable(f"{field}: {message}", details=[{"field": field, "message": message}])


def unauthorized(message: str = "missing or invalid credentials") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def domain_error(error: BaseException) -> ApiError | None:
    """What the service answers for a domain error raised below the handlers (None: not one).

    The JSON middleware answers these, and the console's pages show the same status and words,
    so no handler converts them itself."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, NotFound):
        return ApiError(404, "not_found", str(error))
    if isinstance(error, Conflict):
        return ApiError(409, "conflict", str(error))
    if isinstance(error, Refused):  # the tenant's rate or concurrency limit
        return ApiError(429, "rate_limited", str(error),
                        headers={"Retry-After": str(error.retry_after)})
    if isinstance(error, StoreClosed):
        return ApiError(503, "unavailable", "the service is shutting down; retry",
                        headers={"Retry-After": "5"})
    if isinstance(error, PoolClosed):  # shutting down: the sandbox workers are gone
        return ApiError(503, "unavailable", "the service is shutting down; retry",
                        headers={"Retry-After": "5"})
    return None


# aiohttp's own HTTP exceptions (unknown route, wrong method, body too large) get our shape too.
HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    417: "expectation_failed",
}


def storage_refusal_counted(request: web.Request) -> None:
    """Count a request answered 503 because the storage refused, by the surface it came to."""
    path = request.path
    surface = ("webhook" if path.startswith("/hooks/")
               else "console" if path == "/console" or path.startswith("/console/") else "api")
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.storage_refusals.labels(surface).inc()


def storage_refused(request: web.Request, error: StorageUnavailable) -> web.Response:
    """503 for a request the storage could not take: retry later, nothing was acknowledged.

    Counted, never logged here: the store's health logs the change of state once."""
    storage_refusal_counted(request)
    return ApiError(503, "storage_unavailable",
                    f"storage unavailable: {error.cause}; nothing was stored, retry later",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)}).response()


def static_routes(router: web.UrlDispatcher) -> dict[str, frozenset[str]]:
    """The methods of each route without path parameters, by path (create_app keeps them once
    its routes are all added, as STATIC_ROUTES)."""
    methods: dict[str, set[str]] = {}
    for resource in router.resources():
        if isinstance(resource, web.PlainResource):
            methods.setdefault(resource.canonical, set()).update(r.method for r in resource)
    return {path: frozenset(m) for path, m in methods.items()}


def _static_routes(request: web.Request) -> Mapping[str, frozenset[str]]:
    table = request.app.get(STATIC_ROUTES)
    return table if table is not None else static_routes(request.app.router)


def static_route_methods(request: web.Request) -> str | None:
    """The methods of the static route for exactly this path, if there is one.

    aiohttp's 405 lists the methods of every route the path matches: `/api/v1/calls/originate`
    (POST) would also advertise GET because `/api/v1/calls/{call_id}` matches it too.
    """
    methods = _static_routes(request).get(request.path)
    return ",".join(sorted(methods)) if methods else None


def shadowed_static_routes(router: web.UrlDispatcher) -> dict[str, frozenset[str]]:
    """The static routes a route with a path parameter also matches, with their methods:
    `/api/v1/calls/originate` (POST) is matched by `/api/v1/calls/{call_id}` (GET) too."""
    patterns = [r.get_info()["pattern"] for r in router.resources()
                if isinstance(r, web.DynamicResource)]
    return {path: methods for path, methods in static_routes(router).items()
            if any(pattern.fullmatch(path) for pattern in patterns)}


def only_static_methods(path: str, methods: frozenset[str]) -> Callable[..., Awaitable[
        web.StreamResponse]]:
    """A scoped middleware for a shadowed static `path`: another method there is 405 (a wrong
    method on the documented operation), not what the route with the parameter would answer
    (GET /api/v1/calls/originate: 404 "call not found")."""

    async def middleware(request: web.Request, *, handler: Handler) -> web.StreamResponse:
        if request.path == path and request.method not in methods:
            raise web.HTTPMethodNotAllowed(request.method, methods)
        return await handler(request)

    return middleware


async def not_found_message(request: web.Request) -> str:
    """An unknown path; when it is a route with a slash too many (`/api/v1/modules/`), it says
    which path was meant (routes take no trailing slash, and a redirect would turn a POST's
    body into a GET without one)."""
    path = request.rel_url.path
    if len(path) > 1 and path.endswith("/"):
        meant = path.rstrip("/") or "/"
        found = await request.app.router.resolve(request.clone(rel_url=meant))
        if found.http_exception is None or found.http_exception.status == 405:
            return f"no such resource; the path has no trailing slash: {meant}"
    return "no such resource"


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ApiError, NotFound, Conflict, Refused, StoreClosed, PoolClosed) as error:
        answer = domain_error(error)
        assert answer is not None
        return answer.response()
    except StorageUnavailable as error:
        return storage_refused(request, error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = HTTP_ERROR_CODES.get(error.status, "http_error")
        message = error.reason if error.status != 404 else await not_found_message(request)
        if error.status == 413:
            message = "request body too large"
        headers = {k: v for k, v in error.headers.items() if k.lower() in ("allow",)}
        if error.status == 405:
            headers["Allow"] = static_route_methods(request) or headers.get("Allow", "")
            message = (f"{request.method} is not allowed on {request.path}; it takes "
                       f"{', '.join(headers['Allow'].split(','))}")
        return web.json_response(
            {"error": code, "message": message}, status=error.status, headers=headers
        )
    # No JSONDecodeError → 400 here: bodies are parsed by runtime/json_body.py, which answers
    # bad_json itself. One raised anywhere else is not the caller's (a stored row that is not
    # JSON any more, damaged), and a 400 told a provider not to retry a webhook it had sent
    # right: a 500, which it retries, with the traceback below.
    except Exception as error:
        # A read (or a write outside store.write) meeting the same refusing storage.
        unavailable = storage_unavailable(error)
        if unavailable is not None:
            return storage_refused(request, unavailable)
        log.exception("unhandled error on %s %s", request.method, path_for_log(request.path))
        return web.json_response(
            {"error": "internal", "message": "internal server error"}, status=500
        )
