"""Which of its tenant's calls a user (an operator) may see and play, in one place.

A tenant key sees every call of its tenant. A user sees the calls that rang, were answered or
ended at them: those they answered (`Call.answered_user_id`, also for a call known only from
its `Answered` record, or one transferred to them), those they were notified of
(`call_notified` names them, kept with the call), and those at an extension bound to them now
(a provider that reports a call only at its end notifies nobody, and an operator still plays
their own calls). The console's call list shows the recent ones of these; recording playback,
in the console and in the API, allows exactly these, and answers 404 for any other call, as
for an unknown id.
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.store import Store
from runtime.store.models import Call


def operator_extension(call: Call) -> str:
    """The operator's side of the call: srcPhone for an outgoing call, dstPhone otherwise."""
    return call.src_phone if call.direction == "out" else call.dst_phone


async def user_may_see_call(store: Store, user_id: str, call: Call) -> bool:
    if call.answered_user_id == user_id:
        return True
    if await store.user_was_notified(call.tenant_id, user_id, call.id):
        return True
    bindings = await store.list_bindings(call.tenant_id, call.module_id) or []
    extension = operator_extension(call)
    return any(b.member_id == extension and b.user_id == user_id for b in bindings)


async def calls_user_may_see(store: Store, tenant_id: str, user_id: str,
                             calls: Sequence[Call]) -> set[str]:
    """The ids of the tenant's `calls` that `user_may_see_call` allows, for a page listing
    many: one read for the notifications, one per module for its bindings, not per call."""
    seen = {call.id for call in calls if call.answered_user_id == user_id}
    rest = [call for call in calls if call.id not in seen]
    seen |= await store.notified_of(tenant_id, user_id, [call.id for call in rest])
    mine: dict[str, set[str]] = {}  # module id -> the extensions bound to the user there
    for call in rest:
        if call.id in seen:
            continue
        if call.module_id not in mine:
            bindings = await store.list_bindings(tenant_id, call.module_id) or []
            mine[call.module_id] = {b.member_id for b in bindings if b.user_id == user_id}
        if operator_extension(call) in mine[call.module_id]:
            seen.add(call.id)
    return seen
