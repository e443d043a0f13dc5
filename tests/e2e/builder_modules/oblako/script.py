"""Oblako (made up): a cloud PBX whose webhooks are a signed JSON envelope around a
base64-encoded JSON payload of nested objects (parties, legs, a recording), with times as ISO
8601 with offsets and envelope timestamps in epoch milliseconds. Members come from a paged API,
click-to-call is a form POST, recording links are fetched on demand."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any
    from voip_runtime_script import *

DIRECTIONS = {"inbound": VoipCallDirection.In, "outbound": VoipCallDirection.Out,
              "internal": VoipCallDirection.Internal}
MAX_AGE = timedelta(minutes=15)


class EnvelopeError(ValueError):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


class Party:
    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.number: str = str(data.get("number") or "")
        self.ext: str | None = str(data["ext"]) if data.get("ext") not in (None, "") else None

    @property
    def phone(self) -> str:
        """An extension when the party is an operator, else the number."""
        return self.ext or self.number


class Call:
    def __init__(self, data: dict[str, Any]) -> None:
        self.uuid: str = data["uuid"]
        self.direction = DIRECTIONS[data.get("direction", "inbound")]
        self.caller = Party(data.get("from"))
        self.callee = Party(data.get("to"))
        self.legs: list[dict[str, Any]] = list(data.get("legs") or [])
        self.times = {k: parse_time(v) for k, v in data.items() if k.endswith("_at") and v}
        self.recording: dict[str, Any] | None = data.get("recording")

    @property
    def answered_leg(self) -> dict[str, Any] | None:
        return next((leg for leg in self.legs if leg.get("answered")), None)

    @property
    def talk_seconds(self) -> float:
        if "answered_at" in self.times and "ended_at" in self.times:
            return max((self.times["ended_at"] - self.times["answered_at"]).total_seconds(), 0)
        leg = self.answered_leg
        return round(leg.get("duration_ms", 0) / 1000, 1) if leg else 0

    def parties(self, operator: str | None = None) -> tuple[str, str]:
        """(srcPhone, dstPhone) as the contract reads them for this call's direction."""
        if self.direction == VoipCallDirection.Out:
            return operator or self.caller.phone, self.callee.number
        return self.caller.phone, operator or self.callee.phone


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def open_envelope(request: FetchRequest) -> dict[str, Any]:
    try:
        envelope = request.json()
    except ValueError as error:
        raise EnvelopeError(f"not JSON: {error}") from error
    match envelope:
        case {"v": 2, "ts": ts, "payload": payload, "mac": mac} if (
                isinstance(ts, int) and isinstance(payload, str) and isinstance(mac, str)):
            pass
        case {"v": version} if version != 2:
            raise EnvelopeError(f"unsupported version {version!r}")
        case _:
            raise EnvelopeError("missing envelope fields")
    expected = hmac.new(str(settings["secret"]).encode(), f"{ts}.{payload}".encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac.lower()):
        raise EnvelopeError("bad mac", 401)
    sent = datetime.fromtimestamp(ts / 1000, tz=timezone.utc)
    if not settings.get("skipAgeCheck") and datetime.now(timezone.utc) - sent > MAX_AGE:
        raise EnvelopeError(f"stale envelope from {sent.isoformat(timespec='seconds')}", 408)
    data: dict[str, Any] = json.loads(base64.b64decode(payload, validate=True))
    return data


def event_of(call: Call, event: VoipWebhookEvent, disposition: VoipCallDisposition,
             operator: str | None = None) -> VoipWebhookRequest:
    src, dst = call.parties(operator)
    return VoipWebhookRequest(event=event, direction=call.direction, disposition=disposition,
                              srcPhone=src, dstPhone=dst, callId=call.uuid)


class Handler:
    """One payload type; subclasses say what it means."""
    event: VoipWebhookEvent | None = None
    disposition: VoipCallDisposition = VoipCallDisposition.Unknown

    def __init__(self, call: Call) -> None:
        self.call = call

    @property
    def operator(self) -> str | None:
        return None

    def events(self) -> Iterator[VoipWebhookRequest]:
        if self.event is not None:
            yield event_of(self.call, self.event, self.disposition, self.operator)

    def result(self) -> VoipWebhookParseResult:
        found = list(self.events())
        return {"event": found[-1]} if found else {}


