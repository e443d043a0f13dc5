"""What every console page shares: rendering, the security headers, sessions and CSRF checks.

Pages are Jinja2 templates with autoescaping on: every tenant- or provider-controlled string is
escaped where it is written into HTML. The Content-Security-Policy allows scripts and stylesheets
only by the response's nonce: the console's own `<script>` and `<link>` elements carry it, and
the editor hands it to CodeMirror for its runtime styles. Not 'self': the service's address also
serves tenants' webhook replies (`/hooks/...`) and JSON, and none of that may ever be loaded as
a script or stylesheet of a console page, even by markup that got into one.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from runtime.bodies import read_form
from runtime.console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_KEY,
    Session,
    current_session,
)
from runtime.console.static_files import static_url
from runtime.errors import ApiError, domain_error
from runtime.typedefs import CONFIG

PREFIX = "/console"
JINJA: web.AppKey[Any] = web.AppKey("console_jinja2")
# Per-request storage keys (typed keys where this aiohttp has them).
NONCE_KEY: Any = web.RequestKey("console_csp_nonce", str) if hasattr(web, "RequestKey") \
    else "console_csp_nonce"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def nonce(request: web.Request) -> str:
    value: str | None = request.get(NONCE_KEY)
    if value is None:
        value = request[NONCE_KEY] = secrets.token_urlsafe(18)
    return value


def content_security_policy(nonce_value: str | None) -> str:
    # A response rendered without a page (a redirect, JSON, a static file) loads nothing.
    by_nonce = f"'nonce-{nonce_value}'" if nonce_value else "'none'"
    return "; ".join([
        "default-src 'none'",
        f"script-src {by_nonce}",
        f"style-src {by_nonce}",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        # A recording is served by the tenant's provider, wherever VoipGetCallLink points.
        "media-src 'self' https: http:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ])


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every /console response gets the policy and friends."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(request.get(NONCE_KEY))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"


def render(request: web.Request, template: str, context: Mapping[str, Any] | None = None, *,
           status: int = 200) -> web.Response:
    session: Session | None = request.get(SESSION_KEY)
    data = {
        "session": session,
        "csrf": session.csrf if session else "",
        "nonce": nonce(request),
        "static": static_url,
        "path": request.path,
        **(context or {}),
    }
    response = aiohttp_jinja2.render_template(template, request, data, status=status,
                                              app_key=JINJA)
    response.enable_compression()
    return response


def sign_in_redirect(request: web.Request) -> web.HTTPFound:
    """To the sign-in form, and back after it: to the page asked for, or for a form sent
    without a session (it ended meanwhile) to the page the form was on, with the sign-in form
    saying that nothing was saved."""
    if request.method == "GET":
        return web.HTTPFound(f"{PREFIX}/sign-in?next={quote(request.path_qs, safe='')}")
    return web.HTTPFound(f"{PREFIX}/sign-in?unsent=1&next="
                         f"{quote(referring_page(request) or PREFIX + '/', safe='')}")


# The last part of the addresses of forms that are no page (POST only). A refused form is
# drawn as the answer to its POST, so the address bar, and the Referer of the next post from
# there, is the form's address: going back to it after signing in was "Method Not Allowed".
FORM_ONLY = frozenset({"new", "edit", "merge", "settings", "general", "bindings", "bind",
                       "load-members", "test-connection", "tokens", "webhook-url", "originate"})


def referring_page(request: web.Request) -> str | None:
    """The console page a form was sent from (its Referer, on this very service), if any: for
    a form's own address (a refused form, drawn as its POST's answer), the page it is on."""
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc != request.headers.get("Host", "") or \
            not referer.path.startswith(PREFIX + "/"):
        return None
    return page_at(referer.path, referer.query)


def page_at(path: str, query: str) -> str:
    """The console page for an address the browser shows (`path` inside the console): itself,
    or for a form's own address the page the form is on."""
    head, _, last = path.rstrip("/").rpartition("/")
    if last in FORM_ONLY:
        return head if head.startswith(PREFIX + "/") else PREFIX + "/"
    return path + (f"?{query}" if query else "")


