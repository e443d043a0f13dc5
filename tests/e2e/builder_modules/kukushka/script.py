"""Облачная АТС «Кукушка» (a made-up SIP-trunk PBX), written by a builder: GET webhooks with a
query string signed with md5, the caller as the trunk gives it (a SIP URI such as
`sip:+7 (916) 123-45-67@trunk.example`, or a foreign number dialled with `00`), the operator
as `sip:<extension>@pbx`, times in milliseconds or ISO 8601, a recording link signed with
hmac. Helper functions, a lookup table, a small class, f-strings with format specs."""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from voip_runtime_script import *

EVENTS = {
    "ringing": VoipWebhookEvent.NotifyStart,
    "answered": VoipWebhookEvent.NotifyAnswer,
    "hangup": VoipWebhookEvent.NotifyEnd,
    "out_dial": VoipWebhookEvent.NotifyOutStart,
    "out_hangup": VoipWebhookEvent.NotifyOutEnd,
}
ENDS = {"hangup", "out_hangup"}
OUTGOING = {"out_dial", "out_hangup"}
RESULTS = {
    "ok": VoipCallDisposition.Answered,
    "busy": VoipCallDisposition.Busy,
    "noanswer": VoipCallDisposition.NoAnswer,
    "cancel": VoipCallDisposition.Cancel,
}
EXTENSION = re.compile(r"^sips?:(\d{2,5})@", re.IGNORECASE)


class Hook:
    """The query of one webhook, its signature checked."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params

    @property
    def signed(self) -> bool:
        text = "&".join(f"{k}={self.params[k]}" for k in sorted(self.params) if k != "sign")
        digest = hashlib.md5((text + str(settings["key"])).encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, self.params.get("sign", ""))

    @property
    def kind(self) -> str:
        return self.params.get("type", "")

    def started(self) -> datetime:
        value = self.params.get("start", "0")
        if value.isdigit():
            seconds = int(value) / 1000 if len(value) > 10 else int(value)
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))


def extension(uri: str) -> str:
    """`sip:201@pbx.local` -> `201`; anything else as given."""
    found = EXTENSION.match(uri)
    return found.group(1) if found else uri


def reply() -> HttpResponse:
    return HttpResponse().header("Content-Type", "application/json; charset=utf-8").content(
        {"result": "ok"})


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    hook = Hook(dict(request.query))
    if not hook.signed:
        return {"response": HttpResponse().status(403).content("bad sign")}
    event = EVENTS.get(hook.kind)
    if event is None:
        return {"response": reply()}
    p = hook.params
    out = hook.kind in OUTGOING
    operator, client = extension(p["operator"]), p["client"]
    src, dst = (operator, client) if out else (client, operator)
    print(f"{hook.kind:<10} {src} -> {dst} at {hook.started():%Y-%m-%d %H:%M:%S}")
    way = VoipCallDirection.Out if out else VoipCallDirection.In
    if hook.kind in ENDS:
        outcome = RESULTS.get(p.get("result", ""), VoipCallDisposition.Unknown)
        rec = p.get("rec")
        return VoipWebhookParseResult(
            event=VoipWebhookRequest(event=event, direction=way, disposition=outcome,
                                     srcPhone=src, dstPhone=dst, callId=p["call"]),
            callRecord=VoipCallRecord(direction=way, disposition=outcome, srcPhone=src,
                                      dstPhone=dst, callId=p["call"],
                                      duration=int(p.get("talk", "0")),
                                      call={"rec": rec} if rec else None),
            response=reply(),
        )
    answered = hook.kind == "answered"
    outcome = VoipCallDisposition.Answered if answered else VoipCallDisposition.Unknown
    return VoipWebhookParseResult(
        event=VoipWebhookRequest(event=event, direction=way, disposition=outcome,
                                 srcPhone=src, dstPhone=dst, callId=p["call"]),
        response=reply(),
    )


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    rec = call_data["rec"]
    key = str(settings["key"]).encode("utf-8")
    token = hmac.new(key, rec.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
    return f"{settings['player']}/rec/{quote(rec)}.mp3?" + urlencode({"t": token})
