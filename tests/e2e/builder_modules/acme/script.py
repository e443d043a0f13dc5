"""Acme PBX (made up): JSON webhooks signed with HMAC-SHA256, every §3 feature in one module."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re as regex
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any
    from voip_runtime_script import *

MSK: timezone = timezone(timedelta(hours=3), "MSK")
EVENTS: dict[str, VoipWebhookEvent] = {
    "ring": VoipWebhookEvent.NotifyStart,
    "route": VoipWebhookEvent.NotifyInternal,
    "answer": VoipWebhookEvent.NotifyAnswer,
    "transfer": VoipWebhookEvent.NotifyInternal,
    "hangup": VoipWebhookEvent.NotifyEnd,
    "dial": VoipWebhookEvent.NotifyOutStart,
    "dial_end": VoipWebhookEvent.NotifyOutEnd,
}
OUTCOMES = {m.value.replace("_", "-"): m for m in VoipCallDisposition}
seen_count = 0


class AcmeError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Call:
    """Dataclass-like: typed fields from keyword arguments."""
    fields = ("id", "kind", "client", "ext", "company", "outcome", "talk", "rec", "at")
    id: str | None
    kind: str
    client: str
    ext: str | None
    company: str | None
    outcome: str | None
    talk: float
    rec: str | None
    at: str | int | None

    def __init__(self, *, id: str | None = None, kind: str = "", client: str = "",
                 ext: str | None = None, company: str | None = None,
                 outcome: str | None = None, talk: float = 0, rec: str | None = None,
                 at: str | int | None = None) -> None:
        self.id, self.kind, self.client, self.ext = id, kind, client, ext
        self.company, self.outcome, self.talk, self.rec, self.at = company, outcome, talk, rec, at
        self.talk += 0

    def describe(self) -> str:
        inner = ", ".join("%s=%r" % (n, getattr(self, n)) for n in self.fields if getattr(self, n))
        return "Call({})".format(inner)

    def same(self, other: object) -> bool:
        return isinstance(other, Call) and all(getattr(self, n) == getattr(other, n)
                                                for n in self.fields)

    @property
    def outgoing(self) -> bool:
        return self.kind in ("dial", "dial_end")

    @classmethod
    def of(cls, data: dict[str, Any]) -> Call:
        return cls(**{k: v for k, v in data.items() if k in cls.fields})

    @staticmethod
    def digits(phone: str | None) -> str:
        return regex.sub(r"[^0-9+]", "", phone or "")


def traced(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        count = 0

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                log(f"{label}#{count} {(time.perf_counter() - started) >= 0!s:>5}")
        return wrapper
    return decorate


def pairs(form: dict[str, str]) -> Iterator[tuple[str, str]]:
    for key in sorted(form):
        yield key, form[key]


def check_signature(body: str, given: str | None) -> None:
    secret = str(settings.get("secret", "")).encode()
    mac = hmac.new(secret, body.encode("utf-8"), hashlib.sha256)
    expected = base64.b64encode(mac.digest()).decode("ascii")
    if given is None or not hmac.compare_digest(expected, given):
        raise AcmeError(403, "bad signature")


def when(stamp: str | int) -> datetime:
    if isinstance(stamp, int):
        return datetime.fromtimestamp(stamp, tz=timezone.utc).astimezone(MSK)
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=MSK)


def event_of(call: Call, event: VoipWebhookEvent) -> VoipWebhookRequest:
    if call.outgoing:
        return VoipWebhookRequest(event=event, direction=VoipCallDirection.Out,
                                  disposition=OUTCOMES.get(call.outcome or "", VoipCallDisposition.Unknown),
                                  srcPhone=call.ext or "", dstPhone=call.client, callId=call.id)
    return VoipWebhookRequest(event=event, direction=VoipCallDirection.In,
                              disposition=VoipCallDisposition(call.outcome) if call.outcome else VoipCallDisposition.Unknown,
                              srcPhone=call.client, dstPhone=call.ext or call.company or "",
                              callId=call.id)


def record_of(call: Call) -> VoipCallRecord:
    rec = {"file": call.rec, "sum": hashlib.md5(call.rec.encode()).hexdigest()[:8]} if call.rec else None
    minutes = math.ceil(call.talk / 60)
    print("%-8s %5.1f s (%d min) %s" % (call.id, float(call.talk), minutes, call.outcome))
    return VoipCallRecord(call=rec, direction=VoipCallDirection.Out if call.outgoing else VoipCallDirection.In,
                          disposition=VoipCallDisposition(call.outcome or "unknown"),
                          srcPhone=(call.ext or "") if call.outgoing else call.client,
                          dstPhone=call.client if call.outgoing else (call.ext or call.company or ""),
                          duration=call.talk, callId=call.id)


@traced("parse")
def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    global seen_count
    if request.method == "GET":
        q = request.query
        match q:
            case {"challenge": challenge} if challenge:
                return {"response": HttpResponse().content(challenge)}
            case _:
                return VoipWebhookParseResult(response=HttpResponse().status(204))
    try:
        check_signature(request.body or "", request.headers.get("x-acme-signature"))
        data = request.json()
    except AcmeError as error:
        return {"response": HttpResponse().status(error.status).content({"error": str(error)})}
    except ValueError as error:
        return {"response": HttpResponse().status(400).content({"error": repr(error)})}
    else:
        log("signed", len(request.body or ""), "bytes", sep=" ")
    finally:
        seen_count += 1
    assert isinstance(data, dict), "a JSON object"
    call = Call.of(data)
    counts = storage.get("counts", {})
    counts[call.kind] = counts.get(call.kind, 0) + 1
    storage.set("counts", counts)
    at = when(call.at) if call.at else None
    log("{0} {kind} {d[id]} at {at:%H:%M}".format(call.kind, kind=call.kind, d=data,
                                                at=at or datetime(2025, 1, 1, tzinfo=MSK)))
    reply = HttpResponse().header("X-Acme-Seen", str(seen_count))
    reply.content({"ok": True, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, call.id or "")),
                   "path": urlsplit(request.url).path.split("/")[-1]})
    match call.kind:
        case "ring" | "route" | "answer" | "transfer" | "dial" as kind:
            return VoipWebhookParseResult(event=event_of(call, EVENTS[kind]), response=reply)
        case "hangup" | "dial_end":
            storage.set(f"end:{call.id}", data, ttl=86400)
            pending = storage.get(f"rec:{call.id}")
            if pending and not call.rec:
                call.rec = pending
            return {"event": event_of(call, EVENTS[call.kind]), "callRecord": record_of(call),
                    "response": reply}
        case "record":
            stored = storage.get(f"end:{call.id}")
            storage.set(f"rec:{call.id}", call.rec, ttl=86400)
            if stored is None:
                return {"response": reply}
            ended = Call.of(stored)
            ended.rec = call.rec
            return {"callRecord": record_of(ended), "response": reply}
        case other:
            return {"response": reply.status(422).content({"unknown": other})}


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    base = str(settings["baseUrl"])
    query = urlencode({"file": call_data["file"], "sig": call_data["sum"]})
    answer = fetch(urljoin(base, "/records/link") + "?" + query,
                   headers={"Authorization": "Bearer " + quote(str(settings["token"]))})
    if not answer.ok:
        raise RuntimeError(f"link request failed: HTTP {answer.status:d}")
    link: str = answer.json()["link"]
    assert parse_qs(urlsplit(link).query).get("exp"), "a link that expires"
    return link


def VoipTestConnection() -> VoipTestConnectionResult | dict[str, object]:
    try:
        answer = fetch(urljoin(str(settings["baseUrl"]), "/ping"), timeout=5)
    except FetchError as error:
        return VoipTestConnectionResult(success=False, failReason=f"{error}")
    return {"success": answer.ok, "fail_reason": None if answer.ok else f"HTTP {answer.status}"}


def VoipGetMembers() -> list[VoipMember]:
    answer = fetch(urljoin(str(settings["baseUrl"]), "/users")).json()
    return [VoipMember(id=str(u["ext"]), name=u.get("name")) for u in answer["users"] if u.get("ext")]


def VoipGenerateCall(src_phone: str, dst_phone: str) -> None:
    body = json.dumps({"from": src_phone, "to": Call.digits(dst_phone)}, sort_keys=True)
    fetch(urljoin(str(settings["baseUrl"]), "/calls"), method="POST", body=body,
          headers={"Content-Type": "application/json"})
