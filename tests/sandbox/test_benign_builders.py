"""Whole scripts written the way a low-code module builder writes them (contract §3), run
through the real executor: a Zadarma module with a signature class, a counting decorator, a
`match` over the form, dates, storage and a recording link fetched; a MegaFon module with
lookup tables, a helper returning a tuple, snake_case keys and a reply for every command.
Everything §3 promises works together; where the sandbox refuses something ordinary Python
has, the error says what and why.

(The language surface name by name: test_benign.py; the hostile side: test_attacks_language.py.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import textwrap
from typing import Any

import pytest

from sandbox.call import RequestData
from tests.sandbox.lang_support import DictHost, run, script

SECRET = "api-secret"

ZADARMA = textwrap.dedent('''
    from __future__ import annotations

    import base64
    import hashlib
    import hmac
    import re
    from datetime import datetime, timedelta, timezone
    from urllib.parse import urlencode

    MSK = timezone(timedelta(hours=3))
    DISPOSITIONS: dict[str, VoipCallDisposition] = {
        "answered": VoipCallDisposition.Answered,
        "busy": VoipCallDisposition.Busy,
        "no answer": VoipCallDisposition.NoAnswer,
        "no money, no limit": VoipCallDisposition.NoMoneyNoLimit,
    }
    SIGNED = {
        "NOTIFY_START": ("caller_id", "called_did", "call_start"),
        "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    }


    class SignatureError(ValueError):
        pass


    def counted(fn):
        calls = 0

        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            print(f"call #{calls}")
            return fn(*args, **kwargs)

        return wrapper


    class Signer:
        algorithm: str = "sha1"

        def __init__(self, secret: str) -> None:
            self.secret = secret.encode("utf-8")
            self.checked = 0

        def sign(self, text: str) -> str:
            digest = hmac.new(self.secret, text.encode(), hashlib.sha1).hexdigest()
            return base64.b64encode(digest.encode()).decode()

        def check(self, form: dict[str, str], given: str | None) -> None:
            self.checked += 1
            fields = SIGNED.get(form.get("event", ""))
            if fields is None:
                return
            expected = self.sign("".join(form.get(f, "") for f in fields))
            if not given or not hmac.compare_digest(expected, given):
                raise SignatureError(f"bad signature for {form.get('event')!r}")

        @property
        def name(self) -> str:
            return self.algorithm.upper()

        @staticmethod
        def digits(phone: str) -> str:
            return re.sub(r"\\D", "", phone)

        @classmethod
        def from_settings(cls, s) -> Signer:
            return cls(s.get("apiSecret", ""))


    def started(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)


    @counted
    def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
        if request.method == "GET":
            echo = request.query.get("zd_echo")
            return {"response": HttpResponse().content(echo)} if echo is not None else {}
        form = request.form()
        signer = Signer.from_settings(settings)
        try:
            signer.check(form, request.headers.get("signature"))
        except SignatureError as error:
            return {"response": HttpResponse().status(401).content({"error": str(error)})}
        at = started(form["call_start"])
        print(f"{form['event']:>12} at {at.isoformat()} ({signer.name}, {signer.checked})")
        history = storage.get("history", [])
        history.append(form["event"])
        storage.set("history", history[-10:], ttl=3600)
        match form:
            case {"event": "NOTIFY_START", "caller_id": caller, "called_did": did}:
                return VoipWebhookParseResult(event=VoipWebhookRequest(
                    event=VoipWebhookEvent.NotifyStart, direction=VoipCallDirection.In,
                    disposition=VoipCallDisposition.Unknown, srcPhone=Signer.digits(caller),
                    dstPhone=did, callId=form.get("pbx_call_id")))
            case {"event": "NOTIFY_END", "caller_id": caller}:
                disposition = DISPOSITIONS.get(form.get("disposition", ""),
                                               VoipCallDisposition.Unknown)
                rec = ({"id": form["call_id_with_rec"], "at": int(at.timestamp())}
                       if form.get("is_recorded") == "1" else None)
                return VoipWebhookParseResult(callRecord=VoipCallRecord(
                    call=rec, direction=VoipCallDirection.In, disposition=disposition,
                    srcPhone=caller, dstPhone=form.get("internal") or form["called_did"],
                    duration=int(form.get("duration") or 0), callId=form.get("pbx_call_id")))
            case _:
                return {"response": HttpResponse().header("X-Ignored", form["event"])}


    def VoipGetCallLink(call: dict) -> str:
        query = urlencode({"call_id": call["id"]})
        data = fetch(f"https://api.zadarma.com/v1/pbx/record/request/?{query}",
                     headers={"Authorization": settings["apiKey"]}).json()
        return data["link"]
''')

END = {"event": "NOTIFY_END", "call_start": "2025-03-04 10:15:02", "pbx_call_id": "in_5f2a",
       "caller_id": "79161234567", "called_did": "74951112233", "internal": "101",
       "duration": "74", "disposition": "no money, no limit", "is_recorded": "1",
       "call_id_with_rec": "1709540102.55"}


def zadarma_request(form: dict[str, str], *, secret: str = SECRET) -> RequestData:
    signed = form["caller_id"] + form["called_did"] + form["call_start"]
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha1).hexdigest()
    body = "&".join(f"{k}={v}".replace(" ", "+") for k, v in form.items())
    return RequestData(headers=(("Content-Type", "application/x-www-form-urlencoded"),
                                ("Signature", base64.b64encode(digest.encode()).decode())),
                       body=body)


def test_a_zadarma_module_written_by_a_builder_parses_a_signed_end() -> None:
    host = DictHost()
    outcome = run(ZADARMA, request=zadarma_request(END), host=host,
                  settings={"apiSecret": SECRET, "apiKey": "key"})
    assert outcome["ok"], outcome["error"]
    assert outcome["result"] == {"callRecord": {
        "call": {"id": "1709540102.55", "at": 1741072502}, "direction": "in",
        "disposition": "no_money_no_limit", "srcPhone": "79161234567", "dstPhone": "101",
        "duration": 74, "callId": "in_5f2a"}}
    assert outcome["logs"] == "call #1\n  NOTIFY_END at 2025-03-04T10:15:02+03:00 (SHA1, 1)\n"
    assert host.data == {"history": ["NOTIFY_END"]}


def test_the_zadarma_module_refuses_a_forged_signature_and_echoes_the_check() -> None:
    forged = run(ZADARMA, request=zadarma_request(END, secret="guess"),
                 settings={"apiSecret": SECRET})
    assert forged["ok"] and forged["result"]["response"]["status"] == 401
    assert json.loads(forged["result"]["response"]["body"]) == {
        "error": "bad signature for 'NOTIFY_END'"}
    echo = run(ZADARMA, request=RequestData(method="GET", url="https://h.example/?zd_echo=a1"))
    assert echo["ok"] and echo["result"]["response"]["body"] == "a1"


def test_the_zadarma_module_fetches_its_recording_link() -> None:
    url = "https://api.zadarma.com/v1/pbx/record/request/?call_id=1709540102.55"
    host = DictHost({url: {"status": 200, "headers": [["Content-Type", "application/json"]],
                           "body": json.dumps({"status": "success",
                                               "link": "https://rec.example/a.mp3"})}})
    outcome = run(ZADARMA, "VoipGetCallLink", args=({"id": "1709540102.55"},), host=host,
                  settings={"apiKey": "key"})
    assert outcome["ok"], outcome["error"]
    assert outcome["result"] == "https://rec.example/a.mp3"
    assert host.requests[0]["headers"] == {"Authorization": "key"}


MEGAFON = textwrap.dedent('''
    """MegaFon cloud PBX."""
    from datetime import datetime, timezone

    STATUS = {"Success": VoipCallDisposition.Answered, "missed": VoipCallDisposition.NoAnswer,
              "Busy": VoipCallDisposition.Busy}


    def reply(status: int = 200, **body) -> HttpResponse:
        return HttpResponse().status(status).content(body or {"ok": True})


    def numbers(form: dict) -> tuple[str, str, VoipCallDirection]:
        out = form.get("direction", form.get("type")) == "out"
        client, operator = form.get("phone", ""), form.get("user", "")
        if out:
            return operator, client, VoipCallDirection.Out
        return client, operator, VoipCallDirection.In


    def VoipParseWebhookRequest(request):
        form = request.form()
        if form.get("crm_token") != settings.get("crmToken"):
            return {"response": reply(403, error="bad crm_token")}
        print("cmd", form.get("cmd"), {k: v for k, v in form.items() if k != "crm_token"})
        src, dst, direction = numbers(form)
        match form.get("cmd"):
            case "contact":
                known = storage.get(f"contact:{form.get('phone')}") or {}
                return {"response": HttpResponse().content(
                    {"contact_name": known.get("name", ""), "responsible": known.get("user", "")})}
            case "rating":
                return None
            case "history":
                start = datetime.strptime(form["start"], "%Y%m%dT%H%M%SZ")
                storage.set(f"contact:{form['phone']}", {"user": form.get("user")})
                return {"call_record": {
                    "call": {"link": form["link"], "start": start.replace(
                        tzinfo=timezone.utc).isoformat()} if form.get("link") else None,
                    "direction": direction,
                    "disposition": STATUS.get(form.get("status", ""), "unknown"),
                    "src_phone": src, "dst_phone": dst,
                    "duration": int(form.get("duration", "0")), "call_id": form.get("callid"),
                }, "response": reply()}
            case other:
                return {"response": reply(400, error=f"unknown cmd {other!r}")}
''')

HISTORY = ("cmd=history&type=in&user=ivanov&ext=201&phone=79031234567&diversion=74951112233"
           "&start=20250304T101502Z&duration=93&callid=8844120031"
           "&link=https%3A%2F%2Fpbx.example%2Frec%2F8844120031.mp3&status=Success"
           "&crm_token=TOKEN")


@pytest.mark.parametrize(("body", "status", "result"), [
    (HISTORY, 200, {"call_record": {  # as the script wrote it; validation reads snake_case
        "call": {"link": "https://pbx.example/rec/8844120031.mp3",
                 "start": "2025-03-04T10:15:02+00:00"},
        "direction": "in", "disposition": "answered", "src_phone": "79031234567",
        "dst_phone": "ivanov", "duration": 93, "call_id": "8844120031"}}),
    ("cmd=contact&phone=79031234567&crm_token=TOKEN", 200, {}),
    ("cmd=rating&crm_token=TOKEN", None, None),
    ("cmd=event&crm_token=WRONG", 403, {}),
    ("cmd=nope&crm_token=TOKEN", 400, {}),
])
def test_a_megafon_module_written_by_a_builder_answers_every_command(
        body: str, status: int | None, result: dict[str, Any] | None) -> None:
    outcome = run(MEGAFON, request=RequestData(body=body), settings={"crmToken": "TOKEN"})
    assert outcome["ok"], outcome["error"]
    got = outcome["result"]
    if status is None:
        assert got is None
        return
    assert got.pop("response")["status"] == status
    assert got == result


# -- what the sandbox leaves out of Python says so --------------------------------------------


@pytest.mark.parametrize("name", ["type", "setattr", "vars", "id", "bytearray", "open"])
def test_a_python_builtin_the_sandbox_does_not_offer_is_named_as_such(name: str) -> None:
    outcome = run(script(f"return {name}"))
    assert outcome["error"]["type"] == "NameError"
    # (type, setattr and open go on to say what to write instead: test_benign.py)
    assert outcome["error"]["message"].startswith(
        f"line 2: name '{name}' is not defined ({name!r} is a Python builtin the sandbox does "
        "not offer: a script has only the builtins the module reference lists, §3.9")


TYPED = textwrap.dedent("""\
    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        from typing import Any, TypedDict, cast
        from voip_runtime_script import *

        class SipuniEvent(TypedDict):
            call_id: str

    def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
        data = {BODY}
        return {"response": HttpResponse().content(data["call_id"])}
    """)


@pytest.mark.parametrize(("body", "name"), [
    ('cast("SipuniEvent", request.form())', "cast"),
    ('SipuniEvent(call_id="1")', "SipuniEvent"),
    ('request.form() if isinstance(request, Any) else {}', "Any"),
])
def test_a_name_from_the_type_checking_block_used_at_run_time_says_the_block_never_runs(
        body: str, name: str) -> None:
    """The guide has a typed script import `Any` and friends under `if TYPE_CHECKING:`, and
    mypy --strict has it write `cast(...)`; using one at run time said only "name 'cast' is
    not defined", as if the import had been lost."""
    outcome = run(TYPED.replace("{BODY}", body), request=RequestData(body="call_id=1"))
    assert outcome["error"]["type"] == "NameError"
    assert outcome["error"]["message"].startswith(
        f"line 10: name {name!r} is not defined ({name!r} comes from the \"if TYPE_CHECKING:\" "
        "block, which never runs: what it binds is for type checkers, in annotations only")
    assert ("cast(T, value) is value itself at run time" in outcome["error"]["message"]) == (
        name == "cast")
    # Used where the block allows, in annotations, the same names run.
    typed = TYPED.replace("{BODY}", "request.form()").replace(
        "data = ", 'data: "SipuniEvent" = ')
    assert run(typed, request=RequestData(body="call_id=1"))["ok"]


