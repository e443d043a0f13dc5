"""Seed module: the contract's reference, for a PBX (or glue code) that posts JSON webhooks.

It ports the examples of the ELMA365 / BRIX365 telephony documentation to Python and goes on to
every event kind. Copy it as the start of your own module.

The webhook format it accepts: POST to the module's webhook URL, Content-Type:
application/json, the body one JSON object with a "type":

    {"type": "start",     "callId": "c-1001", "srcPhone": "+79161234567", "dstPhone": "101"}
    {"type": "internal",  "callId": "c-1001", "srcPhone": "+79161234567", "dstPhone": "102"}
    {"type": "answer",    "callId": "c-1001", "srcPhone": "+79161234567", "dstPhone": "101"}
    {"type": "end",       "callId": "c-1001", "srcPhone": "+79161234567", "dstPhone": "101",
                          "disposition": "answered"}
    {"type": "out_start", "callId": "c-2001", "srcPhone": "101", "dstPhone": "+79161234567"}
    {"type": "out_end",   "callId": "c-2001", "srcPhone": "101", "dstPhone": "+79161234567",
                          "disposition": "no_answer"}
    {"type": "record",    "callId": "c-1001", "direction": "in", "disposition": "answered",
                          "srcPhone": "+79161234567", "dstPhone": "101", "duration": 74,
                          "recordId": "rec-1001"}

- "srcPhone", "dstPhone": required; strings (a number such as 101 is taken as "101").
  Incoming and internal calls: srcPhone is the client, dstPhone the operator's extension;
  outgoing calls: srcPhone is the operator's extension, dstPhone the client.
- "callId", "srcPhoneExt", "dstPhoneExt": optional strings.
- "direction": "in", "out" or "internal"; "in" when left out. out_start and out_end are "out".
- "disposition": required for end, out_end and record; a VoipCallDisposition value
  ("answered", "busy", "cancel", "no_answer", "failed", ...).
- "duration": record only, seconds of conversation (a number, 0 or more).
- "recordId": record only, optional: the recording's id. Without it the call has no recording.
  The recording is played from settings["recordBaseUrl"] + "/" + recordId.

Anything else is answered 400 with a text saying what is wrong.

Settings: apiKey (only checked by "test connection"), recordBaseUrl, members
("101:Anna Petrova,102:Ivan" - what "load members" offers for the bindings table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    # For type checkers and editors only (`voip-runtime stubs DIR`); the sandbox injects these.
    from enum import StrEnum
    from typing import Any, TypeVar

    from voip_runtime_script import *

    E = TypeVar("E", bound=StrEnum)

EVENT_TYPES = {
    "start": VoipWebhookEvent.NotifyStart,
    "internal": VoipWebhookEvent.NotifyInternal,
    "answer": VoipWebhookEvent.NotifyAnswer,
    "end": VoipWebhookEvent.NotifyEnd,
    "out_start": VoipWebhookEvent.NotifyOutStart,
    "out_end": VoipWebhookEvent.NotifyOutEnd,
}
OUTGOING_TYPES = ("out_start", "out_end")
FINAL_TYPES = ("end", "out_end")
ALL_TYPES = sorted(list(EVENT_TYPES) + ["record"])


class BadPayload(ValueError):
    """The webhook's JSON is not what this module understands: the sender gets a 400."""


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    try:
        data = read_payload(request)
        kind = data.get("type")
        if kind == "record":
            return {"callRecord": call_record(data)}
        if kind in EVENT_TYPES:
            return {"event": call_event(kind, data)}
        raise BadPayload(
            "unknown type " + repr(kind) + "; expected one of: " + ", ".join(ALL_TYPES)
        )
    except BadPayload as error:
        log("refused:", error)
        return {"response": HttpResponse().status(400).content(str(error))}


def VoipGetCallLink(call_data: dict[str, Any]) -> str:
    # call_data is the "call" value this module saved with the call record.
    base = settings.get("recordBaseUrl")
    if not base:
        raise ValueError("the module setting recordBaseUrl is empty")
    return str(base).rstrip("/") + "/" + quote(str(call_data["recordId"]), safe="")


def VoipTestConnection() -> VoipTestConnectionResult:
    if settings.get("apiKey"):
        return {"success": True}
    return {"success": False, "failReason": "the module setting apiKey is empty"}


def VoipGetMembers() -> list[VoipMember]:
    members: list[VoipMember] = []
    for entry in str(settings.get("members", "")).split(","):
        member_id, name = entry.partition(":")[::2]
        if not member_id.strip():
            continue
        member: VoipMember = {"id": member_id.strip()}
        if name.strip():
            member["name"] = name.strip()
        members.append(member)
    return members


def read_payload(request: FetchRequest) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadPayload('the body must be a JSON object such as {"type": "start", ...}')
    payload: dict[str, Any] = data
    return payload


def call_event(kind: str, data: dict[str, Any]) -> VoipWebhookRequest:
    if kind in OUTGOING_TYPES:
        direction = VoipCallDirection.Out
    else:
        direction = enum_value(VoipCallDirection, data, "direction", "in")
    if kind in FINAL_TYPES:
        disposition = enum_value(VoipCallDisposition, data, "disposition", None)
    elif kind == "answer":
        disposition = VoipCallDisposition.Answered
    else:
        # Ringing: the outcome is not known yet.
        disposition = VoipCallDisposition.Unknown
    return VoipWebhookRequest(
        event=EVENT_TYPES[kind],
        direction=direction,
        disposition=disposition,
        srcPhone=required_text(data, "srcPhone"),
        dstPhone=required_text(data, "dstPhone"),
        callId=optional_text(data, "callId"),
        srcPhoneExt=optional_text(data, "srcPhoneExt"),
        dstPhoneExt=optional_text(data, "dstPhoneExt"),
    )


def call_record(data: dict[str, Any]) -> VoipCallRecord:
    duration = data.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
        raise BadPayload("duration must be a number of seconds, 0 or more")
    record_id = optional_text(data, "recordId")
    return VoipCallRecord(
        # What VoipGetCallLink gets back later; None: no recording, no player.
        call={"recordId": record_id} if record_id else None,
        direction=enum_value(VoipCallDirection, data, "direction", "in"),
        disposition=enum_value(VoipCallDisposition, data, "disposition", None),
        duration=duration,
        srcPhone=required_text(data, "srcPhone"),
        dstPhone=required_text(data, "dstPhone"),
        callId=optional_text(data, "callId"),
        srcPhoneExt=optional_text(data, "srcPhoneExt"),
        dstPhoneExt=optional_text(data, "dstPhoneExt"),
    )


def required_text(data: dict[str, Any], key: str) -> str:
    value = optional_text(data, key)
    if value is None:
        raise BadPayload("missing " + key)
    return value


def optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadPayload(key + " must be a string")
    return str(value)


def enum_value(enum: type[E], data: dict[str, Any], key: str, default: str | None) -> E:
    value = data.get(key, default)
    if value is None:
        raise BadPayload("missing " + key)
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise BadPayload(key + " must be one of: " + allowed + " (got " + repr(value) + ")")