def is_htmx(request: web.Request) -> bool:
    """A request htmx sent for a part of a page (a button's answer swapped into a box)."""
    return request.headers.get("HX-Request") == "true"


def htmx_sign_in(request: web.Request) -> web.Response:
    """The session ended under a page's htmx button: the whole page goes to the sign-in form
    (HX-Redirect), to come back to that page after. A redirect htmx would follow by itself
    and put the sign-in page inside the button's box."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    target = page_at(current.path, current.query) \
        if current.path.startswith(PREFIX + "/") else PREFIX + "/"
    return web.Response(status=401, headers={
        "HX-Redirect": f"{PREFIX}/sign-in?next={quote(target, safe='')}"})


def error_answer(request: web.Request, error: ApiError, **context: Any) -> web.Response:
    """An error as a page, or for an htmx button as the few words its box shows (a whole
    page there would nest a second header and menu inside the first)."""
    template = "_error.html" if is_htmx(request) else "error.html"
    response = render(request, template, {"error": error, **context}, status=error.status)
    response.headers.update(error.headers)  # Retry-After of a 429 or a 503
    return response


async def require_session(request: web.Request) -> Session:
    session = await current_session(request)
    if session is None:
        if request.method != "GET" or wants_json(request):
            raise ApiError(401, "unauthorized", "sign in to the console again")
        raise sign_in_redirect(request)
    return session


async def require_builder(request: web.Request) -> Session:
    session = await require_session(request)
    if session.kind != "builder":
        raise ApiError(403, "forbidden",
                       "this part of the console needs a tenant API key; you signed in with a "
                       "user token")
    return session


async def require_operator(request: web.Request) -> Session:
    session = await require_session(request)
    if session.kind != "operator":
        raise ApiError(403, "forbidden",
                       "the live call page needs a user token: sign in as an operator")
    return session


def wants_json(request: web.Request) -> bool:
    return (request.headers.get("Accept", "").startswith("application/json")
            or request.content_type == "application/json")


def same_origin(request: web.Request) -> bool:
    """The Origin header, when the browser sent one, names this very service."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("Host", "")
    return urlsplit(origin).netloc == host


def check_csrf(request: web.Request, session: Session, form: Mapping[str, Any] | None = None
               ) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None and form is not None:
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not token or not hmac.compare_digest(token, session.csrf) or not same_origin(request):
        raise ApiError(403, "csrf", "the form has expired or did not come from this console; "
                                    "reload the page and try again")


async def form_of(request: web.Request, session: Session) -> MultiDictProxy[Any]:
    """A posted form, CSRF-checked."""
    form = await read_form(request)
    check_csrf(request, session, form)
    return form


def page(handler: Handler) -> Handler:
    """HTML pages: API and domain errors (runtime/errors.py) become an error page instead of
    JSON, with the status the API would answer."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as raised:
            error = domain_error(raised)
            if error is None:
                raise
            if error.status == 401:
                if is_htmx(request):
                    return htmx_sign_in(request)
                raise sign_in_redirect(request) from None
            return error_answer(request, error)

    return wrapper


def action(handler: Handler) -> Handler:
    """A form post: errors as JSON for the page's script, as an error page otherwise."""
    as_page = page(handler)

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        return await (handler if wants_json(request) else as_page)(request)

    return wrapper


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


@contextmanager
def store_errors() -> Iterator[None]:
    """Domain errors (the store's, rate limits, a closed pool) as the ApiErrors the API would
    answer, so a view can show their words in its own page."""
    try:
        yield
    except Exception as raised:
        error = domain_error(raised)
        if error is None or error is raised:
            raise
        raise error from None


def modules_shown(request: web.Request) -> int:
    """How many of a tenant's modules (by name) the console's pages read: all of them, up to
    tenant_limits.max_modules (and never fewer than 500, for a cap lowered since). A fixed 500
    left the modules past it off the list, their calls without a module name, and an operator
    bound in one of them without its calls."""
    return max(500, request.app[CONFIG].tenant_limits.max_modules)
