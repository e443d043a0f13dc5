"""Telfin (made up), ported line by line from the builder's ELMA365 TypeScript module: JSON
webhooks `{type, call: {...}}` with a shared token header, a REST API with a bearer token.

The TypeScript had a `TelfinApi` class, a `Utils` class of static helpers, a string enum of
event types, `JSON.parse`, optional chaining (`data.call?.client?.number`), template strings,
`new Date(...)` arithmetic and `fetch(url, {method, headers, body})`; each became its Python
spelling (json.loads, dict.get chains, f-strings, datetime, keyword arguments). Telfin sends no
duration: it is the answer time to the end time, and the answer time of a call that sent
`call.answer` is kept in storage (the end event repeats it only sometimes).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from typing import Any, Optional

    from voip_runtime_script import *

MSK = timezone(timedelta(hours=3))


class TelfinEventType:
    """`enum TelfinEventType { CallStart = 'call.start', ... }`"""
    CallStart = "call.start"
    CallRoute = "call.route"
    CallAnswer = "call.answer"
    CallEnd = "call.end"
    CallDial = "call.dial"
    Ping = "ping"


RESULT_TO_DISPOSITION: dict[str, VoipCallDisposition] = {
    "ANSWERED": VoipCallDisposition.Answered,
    "BUSY": VoipCallDisposition.Busy,
    "NOANSWER": VoipCallDisposition.NoAnswer,
    "CANCEL": VoipCallDisposition.Cancel,
    "FAILED": VoipCallDisposition.Failed,
}


class TelfinError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Utils:
    @staticmethod
    def normalizePhone(phone: Optional[Any]) -> str:
        """`phone?.toString().replace(/\\D/g, '')`, with Russia's leading 8 made 7."""
        digits = "".join(ch for ch in str(phone or "") if ch.isdigit())
        if len(digits) == 11 and digits.startswith("8"):
            digits = "7" + digits[1:]
        return digits

    @staticmethod
    def parseDate(value: Any) -> datetime:
        """`new Date(value)`: epoch milliseconds or an ISO string (`Z`, an offset, or Moscow
        time when it has none, as Telfin's console shows it)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=MSK)

    @classmethod
    def secondsBetween(cls, start: Any, end: Any) -> int:
        delta = cls.parseDate(end) - cls.parseDate(start)
        return max(0, round(delta.total_seconds()))


class TelfinApi:
    def __init__(self) -> None:
        self.baseUrl: str = str(settings.get("baseUrl") or "https://api.telfin.example")
        self.baseUrl = self.baseUrl.rstrip("/")
        self.token = str(settings["apiToken"])

    def request(self, path: str, method: str = "GET", body: Optional[Any] = None) -> Any:
        response = fetch(f"{self.baseUrl}/v2{path}", method=method, headers={
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
        }, body=body)
        if not response.ok:
            message = response.text()[:200]
            try:
                message = response.json().get("error", {}).get("message") or message
            except ValueError:
                pass
            raise TelfinError(response.status, f"Telfin API {method} {path}: "
                                               f"{response.status} {message}")
        return response.json()


def reply(status: int = 200, **fields: Any) -> HttpResponse:
    return HttpResponse().status(status).content({"ok": status < 400, **fields})


class TelfinCall:
    """The `call` object of a webhook, as the TypeScript's interface TelfinCall."""

    def __init__(self, data: dict[str, Any]) -> None:
        call: dict[str, Any] = data.get("call") or {}
        self.id: Optional[str] = call.get("id")
        self.outgoing = call.get("direction") == "outbound"
        self.client = Utils.normalizePhone((call.get("client") or {}).get("number")) or "anonymous"
        self.extension = str((call.get("agent") or {}).get("extension") or "")
        self.trunk = Utils.normalizePhone((call.get("trunk") or {}).get("number"))
        self.result = str(call.get("result") or "").upper()
        self.answeredAt = call.get("answeredAt")
        self.endedAt = call.get("endedAt")
        self.recordId: Optional[str] = (call.get("record") or {}).get("id")

    @property
    def direction(self) -> VoipCallDirection:
        return VoipCallDirection.Out if self.outgoing else VoipCallDirection.In

    def parties(self) -> tuple[str, str]:
        """`[srcPhone, dstPhone]` as the contract wants them for this direction; an incoming
        call not yet routed rings at the company's number."""
        ext = self.extension or self.trunk
        return (ext, self.client) if self.outgoing else (self.client, ext)

    def event(self, kind: VoipWebhookEvent, disposition: VoipCallDisposition
              = VoipCallDisposition.Unknown) -> VoipWebhookRequest:
        srcPhone, dstPhone = self.parties()
        return VoipWebhookRequest(event=kind, direction=self.direction, disposition=disposition,
                                  srcPhone=srcPhone, dstPhone=dstPhone, callId=self.id)


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    if request.method != "POST":
        return VoipWebhookParseResult(response=reply(405, error="POST only"))
    if request.headers.get("X-Telfin-Token") != settings.get("webhookToken"):
        return VoipWebhookParseResult(response=reply(403, error="bad token"))
    try:
        data = json.loads(request.body or "")
    except json.JSONDecodeError as e:
        return VoipWebhookParseResult(response=reply(400, error=f"bad JSON at {e.pos}: {e.msg}"))

    kind = data.get("type")
    call = TelfinCall(data)
    log(f"[{kind}] {call.id} {call.direction} {' -> '.join(call.parties())}")

    if kind == TelfinEventType.Ping:
        return VoipWebhookParseResult(response=reply(pong=data.get("nonce")))
    if kind == TelfinEventType.CallStart:
        return VoipWebhookParseResult(event=call.event(VoipWebhookEvent.NotifyStart),
                                      response=reply())
    if kind == TelfinEventType.CallRoute:
        return VoipWebhookParseResult(event=call.event(VoipWebhookEvent.NotifyInternal),
                                      response=reply())
    if kind == TelfinEventType.CallDial:
        return VoipWebhookParseResult(event=call.event(VoipWebhookEvent.NotifyOutStart),
                                      response=reply())
    if kind == TelfinEventType.CallAnswer:
        storage.set(f"answered:{call.id}", call.answeredAt or data.get("at"), ttl=86400)
        return VoipWebhookParseResult(
            event=call.event(VoipWebhookEvent.NotifyAnswer, VoipCallDisposition.Answered),
            response=reply())
    if kind == TelfinEventType.CallEnd:
        disposition = RESULT_TO_DISPOSITION.get(call.result, VoipCallDisposition.Unknown)
        answeredAt = call.answeredAt or storage.get(f"answered:{call.id}")
        duration = 0
        if disposition == VoipCallDisposition.Answered and answeredAt and call.endedAt:
            duration = Utils.secondsBetween(answeredAt, call.endedAt)
        storage.delete(f"answered:{call.id}")
        end = (VoipWebhookEvent.NotifyOutEnd if call.outgoing else VoipWebhookEvent.NotifyEnd)
        srcPhone, dstPhone = call.parties()
        return VoipWebhookParseResult(
            event=call.event(end, disposition),
            callRecord=VoipCallRecord(
                call={"recordId": call.recordId} if call.recordId else None,
                direction=call.direction, disposition=disposition, callId=call.id,
                srcPhone=srcPhone, dstPhone=dstPhone, duration=duration),
            response=reply(duration=duration))
    return VoipWebhookParseResult(response=reply(ignored=kind))


