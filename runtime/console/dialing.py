"""Click-to-call from the console: the "Call" buttons beside a call's or a contact's number.

`dial_lines` says which lines a page may offer: an operator calls from their own extension in
a module; a tenant admin chooses whose extension rings (any user bound in the module). The
button's form posts here, and `place_call` (runtime/operations/functions.py) runs the module's
VoipGenerateCall exactly as POST /api/v1/calls/originate does. Pages offer the button through
the `click_to_call` macro (templates/_click_to_call.html), given `dial` from `dial_lines`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from runtime.console.dial_once import NONCE_FIELD, issue, place
from runtime.console.modules_views import problems_of, text
from runtime.console.session import Session
from runtime.console.web import PREFIX, form_of, page, render, require_session
from runtime.errors import ApiError, not_found
from runtime.operations.functions import OriginateBody, place_call
from runtime.operations.services import services
from runtime.typedefs import STORE

routes = web.RouteTableDef()

SEPARATOR = "/"  # ids never hold one
# Lines one "Call" menu offers. The menu is repeated on every row of a page (the calls list
# shows 200), and a tenant may bind any number of users in a module: with thousands bound,
# the calls page was millions of menu entries, built in the service's event loop. Past this
# many, a menu offers the first (by extension); any line can still call through the API.
MENU_LINES = 100


@dataclass(frozen=True, slots=True)
class Line:
    """One way to place a call: this module, ringing this user's extension first."""

    module_id: str
    module_name: str
    user_id: str
    user_name: str
    extension: str

    @property
    def value(self) -> str:
        return f"{self.module_id}{SEPARATOR}{self.user_id}"

    @property
    def label(self) -> str:
        return f"{self.module_name}: {self.user_name} ({self.extension})"


async def dial_lines(request: web.Request, session: Session,
                     module_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Template context for `click_to_call`: {"dial": {module id: [Line, ...]} for the modules
    `module_ids` (those of the page's calls), "dial_any": the lines of any module, for a
    number of no module (None for `module_ids`: a page of such numbers, a contact's), and
    "dial_nonce": the page's call forms' one-time nonce (runtime/console/dial_once.py)}.

    Only the bindings those menus offer are read, in one read: the calls page read every
    module's bindings on each load (thousands of users bound in hundreds of modules), for
    menus of the few modules its calls were in."""
    store = request.app[STORE]
    only = session.user_id if session.kind == "operator" else None  # an operator's own lines
    if module_ids is None:
        bound = await store.dial_bindings(session.tenant_id, None, MENU_LINES, MENU_LINES,
                                          only)
    else:
        wanted = sorted(set(module_ids))
        bound = await store.dial_bindings(session.tenant_id, wanted, MENU_LINES,
                                          MENU_LINES * len(wanted), only)
    # Those users' names in one read: the menus' users only, not every bound one.
    names = {user_id: user.name for user_id, user in (await store.get_users(
        session.tenant_id, sorted({b.user_id for b in bound}))).items()}
    lines: dict[str, list[Line]] = {}
    for binding in bound:
        lines.setdefault(binding.module_id, []).append(Line(
            binding.module_id, binding.module_name, binding.user_id,
            names.get(binding.user_id, binding.user_id), binding.member_id))
    any_module = [line for found in lines.values() for line in found] \
        if module_ids is None else []
    return {"dial": lines if module_ids is not None else {}, "dial_any": any_module,
            "dial_nonce": issue(request.app, session)}


@routes.post(PREFIX + "/calls/originate")
@page
async def originate(request: web.Request) -> web.StreamResponse:
    """Start a call; the answer is a page saying what happened (the form works without
    scripts). An operator calls as themselves only, as a user token does through the API.
    The form's nonce makes a reload of that page show it again rather than ring again."""
    session = await require_session(request)
    form = await form_of(request, session)
    module_id, _, user_id = text(form, "line").partition(SEPARATOR)
    if not module_id:
        raise ApiError(422, "invalid", "line: choose the line to call from")
    try:  # the API's own body: the same limits on the number
        body = OriginateBody.model_validate({"module_id": module_id, "user_id": user_id or None,
                                             "number": text(form, "number").strip()})
    except ValidationError as error:
        raise ApiError(422, "invalid", "; ".join(problems_of(error))) from None
    store = request.app[STORE]
    if session.kind == "operator":
        user = session.user
        assert user is not None
        if body.user_id not in (None, user.id):
            raise ApiError(403, "forbidden", "an operator can only call from their own "
                                             "extension")
    else:
        if body.user_id is None:
            raise ApiError(422, "invalid", "line: choose whose extension rings first")
        found_user = await store.get_user(session.tenant_id, body.user_id)
        if found_user is None:
            raise not_found("user")
        user = found_user
    placing_user = user
    placed = await place(
        request.app, session, text(form, NONCE_FIELD), f"{body.module_id}/{user.id}/{body.number}",
        lambda: place_call(services(request), session.tenant_id, placing_user, body.module_id,
                           body.number))
    module = await store.get_module(session.tenant_id, body.module_id)
    return render(request, "call_placed.html", {
        "placed": placed.answer, "repeat": placed.repeat, "user": user, "module": module,
        "back": text(form, "back") if text(form, "back").startswith(PREFIX + "/") else None,
    }, status=202)
