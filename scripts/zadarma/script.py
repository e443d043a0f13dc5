"""Zadarma (also Novofon API v1): call notifications from the PBX, recordings, members, callback.

What Zadarma sends. In the PBX settings ("Notifications" / API), give this module's webhook URL
for the call notifications you want. Before it saves the URL, Zadarma checks it with a GET
carrying `?zd_echo=<value>`; this module answers exactly `<value>` as text/plain. After that
every notification is a POST, `application/x-www-form-urlencoded`, with a field `event` and a
header `Signature`: base64 of the hex HMAC-SHA1, keyed with your API secret, of these fields
joined without separators (Zadarma's own list, from its documentation and PHP library):

    NOTIFY_START, NOTIFY_INTERNAL, NOTIFY_END   caller_id + called_did + call_start
    NOTIFY_ANSWER                               caller_id + destination + call_start
    NOTIFY_OUT_START, NOTIFY_OUT_END            internal + destination + call_start
    NOTIFY_RECORD                               pbx_call_id + call_id_with_rec

A missing or wrong signature is answered 403 and nothing else happens (the execution log keeps
the request). Other kinds of notification (NOTIFY_IVR, SMS, ...) carry no signature this module
knows how to check, so they are answered 200 and ignored.

How each notification maps (callId is always `pbx_call_id`, so all of one call's events meet):

    NOTIFY_START      NotifyStart, In, Unknown: caller_id -> called_did (the company number; it
                      is not yet routed to an extension, so usually nobody is bound to it)
    NOTIFY_INTERNAL   NotifyInternal, In, Unknown: caller_id -> internal (the extension ringing;
                      sent once per extension, so each bound operator gets a popup)
    NOTIFY_ANSWER     NotifyAnswer, In, Answered: caller_id -> internal (or destination)
    NOTIFY_END        NotifyEnd, In, <disposition> AND a callRecord of the call (below)
    NOTIFY_OUT_START  NotifyOutStart, Out, Unknown: internal -> destination
    NOTIFY_OUT_END    NotifyOutEnd, Out, <disposition> AND a callRecord of the call
    NOTIFY_RECORD     the callRecord again, now with the recording's ids (below)

`disposition` strings: "answered", "busy", "cancel", "no answer", "failed", "no money",
"unallocated number", "no limit", "no day limit", "line limit", "no money, no limit" map to the
VoipCallDisposition members of the same names; anything else to Unknown. `duration` is the
conversation's length, 0 unless the call was answered.

Recordings. A recording's link is temporary, so the record's `call` keeps the ids
(`{"call_id": call_id_with_rec, "pbx_call_id": ...}`) and VoipGetCallLink asks Zadarma's API
for a fresh link each time someone plays it. NOTIFY_RECORD itself carries only the two ids, not
the numbers, direction or duration a call record needs. So: the END notification already
emits the call record (with the ids when `is_recorded` is 1; every call, recorded or not, gets
its activity entry, and a missed call its contact), and remembers the record in `storage`
under "end:<pbx_call_id>" for a week. NOTIFY_RECORD emits that remembered record with the ids:
the same record again changes nothing, and a record first saved without a recording gains its
player. A NOTIFY_RECORD that comes before its END is remembered ("rec:<pbx_call_id>") and
joined to the END when it comes. If storage refuses (full, or `voip-runtime run`, which has
none), the END is still acted on and the refusal is logged; only the NOTIFY_RECORD join is lost.

Zadarma's API (https://api.zadarma.com; Novofon: https://api.novofon.com): requests are signed
as Zadarma documents: the parameters (with format=json), sorted by name, URL-encoded as a query
string; header `Authorization: <key>:<base64(hex HMAC-SHA1(secret, method + query +
md5(query)))>`, where method is the path such as "/v1/pbx/record/request/".

    VoipGetCallLink     GET /v1/pbx/record/request/?call_id=...  -> "link"
    VoipTestConnection  GET /v1/info/balance/                     (the key and secret work)
    VoipGetMembers      GET /v1/pbx/internal/                     -> the PBX's extensions
    VoipGenerateCall    GET /v1/request/callback/?from=<extension>&to=<number>

Settings: apiKey and apiSecret (secret; Zadarma's personal account, "Settings > API"),
apiBaseUrl (default https://api.zadarma.com). The module's fetch allowlist must hold the API's
host. Bind the PBX extensions (100, 101, ...) to users; "load members" lists them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    # For type checkers and editors only (`voip-runtime stubs DIR`); the sandbox injects these.
    from typing import Any

    from voip_runtime_script import *

DEFAULT_API = "https://api.zadarma.com"

SIGNED_FIELDS = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}

DISPOSITIONS = {
    "answered": VoipCallDisposition.Answered,
    "busy": VoipCallDisposition.Busy,
    "cancel": VoipCallDisposition.Cancel,
    "no answer": VoipCallDisposition.NoAnswer,
    "failed": VoipCallDisposition.Failed,
    "no money": VoipCallDisposition.NoMoney,
    "unallocated number": VoipCallDisposition.UnallocatedNumber,
    "no limit": VoipCallDisposition.NoLimit,
    "no day limit": VoipCallDisposition.NoDayLimit,
    "line limit": VoipCallDisposition.LineLimit,
    "no money, no limit": VoipCallDisposition.NoMoneyNoLimit,
}

# How long the END's record is kept for a NOTIFY_RECORD (which usually follows within a minute).
REMEMBER_SECONDS = 7 * 24 * 3600
API_TIMEOUT = 5


class ZadarmaError(Exception):
    """Zadarma's API refused a request or answered something unexpected."""