def test_a_name_defined_at_run_time_too_is_not_said_to_come_from_the_block() -> None:
    outcome = run(script("return helper()", top="""\
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from typing import Any
        """))
    assert outcome["error"]["message"] == "line 6: name 'helper' is not defined"


def test_request_read_by_a_helper_is_told_to_be_passed_on() -> None:
    """Contract §3 lists `request` among the injected names; a helper reading it as a global
    was told only "name 'request' is not defined", as if the sandbox had lost it."""
    outcome = run(textwrap.dedent("""\
        def caller_of():
            return request.form()["caller_id"]

        def VoipParseWebhookRequest(req):
            return {"response": HttpResponse().content(caller_of())}
        """), request=RequestData(body="caller_id=79161234567"))
    assert outcome["error"]["type"] == "NameError"
    assert outcome["error"]["message"] == (
        "line 2: name 'request' is not defined ('request' is not a global name: it is the "
        "argument VoipParseWebhookRequest receives; pass it on to the function that reads it)")


PAGE = "https://api.example/x"


@pytest.mark.parametrize(("code", "error", "message"), [
    # Habits of Flask, requests and dict users: said what it is called here, and what is offered.
    ("request.data", "AttributeError",
     "request has no attribute 'data': the body is request.body (text), request.json() or "
     "request.form() (request has method, url, headers, body, query, json() and form())"),
    ("request.args.get('a')", "AttributeError",
     "request has no attribute 'args': the query string is request.query (a mapping) (request "
     "has method, url, headers, body, query, json() and form())"),
    ("request.remote_addr", "AttributeError",
     "request has no attribute 'remote_addr' (request has method, url, headers, body, query, "
     "json() and form())"),
    ("HttpResponse().status(200).body('ok')", "AttributeError",
     "HttpResponse() has no attribute 'body': use content(value): a str, or a dict or list sent "
     "as JSON (HttpResponse() has status(code), header(name, value) and content(value))"),
    (f"fetch({PAGE!r}).status_code", "AttributeError",
     "the response has no attribute 'status_code': use status (the response has status, ok, "
     "headers, url, text() and json())"),
    (f"fetch({PAGE!r}).content", "AttributeError",
     "the response has no attribute 'content': the body is text() (or json()) (the response "
     "has status, ok, headers, url, text() and json())"),
    ("storage.keys()", "AttributeError",
     "storage has no attribute 'keys': keys cannot be listed: keep a list of them under a key "
     "of its own (storage has get(key, default), set(key, value, ttl) and delete(key))"),
    (f"fetch({PAGE!r}, json={{'a': 1}})", "TypeError",
     "fetch() got an unexpected keyword argument 'json': give the dict or list as body= "
     "(fetch() sends it as JSON)"),
    (f"fetch({PAGE!r}, params={{'a': 1}})", "TypeError",
     "fetch() got an unexpected keyword argument 'params': put the query string in the URL "
     "(url + '?' + urllib.parse.urlencode(params))"),
    # JavaScript's fetch(url, {method, headers, body}) ported as written said "fetch() method
    # must be a word such as GET or POST", about a method the script never gave.
    (f"fetch({PAGE!r}, {{'method': 'POST', 'body': '{{}}'}})", "TypeError",
     "fetch() takes its options as keyword arguments, not as a dict: write fetch(url, "
     "method='POST', headers={...}, body=...) where JavaScript has fetch(url, {method, headers, "
     "body})"),
    (f"fetch({PAGE!r}, verify=False)", "TypeError",
     "fetch() got an unexpected keyword argument 'verify'"),
    ("fetch()", "TypeError", "fetch() missing 1 required positional argument: 'url'"),
    ("log('x', colour='red')", "TypeError", "log() got an unexpected keyword argument 'colour'"),
    # Methods named as scripts call them, not "ResponseBuilder.status()", "Storage.set()",
    # "PrintCollector._call_print()".
    ("HttpResponse().status()", "TypeError",
     "HttpResponse().status() missing 1 required positional argument: 'code'"),
    ("storage.set('k')", "TypeError",
     "storage.set() missing 1 required positional argument: 'value'"),
    ("print('x', flush=True, colour='red')", "TypeError",
     "print() got an unexpected keyword argument 'colour'"),
    # Mappings and contract enums said "Mapping.get()" and "_ContractEnumType.__call__()".
    ("settings.get()", "TypeError",
     "settings.get() missing 1 required positional argument: 'key'"),
    ("request.query.get('a', 1, 2)", "TypeError",
     "request.query.get() takes a key and a default (3 arguments given)"),
    ("request.headers.items(1)", "TypeError", "headers.items() takes no arguments (1 given)"),
    ("VoipCallDisposition()", "TypeError",
     "VoipCallDisposition() takes one value, as VoipCallDisposition('...') (0 arguments given)"),
    ("VoipWebhookEvent('a', 'b')", "TypeError",
     "VoipWebhookEvent() takes one value, as VoipWebhookEvent('...') (2 arguments given)"),
    # A provider's numeric call id as a key (TypeScript's `storage.setItem(call.id, ...)`).
    ("storage.set(1709540102, {'at': 1})", "TypeError",
     "a storage key must be a string, not int: convert it with str()"),
    ("storage.get(None)", "TypeError", "a storage key must be a string, not NoneType"),
    # TypeScript's `VoipCallDirection[name]` ported as written said only "KeyError: 'Inbound'".
    ("VoipCallDirection['Inbound']", "KeyError",
     "VoipCallDirection has no member 'Inbound'; its members: In, Out, Internal"),
    ("VoipCallDisposition['NO_ANSWER']", "KeyError",
     "VoipCallDisposition has no member 'NO_ANSWER'; did you mean VoipCallDisposition.NoAnswer?"),
    ("VoipWebhookEvent.NOTIFY_START", "AttributeError",
     "VoipWebhookEvent has no member 'NOTIFY_START'; did you mean VoipWebhookEvent.NotifyStart?"),
])
def test_a_member_an_injected_object_lacks_is_named_with_what_it_offers(
        code: str, error: str, message: str) -> None:
    """They said "'ResponseBuilder' object has no attribute 'body'" and
    "make_fetch.<locals>.fetch() got an unexpected keyword argument 'json'", naming what no
    script sees and not what to write instead."""
    host = DictHost({PAGE: {"status": 200, "headers": [], "body": "{}"}})
    outcome = run(script(f"return {code}"), host=host)
    assert outcome["error"]["type"] == error
    assert outcome["error"]["message"] == f"line 2: {message}"
    assert [r["url"] for r in host.requests if r["op"] == "fetch"] == (
        [PAGE] if "fetch(" in code and error == "AttributeError" else [])


