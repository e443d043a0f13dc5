"""MegaFon virtual PBX ("cloud PBX" CRM protocol): live call events, call history, caller look-up.

What MegaFon sends. In the PBX's integration settings, give this module's webhook URL as the
CRM's address and choose a CRM key (token); put the same key in the module setting crmToken.
Every request is a POST, `application/x-www-form-urlencoded`, carrying `crm_token` and `cmd`.
A request whose crm_token is not the module's crmToken is answered 403 and nothing else happens
(the execution log keeps it).

Operators are PBX users: bind their PBX logins (the `user` field, e.g. "ivanov") to users here,
or set memberField to "ext" to bind their extension numbers (201, ...) instead.

How each command maps (callId is always MegaFon's `callid`; the client is `phone`):

    cmd=event  type=INCOMING     NotifyStart, In: phone -> <member> (the operator whose phone
                                 rings; a group ringing several phones sends one per phone,
                                 and each bound operator gets a popup)
               type=OUTGOING     NotifyOutStart, Out: <member> -> phone
               type=ACCEPTED     NotifyAnswer (direction from `direction`): <member> answered
               type=TRANSFERRED  NotifyInternal: the call now rings at / belongs to <member>
                                 (after the answer the service takes it as a transfer: <member>
                                 is told the call rings for them, and their ACCEPTED makes them
                                 the operator who answered)
               type=COMPLETED    nothing: one phone hung up (see below)
               type=CANCELLED    Out: NotifyOutEnd, Cancel (an outgoing call has one phone).
                                 In: nothing (see below)
    cmd=history                  the finished call: NotifyEnd / NotifyOutEnd with the final
                                 disposition, and its callRecord
    cmd=contact                  a JSON reply {"contact_name", "responsible"} (see below)
    cmd=rating                   nothing to do (200)
    anything else                nothing to do (200), logged

Whole call or one phone? The contract's NotifyEnd ends the whole call. MegaFon's COMPLETED and
CANCELLED speak for one user's phone: when a group rings A and B and B answers, A's phone is
CANCELLED while B talks; in a group that rings phones in turn, A's CANCELLED is followed by B's
INCOMING. When A transfers the call to B and hangs up, A's COMPLETED is sent at the same moment
as the TRANSFERRED: the two webhooks may run in either order, or at once (two webhooks running
together do not see each other's storage), so nothing tells A's COMPLETED from the end of the
call. Hence neither COMPLETED nor an incoming CANCELLED is ever taken as the end of the call.
The end of every call comes for certain with cmd=history, which MegaFon sends once the whole
call is over: it emits the end event and the record, so a call shows "answered" until then.
This module remembers in `storage` ("call:<callid>", one day) who holds the call (the user who
ACCEPTED it, or to whom it was TRANSFERRED) only to tell an outgoing call's CANCELLED apart.

History statuses: Success -> Answered, missed -> NoAnswer, Cancel -> Cancel, Busy -> Busy,
NotAvailable -> Failed (the operator's phone was unreachable), NotAllowed -> Failed (the
direction is barred), NotFound -> UnallocatedNumber (no such number); anything else -> Unknown.
`duration` is kept for answered calls (0 otherwise). `link`, the recording's URL, is saved as
the record's `call` data ({"link": ...}) and VoipGetCallLink returns it as it is: MegaFon hands
the link over with the history, so playing needs no request of ours (and no allowlist entry).

Caller look-up (cmd=contact). The PBX asks who is calling, to show a name and to route the call
to the client's responsible operator. A script cannot read the tenant's contacts (they live in
the service, which fetch() may not call), so `contact_name` is always "" and the service's own
popup shows the contact. `responsible` is the PBX user who last answered a call with that number
(remembered from history for 180 days under "responsible:<digits>"), else the setting
defaultResponsible, else it is left out and the PBX routes the call as usual.

Not here: MegaFon also has a REST API for its user list and click-to-call, but it is not part of
this module's specification, so VoipGetMembers, VoipGenerateCall and VoipTestConnection are not
defined (the service answers those actions "not supported"); bind members by hand.

Settings: crmToken (secret, required), memberField ("user" or "ext", default "user"),
defaultResponsible (optional PBX login).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For type checkers and editors only (`voip-runtime stubs DIR`); the sandbox injects these.
    from typing import Any

    from voip_runtime_script import *

HISTORY_STATUSES = {
    "success": VoipCallDisposition.Answered,
    "missed": VoipCallDisposition.NoAnswer,
    "cancel": VoipCallDisposition.Cancel,
    "busy": VoipCallDisposition.Busy,
    "notavailable": VoipCallDisposition.Failed,
    "notallowed": VoipCallDisposition.Failed,
    "notfound": VoipCallDisposition.UnallocatedNumber,
}

CALL_SECONDS = 24 * 3600
RESPONSIBLE_SECONDS = 180 * 24 * 3600


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    data = request.form()
    if not token_ok(data.get("crm_token", "")):
        log("refused cmd", repr(data.get("cmd")), ": crm_token does not match the module setting",
            "crmToken")
        return {"response": HttpResponse().status(403).content("invalid crm_token")}
    command = data.get("cmd", "")
    if command == "event":
        return live_event(data)
    if command == "history":
        return history(data)
    if command == "contact":
        return {"response": HttpResponse().content(contact_reply(data.get("phone", "")))}
    if command != "rating":
        log("ignored cmd", repr(command))
    return {}


def token_ok(given: str) -> bool:
    expected = str(settings.get("crmToken", ""))
    # Bytes, not str: compare_digest refuses non-ASCII text, and a forged token may hold any.
    return bool(expected) and hmac.compare_digest(given.encode("utf-8"),
                                                  expected.encode("utf-8"))


# --- cmd=event --------------------------------------------------------------------------------


def live_event(data: dict[str, str]) -> VoipWebhookParseResult:
    kind = data.get("type", "")
    call_id = data.get("callid", "")
    who = member(data)
    if kind == "INCOMING":
        return {"event": event(VoipWebhookEvent.NotifyStart, VoipCallDirection.In,
                               VoipCallDisposition.Unknown, data, who)}
    if kind == "OUTGOING":
        return {"event": event(VoipWebhookEvent.NotifyOutStart, VoipCallDirection.Out,
                               VoipCallDisposition.Unknown, data, who)}
    direction = direction_of(data.get("direction"))
    if kind in ("ACCEPTED", "TRANSFERRED"):
        remember("call:" + call_id, {"holder": who}, CALL_SECONDS)
        name = VoipWebhookEvent.NotifyAnswer
        disposition = VoipCallDisposition.Answered
        if kind == "TRANSFERRED":
            name = VoipWebhookEvent.NotifyInternal
            disposition = VoipCallDisposition.Unknown
        return {"event": event(name, direction, disposition, data, who)}
    memo: dict[str, Any] = recall("call:" + call_id) or {}
    holder = memo.get("holder")
    if kind == "COMPLETED":
        # Never the end of the call: a COMPLETED sent by the operator who just transferred the
        # call comes at the same moment as the TRANSFERRED, may run first or beside it (and
        # then reads a holder the transfer has not yet replaced), and looks exactly like the
        # holder's own hang-up. Ending the call on it would end Petrova's conversation and
        # file her transfer as late. cmd=history ends every call, a moment later.
        log(who, "hung up on call", call_id, "(held by", str(holder or who) + ")",
            "; its end comes with history")
        return {}
    if kind == "CANCELLED":
        if direction == VoipCallDirection.Out and (not holder or holder == who):
            return {"event": end_event(direction, VoipCallDisposition.Cancel, data, who)}
        log(who + "'s phone stopped ringing for call", call_id, "; its end comes with history")
        return {}
    log("ignored event type", repr(kind))
    return {}


def member(data: dict[str, str]) -> str:
    field = str(settings.get("memberField") or "user")
    other = "ext" if field == "user" else "user"
    return (data.get(field) or data.get(other) or data.get("diversion") or data.get("telnum")
            or "unknown")


def client(data: dict[str, str]) -> str:
    return data.get("phone") or "anonymous"


def direction_of(value: str | None) -> VoipCallDirection:
    return VoipCallDirection.Out if value == "out" else VoipCallDirection.In


def event(
    name: VoipWebhookEvent,
    direction: VoipCallDirection,
    disposition: VoipCallDisposition,
    data: dict[str, str],
    who: str,
) -> VoipWebhookRequest:
    if direction == VoipCallDirection.Out:
        src, dst = who, client(data)
    else:
        src, dst = client(data), who
    result = VoipWebhookRequest(event=name, direction=direction, disposition=disposition,
                                srcPhone=src, dstPhone=dst)
    if data.get("callid"):
        result["callId"] = data["callid"]
    return result


def end_event(
    direction: VoipCallDirection, disposition: VoipCallDisposition, data: dict[str, str], who: str
) -> VoipWebhookRequest:
    name = VoipWebhookEvent.NotifyOutEnd
    if direction == VoipCallDirection.In:
        name = VoipWebhookEvent.NotifyEnd
    return event(name, direction, disposition, data, who)


# --- cmd=history ------------------------------------------------------------------------------


def history(data: dict[str, str]) -> VoipWebhookParseResult:
    direction = direction_of(data.get("type"))
    disposition = HISTORY_STATUSES.get(data.get("status", "").lower(),
                                       VoipCallDisposition.Unknown)
    who = member(data)
    ended = end_event(direction, disposition, data, who)
    link = data.get("link", "")
    record = VoipCallRecord(
        direction=ended["direction"],
        disposition=ended["disposition"],
        srcPhone=ended["srcPhone"],
        dstPhone=ended["dstPhone"],
        duration=0,
        call={"link": link} if link.startswith(("https://", "http://")) else None,
    )
    if "callId" in ended:
        record["callId"] = ended["callId"]
    if disposition == VoipCallDisposition.Answered:
        record["duration"] = seconds(data.get("duration"))
    if data.get("callid"):
        forget("call:" + data["callid"])
    digits = phone_key(data.get("phone", ""))
    if disposition == VoipCallDisposition.Answered and digits and data.get("user"):
        remember("responsible:" + digits, data["user"], RESPONSIBLE_SECONDS)
    return {"event": ended, "callRecord": record}


def seconds(value: str | None) -> int:
    try:
        number = int(float(str(value or "0")))
    except ValueError:
        return 0
    return number if number > 0 else 0


def VoipGetCallLink(call_data: dict[str, Any] | None) -> str:
    link = call_data.get("link") if isinstance(call_data, dict) else None
    if not link or not isinstance(link, str):
        raise ValueError("this call record has no recording link")
    return link


# --- cmd=contact ------------------------------------------------------------------------------


def contact_reply(phone: str) -> dict[str, str]:
    reply = {"contact_name": ""}
    digits = phone_key(phone)
    responsible = recall("responsible:" + digits) if digits else None
    responsible = responsible or settings.get("defaultResponsible")
    if responsible:
        reply["responsible"] = str(responsible)
    return reply


def phone_key(phone: str) -> str:
    """Digits of a number, with 89161234567 read as 79161234567 (Russia), so spellings meet."""
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


# --- storage, never fatal ---------------------------------------------------------------------


def remember(key: str, value: Any, ttl: float) -> None:
    # A refused memo must not cost the call its event: log it and go on.
    try:
        storage.set(key, value, ttl=ttl)
    except StorageError as error:
        log("could not remember", key, ":", error)


def recall(key: str) -> Any:
    try:
        return storage.get(key)
    except StorageError as error:
        log("could not read", key, ":", error)
        return None


def forget(key: str) -> None:
    try:
        storage.delete(key)
    except StorageError as error:
        log("could not forget", key, ":", error)