# --- webhooks ---------------------------------------------------------------------------------


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    echo = request.query.get("zd_echo")
    if echo is not None:
        # Zadarma's check of the URL: the value back, exactly.
        return {"response": HttpResponse().content(echo)}
    data = dict(request.query)
    data.update(request.form())
    kind = data.get("event", "")
    if kind not in SIGNED_FIELDS:
        log("ignored a Zadarma notification of kind", repr(kind))
        return {}
    if not signature_ok(request.headers.get("Signature", ""), data, kind):
        log("refused", kind, "for call", data.get("pbx_call_id"), ": the Signature header does",
            "not match (check the module setting apiSecret)")
        return {"response": HttpResponse().status(403).content("invalid signature")}

    call_id = data.get("pbx_call_id", "")
    caller = phone(data.get("caller_id"), "anonymous")
    if kind == "NOTIFY_START":
        return {"event": event(VoipWebhookEvent.NotifyStart, VoipCallDirection.In,
                               VoipCallDisposition.Unknown, caller,
                               phone(data.get("called_did"), "unknown"), call_id)}
    if kind == "NOTIFY_INTERNAL":
        return {"event": event(VoipWebhookEvent.NotifyInternal, VoipCallDirection.In,
                               VoipCallDisposition.Unknown, caller,
                               phone(data.get("internal") or data.get("called_did"), "unknown"),
                               call_id)}
    if kind == "NOTIFY_ANSWER":
        return {"event": event(VoipWebhookEvent.NotifyAnswer, VoipCallDirection.In,
                               VoipCallDisposition.Answered, caller,
                               phone(data.get("internal") or data.get("destination"), "unknown"),
                               call_id)}
    if kind == "NOTIFY_OUT_START":
        return {"event": event(VoipWebhookEvent.NotifyOutStart, VoipCallDirection.Out,
                               VoipCallDisposition.Unknown, phone(data.get("internal"), "unknown"),
                               phone(data.get("destination"), "unknown"), call_id)}
    if kind == "NOTIFY_END":
        return call_ended(data, VoipWebhookEvent.NotifyEnd, VoipCallDirection.In, caller,
                          phone(data.get("internal") or data.get("called_did"), "unknown"))
    if kind == "NOTIFY_OUT_END":
        return call_ended(data, VoipWebhookEvent.NotifyOutEnd, VoipCallDirection.Out,
                          phone(data.get("internal"), "unknown"),
                          phone(data.get("destination"), "unknown"))
    return recording_ready(data)


def signature_ok(given: str, data: dict[str, str], kind: str) -> bool:
    secret = str(settings.get("apiSecret", ""))
    if not secret or not given:
        return False
    text = "".join(data.get(name, "") for name in SIGNED_FIELDS[kind])
    # Bytes, not str: compare_digest refuses non-ASCII text, and a forged header may hold any.
    return hmac.compare_digest(hex_signature(secret, text).encode("utf-8"),
                               given.strip().encode("utf-8"))


def hex_signature(secret: str, text: str) -> str:
    """Zadarma's signature: base64 of the HEX digest (not of the raw digest)."""
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), "sha1").hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


def phone(value: str | None, fallback: str) -> str:
    text = str(value or "").strip()
    # Zadarma sends "0" or nothing for a hidden caller id.
    return text if text and text != "0" else fallback


def event(
    kind: VoipWebhookEvent,
    direction: VoipCallDirection,
    disposition: VoipCallDisposition,
    src: str,
    dst: str,
    call_id: str,
) -> VoipWebhookRequest:
    result = VoipWebhookRequest(event=kind, direction=direction, disposition=disposition,
                                srcPhone=src, dstPhone=dst)
    if call_id:
        result["callId"] = call_id
    return result


