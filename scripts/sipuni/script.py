"""Sipuni: call events ("events API" webhooks), call records with recording links, callback.

What Sipuni sends. In Sipuni's integration settings ("API" > "events"), give this module's
webhook URL. Sipuni calls it with GET (parameters in the query string) or POST (a form body);
this module reads both, the body's fields winning. Every request has `event`:

    1  a phone starts ringing (one request per phone of a group)
    2  the call is over (status ANSWER, NOANSWER, BUSY, ...; call_record_link when recorded)
    3  the call was answered
    4  one phone of a group call stopped ringing while the call goes on

and `call_id`, `src_num`, `src_type`, `dst_num`, `dst_type` (type 1: an external number, 2: an
internal one), `timestamp` (unix seconds) and, on event 2, `status`, `call_start_timestamp`,
`call_answer_timestamp`, `call_record_link`.

The reply. Sipuni expects a JSON object with "success": true, and may stop calling a URL that
answers otherwise. So every branch of this module, whatever came in (an event it does not know,
missing fields, even a bug in this script, which is caught), replies {"success": true}; what it
could not use is only logged. Sipuni signs nothing: the webhook URL's unguessable token is the
only credential (rotate it with POST /api/v1/modules/{id}/webhook-token if it leaks).

Direction and numbers come from the types: external -> internal is In (srcPhone the client,
dstPhone the extension), internal -> external is Out (srcPhone the extension, dstPhone the
client), internal -> internal is Internal; external -> external (a call forwarded to an
employee's mobile) is In, the mobile standing for the operator. A hidden caller is "anonymous".

    event 1   NotifyStart (In, Internal) or NotifyOutStart (Out), Unknown
    event 3   NotifyAnswer, Answered: dst_num (In) or src_num (Out) answered
    event 2   NotifyEnd (In, Internal) or NotifyOutEnd (Out) with the final disposition, AND
              the callRecord: ANSWER -> Answered, NOANSWER -> NoAnswer, BUSY -> Busy,
              CANCEL -> Cancel, CONGESTION / CHANUNAVAIL -> Failed, else Unknown; duration is
              timestamp - call_answer_timestamp when answered, else 0; call_record_link, when
              present, is saved as the record's `call` ({"link": ...}) and played as it is
    event 4   nothing (one phone of the group; the call itself goes on and ends with event 2)

Click-to-call: VoipGenerateCall posts to Sipuni's callback API (`POST /api/callback/call_number`
with user, sipnumber (the operator's extension), phone (the client, digits only), reverse=0 (the
operator's phone rings first), antiaon=0, and hash = md5 of "antiaon+phone+reverse+sipnumber+
user+secret"), as Sipuni documents it. There is no members list or connection test here (Sipuni's
employee export is a CSV this module's specification does not cover): bind extensions by hand.

Settings: apiBaseUrl (default https://sipuni.com), sipuniUser (your Sipuni account number) and
sipuniSecret (secret; the integration key), needed for click-to-call only; the allowlist must
then hold sipuni.com.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    # For type checkers and editors only (`voip-runtime stubs DIR`); the sandbox injects these.
    from typing import Any

    from voip_runtime_script import *

DEFAULT_API = "https://sipuni.com"
INTERNAL = "2"
MAX_LINK = 8000  # the record's `call` may hold 16 KiB

STATUSES = {
    "ANSWER": VoipCallDisposition.Answered,
    "ANSWERED": VoipCallDisposition.Answered,
    "NOANSWER": VoipCallDisposition.NoAnswer,
    "BUSY": VoipCallDisposition.Busy,
    "CANCEL": VoipCallDisposition.Cancel,
    "CONGESTION": VoipCallDisposition.Failed,
    "CHANUNAVAIL": VoipCallDisposition.Failed,
}


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    result: VoipWebhookParseResult = {}
    try:
        data = dict(request.query)
        if request.method == "POST":
            data.update(request.form())
        result = parse_event(data)
    except Exception as error:
        # Whatever went wrong, Sipuni must still hear success, or it may stop calling.
        log("could not use this request:", repr(error))
        result = {}
    result["response"] = HttpResponse().content({"success": True})
    return result


def parse_event(data: dict[str, str]) -> VoipWebhookParseResult:
    kind = data.get("event", "")
    if kind not in ("1", "2", "3", "4"):
        log("ignored a Sipuni request with event", repr(kind))
        return {}
    if kind == "4":
        log("a phone of group call", data.get("call_id"), "stopped ringing:", data.get("dst_num"))
        return {}
    direction = direction_of(data.get("src_type"), data.get("dst_type"))
    outgoing = direction == VoipCallDirection.Out
    src, dst = number(data.get("src_num")), number(data.get("dst_num"))
    # The contract's limits (callId 128 bytes in UTF-8, phones 64 characters): cut rather
    # than be refused, because a refused result would make the service answer Sipuni with
    # an error.
    call_id = cut_utf8(data["call_id"], 128) if data.get("call_id") else None
    if kind == "1":
        name = VoipWebhookEvent.NotifyOutStart if outgoing else VoipWebhookEvent.NotifyStart
        return {"event": event(name, direction, VoipCallDisposition.Unknown, src, dst, call_id)}
    if kind == "3":
        answer = event(VoipWebhookEvent.NotifyAnswer, direction, VoipCallDisposition.Answered,
                       src, dst, call_id)
        return {"event": answer}
    disposition = STATUSES.get(data.get("status", "").upper(), VoipCallDisposition.Unknown)
    name = VoipWebhookEvent.NotifyOutEnd if outgoing else VoipWebhookEvent.NotifyEnd
    link = data.get("call_record_link", "")
    recorded = link.startswith(("https://", "http://")) and len(link) <= MAX_LINK
    record = VoipCallRecord(
        direction=direction,
        srcPhone=src,
        dstPhone=dst,
        disposition=disposition,
        duration=talk_seconds(data) if disposition == VoipCallDisposition.Answered else 0,
        call={"link": link} if recorded else None,
    )
    if call_id:
        record["callId"] = call_id
    return {"event": event(name, direction, disposition, src, dst, call_id), "callRecord": record}


def event(
    name: VoipWebhookEvent,
    direction: VoipCallDirection,
    disposition: VoipCallDisposition,
    src: str,
    dst: str,
    call_id: str | None,
) -> VoipWebhookRequest:
    result = VoipWebhookRequest(
        event=name, disposition=disposition, direction=direction, srcPhone=src, dstPhone=dst
    )
    if call_id:
        result["callId"] = call_id
    return result


def direction_of(src_type: str | None, dst_type: str | None) -> VoipCallDirection:
    if src_type == INTERNAL and dst_type == INTERNAL:
        return VoipCallDirection.Internal
    if src_type == INTERNAL:
        return VoipCallDirection.Out
    return VoipCallDirection.In


def number(value: str | None) -> str:
    text = str(value or "").strip()
    return text[:64] if text else "anonymous"


def cut_utf8(text: str, size: int) -> str:
    """At most `size` bytes of `text` in UTF-8, never half a character."""
    return text.encode("utf-8")[:size].decode("utf-8", "ignore")


def talk_seconds(data: dict[str, str]) -> int:
    ended = whole(data.get("timestamp"))
    answered = whole(data.get("call_answer_timestamp"))
    if not ended or not answered or ended < answered:
        return 0
    return ended - answered


def whole(value: str | None) -> int:
    try:
        return int(float(str(value or "0")))
    except ValueError:
        return 0


def VoipGetCallLink(call_data: dict[str, Any] | None) -> str:
    link = call_data.get("link") if isinstance(call_data, dict) else None
    if not link or not isinstance(link, str):
        raise ValueError("this call record has no recording link")
    return link


def VoipGenerateCall(src_phone: str, dst_phone: str) -> None:
    user = str(settings.get("sipuniUser", ""))
    secret = str(settings.get("sipuniSecret", ""))
    if not user or not secret:
        raise ValueError("click-to-call needs the module settings sipuniUser and sipuniSecret")
    phone = "".join(ch for ch in str(dst_phone) if ch.isdigit())
    fields = {"antiaon": "0", "phone": phone, "reverse": "0", "sipnumber": str(src_phone),
              "user": user}
    signed = "+".join([fields["antiaon"], phone, fields["reverse"], fields["sipnumber"], user,
                       secret])
    fields["hash"] = hashlib.md5(signed.encode("utf-8")).hexdigest()
    body = urlencode(fields)
    base = str(settings.get("apiBaseUrl") or DEFAULT_API).rstrip("/")
    response = fetch(base + "/api/callback/call_number", method="POST", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    answer: dict[str, Any] | None = parsed if isinstance(parsed, dict) else None
    if not response.ok or not isinstance(answer, dict) or answer.get("success") is not True:
        message = answer.get("message") if isinstance(answer, dict) else response.text()[:200]
        raise RuntimeError("Sipuni refused the callback (HTTP " + str(response.status) + "): "
                           + str(message))
    log("callback requested:", src_phone, "->", phone)

