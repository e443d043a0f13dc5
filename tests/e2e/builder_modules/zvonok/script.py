"""Zvonok (made up): a small cloud PBX that only sends GET requests, everything in the query
string, with no call id at all (calls are told apart by their numbers), times in the caller's
own time zone with milliseconds, an internal-call flag, the recording's address as
base64url-encoded JSON, and an MD5 signature over the sorted parameters."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Callable
    from voip_runtime_script import *

OK = {"status": "accepted"}
HANDLERS: dict[str, Callable[[Params], VoipWebhookParseResult]] = {}


def on(*names: str) -> Callable[[Callable[[Params], VoipWebhookParseResult]],
                                Callable[[Params], VoipWebhookParseResult]]:
    """Register a handler for one or more `ev` values."""
    def register(fn: Callable[[Params], VoipWebhookParseResult]
                 ) -> Callable[[Params], VoipWebhookParseResult]:
        for name in names:
            HANDLERS[name] = fn
        return fn
    return register


class SignatureError(Exception):
    pass


class Params:
    """The query string, with typed readers."""

    def __init__(self, query: dict[str, str]) -> None:
        self.raw = query

    def text(self, name: str, default: str = "") -> str:
        return self.raw.get(name, default).strip()

    def number(self, name: str) -> int:
        value = self.text(name, "0") or "0"
        return int(float(value))

    def when(self, name: str = "ts") -> datetime:
        """`2025-03-04T10:15:02.123+05:00`, or epoch milliseconds."""
        value = self.text(name)
        if value.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
        return datetime.fromisoformat(value)

    @property
    def internal(self) -> bool:
        return self.text("internal") in ("1", "true", "yes")

    @property
    def direction(self) -> VoipCallDirection:
        if self.internal:
            return VoipCallDirection.Internal
        return VoipCallDirection.Out if self.text("dir") == "out" else VoipCallDirection.In

    def parties(self) -> dict[str, str]:
        return {"srcPhone": self.text("from"), "dstPhone": self.text("to")}


def check_signature(params: dict[str, str]) -> None:
    given = params.pop("sig", "")
    text = "&".join(f"{key}={params[key]}" for key in sorted(params))
    expected = hashlib.md5(f"{text}{settings['key']}".encode()).hexdigest()
    if not hmac.compare_digest(given.lower(), expected):
        raise SignatureError("bad sig")


def decode_recording(token: str) -> dict[str, str] | None:
    if not token:
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(padded).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        log(f"recording token unreadable: {error!r}")
        return None
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else None


def event(p: Params, kind: VoipWebhookEvent,
          disposition: VoipCallDisposition = VoipCallDisposition.Unknown) -> VoipWebhookRequest:
    return VoipWebhookRequest(event=kind, direction=p.direction, disposition=disposition,
                              srcPhone=p.text("from"), dstPhone=p.text("to"),
                              srcPhoneExt=p.text("from_ext") or None)


@on("ring")
def ringing(p: Params) -> VoipWebhookParseResult:
    kind = VoipWebhookEvent.NotifyOutStart if p.direction == VoipCallDirection.Out \
        else VoipWebhookEvent.NotifyStart
    return {"event": event(p, kind)}


@on("pickup", "answer")
def answered(p: Params) -> VoipWebhookParseResult:
    return {"event": event(p, VoipWebhookEvent.NotifyAnswer, VoipCallDisposition.Answered)}


@on("hangup")
def hung_up(p: Params) -> VoipWebhookParseResult:
    billsec = p.number("billsec")
    status = p.text("status", "unknown").lower()
    match status:
        case "answered" | "ok" if billsec > 0:
            disposition = VoipCallDisposition.Answered
        case "answered" | "ok":
            disposition = VoipCallDisposition.NoAnswer
        case "busy":
            disposition = VoipCallDisposition.Busy
        case "noanswer" | "no_answer" | "timeout":
            disposition = VoipCallDisposition.NoAnswer
        case "cancel" | "canceled" | "cancelled":
            disposition = VoipCallDisposition.Cancel
        case other:
            log(f"status {other!r} read as failed")
            disposition = VoipCallDisposition.Failed
    kind = VoipWebhookEvent.NotifyOutEnd if p.direction == VoipCallDirection.Out \
        else VoipWebhookEvent.NotifyEnd
    started = p.when()
    local = started.astimezone(timezone(timedelta(hours=int(settings.get("utcOffset", 3)))))
    recording = decode_recording(p.text("rec"))
    record = VoipCallRecord(
        call={**recording, "day": f"{local:%Y-%m-%d}"} if recording else None,
        direction=p.direction, disposition=disposition, duration=billsec,
        srcPhone=p.text("from"), dstPhone=p.text("to"), srcPhoneExt=p.text("from_ext") or None)
    log(f"{local:%d.%m %H:%M:%S} {status:>9} {billsec:4d}s {'rec' if recording else '-'}")
    return {"event": event(p, kind, disposition), "callRecord": record}


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    params = dict(request.query)
    if request.method not in ("GET", "HEAD"):
        return {"response": HttpResponse().status(405).content("GET only")}
    try:
        check_signature(params)
    except SignatureError as error:
        return {"response": HttpResponse().status(401).content({"error": str(error)})}
    handler = HANDLERS.get(ev := params.get("ev", ""))
    if handler is None:
        return {"response": HttpResponse().content({**OK, "ignored": ev})}
    result = handler(Params(params))
    result["response"] = HttpResponse().content(OK)
    return result


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    query = urlencode({"id": call_data["id"], "day": call_data["day"]})
    return f"{call_data.get('host', 'https://files.zvonok.example')}/play?{query}"