@pytest.mark.parametrize(("code", "message"), [
    ("HttpResponse() + 1", "unsupported operand type(s) for +: 'HttpResponse' and 'int'"),
    ("len(HttpResponse())", "object of type 'HttpResponse' has no len()"),
    ("json.dumps({'reply': HttpResponse()})",
     "Object of type HttpResponse is not JSON serializable"),
    ("hash(request.headers)", "unhashable type: 'ReadOnlyMapping'"),
    ("json.dumps(request.headers)", "Object of type ReadOnlyMapping is not JSON serializable"),
    ("json()", "'module' object is not callable"),
    ("json['loads']", "'module' object is not subscriptable"),
    ("VoipCallDirection + 1", "unsupported operand type(s) for +: 'EnumType' and 'int'"),
    ("VoipCallRecord['srcPhone']", "'TypedDict' object is not subscriptable"),
    ("VoipCallRecord.srcPhone", "VoipCallRecord has no attribute 'srcPhone': it builds plain "
                                "dicts, as VoipCallRecord(srcPhone=...)"),
    ("FetchRequest.method", "FetchRequest has no attribute 'method': it names a type for "
                            "annotations only"),
    ("VoipCallDisposition.NoAnwser", "VoipCallDisposition has no member 'NoAnwser'; did you "
                                     "mean VoipCallDisposition.NoAnswer?"),
    ("VoipCallDirection.Incoming", "VoipCallDirection has no member 'Incoming'; its members: "
                                   "In, Out, Internal"),
])
def test_python_s_own_errors_name_what_the_script_wrote(code: str, message: str) -> None:
    """Python's own messages named the classes behind the injected names ("unsupported operand
    type(s) for +: 'ResponseBuilder' and 'int'", "'ModuleView' object is not callable",
    "'_ContractEnumType'", "'CaseInsensitiveMapping'", "'TypeName' object has no attribute
    'method'"), which no script can see, and a misspelt enum member said only "NoAnwser"."""
    outcome = run(script(f"import json\nreturn {code}"))
    assert outcome["error"]["message"] == f"line 3: {message}"