class Ringing(Handler):
    event = VoipWebhookEvent.NotifyStart

    def events(self) -> Iterator[VoipWebhookRequest]:
        if self.call.direction == VoipCallDirection.Out:
            yield event_of(self.call, VoipWebhookEvent.NotifyOutStart, self.disposition)
            return
        yield from super().events()


class Routed(Handler):
    """One ringing leg: the phone it rings at is the operator's number."""
    event = VoipWebhookEvent.NotifyInternal

    @property
    def operator(self) -> str | None:
        return str(self.call.legs[-1]["ext"])


class Answered(Handler):
    event = VoipWebhookEvent.NotifyAnswer
    disposition = VoipCallDisposition.Answered

    @property
    def operator(self) -> str | None:
        leg = self.call.answered_leg or {}
        return str(leg["ext"]) if leg.get("ext") else None


class Completed(Answered):
    @property
    def event(self) -> VoipWebhookEvent:  # type: ignore[override]
        return VoipWebhookEvent.NotifyOutEnd if self.call.direction == VoipCallDirection.Out \
            else VoipWebhookEvent.NotifyEnd

    def result(self) -> VoipWebhookParseResult:
        result = super().result()
        src, dst = self.call.parties(self.operator)
        rec = self.call.recording
        answered = self.disposition == VoipCallDisposition.Answered
        result["callRecord"] = VoipCallRecord(
            call={"id": rec["id"], "format": rec.get("format", "mp3")} if rec else None,
            direction=self.call.direction, disposition=self.disposition,
            duration=self.call.talk_seconds if answered else 0, callId=self.call.uuid,
            srcPhone=src, dstPhone=dst)
        return result


class Missed(Completed):
    disposition = VoipCallDisposition.NoAnswer


class Busy(Completed):
    disposition = VoipCallDisposition.Busy


HANDLERS: dict[str, type[Handler]] = {
    "call.ringing": Ringing, "call.routed": Routed, "call.answered": Answered,
    "call.completed": Completed, "call.missed": Missed, "call.busy": Busy,
}


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    try:
        payload = open_envelope(request)
    except EnvelopeError as error:
        return {"response": HttpResponse().status(error.status).content({"error": str(error)})}
    kind = payload.get("type", "")
    handler = HANDLERS.get(kind)
    if handler is None:
        log(f"ignored {kind or '(no type)'}")
        return {"response": HttpResponse().status(202).content({"ignored": kind})}
    result = handler(Call(payload["call"])).result()
    result["response"] = HttpResponse().content({"ok": True})
    return result


def api(path: str, **params: Any) -> str:
    base = str(settings["baseUrl"]).rstrip("/")
    return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {settings['token']}"}


def users() -> Iterator[dict[str, Any]]:
    page: int | None = 1
    while page is not None:
        answer = fetch(api("/users", page=page), headers=auth()).json()
        yield from answer["users"]
        page = answer.get("next")


def VoipGetMembers() -> list[VoipMember]:
    return [VoipMember(id=str(u["ext"]), name=u.get("name"))
            for u in sorted(users(), key=lambda u: int(u.get("ext") or 0)) if u.get("ext")]


def VoipGenerateCall(src_phone: str, dst_phone: str) -> None:
    body = urlencode({"from": src_phone, "to": dst_phone, "ringback": "yes"})
    answer = fetch(api("/calls"), method="POST", body=body,
                   headers={**auth(), "Content-Type": "application/x-www-form-urlencoded"})
    if not answer.ok:
        raise RuntimeError(f"the PBX refused the call: HTTP {answer.status} {answer.text()[:100]}")


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    answer = fetch(api(f"/recordings/{quote(call_data['id'], safe='')}/link",
                       format=call_data["format"]), headers=auth())
    link: dict[str, str] = answer.json()
    if parse_time(link["expires"]) <= datetime.now(timezone.utc):
        raise RuntimeError("the PBX gave an expired link")
    return link["url"]


def VoipTestConnection() -> VoipTestConnectionResult:
    try:
        answer = fetch(api("/me"), headers=auth(), timeout=5)
    except FetchError as error:
        return VoipTestConnectionResult(success=False, fail_reason=str(error))
    match answer.status:
        case 200:
            return VoipTestConnectionResult(success=True)
        case 401 | 403:
            return VoipTestConnectionResult(success=False, fail_reason="the token was refused")
        case status:
            return VoipTestConnectionResult(success=False, failReason=f"HTTP {status}")
