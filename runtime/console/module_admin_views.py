"""The tenant admin's module actions: bind an extension typed by hand, give the module a new
webhook URL, delete the module after a confirmation.

The same store calls as the API (runtime/api/modules.py, runtime/api/bindings.py), and the
webhook path forgets its cached copy of the module after each, as there. Builder sessions
only; another tenant's module ids answer 404.
"""

from __future__ import annotations

from aiohttp import web

from runtime.console.binding_forms import bind_by_hand
from runtime.console.deletion import Deletion, confirmation, refusal
from runtime.console.modules_views import owned, render_module, text
from runtime.console.web import PREFIX, form_of, page, require_builder, see_other
from runtime.operations import modules as module_ops
from runtime.operations.services import services
from runtime.store.models import Module

routes = web.RouteTableDef()


@routes.post(PREFIX + "/modules/{module_id}/bind")
@page
async def bind_extension(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    values = {"member_id": text(form, "member_id"), "user_id": text(form, "user_id")}
    problems = await bind_by_hand(request, session, module, values["member_id"],
                                  values["user_id"])
    if problems:
        return await render_module(request, session, module, status=422,
                                   errors={"bind": problems}, bind_values=values)
    raise see_other(f"{PREFIX}/modules/{module.id}?saved=bindings#bindings")


@routes.post(PREFIX + "/modules/{module_id}/webhook-url")
@page
async def new_webhook_url(request: web.Request) -> web.StreamResponse:
    """A new webhook token: the old URL answers 404 from now on, on every node (the token
    cache forgets the module when the change commits)."""
    session = await require_builder(request)
    module = await owned(request, session)
    form = await form_of(request, session)
    if form.get("confirm") != "1":
        return await render_module(request, session, module, status=422, errors={
            "webhook": ["Tick the box to confirm: the old URL stops working at once, so "
                        "your provider must be given the new one."]})
    await module_ops.new_webhook_token(services(request), session.tenant_id, module.id)
    raise see_other(f"{PREFIX}/modules/{module.id}?saved=webhook#webhook")


def deletion_of(module: Module) -> Deletion:
    return Deletion("module", module.name, f"{PREFIX}/modules/{module.id}/delete",
                    f"{PREFIX}/modules/{module.id}", [
        "its webhook URL stops working at once: the provider's webhooks answer 404;",
        "its script versions, settings and secrets, member bindings and storage go;",
        "its calls go with it: their events, the contacts' activity entries and the "
        "operators' notifications of them, and its execution log;",
        "users and contacts stay.",
    ])


@routes.get(PREFIX + "/modules/{module_id}/delete")
@page
async def confirm_delete(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    return confirmation(request, deletion_of(await owned(request, session)))


@routes.post(PREFIX + "/modules/{module_id}/delete")
@page
async def delete_module(request: web.Request) -> web.StreamResponse:
    session = await require_builder(request)
    module = await owned(request, session)
    if (refused := await refusal(request, session, deletion_of(module))) is not None:
        return refused
    await module_ops.delete_module(services(request), session.tenant_id, module.id)
    raise see_other(f"{PREFIX}/modules?deleted=1")