def test_injected_mappings_and_enums_still_read_as_python_s() -> None:
    outcome = run(script(
        "return {'response': HttpResponse().content([settings.get('k'), settings.get('no'), "
        "settings.get('no', 5), settings.get(key='k', default=1), request.query.get('q'), "
        "request.headers.get('X-A'), sorted(settings.keys()), list(settings.items()), "
        "list(request.query.values()), VoipCallDisposition(value='busy'), "
        "VoipCallDisposition(VoipCallDisposition.Busy)])}"),
        request=RequestData(method="GET", url="https://h.example/w?q=1",
                            headers=[("x-a", "b")], body=""),
        settings={"k": "v"})
    assert outcome["ok"], outcome["error"]
    assert json.loads(outcome["result"]["response"]["body"]) == [
        "v", None, 5, "v", "1", "b", ["k"], [["k", "v"]], ["1"], "busy", "busy"]


def test_an_injected_object_still_answers_hasattr_and_getattr_with_a_default() -> None:
    outcome = run(script("return {'response': HttpResponse().content([hasattr(request, 'data'), "
                         "getattr(request, 'data', 5), hasattr(request, 'body'), "
                         "getattr(storage, 'keys', None) is None])}"))
    assert outcome["ok"], outcome["error"]
    assert outcome["result"]["response"]["body"] == "[false, 5, true, true]"


