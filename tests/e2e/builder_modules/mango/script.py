"""Mango Office VPBX, written by a builder from the provider's API description: the PBX posts
form fields `vpbx_api_key`, `sign` and `json` to the webhook URL with the kind of notification
appended (`.../events/call`, `.../events/summary`, `.../events/recording`); `sign` is the hex
SHA-256 of api key + json + salt. Written with a small class around the signed form, a handler
table filled by a decorator, match statements with guards, and storage joining a recording to
the call's summary whichever comes first."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from voip_runtime_script import *

    Handler = Callable[[dict[str, Any]], VoipWebhookParseResult]

WEEK = 7 * 24 * 3600
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler
    return register


class SignedForm:
    """The form Mango posts, and whether it is signed with this module's key and salt."""

    def __init__(self, request: FetchRequest) -> None:
        form = request.form()
        self.key = form.get("vpbx_api_key", "")
        self.sign = form.get("sign", "")
        self.raw = form.get("json", "")
        self.kind = request.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]

    def is_genuine(self) -> bool:
        key, salt = str(settings["apiKey"]), str(settings["apiSalt"])
        expected = hashlib.sha256(f"{key}{self.raw}{salt}".encode()).hexdigest()
        return hmac.compare_digest(self.key, key) and hmac.compare_digest(self.sign, expected)

    def data(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


def number(side: dict[str, Any]) -> str:
    return str(side.get("number") or side.get("extension") or "")


@handles("call")
def on_call(data: dict[str, Any]) -> VoipWebhookParseResult:
    caller, callee = data["from"], data["to"]
    call_id = str(data["entry_id"])
    if "extension" in caller and "extension" not in callee:  # an operator dials out
        kinds = {"Appeared": VoipWebhookEvent.NotifyOutStart,
                 "Connected": VoipWebhookEvent.NotifyAnswer,
                 "Disconnected": VoipWebhookEvent.NotifyOutEnd}
        kind = kinds.get(data["call_state"])
        if kind is None:
            return {}
        answered = kind is VoipWebhookEvent.NotifyAnswer
        return {"event": VoipWebhookRequest(
            event=kind, direction=VoipCallDirection.Out, srcPhone=str(caller["extension"]),
            dstPhone=number(callee), callId=call_id,
            disposition=VoipCallDisposition.Answered if answered else VoipCallDisposition.Unknown)}
    ext = callee.get("extension")
    match data["call_state"]:
        case "Appeared" if ext:
            event = VoipWebhookEvent.NotifyInternal
        case "Appeared":
            event = VoipWebhookEvent.NotifyStart
        case "Connected":
            event = VoipWebhookEvent.NotifyAnswer
        case "Disconnected" | "OnHold":
            return {}  # a leg ends or waits; the summary ends the call
        case _:
            return {}
    disposition = (VoipCallDisposition.Answered if event is VoipWebhookEvent.NotifyAnswer
                   else VoipCallDisposition.Unknown)
    return {"event": VoipWebhookRequest(
        event=event, direction=VoipCallDirection.In, disposition=disposition,
        srcPhone=number(caller), dstPhone=str(ext or callee.get("line_number") or number(callee)),
        callId=call_id)}


@handles("summary")
def on_summary(data: dict[str, Any]) -> VoipWebhookParseResult:
    call_id = str(data["entry_id"])
    direction = {1: VoipCallDirection.In, 2: VoipCallDirection.Out}.get(
        data["call_direction"], VoipCallDirection.Internal)
    answered = data["entry_result"] == 1
    talked = data["end_time"] - data["talk_time"] if answered and data["talk_time"] else 0
    record = VoipCallRecord(
        direction=direction,
        disposition=VoipCallDisposition.Answered if answered else VoipCallDisposition.NoAnswer,
        srcPhone=number(data["from"]), dstPhone=number(data["to"]) or str(data["line_number"]),
        callId=call_id, duration=max(0, talked), call=storage.get(f"recording:{call_id}"))
    storage.set(f"summary:{call_id}", dict(record), ttl=WEEK)
    ended = (VoipWebhookEvent.NotifyOutEnd if direction is VoipCallDirection.Out
             else VoipWebhookEvent.NotifyEnd)
    return VoipWebhookParseResult(
        event=VoipWebhookRequest(event=ended, direction=direction,
                                 disposition=record["disposition"], srcPhone=record["srcPhone"],
                                 dstPhone=record["dstPhone"], callId=call_id),
        callRecord=record)


@handles("recording")
def on_recording(data: dict[str, Any]) -> VoipWebhookParseResult:
    if data.get("recording_state") != "Completed":
        return {}
    call_id = str(data["entry_id"])
    recording = {"recording_id": data["recording_id"]}
    storage.set(f"recording:{call_id}", recording, ttl=WEEK)
    summary: VoipCallRecord | None = storage.get(f"summary:{call_id}")
    if summary is None:
        return {}  # the summary comes later and takes the recording with it
    summary["call"] = recording
    return {"callRecord": summary}


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    form = SignedForm(request)
    if not form.is_genuine():
        return {"response": HttpResponse().status(403).content({"error": "bad signature"})}
    handler = HANDLERS.get(form.kind)
    result: VoipWebhookParseResult = handler(form.data()) if handler else {}
    result["response"] = HttpResponse().content("OK")
    return result


def VoipGetCallLink(call_data: Any) -> str:
    return f"{settings['apiBase']}/recording/{call_data['recording_id']}/play"
