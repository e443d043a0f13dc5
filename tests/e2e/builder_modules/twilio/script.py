"""Twilio Programmable Voice, written by a builder from the docs alone: status callbacks
(form posts) and recording callbacks, answered with TwiML (`text/xml`).

Twilio signs each request: X-Twilio-Signature = base64(HMAC-SHA1(authToken, the full URL it
called + every POST field name and value, sorted by name)). A dialled operator is a child leg
(`ParentCallSid`): its ringing is NotifyInternal, its answer NotifyAnswer, its end nothing;
the parent's end is the whole call. The recording callback carries ids only: the record kept
at the end (storage) is sent again with the recording's sid, which VoipGetCallLink turns
into the media URL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit, urlunsplit, quote

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Optional

    from voip_runtime_script import *

STATUS_TO_DISPOSITION: dict[str, VoipCallDisposition] = {
    "completed": VoipCallDisposition.Answered,
    "busy": VoipCallDisposition.Busy,
    "no-answer": VoipCallDisposition.NoAnswer,
    "canceled": VoipCallDisposition.Cancel,
    "failed": VoipCallDisposition.Failed,
}


class TwilioError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Leg:
    """One callback's fields, read once."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.sid: str = fields.get("CallSid", "")
        self.parent: Optional[str] = fields.get("ParentCallSid") or None
        self.status: str = fields.get("CallStatus", "")
        self.direction: str = fields.get("Direction", "inbound")
        self.caller: str = fields.get("From", "") or "anonymous"
        self.called: str = fields.get("To", "")
        self.duration = int(fields.get("CallDuration") or 0)

    @property
    def call_id(self) -> str:
        return self.parent or self.sid

    @property
    def outgoing(self) -> bool:
        return self.direction.startswith("outbound") and self.parent is None

    def numbers(self) -> tuple[str, str]:
        return (self.caller, self.called)


def xml_reply(text: str = "") -> HttpResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>%s</Response>' % text
    return HttpResponse().header("Content-Type", "text/xml").content(body)


def expected_signature(url: str, fields: dict[str, str]) -> str:
    data = url + "".join(f"{k}{fields[k]}" for k in sorted(fields))
    mac = hmac.new(settings["authToken"].encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify(request: FetchRequest, fields: dict[str, str]) -> None:
    if not settings.get("verifySignature", True):
        return
    given = request.headers.get("X-Twilio-Signature", "")
    if not hmac.compare_digest(given, expected_signature(request.url, fields)):
        raise TwilioError("bad signature", 403)


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    fields = request.form() if request.method == "POST" else dict(request.query)
    try:
        verify(request, fields)
        leg = Leg(fields)
        if not leg.sid:
            raise TwilioError("CallSid is missing")
    except TwilioError as error:
        log("refused:", error, error.status)
        return {"response": HttpResponse().status(error.status).content(str(error))}

    if "RecordingSid" in fields:
        return record_result(leg, fields)

    src, dst = leg.numbers()
    direction = VoipCallDirection.Out if leg.outgoing else VoipCallDirection.In
    match (leg.status, leg.outgoing):
        case ("ringing" | "queued" | "initiated", False):
            kind = VoipWebhookEvent.NotifyInternal if leg.parent else VoipWebhookEvent.NotifyStart
            disposition = VoipCallDisposition.Unknown
        case ("ringing" | "queued" | "initiated", True):
            kind, disposition = VoipWebhookEvent.NotifyOutStart, VoipCallDisposition.Unknown
        case ("in-progress", _):
            kind, disposition = VoipWebhookEvent.NotifyAnswer, VoipCallDisposition.Answered
        case (status, outgoing) if status in STATUS_TO_DISPOSITION:
            if leg.parent:  # a child leg ended; the parent's end is the whole call
                return {"response": xml_reply()}
            kind = VoipWebhookEvent.NotifyOutEnd if outgoing else VoipWebhookEvent.NotifyEnd
            disposition = STATUS_TO_DISPOSITION[status]
            if status == "completed" and leg.duration == 0:
                disposition = VoipCallDisposition.NoAnswer
        case _:
            log(f"unknown status {leg.status!r}")
            return {"response": xml_reply()}

    event = VoipWebhookRequest(event=kind, direction=direction, disposition=disposition,
                               srcPhone=src, dstPhone=dst, callId=leg.call_id)
    result: VoipWebhookParseResult = {"event": event, "response": xml_reply()}
    if kind in (VoipWebhookEvent.NotifyEnd, VoipWebhookEvent.NotifyOutEnd):
        result["callRecord"] = VoipCallRecord(
            direction=direction, disposition=disposition, srcPhone=src, dstPhone=dst,
            callId=leg.call_id,
            duration=leg.duration if disposition == VoipCallDisposition.Answered else 0)
        storage.set("call:" + leg.call_id, {"src": src, "dst": dst, "direction": str(direction),
                                            "disposition": disposition.value,
                                            "duration": leg.duration}, ttl=7 * 86400)
    return result


def record_result(leg: Leg, fields: dict[str, str]) -> VoipWebhookParseResult:
    memo = storage.get("call:" + leg.call_id)
    if memo is None:
        log("recording for an unknown call", leg.call_id)
        return {"response": xml_reply()}
    started = fields.get("RecordingStartTime")
    when = None
    if started:
        when = datetime.strptime(started, "%a, %d %b %Y %H:%M:%S %z").astimezone(timezone.utc)
    return {
        "callRecord": VoipCallRecord(
            direction=VoipCallDirection(memo["direction"]),
            disposition=VoipCallDisposition(memo["disposition"]),
            srcPhone=memo["src"], dstPhone=memo["dst"], callId=leg.call_id,
            duration=memo["duration"],
            call={"recordingSid": fields["RecordingSid"],
                  "started": when.isoformat() if when else None}),
        "response": xml_reply(),
    }


def api(path: str, method: str = "GET", form: dict[str, str] | None = None) -> Any:
    sid = settings["accountSid"]
    token = base64.b64encode(f"{sid}:{settings['authToken']}".encode()).decode()
    url = f"{settings['apiBase']}/2010-04-01/Accounts/{quote(sid)}{path}"
    headers = {"Authorization": "Basic " + token}
    body = None
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form)
    response = fetch(url, method=method, headers=headers, body=body)
    if not response.ok:
        raise TwilioError(f"Twilio answered {response.status}: {response.text()[:200]}", 502)
    return response.json()


def VoipGetCallLink(call_data: dict[str, Any]) -> str:
    sid = call_data["recordingSid"]
    base: str = settings["apiBase"]
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc,
                       f"/2010-04-01/Accounts/{settings['accountSid']}/Recordings/{sid}.mp3",
                       "", ""))


def VoipTestConnection() -> VoipTestConnectionResult:
    try:
        account = api(".json")
    except (FetchError, TwilioError) as error:
        return VoipTestConnectionResult(success=False, failReason=str(error))
    return VoipTestConnectionResult(success=account.get("status") == "active",
                                    failReason=None if account.get("status") == "active"
                                    else f"account is {account.get('status')}")


def VoipGetMembers() -> list[VoipMember]:
    clients = api("/Clients.json").get("clients", [])
    return [VoipMember(id="client:" + c["identity"], name=c.get("friendly_name")) for c in clients]


def VoipGenerateCall(src_phone: str, dst_phone: str) -> None:
    api("/Calls.json", "POST", {"From": settings["companyNumber"], "To": dst_phone,
                                "Url": f"https://handler.example/dial?agent={quote(src_phone)}"})
