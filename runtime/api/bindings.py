"""Member bindings of a module: telephony member id (extension) -> user of the tenant."""

from __future__ import annotations

from typing import Annotated, ClassVar

from aiohttp import web
from pydantic import Field

from runtime.api.common import Body, found, optional_page, read_body, reply
from runtime.api.modules import owned_module
from runtime.auth import require_tenant
from runtime.openapi import documented
from runtime.openapi.models import BindingList, WholeListQuery, dump
from runtime.operations import bindings as binding_ops
from runtime.operations.bindings import MemberId, UserId
from runtime.operations.services import services
from runtime.store.models import JSON, Binding
from runtime.typedefs import STORE

routes = web.RouteTableDef()

BINDINGS_CAPPED = ("the bindings would grow past tenant_limits.max_bindings_per_module "
                   "(`limit_reached`).")



class BindingsBody(Body):
    bindings: Annotated[dict[MemberId, UserId | None], Field(max_length=10_000)]

    # Its 10,000 bindings, and room to be told that more are too many in pydantic's words.
    max_values: ClassVar[int] = 12_000


async def bindings_json(request: web.Request, tenant_id: str, bindings: list[Binding]
                        ) -> dict[str, JSON]:
    # The bound users in one read: one per user made a module's 20,000 bindings 20,000
    # statements a listing (a lever any tenant key could pull in a loop).
    users = await request.app[STORE].get_users(tenant_id, [b.user_id for b in bindings])
    names = {user_id: user.name for user_id, user in users.items()}
    return dump(BindingList, {"bindings": [{"member_id": b.member_id, "user_id": b.user_id,
                                            "user_name": names.get(b.user_id)}
                                           for b in bindings]})


@routes.get("/api/v1/modules/{module_id}/bindings")
@documented("List a module's member bindings (by member id)", auth="tenant",
            query=WholeListQuery, response=BindingList, errors=[404],
            description="All of them unless `limit` is given.")
async def list_bindings(request: web.Request) -> web.Response:
    auth = await require_tenant(request)
    limit, offset = optional_page(request)
    module = await owned_module(request, auth)
    bindings = await request.app[STORE].list_bindings(auth.tenant_id, module.id, limit,
                                                      offset) or []
    return reply(await bindings_json(request, auth.tenant_id, bindings))


async def set_bindings(request: web.Request, *, replace: bool) -> web.Response:
    auth = await require_tenant(request)
    module = await owned_module(request, auth)
    body = await read_body(request, BindingsBody)
    bindings = found(await binding_ops.set_bindings(services(request), module, body.bindings,
                                                    replace=replace), "module")
    return reply(await bindings_json(request, auth.tenant_id, bindings))


@routes.put("/api/v1/modules/{module_id}/bindings")
@documented("Replace a module's member bindings", auth="tenant", body=BindingsBody,
            response=BindingList, errors=[404, 409],
            error_notes={404: "the module, or a user id that is not the tenant's.",
                         409: BINDINGS_CAPPED})
async def replace_bindings(request: web.Request) -> web.Response:
    """Exactly these bindings; every other member of the module is unbound."""
    return await set_bindings(request, replace=True)


@routes.patch("/api/v1/modules/{module_id}/bindings")
@documented("Change some of a module's member bindings", auth="tenant",
            body=BindingsBody, response=BindingList, errors=[404, 409],
            error_notes={404: "the module, or a user id that is not the tenant's.",
                         409: BINDINGS_CAPPED})
async def merge_bindings(request: web.Request) -> web.Response:
    """These bindings changed (a null user unbinds the member); the others kept."""
    return await set_bindings(request, replace=False)
