"""Signing in and out; the console's front door."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from runtime.bodies import read_form
from runtime.console.session import (
    CSRF_FIELD,
    credential_session,
    current_session,
    end_session,
    pre_session_ok,
    pre_session_token,
    set_pre_cookie,
    start_session,
)
from runtime.console.web import PREFIX, check_csrf, page, render, see_other, split_url

routes = web.RouteTableDef()

UNSENT_FRAGMENT = "unsent-form"


def safe_next(value: str | None, fallback: str) -> str:
    """Only a path inside the console (never another site, never a scheme-relative URL)."""
    if not value:
        return fallback
    parts = split_url(value)
    if parts is None or parts.scheme or parts.netloc or not value.startswith(PREFIX + "/") \
            or "\\" in value:
        return fallback
    return value


def home_of(kind: str) -> str:
    return f"{PREFIX}/modules" if kind == "builder" else f"{PREFIX}/live"


@routes.get(PREFIX)
@routes.get(PREFIX + "/")
async def index(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    raise see_other(home_of(session.kind) if session else f"{PREFIX}/sign-in")


def sign_in_page(request: web.Request, *, error: str | None = None, status: int = 200,
                 form: Mapping[str, Any] | None = None) -> web.Response:
    """The form; after a refused sign-in (`form`: the one sent), with the page to go back to
    and the note about a form that was not sent, as the first one had them (they were lost
    with a mistyped credential: the sign-in then went to the home page)."""
    token, new_cookie = pre_session_token(request)
    asked: Mapping[str, Any] = request.query if form is None else form
    nxt = asked.get("next", "")
    response = render(request, "sign_in.html", {
        "form_token": token, "error": error, "next": nxt if isinstance(nxt, str) else "",
        "unsent": "unsent" in asked,
    }, status=status)
    if new_cookie:
        set_pre_cookie(request, response, new_cookie)
    return response


@routes.get(PREFIX + "/sign-in")
@page
async def sign_in_form(request: web.Request) -> web.StreamResponse:
    return sign_in_page(request)


# The sign-in form is a CSRF token, a credential and a page to go back to. Anyone may post
# it: read at the API's limit (2 MiB), a form of half a million fields cost the service's
# event loop about a third of a second each time, before any credential was looked at.
SIGN_IN_FORM_BYTES = 16 * 1024


@routes.post(PREFIX + "/sign-in")
@page
async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await read_form(request, SIGN_IN_FORM_BYTES)
    token = form.get(CSRF_FIELD)
    if not isinstance(token, str) or not pre_session_ok(request, token):
        return sign_in_page(request, status=403, form=form,
                            error="The sign-in form expired. Please try again.")
    secret = form.get("credential")
    secret = secret.strip() if isinstance(secret, str) else ""
    found = await credential_session(request.app, secret) if secret else None
    if found is None:
        return sign_in_page(request, status=401, form=form,
                            error="That is not a valid API key or user token (or it was "
                                  "revoked).")
    kind = found[0]
    nxt = form.get("next")
    target = safe_next(nxt if isinstance(nxt, str) else None, home_of(kind))
    if kind == "operator" and not target.startswith((f"{PREFIX}/live", f"{PREFIX}/calls",
                                                     f"{PREFIX}/contacts")):
        target = home_of(kind)
    if "unsent" in form:
        # The page's script puts back what was typed into the form that was not sent
        # (static/js/keep-forms.js); the fragment says this is that way back.
        target += "#" + UNSENT_FRAGMENT
    response = web.HTTPSeeOther(target)
    start_session(request, response, kind, secret)
    raise response


@routes.post(PREFIX + "/sign-out")
@page  # a refused form (its page outlived its session) is a page saying so, not JSON
async def sign_out(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    if session is not None:
        form = await read_form(request)
        check_csrf(request, session, form)
    response = web.HTTPSeeOther(f"{PREFIX}/sign-in")
    await end_session(request, response)
    raise response