def VoipGetCallLink(callData: dict[str, str]) -> str:
    query = urlencode({"ttl": 3600, "format": "mp3"})
    result = TelfinApi().request(f"/records/{quote(callData['recordId'], safe='')}/link?{query}")
    url: str = result.get("data", {}).get("url") or ""
    return url


def VoipGetMembers() -> list[VoipMember]:
    items: list[dict[str, Any]] = TelfinApi().request("/extensions").get("items") or []
    members = map(lambda item: VoipMember(id=str(item["extension"]),
                                          name=item.get("name") or None), items)
    return sorted(members, key=lambda m: m["id"])


def VoipGenerateCall(srcPhone: str, dstPhone: str) -> None:
    body = {"from": {"extension": srcPhone}, "to": {"number": Utils.normalizePhone(dstPhone)}}
    result = TelfinApi().request("/calls", method="POST", body=body)
    log(f"originated {result.get('call', {}).get('id')}")


def VoipTestConnection() -> VoipTestConnectionResult:
    try:
        me = TelfinApi().request("/me")
        log(f"connected as {me.get('account', {}).get('name')}")
        return VoipTestConnectionResult(success=True)
    except TelfinError as e:
        return VoipTestConnectionResult(success=False, failReason=str(e))
    except FetchError as e:
        return VoipTestConnectionResult(success=False, failReason=f"Telfin unreachable: {e}")
