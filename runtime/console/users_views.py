"""The tenant admin's user pages (a tenant API key's session): users, their tokens, their
extensions.

Every action is the API's own (runtime/api/users.py, runtime/api/bindings.py): the same
pydantic bodies, the same store calls, and revoking or deleting ends sockets and sessions on
every node as the API does. Operators (user token sessions) get a 403 page; another tenant's
user ids answer 404, as unknown ones do. A new token's secret is rendered into the answer to
the POST that made it and never stored or shown again (the page is `no-store`); the same
form sent again (a reload) makes no second token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from runtime.console.binding_forms import bind_by_hand
from runtime.console.deletion import Deletion, confirmation, refusal
from runtime.console.modules_views import problems_of, text
from runtime.console.session import Session
from runtime.console.web import (
    PREFIX,
    form_of,
    modules_shown,
    page,
    render,
    require_builder,
    see_other,
    store_errors,
)
from runtime.errors import ApiError, found, not_found
from runtime.operations import users as user_ops
from runtime.operations.services import services
from runtime.operations.users import NewUserBody, remove_user, revoke_token
from runtime.query_params import MAX_OFFSET
from runtime.store.models import User
from runtime.typedefs import STORE

routes = web.RouteTableDef()

# Users a page of the list shows, by name; the pages reach every one (tenant_limits.max_users
# is 10,000: a list of the first 500 left the rest with no way to them in the console).
USERS_PAGE = 200


async def owned_user(request: web.Request, session: Session) -> User:
    user: User = found(await request.app[STORE].get_user(
        session.tenant_id, request.match_info["user_id"]), "user")
    return user


async def extensions_by_user(request: web.Request, session: Session, users: list[User]
                             ) -> dict[str, list[dict[str, str]]]:
    """User id -> the extensions bound to them, each with its module, for `users` (a page):
    one read of their bindings, not of every binding of the tenant's modules."""
    found_by_user: dict[str, list[dict[str, str]]] = {}
    for bound in await request.app[STORE].users_bindings(session.tenant_id,
                                                         [u.id for u in users]):
        found_by_user.setdefault(bound.user_id, []).append(
            {"module_id": bound.module_id, "module": bound.module_name,
             "member_id": bound.member_id})
    return found_by_user


# --- the list --------------------------------------------------------------------------------


@routes.get(PREFIX + "/users")
@page
async def users_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return await render_users(request, session, deleted="deleted" in request.query)


async def render_users(request: web.Request, session: Session, *,
                       errors: list[str] | None = None,
                       values: Mapping[str, str] | None = None,
                       deleted: bool = False, status: int = 200) -> web.Response:
    store = request.app[STORE]
    offset = users_offset(request)
    # One more than a page: whether there are more users to link to.
    users = await store.list_users(session.tenant_id, USERS_PAGE + 1, offset)
    more = len(users) > USERS_PAGE
    users = users[:USERS_PAGE]
    extensions = await extensions_by_user(request, session, users)
    # One read for all the rows (two a user before: a 500-user page cost a thousand).
    live_tokens = await store.live_token_counts(session.tenant_id, [u.id for u in users])
    rows = [{"user": user, "extensions": extensions.get(user.id, []),
             "active_tokens": live_tokens.get(user.id, 0)} for user in users]
    return render(request, "users.html", {
        "rows": rows, "errors": errors or [], "values": values or {}, "deleted": deleted,
        "offset": offset, "page": USERS_PAGE, "more": more,
    }, status=status)


def users_offset(request: web.Request) -> int:
    """?offset=: how many users (by name) the page skips (0..MAX_OFFSET: the store's integers
    are 64-bit, and a larger one was an OverflowError, a 500, from the SQLite driver)."""
    try:
        return min(max(0, int(request.query.get("offset", "0"))), MAX_OFFSET)
    except ValueError:
        return 0


