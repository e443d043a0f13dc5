"""Sipuni, written by a builder from providers.md: a match statement over the event codes,
result constructors as TypedDicts, a generator for the legs, str.format, and a reply of
{"success": true} on every branch (try/finally)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from voip_runtime_script import *

EXTERNAL, INTERNAL = "1", "2"
STATUS = {"ANSWER": VoipCallDisposition.Answered, "NOANSWER": VoipCallDisposition.NoAnswer,
          "BUSY": VoipCallDisposition.Busy}


def params(request: FetchRequest) -> dict[str, str]:
    data = dict(request.query)
    if request.method == "POST":
        data.update(request.form())
    return data


def direction(p: dict[str, str]) -> VoipCallDirection:
    match (p.get("src_type"), p.get("dst_type")):
        case ("2", "1"):
            return VoipCallDirection.Out
        case ("2", "2"):
            return VoipCallDirection.Internal
        case _:
            return VoipCallDirection.In


def numbers(p: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(name, value) of the numbers the call carries, as given."""
    for key in ("src_num", "dst_num"):
        value = p.get(key, "").strip()
        if value:
            yield key, value


def event(p: dict[str, str], kind: VoipWebhookEvent,
          outcome: VoipCallDisposition = VoipCallDisposition.Unknown) -> VoipWebhookRequest:
    nums = dict(numbers(p))
    return VoipWebhookRequest(event=kind, direction=direction(p), disposition=outcome,
                              srcPhone=nums["src_num"], dstPhone=nums["dst_num"],
                              callId=p["call_id"])


def finished(p: dict[str, str]) -> VoipWebhookParseResult:
    outcome = STATUS.get(p.get("status", "").upper(), VoipCallDisposition.Unknown)
    way = direction(p)
    end_kind = VoipWebhookEvent.NotifyOutEnd if way == VoipCallDirection.Out else (
        VoipWebhookEvent.NotifyEnd)
    answered_at = int(p.get("call_answer_timestamp") or 0)
    talk = max(0, int(p["timestamp"]) - answered_at) if answered_at else 0
    link = p.get("call_record_link") or None
    return VoipWebhookParseResult(
        event=event(p, end_kind, outcome),
        callRecord=VoipCallRecord(
            call={"link": link} if link else None, direction=way, disposition=outcome,
            srcPhone=p["src_num"], dstPhone=p["dst_num"], duration=talk, callId=p["call_id"]))


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    result: VoipWebhookParseResult = {}
    try:
        p = params(request)
        print("event {0} call {call} {p[src_num]}->{p[dst_num]}".format(
            p.get("event"), call=p.get("call_id"), p={"src_num": "?", "dst_num": "?", **p}))
        match p.get("event"):
            case "1":
                kind = (VoipWebhookEvent.NotifyOutStart if direction(p) == VoipCallDirection.Out
                        else VoipWebhookEvent.NotifyStart)
                result = {"event": event(p, kind)}
            case "3":
                result = {"event": event(p, VoipWebhookEvent.NotifyAnswer)}
            case "2":
                result = finished(p)
            case "4" | None:
                pass  # one leg of a group call ended: the call goes on
            case other:
                log(f"unknown event {other!r}")
    finally:
        result["response"] = HttpResponse().content(json.loads('{"success": true}'))
    return result


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    return call_data["link"]