def test_a_name_the_script_misspelt_is_only_not_defined() -> None:
    assert run(script("return lenn('a')"))["error"]["message"] == (
        "line 2: name 'lenn' is not defined")
    # A script's own NameError is its own message, whatever it names.
    assert run(script("raise NameError('mine', name='type')"))["error"]["message"] == (
        "line 2: mine")


@pytest.mark.parametrize(("check", "message"), [
    ("isinstance(request, FetchRequest)",
     "isinstance() cannot check against FetchRequest: it names a type for annotations only"),
    ("isinstance({}, VoipCallRecord)", "isinstance() cannot check against VoipCallRecord: it "
                                       "builds plain dicts (check isinstance(x, dict))"),
    ("issubclass(dict, VoipMember)",
     "issubclass() cannot check against VoipMember: it builds plain dicts"),
])
def test_checking_against_an_injected_type_name_says_what_to_do(check: str,
                                                                 message: str) -> None:
    outcome = run(script(f"return {check}"))
    assert outcome["error"]["type"] == "TypeError"
    assert outcome["error"]["message"] == f"line 2: {message}"


@pytest.mark.parametrize(("code", "message"), [
    ("import time\ntime.sleep(1)", "module 'time' has no attribute 'sleep' (the sandbox's "
     "'time' offers only gmtime, monotonic, perf_counter, strftime, time, time_ns)"),
    ("import hmac\nreturn hmac.HMAC", "module 'hmac' has no attribute 'HMAC' (the sandbox's "
     "'hmac' offers only compare_digest, digest, new)"),
    ("import re\nreturn re.Scanner", "module 're' has no attribute 'Scanner' (the sandbox "
     "offers part of it: see the module reference, §3.11)"),
])
def test_a_module_member_the_sandbox_leaves_out_is_named_with_what_it_offers(
        code: str, message: str) -> None:
    outcome = run(script(code))
    assert outcome["error"]["type"] == "AttributeError"
    assert outcome["error"]["message"] == f"line 3: {message}"


