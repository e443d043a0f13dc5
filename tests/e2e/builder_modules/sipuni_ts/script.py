"""Sipuni (providers.md), ported from a builder's ELMA365 TypeScript module: a `BaseProvider`
class with the shared plumbing and a `SipuniProvider` subclass (`super()`), a
`SipuniEvent.fromRequest()` class-method factory, `match` on the event code, dispositions
looked up by member name (`VoipCallDisposition[...]`), unix timestamps as datetime, and the
click-to-call API's md5 `hash` over the parameters joined by `+`.

Sipuni posts a form (or sends a GET) with `event` 1 ringing, 3 answered, 2 ended, 4 one leg of
a group call ended; it wants `{"success": true}` back every time, or it stops sending.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from typing import Any, Optional

    from voip_runtime_script import *


class BaseProvider:
    """What every provider module of the builder's shares (their TS `abstract class`)."""

    apiBase = "https://provider.example"

    def __init__(self) -> None:
        self.apiBase = str(settings.get("apiBase") or self.apiBase).rstrip("/")

    def ok(self) -> HttpResponse:
        return HttpResponse().content({"success": True})

    def post(self, path: str, params: dict[str, str]) -> Any:
        response = fetch(f"{self.apiBase}{path}", method="POST", body=urlencode(params),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status >= 400:
            raise RuntimeError(f"{path} answered {response.status}")
        return response.json()


class SipuniEvent:
    ownNumberTypes = ("2",)

    def __init__(self, fields: dict[str, str]) -> None:
        self.code = fields.get("event", "")
        self.callId = fields.get("call_id") or None
        self.src = fields.get("src_num", "")
        self.dst = fields.get("dst_num", "")
        self.srcInternal = fields.get("src_type") in self.ownNumberTypes
        self.dstInternal = fields.get("dst_type") in self.ownNumberTypes
        self.status = fields.get("status", "").upper()
        self.started = SipuniEvent.timestamp(fields.get("call_start_timestamp"))
        self.answered = SipuniEvent.timestamp(fields.get("call_answer_timestamp"))
        self.ended = SipuniEvent.timestamp(fields.get("timestamp"))
        self.recordLink = fields.get("call_record_link") or None

    @classmethod
    def fromRequest(cls, request: FetchRequest) -> SipuniEvent:
        fields = dict(request.query) if request.method == "GET" else request.form()
        return cls(fields)

    @staticmethod
    def timestamp(value: Optional[str]) -> Optional[datetime]:
        return datetime.fromtimestamp(int(value), tz=timezone.utc) if value else None

    @property
    def direction(self) -> VoipCallDirection:
        if self.srcInternal and self.dstInternal:
            return VoipCallDirection.Internal
        return VoipCallDirection.Out if self.srcInternal else VoipCallDirection.In

    @property
    def disposition(self) -> VoipCallDisposition:
        name = {"ANSWER": "Answered", "NOANSWER": "NoAnswer", "BUSY": "Busy"}.get(self.status)
        return VoipCallDisposition[name] if name else VoipCallDisposition.Unknown

    @property
    def talkSeconds(self) -> int:
        if self.answered is None or self.ended is None:
            return 0
        return int((self.ended - self.answered).total_seconds())


class SipuniProvider(BaseProvider):
    apiBase = "https://sipuni.com/api"

    def __init__(self) -> None:
        super().__init__()
        self.user = str(settings.get("user", ""))
        self.secret = str(settings.get("secret", ""))

    def signed(self, params: dict[str, str]) -> dict[str, str]:
        """Sipuni's `hash`: md5 of the values in the documented order, then the secret."""
        text = "+".join([*params.values(), self.secret])
        return {**params, "hash": hashlib.md5(text.encode()).hexdigest()}

    def event(self, e: SipuniEvent, kind: VoipWebhookEvent,
              disposition: Optional[VoipCallDisposition] = None) -> VoipWebhookRequest:
        return VoipWebhookRequest(event=kind, direction=e.direction,
                                  disposition=disposition or VoipCallDisposition.Unknown,
                                  srcPhone=e.src, dstPhone=e.dst, callId=e.callId)

    def parse(self, e: SipuniEvent) -> VoipWebhookParseResult:
        outgoing = e.direction == VoipCallDirection.Out
        match e.code:
            case "1":
                kind = VoipWebhookEvent.NotifyOutStart if outgoing else VoipWebhookEvent.NotifyStart
                return VoipWebhookParseResult(event=self.event(e, kind), response=self.ok())
            case "3":
                return VoipWebhookParseResult(
                    event=self.event(e, VoipWebhookEvent.NotifyAnswer,
                                     VoipCallDisposition.Answered),
                    response=self.ok())
            case "2":
                kind = VoipWebhookEvent.NotifyOutEnd if outgoing else VoipWebhookEvent.NotifyEnd
                return VoipWebhookParseResult(
                    event=self.event(e, kind, e.disposition),
                    callRecord=VoipCallRecord(
                        call={"link": e.recordLink} if e.recordLink else None,
                        direction=e.direction, disposition=e.disposition, srcPhone=e.src,
                        dstPhone=e.dst, callId=e.callId, duration=e.talkSeconds),
                    response=self.ok())
            case "4" | _:
                return VoipWebhookParseResult(response=self.ok())


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    return SipuniProvider().parse(SipuniEvent.fromRequest(request))


def VoipGetCallLink(callData: dict[str, str]) -> str:
    return callData["link"]


def VoipGenerateCall(srcPhone: str, dstPhone: str) -> None:
    provider = SipuniProvider()
    params = {"phone": dstPhone, "reverse": "0", "sipnumber": srcPhone, "user": provider.user}
    provider.post("/callback/call_number", provider.signed(params))


def VoipGetMembers() -> list[VoipMember]:
    provider = SipuniProvider()
    answer = provider.post("/statistic/operators", provider.signed({"user": provider.user}))
    return [VoipMember(id=str(o["sipnumber"]), name=o.get("name")) for o in answer["operators"]]


def VoipTestConnection() -> VoipTestConnectionResult:
    try:
        SipuniProvider().post("/statistic/operators",
                              SipuniProvider().signed({"user": SipuniProvider().user}))
    except (FetchError, RuntimeError) as error:
        return VoipTestConnectionResult(success=False, failReason=str(error))
    return VoipTestConnectionResult(success=True)
