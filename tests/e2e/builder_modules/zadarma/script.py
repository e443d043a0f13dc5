"""Zadarma, written by a builder from providers.md: plain helper functions, %-formatting,
a dispatch table, signatures checked with hmac/base64, the recording resolved on demand."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from voip_runtime_script import *

    Handler = Callable[[dict[str, str]], VoipWebhookParseResult]

SIGNED_BY = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
DISPOSITION = {
    "answered": "Answered", "busy": "Busy", "cancel": "Cancel", "no answer": "NoAnswer",
    "failed": "Failed", "no money": "NoMoney", "unallocated number": "UnallocatedNumber",
    "no limit": "NoLimit", "no day limit": "NoDayLimit", "line limit": "LineLimit",
    "no money, no limit": "NoMoneyNoLimit",
}
MSK = timezone(timedelta(hours=3))


def sign(text: str) -> str:
    secret = str(settings["apiSecret"]).encode()
    hexdigest = hmac.new(secret, text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hexdigest.encode()).decode()


def signature_ok(form: dict[str, str], given: str | None) -> bool:
    fields = SIGNED_BY.get(form.get("event", ""))
    if fields is None:
        return True  # NOTIFY_INTERNAL and NOTIFY_ANSWER carry no documented signature
    expected = sign("".join(form.get(name, "") for name in fields))
    return given is not None and hmac.compare_digest(expected, given)


def disposition(text: str) -> VoipCallDisposition:
    member = DISPOSITION.get(text.strip().lower())
    return getattr(VoipCallDisposition, member) if member else VoipCallDisposition.Unknown


def incoming(form: dict[str, str], event: VoipWebhookEvent, operator: str,
             outcome: VoipCallDisposition = VoipCallDisposition.Unknown) -> VoipWebhookRequest:
    return {"event": event, "direction": VoipCallDirection.In, "disposition": outcome,
            "srcPhone": form["caller_id"], "dstPhone": operator,
            "callId": form.get("pbx_call_id")}


def record_data(form: dict[str, str]) -> dict[str, str] | None:
    rec = form.get("call_id_with_rec") or storage.get("rec:" + form["pbx_call_id"])
    return {"call_id": rec, "pbx_call_id": form["pbx_call_id"]} if rec else None


def on_start(form: dict[str, str]) -> VoipWebhookParseResult:
    return {"event": incoming(form, VoipWebhookEvent.NotifyStart, form["called_did"])}


def on_internal(form: dict[str, str]) -> VoipWebhookParseResult:
    return {"event": incoming(form, VoipWebhookEvent.NotifyInternal, form["internal"])}


def on_answer(form: dict[str, str]) -> VoipWebhookParseResult:
    return {"event": incoming(form, VoipWebhookEvent.NotifyAnswer,
                              form.get("internal") or form["destination"])}


def on_end(form: dict[str, str]) -> VoipWebhookParseResult:
    outcome = disposition(form.get("disposition", ""))
    operator = form.get("internal") or form["called_did"]
    storage.set("end:" + form["pbx_call_id"], form, ttl=2 * 86400)
    talk = int(form.get("duration") or 0) if outcome == VoipCallDisposition.Answered else 0
    return {"event": incoming(form, VoipWebhookEvent.NotifyEnd, operator, outcome),
            "callRecord": {"call": record_data(form), "direction": "in", "disposition": outcome,
                           "srcPhone": form["caller_id"], "dstPhone": operator,
                           "duration": talk, "callId": form["pbx_call_id"]}}


def on_out(form: dict[str, str]) -> VoipWebhookParseResult:
    ended = form["event"] == "NOTIFY_OUT_END"
    outcome = disposition(form.get("disposition", "")) if ended else VoipCallDisposition.Unknown
    event = VoipWebhookRequest(
        event=VoipWebhookEvent.NotifyOutEnd if ended else VoipWebhookEvent.NotifyOutStart,
        direction=VoipCallDirection.Out, disposition=outcome, srcPhone=form["internal"],
        dstPhone=form["destination"], callId=form["pbx_call_id"])
    if not ended:
        return {"event": event}
    storage.set("end:" + form["pbx_call_id"], form, ttl=2 * 86400)
    return {"event": event, "callRecord": VoipCallRecord(
        call=record_data(form), direction=VoipCallDirection.Out, disposition=outcome,
        srcPhone=form["internal"], dstPhone=form["destination"],
        duration=int(form.get("duration") or 0), callId=form["pbx_call_id"])}


def on_record(form: dict[str, str]) -> VoipWebhookParseResult:
    storage.set("rec:" + form["pbx_call_id"], form["call_id_with_rec"], ttl=2 * 86400)
    ended = storage.get("end:" + form["pbx_call_id"])
    if ended is None:
        return {}  # the END is yet to come; it will find the recording in storage
    result = HANDLERS[ended["event"]](ended)
    return {"callRecord": result["callRecord"]}


HANDLERS: dict[str, Handler] = {
    "NOTIFY_START": on_start, "NOTIFY_INTERNAL": on_internal, "NOTIFY_ANSWER": on_answer,
    "NOTIFY_END": on_end, "NOTIFY_OUT_START": on_out, "NOTIFY_OUT_END": on_out,
    "NOTIFY_RECORD": on_record,
}


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    if "zd_echo" in request.query:
        return {"response": HttpResponse().content(request.query["zd_echo"])}
    form = request.form()
    if not signature_ok(form, request.headers.get("Signature")):
        log("refused %s: Signature header does not match" % form.get("event", "?"))
        return {"response": HttpResponse().status(403).content("invalid signature")}
    handler = HANDLERS.get(form.get("event", ""))
    if handler is None:
        log("ignored %r" % form.get("event"))
        return {}
    when = datetime.strptime(form.get("call_start") or "1970-01-01 00:00:00",
                             "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)
    log("%-16s %s at %s" % (form["event"], form.get("pbx_call_id"), when.isoformat()))
    return handler(form)


def api(path: str, params: dict[str, Any]) -> Any:
    """Zadarma's API: Authorization: key:base64(hex hmac-sha1(path + query + md5(query)))."""
    query = urlencode(sorted(params.items()))
    auth = sign(path + query + hashlib.md5(query.encode()).hexdigest())
    answer = fetch("%s%s?%s" % (settings["apiBaseUrl"], path, query),
                   headers={"Authorization": "%s:%s" % (settings["apiKey"], auth)})
    data = answer.json()
    if not answer.ok or data.get("status") != "success":
        raise RuntimeError("HTTP %d: %s" % (answer.status, data.get("message", "?")))
    return data


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    link: str = api("/v1/pbx/record/request/", {"call_id": call_data["call_id"]})["link"]
    return link


def VoipTestConnection() -> VoipTestConnectionResult:
    try:
        api("/v1/info/balance/", {})
    except (FetchError, RuntimeError) as error:
        return VoipTestConnectionResult(success=False, failReason=str(error))
    return VoipTestConnectionResult(success=True)


def VoipGetMembers() -> list[VoipMember]:
    return [VoipMember(id=str(n)) for n in api("/v1/pbx/internal/", {})["numbers"]]


def VoipGenerateCall(src_phone: str, dst_phone: str) -> None:
    api("/v1/request/callback/", {"from": src_phone, "to": dst_phone, "format": "json"})