@pytest.mark.parametrize(("given", "hint"), [
    ("datetime.timedelta(days=1)", "not a timedelta: write delta.total_seconds()"),
    ('settings["memoSeconds"]', "not a str: convert it with float() or int()"),
])
def test_a_ttl_that_is_no_number_says_what_to_write(given: str, hint: str) -> None:
    """`ttl=timedelta(days=1)` and a setting read as text are a builder's usual slips; the
    refusal said only "must be a positive number of seconds", not what was wrong with it."""
    outcome = run(script(f'storage.set("call:1", {{"a": 1}}, ttl={given})',
                         top="import datetime"), settings={"memoSeconds": "86400"})
    assert outcome["error"]["type"] == "ValueError"
    assert outcome["error"]["message"] == (
        f"line 4: ttl must be a positive number of seconds or None, {hint}")
    fixed = {"datetime.timedelta(days=1)": "datetime.timedelta(days=1).total_seconds()",
             'settings["memoSeconds"]': 'int(settings["memoSeconds"])'}[given]
    host = DictHost()
    ran = run(script(f'storage.set("call:1", {{"a": 1}}, ttl={fixed})', top="import datetime"),
              settings={"memoSeconds": "86400"}, host=host)
    assert ran["ok"], ran["error"]
    assert host.data == {"call:1": {"a": 1}}


