"""Vesna PBX (made up): XML-ish POST bodies, a signature over a timestamp header and the body
(HMAC-SHA1, hex, "sha1=" prefix), times in RFC 2822 and ISO 8601 with "Z", talk time as
"hh:mm:ss", replies in XML."""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from collections.abc import Iterator
    from voip_runtime_script import *

TAG = re.compile(r"<(?P<name>[a-z_]+)(?P<attrs>(?:\s+[a-z_]+=\"[^\"]*\")*)\s*/?>", re.I)
ATTR = re.compile(r'([a-z_]+)="([^"]*)"', re.I)
MAX_SKEW = timedelta(minutes=10)
OK_XML = '<?xml version="1.0"?><result status="ok"/>'


class VesnaError(Exception):
    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    def reply(self) -> HttpResponse:
        text = str(self).replace("&", "&amp;").replace("<", "&lt;")
        return (HttpResponse().status(self.status)
                .header("Content-Type", "application/xml; charset=utf-8")
                .content(f'<result status="error">{text}</result>'))


class Forbidden(VesnaError):
    status = 403


def unescape(text: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def elements(body: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(tag, attributes) of every opening tag, in order."""
    for found in TAG.finditer(body):
        attrs = {k.lower(): unescape(v) for k, v in ATTR.findall(found["attrs"])}
        yield found["name"].lower(), attrs


def parse_time(text: str) -> datetime:
    """The provider writes times three ways over its versions."""
    text = text.strip()
    for layout in ("%a, %d %b %Y %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text.replace("Z", "+0000"), layout)
        except ValueError:
            continue
    if text.isdigit():
        return datetime.fromtimestamp(int(text), tz=timezone.utc)
    raise VesnaError(f"unreadable time {text!r}")


def talk_seconds(text: str | None) -> int:
    if not text:
        return 0
    if m := re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{2})", text):
        hours, minutes, seconds = (int(g or 0) for g in m.groups())
        return hours * 3600 + minutes * 60 + seconds
    return int(float(text))


class Message:
    kinds: dict[str, VoipWebhookEvent] = {
        "start": VoipWebhookEvent.NotifyStart,
        "ring": VoipWebhookEvent.NotifyInternal,
        "answer": VoipWebhookEvent.NotifyAnswer,
        "hangup": VoipWebhookEvent.NotifyEnd,
        "dial": VoipWebhookEvent.NotifyOutStart,
        "dial_end": VoipWebhookEvent.NotifyOutEnd,
    }
    results: dict[str, VoipCallDisposition] = {
        "ok": VoipCallDisposition.Answered, "busy": VoipCallDisposition.Busy,
        "noanswer": VoipCallDisposition.NoAnswer, "cancel": VoipCallDisposition.Cancel,
        "fail": VoipCallDisposition.Failed,
    }

    def __init__(self, kind: str, call: dict[str, str], parties: list[dict[str, str]]) -> None:
        self.kind = kind
        self.call = call
        self.parties = {p.get("role", "?"): p for p in parties}

    @classmethod
    def read(cls, body: str) -> Message:
        tags = list(elements(body))
        match tags:
            case [("event", {"type": kind}), ("call", call), *rest]:
                return cls(kind, call, [attrs for name, attrs in rest if name == "party"])
            case [("event", _), *_]:
                raise VesnaError("event without a type or a call")
            case _:
                raise VesnaError("not a Vesna event")

    @property
    def outgoing(self) -> bool:
        return self.call.get("dir") == "out"

    @property
    def client(self) -> str:
        return self.parties.get("client", {}).get("number", "")

    @property
    def operator(self) -> str:
        party = self.parties.get("agent") or self.parties.get("trunk") or {}
        return party.get("ext") or party.get("number") or ""

    def numbers(self) -> tuple[str, str]:
        return (self.operator, self.client) if self.outgoing else (self.client, self.operator)

    def disposition(self) -> VoipCallDisposition:
        return self.results.get(self.call.get("result", ""), VoipCallDisposition.Unknown)

    def event(self) -> VoipWebhookRequest | None:
        if (kind := self.kinds.get(self.kind)) is None:
            return None
        src, dst = self.numbers()
        return VoipWebhookRequest(
            event=kind, direction=VoipCallDirection.Out if self.outgoing else VoipCallDirection.In,
            disposition=self.disposition(), srcPhone=src, dstPhone=dst, callId=self.call["id"])

    def record(self) -> VoipCallRecord | None:
        if self.kind not in ("hangup", "dial_end"):
            return None
        src, dst = self.numbers()
        started = parse_time(self.call["started"])
        file = self.call.get("recording") or None
        return VoipCallRecord(
            call={"file": file, "day": f"{started:%Y/%m/%d}"} if file else None,
            direction=VoipCallDirection.Out if self.outgoing else VoipCallDirection.In,
            disposition=self.disposition(), srcPhone=src, dstPhone=dst,
            callId=self.call["id"], duration=talk_seconds(self.call.get("talk")))


def verify(request: FetchRequest) -> None:
    stamp = request.headers.get("X-Vesna-Timestamp", "")
    given = request.headers.get("X-Vesna-Signature", "")
    secret = str(settings["secret"]).encode()
    expected = "sha1=" + hmac.new(secret, f"{stamp}.{request.body or ''}".encode(),
                                  hashlib.sha1).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise Forbidden("signature mismatch")
    sent = parse_time(stamp)
    now = datetime.now(timezone.utc)
    if abs(now - sent) > MAX_SKEW and not settings.get("ignoreClock", False):
        raise Forbidden(f"timestamp {sent:%Y-%m-%d %H:%M:%S %Z} is {abs(now - sent)} away")


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    if request.method == "GET" and "check" in request.query:
        return {"response": HttpResponse().header("Content-Type", "application/xml")
                .content(f"<check>{request.query['check']}</check>")}
    try:
        verify(request)
        message = Message.read(request.body or "")
        record = message.record()
    except VesnaError as error:
        log(f"refused: {error} ({error.status})")
        return {"response": error.reply()}
    except KeyError as missing:
        return {"response": VesnaError(f"missing attribute {missing}").reply()}
    result: VoipWebhookParseResult = {
        "response": HttpResponse().content(OK_XML).header("Content-Type", "application/xml")}
    if (event := message.event()) is not None:
        result["event"] = event
    if record is not None:
        result["callRecord"] = record
    log(f"{message.kind:<8}|{message.call.get('id', '-'):>10}|{len(message.parties)} parties")
    return result


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    base = str(settings.get("recordsUrl", "https://rec.vesna.example")).rstrip("/")
    expires = int(datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp())
    path = f"/{call_data['day']}/{quote(call_data['file'])}"
    token = hmac.new(str(settings["secret"]).encode(), f"{path}{expires}".encode(),
                     hashlib.sha256).hexdigest()[:20]
    return f"{base}{path}?{urlencode({'e': expires, 't': token})}"


def VoipTestConnection() -> VoipTestConnectionResult:
    missing = [name for name in ("secret",) if not settings.get(name)]
    if missing:
        return VoipTestConnectionResult(success=False, failReason=f"set {', '.join(missing)}")
    return VoipTestConnectionResult(success=True)