@routes.post(PREFIX + "/users")
@page
async def create_user(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    form = await form_of(request, session)
    values = {"name": text(form, "name"), "email": text(form, "email")}
    try:
        body = NewUserBody.model_validate(
            {"name": values["name"], "email": values["email"].strip() or None})
    except ValidationError as error:
        return await render_users(request, session, errors=problems_of(error), values=values,
                                  status=422)
    try:
        with store_errors():
            user = await user_ops.create_user(services(request), session.tenant_id, body)
    except ApiError as error:
        return await render_users(request, session, errors=[error.message], values=values,
                                  status=error.status)
    raise see_other(f"{PREFIX}/users/{user.id}?done=created")


# --- one user --------------------------------------------------------------------------------

NOTICES = {
    "created": "User created. Give them a token to sign in with, and bind their extension.",
    "revoked": "Token revoked: it stopped working at once, and what was open with it closed.",
    "bound": "Extension bound.",
}


async def render_user(request: web.Request, session: Session, user: User, *,
                      status: int = 200, **extra: Any) -> web.Response:
    store = request.app[STORE]
    tokens = await store.list_user_tokens(session.tenant_id, user.id) or []
    extensions = (await extensions_by_user(request, session, [user])).get(user.id, [])
    modules = await store.list_modules(session.tenant_id, modules_shown(request), 0)
    context: dict[str, Any] = {
        "user": user, "tokens": tokens, "extensions": extensions, "modules": modules,
        "notice": NOTICES.get(request.query.get("done", "")), "new_token": None,
        "errors": {}, "values": {},
        **extra,
    }
    return render(request, "user.html", context, status=status)


@routes.get(PREFIX + "/users/{user_id}")
@page
async def user_page(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return await render_user(request, session, await owned_user(request, session))


# The token form's guard against being sent twice: the newest token the page listed.
NEWEST_FIELD = "newest_token"


@routes.post(PREFIX + "/users/{user_id}/tokens")
@page
async def create_token(request: web.Request) -> web.StreamResponse:
    """A new token, shown in this answer once: no redirect, so the secret is in no URL and
    no history entry.

    Reloading that answer re-posts the same form; the form names the newest token its page
    listed, so a second post of it (a reload, a double click) makes no second token and says
    why instead: an unseen, unsaved credential would otherwise stay active unnoticed."""
    session = await require_builder(request)
    user = await owned_user(request, session)
    form = await form_of(request, session)
    store = request.app[STORE]
    tokens = await store.list_user_tokens(session.tenant_id, user.id) or []
    newest = tokens[0].id if tokens else ""  # the store lists them newest first
    if text(form, NEWEST_FIELD) != newest:
        return await render_user(request, session, user, status=409, errors={"tokens": [
            "No token was made: this form was sent before (a reload or a second click), or "
            "a token was made elsewhere since the page was drawn. A new token is shown once "
            "only: if one below was not saved, revoke it and create another."]})
    try:
        with store_errors():
            created = found(await user_ops.create_token(services(request), session.tenant_id,
                                                        user.id), "user")
    except ApiError as error:
        return await render_user(request, session, user, status=error.status,
                                 errors={"tokens": [error.message]})
    token, secret = created
    return await render_user(request, session, user, status=201,
                             new_token={"id": token.id, "prefix": token.prefix,
                                        "secret": secret})


@routes.post(PREFIX + "/users/{user_id}/tokens/{token_id}/revoke")
@page
async def revoke(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    user = await owned_user(request, session)
    await form_of(request, session)
    if not await revoke_token(services(request), session.tenant_id, user.id,
                              request.match_info["token_id"]):
        raise not_found("user token (or it was revoked already)")
    raise see_other(f"{PREFIX}/users/{user.id}?done=revoked")


@routes.post(PREFIX + "/users/{user_id}/bindings")
@page
async def bind_extension(request: web.Request) -> web.StreamResponse:
    """Bind an extension typed by hand, in a module chosen from the list, to this user."""
    session = await require_builder(request)
    user = await owned_user(request, session)
    form = await form_of(request, session)
    values = {"module_id": text(form, "module_id"), "member_id": text(form, "member_id")}
    module = await request.app[STORE].get_module(session.tenant_id, values["module_id"])
    if module is None:
        return await render_user(request, session, user, status=422, values=values,
                                 errors={"bind": ["module: choose one of the tenant's modules"]})
    problems = await bind_by_hand(request, session, module, values["member_id"], user.id)
    if problems:
        return await render_user(request, session, user, status=422, values=values,
                                 errors={"bind": problems})
    raise see_other(f"{PREFIX}/users/{user.id}?done=bound")


# --- deleting a user, after a confirmation ----------------------------------------------------


@routes.get(PREFIX + "/users/{user_id}/delete")
@page
async def confirm_delete(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return confirmation(request, deletion_of(await owned_user(request, session)))


def deletion_of(user: User) -> Deletion:
    return Deletion("user", user.name, f"{PREFIX}/users/{user.id}/delete",
                    f"{PREFIX}/users/{user.id}", [
        "their tokens stop working at once; their live pages and console sessions close;",
        "their extension bindings go: those extensions' calls reach nobody until bound again;",
        "the calls and the activity that named them stay, naming nobody; the name is free "
        "again.",
    ], pronoun="them")


@routes.post(PREFIX + "/users/{user_id}/delete")
@page
async def delete_user(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    user = await owned_user(request, session)
    if (refused := await refusal(request, session, deletion_of(user))) is not None:
        return refused
    if not await remove_user(services(request), session.tenant_id, user.id):
        raise not_found("user")
    raise see_other(f"{PREFIX}/users?deleted=1")