MAIN_GUARDED = textwrap.dedent("""\
    import json

    def VoipParseWebhookRequest(request):
        return {"response": HttpResponse().content(request.json())}

    if __name__ == "__main__":      # the builder's own test run, outside the service
        import sys
        print(VoipParseWebhookRequest(open(sys.argv[1]).read()))
    """)


def test_a_builders_main_block_is_left_out_as_python_would_never_run_it() -> None:
    """A builder who tried the file with `python script.py` keeps an `if __name__ ==
    "__main__":` block at its bottom; the sandbox refused the whole upload for the `__name__`
    in it (and the block's `import sys` and `open`). A script is never `__main__` here, so the
    block is left out, as CPython would skip it."""
    outcome = run(MAIN_GUARDED, request=RequestData(body='{"a": 1}'))
    assert outcome["ok"], outcome["error"]
    assert outcome["result"]["response"]["body"] == '{"a": 1}'
    assert outcome["logs"] == ""
    # Written the other way round, and with an else: the else is what runs.
    flipped = MAIN_GUARDED.replace('__name__ == "__main__"', '"__main__" == __name__') + (
        "else:\n    log('imported')\n")
    outcome = run(flipped, request=RequestData(body='{"a": 1}'))
    assert outcome["ok"], outcome["error"]
    assert outcome["logs"] == "imported\n"


