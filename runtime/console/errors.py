"""The one place a console request's unexpected errors become an answer a person can act on.

`@page` turns the errors raised on purpose (ApiError, and the domain errors of
runtime/errors.py `domain_error`: not found, conflict, rate limited, shutting down) into error
pages. What nobody raises on purpose arrives here, for every console entry point
(pages, form posts, fragments, the live socket's handshake), whether or not it is a `@page`:

- the storage refusing (disk full, I/O error, PostgreSQL down or read-only; a read meets it as
  much as a write): a 503 page "the database is unavailable, try again" with Retry-After,
  counted in `voip_storage_refusals{surface="console"}` and never logged per request (the
  store's health logs the change of state once);
- anything else is a bug: logged with its traceback once, and a plain 500 page;
- aiohttp's own refusals (an address the console does not have, a form's address opened as a
  page, a body too large) are pages too, in the same words: a person who mistyped a link, or
  pressed Enter in the address bar after a form was refused, must not be shown raw JSON.

A request that asked for JSON (the console's scripts send `Accept: application/json`) gets
the API's JSON errors instead (runtime/errors.py `json_errors`, the next middleware out).
"""

from __future__ import annotations

import logging

from aiohttp import web

from runtime.console.web import PREFIX, Handler, error_answer, wants_json
from runtime.errors import (
    HTTP_ERROR_CODES,
    ApiError,
    domain_error,
    storage_refusal_counted,
)
from runtime.store.errors import storage_unavailable
from runtime.store.health import RETRY_AFTER_SECONDS

log = logging.getLogger("runtime.console")


def is_console(request: web.Request) -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def error_page(request: web.Request, error: ApiError) -> web.Response:
    # A page that failed can be loaded again; a form post is better sent again from its page.
    retry_url = request.path_qs if error.status == 503 and request.method == "GET" else None
    return error_answer(request, error, retry_url=retry_url)


HTTP_ERROR_WORDS = {
    404: "There is no such page in the console. Check the address, or start again from the "
         "console's home page.",
    405: "This address is where a form is sent, not a page to open. Go back to the page with "
         "the form (or to the console's home page) and send it from there.",
    413: "What was sent is too large for the console to take.",
}


def http_error_page(request: web.Request, error: web.HTTPException) -> web.Response:
    message = HTTP_ERROR_WORDS.get(error.status, error.reason)
    code = HTTP_ERROR_CODES.get(error.status, "http_error")
    # 405 keeps its Allow header (what the address does take), as the JSON answer does.
    headers = {k: v for k, v in error.headers.items() if k.lower() == "allow"}
    return error_page(request, ApiError(error.status, code, message, headers=headers))


@web.middleware
async def console_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_console(request) or wants_json(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects
        return http_error_page(request, error)
    except Exception as error:
        if domain_error(error) is not None:
            # Deliberate errors (not found, conflict, rate limited, shutting down): `@page`
            # shows them as pages, json_errors answers them elsewhere, as before.
            raise
        unavailable = storage_unavailable(error)
        if unavailable is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_page(request, ApiError(
                500, "internal", "Something went wrong on our side; it has been logged. "
                                 "Try again, or go back to the console."))
        storage_refusal_counted(request)
        return error_page(request, ApiError(
            503, "storage_unavailable",
            f"The database is unavailable right now ({unavailable.cause}), so this could "
            f"not be done. Try again in a little while (about {RETRY_AFTER_SECONDS} seconds).",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))