def call_ended(
    data: dict[str, str],
    kind: VoipWebhookEvent,
    direction: VoipCallDirection,
    src: str,
    dst: str,
) -> VoipWebhookParseResult:
    call_id = data.get("pbx_call_id", "")
    disposition = DISPOSITIONS.get(data.get("disposition", "").strip().lower(),
                                   VoipCallDisposition.Unknown)
    duration = 0
    if disposition == VoipCallDisposition.Answered:
        duration = seconds(data.get("duration"))
    record = VoipCallRecord(direction=direction.value, disposition=disposition.value,
                            srcPhone=src, dstPhone=dst, duration=duration)
    if call_id:
        record["callId"] = call_id
        remember("end:" + call_id, record)
    ids = None
    if data.get("is_recorded") == "1" and data.get("call_id_with_rec"):
        ids = {"call_id": data["call_id_with_rec"], "pbx_call_id": call_id}
    elif call_id:
        ids = recall("rec:" + call_id)  # a NOTIFY_RECORD that came first
    saved = record.copy()
    saved["call"] = ids
    return {"event": event(kind, direction, disposition, src, dst, call_id), "callRecord": saved}


def recording_ready(data: dict[str, str]) -> VoipWebhookParseResult:
    call_id = data.get("pbx_call_id", "")
    ids = {"call_id": data.get("call_id_with_rec", ""), "pbx_call_id": call_id}
    if not call_id or not ids["call_id"]:
        log("NOTIFY_RECORD without pbx_call_id or call_id_with_rec: nothing to do")
        return {}
    record: VoipCallRecord | None = recall("end:" + call_id)
    if record is None:
        log("NOTIFY_RECORD before the end of call", call_id, ": kept for its end notification")
        remember("rec:" + call_id, ids)
        return {}
    record["call"] = ids
    return {"callRecord": record}


def remember(key: str, value: Any) -> None:
    # Losing the memo must not lose the call's end: log it and go on.
    try:
        storage.set(key, value, ttl=REMEMBER_SECONDS)
    except StorageError as error:
        log("could not remember", key, ":", error)


def recall(key: str) -> Any:
    try:
        return storage.get(key)
    except StorageError as error:
        log("could not read", key, ":", error)
        return None


def seconds(value: str | None) -> int:
    try:
        number = int(float(str(value or "0")))
    except ValueError:
        return 0
    return number if number > 0 else 0


# --- Zadarma's API ----------------------------------------------------------------------------


def api_get(method: str, params: dict[str, str]) -> dict[str, Any]:
    key = str(settings.get("apiKey", ""))
    secret = str(settings.get("apiSecret", ""))
    if not key or not secret:
        raise ZadarmaError("the module settings apiKey and apiSecret are needed for Zadarma's API")
    query = dict(params)
    query["format"] = "json"
    query_string = urlencode(sorted(query.items()))
    md5 = hashlib.md5(query_string.encode("utf-8")).hexdigest()
    signature = hex_signature(secret, method + query_string + md5)
    base = str(settings.get("apiBaseUrl") or DEFAULT_API).rstrip("/")
    response = fetch(base + method + "?" + query_string,
                     headers={"Authorization": key + ":" + signature}, timeout=API_TIMEOUT)
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    body: dict[str, Any] | None = parsed if isinstance(parsed, dict) else None
    if not isinstance(body, dict) or not response.ok or body.get("status") != "success":
        message = body.get("message") if isinstance(body, dict) else None
        raise ZadarmaError("Zadarma's API answered " + method + " with HTTP "
                           + str(response.status) + ": " + str(message or response.text()[:200]))
    return body


def VoipGetCallLink(call_data: dict[str, str]) -> str:
    if call_data.get("call_id"):
        params = {"call_id": call_data["call_id"]}
    else:
        params = {"pbx_call_id": call_data["pbx_call_id"]}
    body = api_get("/v1/pbx/record/request/", params)
    link = body.get("link")
    if not link and body.get("links"):
        link = body["links"][0]
    if not link or not isinstance(link, str):
        raise ZadarmaError("Zadarma returned no recording link for " + repr(params))
    return link


def VoipTestConnection() -> VoipTestConnectionResult:
    try:
        body = api_get("/v1/info/balance/", {})
    except (FetchError, ZadarmaError) as error:
        return {"success": False, "failReason": str(error)}
    log("balance:", body.get("balance"), body.get("currency"))
    return {"success": True}


def VoipGetMembers() -> list[VoipMember]:
    body = api_get("/v1/pbx/internal/", {})
    numbers: list[Any] = body.get("numbers") or []
    return [{"id": str(number)} for number in numbers]


def VoipGenerateCall(src_phone: str, dst_phone: str) -> None:
    body = api_get("/v1/request/callback/", {"from": src_phone, "to": dst_phone})
    log("callback requested:", body.get("from"), "->", body.get("to"))