def test_name_read_anywhere_else_is_still_refused() -> None:
    outcome = run(script("return {}", top='if __name__ != "__main__":\n    log(__name__)'))
    assert outcome["error"]["type"] == "CompileError"
    assert [p["line"] for p in outcome["error"]["problems"]] == [1, 2]


@pytest.mark.parametrize(("returned", "kind"), [
    ("map(lambda i: VoipMember(id=str(i)), [101, 102])", "map"),
    ("(VoipMember(id=str(i)) for i in [101, 102])", "generator"),
    ("filter(None, [VoipMember(id='101')])", "filter"),
    ("{'101': VoipMember(id='101')}.values()", "dict_values"),
])
def test_a_lazy_sequence_returned_for_a_list_is_told_to_become_one(returned: str,
                                                                   kind: str) -> None:
    # TypeScript's `return items.map(i => ({id: ...}))`, ported as `return map(...)`, was told
    # to "return dicts, lists, strings, numbers, booleans or None": true of what it returned.
    outcome = run(f"def VoipParseWebhookRequest(request):\n    return None\n\n"
                  f"def VoipGetMembers():\n    return {returned}\n", "VoipGetMembers")
    assert outcome["error"]["type"] == "InvalidResult"
    assert outcome["error"]["message"] == (
        f"the result cannot hold a value of type {kind!r}; make it a list first, with list(...)")


def test_a_set_given_to_storage_is_told_to_become_a_list() -> None:
    outcome = run(script("storage.set('seen', {'c1', 'c2'})"))
    assert outcome["error"]["message"] == (
        "line 2: the storage value cannot hold a value of type 'set'; make it a list first, "
        "with list(...)")


def test_a_member_looked_up_by_name_is_found_and_a_missing_one_is_a_key_error() -> None:
    outcome = run(script("""
        found = VoipCallDisposition["Busy"]
        try:
            VoipCallDisposition["Engaged"]
        except KeyError as missing:
            return {"response": {"status": 200, "body": f"{found} | {missing}"}}
        """))
    assert outcome["ok"], outcome
    assert outcome["result"]["response"]["body"] == (
        "busy | VoipCallDisposition has no member 'Engaged'; its members: Answered, Busy, "
        "Cancel, NoAnswer, Failed, NoMoney, UnallocatedNumber, NoLimit, NoDayLimit, LineLimit, "
        "NoMoneyNoLimit, Unknown")


def test_a_providers_value_tested_with_in_against_an_enum() -> None:
    # `if status in VoipCallDisposition:` (TypeScript's Object.values(E).includes(status)) is
    # true or false on Python 3.12 and later; the sandbox's 3.11 enum raised "TypeError:
    # unsupported operand type(s) for 'in': 'str' and 'EnumType'" for any value not a member.
    outcome = run(script("""
        seen = ["busy" in VoipCallDisposition, "Busy" in VoipCallDisposition,
                VoipCallDisposition.Busy in VoipCallDisposition, "in" in VoipCallDisposition,
                "in" not in VoipCallDirection, 1 in VoipCallDirection, [] in VoipCallDirection,
                VoipCallDirection.In in VoipCallDisposition]
        return {"response": {"status": 200, "body": repr(seen)}}
        """))
    assert outcome["ok"], outcome
    assert outcome["result"]["response"]["body"] == (
        "[True, False, True, False, False, False, False, False]")
