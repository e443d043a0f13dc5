"""Binding an extension typed by hand: for a module whose script has no VoipGetMembers, or an
extension that has not rung yet. Used by the module page and the user page alike.

The value is checked as the API checks it (runtime/operations/bindings.py: 1..64 characters, not
only spaces), after trimming the spaces a form picks up; the store does the binding and the
webhook path forgets its cached copy of the module, as after PATCH /bindings.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from runtime.console.session import Session
from runtime.console.web import store_errors
from runtime.errors import ApiError
from runtime.operations.bindings import MemberId, set_bindings
from runtime.operations.services import services
from runtime.store.models import Module

MEMBER_ID: TypeAdapter[str] = TypeAdapter(MemberId)


async def bind_by_hand(request: web.Request, session: Session, module: Module, member_id: str,
                       user_id: str) -> list[str]:
    """Bind `member_id` of `module` to the user; the problems to show, [] when it is done."""
    member = member_id.strip()
    try:
        member = MEMBER_ID.validate_python(member)
    except ValidationError as error:
        return [f"extension: {e['msg']}" for e in error.errors()]
    if not user_id:
        return ["user: choose the user to bind the extension to"]
    try:
        with store_errors():
            result = await set_bindings(services(request), module, {member: user_id},
                                        replace=False)
    except ApiError as error:
        return [f"user: {error.message}" if error.status == 404 else error.message]
    if result is None:
        return ["module: it was deleted meanwhile"]
    return []
