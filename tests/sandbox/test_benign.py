"""The contract §3 surface, name by name: everything a script may use works as in Python."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from sandbox.call import RequestData
from sandbox.limits import Limits
from tests.sandbox.lang_support import DictHost, result_of, run, script

# -- builtins ------------------------------------------------------------------------------------

BUILTIN_CASES: list[tuple[str, Any]] = [
    ("None", None),
    ("True", True),
    ("False", False),
    ("abs(-3)", 3),
    ("all([1, 2])", True),
    ("any([0, 1])", True),
    ("bool('')", False),
    ("len(bytes('ab', 'utf-8'))", 2),
    ("bin(5)", "0b101"),
    ("callable(len)", True),
    ("chr(1071)", "Я"),
    ("dict(a=1)", {"a": 1}),
    ("list(divmod(7, 2))", [3, 1]),
    ("list(enumerate('ab'))", [[0, "a"], [1, "b"]]),
    ("list(filter(None, [0, 1, 2]))", [1, 2]),
    ("float('1.5')", 1.5),
    ("format(3.14159, '.2f')", "3.14"),
    ("sorted(frozenset([2, 1]))", [1, 2]),
    ("hash('x') == hash('x')", True),
    ("hex(255)", "0xff"),
    ("int('42')", 42),
    ("isinstance(1, int)", True),
    ("issubclass(KeyError, LookupError)", True),
    ("next(iter([7]))", 7),
    ("len('abc')", 3),
    ("list((1, 2))", [1, 2]),
    ("list(map(str, [1, 2]))", ["1", "2"]),
    ("max(1, 5, 3)", 5),
    ("min([4, 2])", 2),
    ("oct(8)", "0o10"),
    ("ord('a')", 97),
    ("pow(2, 10)", 1024),
    ("pow(3, 4, 5)", 1),
    ("list(range(3))", [0, 1, 2]),
    ("repr('a')", "'a'"),
    ("list(reversed([1, 2]))", [2, 1]),
    ("round(2.675, 1)", 2.7),
    ("sorted(set([3, 1, 3]))", [1, 3]),
    ("[1, 2, 3][slice(1, None)]", [2, 3]),
    ("sorted([3, 1], reverse=True)", [3, 1]),
    ("str(12)", "12"),
    ("sum([1, 2, 3])", 6),
    ("tuple([1])", [1]),
    ("list(zip('ab', [1, 2]))", [["a", 1], ["b", 2]]),
    ("2 ** 10", 1024),
]


@pytest.mark.parametrize(("expression", "expected"), BUILTIN_CASES)
def test_builtin(expression: str, expected: Any) -> None:
    assert result_of(f"return {expression}") == expected


EXCEPTIONS = [
    "Exception", "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError",
    "LookupError", "NameError", "NotImplementedError", "OverflowError", "RuntimeError",
    "StopIteration", "TypeError", "UnicodeDecodeError", "UnicodeEncodeError", "ValueError",
    "ZeroDivisionError",
]  # fmt: skip


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_exception_class_can_be_subclassed_raised_and_caught(name: str) -> None:
    args = {
        "UnicodeDecodeError": "'utf-8', b'x', 0, 1, 'bad'",
        "UnicodeEncodeError": "'ascii', 'x', 0, 1, 'bad'",
    }.get(name, "'boom'")
    body = f"""
        class Mine({name}):
            pass
        try:
            raise Mine({args})
        except {name} as error:
            return [isinstance(error, Exception), type(error) is not None]
    """
    assert result_of(body.replace("type(error) is not None", "True")) == [True, True]


def test_uncaught_exception_reports_type_message_line() -> None:
    outcome = run(script("x = 1\nraise ValueError('bad value ' + str(x))"))
    assert outcome["ok"] is False
    assert outcome["error"]["type"] == "ValueError"
    assert outcome["error"]["message"] == "line 3: bad value 1"
    assert outcome["error"]["line"] == 3
    assert outcome["error"]["traceback"] == ["line 3, in VoipParseWebhookRequest"]


def test_error_in_helper_names_the_helper_line_and_traceback() -> None:
    source = script("return helper({})", top="def helper(d):\n    return d['missing']\n")
    outcome = run(source)
    assert outcome["error"]["type"] == "KeyError"
    assert outcome["error"]["message"] == "line 2: 'missing'"
    assert outcome["error"]["traceback"] == [
        "line 5, in VoipParseWebhookRequest",
        "line 2, in helper",
    ]


def test_error_inside_host_function_names_tenant_line() -> None:
    outcome = run(script("import json\nreturn json.loads('{nope')"))
    assert outcome["error"]["type"] == "JSONDecodeError"
    assert outcome["error"]["line"] == 3
    assert all("/" not in line for line in outcome["error"]["traceback"])


def test_missing_attribute_raises_attribute_error() -> None:
    outcome = run(script("x = [1]\nreturn x.nothing"))
    assert outcome["error"]["type"] == "AttributeError"
    assert "'list' object has no attribute 'nothing'" in outcome["error"]["message"]
    assert result_of("try:\n    request.nope\nexcept AttributeError:\n    return 'caught'") == (
        "caught"
    )


def test_an_attribute_set_on_the_scripts_own_function_says_where_to_keep_it() -> None:
    # A memo on a function (`lookup.cache = {}`) is refused like any write outside the script's
    # containers and instances; the error must not say the builder's own function is the
    # sandbox's, and must say what to do instead.
    outcome = run(script("lookup.cache = {}\nreturn None", top="def lookup(n):\n    return n"))
    error = outcome["error"]
    assert (error["type"], error["line"]) == ("TypeError", 5)
    assert error["message"] == (
        "line 5: cannot set an attribute of function 'lookup': keep the value in a variable, a "
        "dict or an instance of a class of the script"
    )
    assert "sandbox" not in error["message"]


@pytest.mark.parametrize(
    ("body", "advice"),
    [
        ("if type(request.body) == str:\n    pass", "isinstance(value, str) tells a value's "
                                                   "type"),
        ("class A:\n    pass\nsetattr(A(), 'x', 1)", "write obj.name = value"),
        # TypeScript's Object.assign(this, data), ported as a loop of setattr: obj.name
        # cannot say a name known only as the script runs.
        ("class A:\n    pass\nfor k, v in {'x': 1}.items():\n    setattr(A(), k, v)",
         "for names known only as it runs (TypeScript's Object.assign(this, data)), keep the "
         "values in a dict: self.fields = dict(data)"),
        ("open('/tmp/x')", "a script has no files: keep what must last in storage"),
        ("exit()", "return from the function instead"),
    ],
)
def test_a_builtin_the_sandbox_lacks_says_what_to_write_instead(body: str, advice: str) -> None:
    error = run(script(body + "\nreturn None"))["error"]
    assert error["type"] == "NameError"
    assert "is a Python builtin the sandbox does not offer" in error["message"]
    assert advice in error["message"], error["message"]


def test_a_setting_read_as_an_attribute_says_how_to_read_it() -> None:
    # The platform's scripts read `Namespace.params.data.apiKey`; here settings is a mapping.
    body = """
        out = []
        for attempt in (lambda: settings.apiKey, lambda: request.query.event,
                        lambda: request.headers.signature):
            try:
                attempt()
            except AttributeError as error:
                out.append(str(error))
        return out + [hasattr(settings, "apiKey"), getattr(settings, "apiKey", "none")]
    """
    assert result_of(body, settings={"apiKey": "k"}) == [
        "settings has no attribute 'apiKey': read a value as settings['apiKey'] or "
        "settings.get('apiKey')",
        "request.query has no attribute 'event': read a value as request.query['event'] or "
        "request.query.get('event')",
        "headers has no attribute 'signature': read a value as headers['signature'] or "
        "headers.get('signature')",
        False, "none",
    ]


# -- modules -------------------------------------------------------------------------------------


def test_json_module() -> None:
    body = """
        import json
        text = json.dumps({"a": [1, 2.5, None, True]}, sort_keys=True)
        try:
            json.loads("{bad")
        except json.JSONDecodeError as error:
            caught = error.msg
        return [text, json.loads(text), caught]
    """
    assert result_of(body) == [
        '{"a": [1, 2.5, null, true]}',
        {"a": [1, 2.5, None, True]},
        "Expecting property name enclosed in double quotes",
    ]


def test_re_module_with_match_objects() -> None:
    body = """
        import re as regex
        m = regex.match(r"(?P<num>\\d+)-(\\w+)", "123-abc")
        p = regex.compile(r"\\s+", regex.IGNORECASE | regex.M)
        try:
            regex.compile("(")
        except regex.error:
            bad = True
        return [m.group(0), m.group("num"), m.groups(), m.groupdict(), m.span(), m.start(2),
                bool(regex.search("b", "abc")), bool(regex.fullmatch("a+", "aaa")),
                regex.findall(r"\\d", "a1b2"), [x.group() for x in regex.finditer("o", "foo")],
                regex.sub("a", "b", "aa"), regex.subn("a", "b", "aa"), p.split("a  b c"),
                regex.split(",", "a,b"), regex.escape("a.b"), bad, m[1],
                regex.DOTALL == regex.S, regex.A != 0, regex.VERBOSE == regex.X, int(regex.NOFLAG)]
    """
    assert result_of(body) == [
        "123-abc", "123", ["123", "abc"], {"num": "123"}, [0, 7], 4, True, True, ["1", "2"],
        ["o", "o"], "bb", ["bb", 2], ["a", "b", "c"], ["a", "b"], "a\\.b", True, "123",
        True, True, True, 0,
    ]  # fmt: skip


def test_math_module() -> None:
    body = """
        import math
        return [math.sqrt(16), math.floor(2.5), math.ceil(2.1), round(math.pi, 2), math.isnan(1.0),
                math.gcd(12, 8), round(math.log(math.e), 3), math.inf > 1, math.fsum([0.1] * 10)]
    """
    assert result_of(body) == [4.0, 2, 3, 3.14, False, 4, 1.0, True, 1.0]


def test_datetime_module_strptime_strftime() -> None:
    body = """
        import datetime
        from datetime import timezone, timedelta
        d = datetime.datetime.strptime("2024-03-05 14:07:09", "%Y-%m-%d %H:%M:%S")
        aware = d.replace(tzinfo=timezone(timedelta(hours=3)))
        utc = aware.astimezone(timezone.utc)
        now = datetime.datetime.now(timezone.utc)
        return [d.strftime("%d.%m.%Y %H:%M"), utc.isoformat(), (d + timedelta(days=1)).day,
                datetime.date(2024, 1, 31).isoformat(), str(datetime.time(1, 2)),
                datetime.MINYEAR, datetime.MAXYEAR, now.year >= 2024,
                int(utc.timestamp()), datetime.datetime.fromisoformat("2024-01-01T00:00:00").year]
    """
    assert result_of(body) == [
        "05.03.2024 14:07", "2024-03-05T11:07:09+00:00", 6, "2024-01-31", "01:02:00", 1, 9999,
        True, 1709636829, 2024,
    ]  # fmt: skip


def test_time_module_reads_clocks() -> None:
    body = """
        import time
        t = time.time()
        return [t > 1e9, time.time_ns() > 0, time.monotonic() >= 0, time.perf_counter() >= 0,
                time.strftime("%Y", time.gmtime(0)), time.gmtime(86400).tm_mday]
    """
    assert result_of(body) == [True, True, True, True, "1970", 2]


def test_base64_module() -> None:
    body = """
        import base64
        raw = "привет".encode("utf-8")
        return [base64.b64encode(raw).decode(), base64.b64decode(base64.b64encode(raw)) == raw,
                base64.urlsafe_b64encode(b"\\xff\\xfe").decode(),
                base64.urlsafe_b64decode("__4=") == b"\\xff\\xfe",
                base64.standard_b64encode(b"a").decode(),
                base64.standard_b64decode("YQ==").decode(),
                base64.b32encode(b"a").decode(), base64.b32decode("ME======").decode(),
                base64.b16encode(b"a").decode(), base64.b16decode("61").decode()]
    """
    assert result_of(body) == [
        base64.b64encode("привет".encode()).decode(), True, "__4=", True, "YQ==", "a",
        "ME======", "a", "61", "a",
    ]  # fmt: skip


def test_hashlib_module() -> None:
    names = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_512",
             "blake2b", "blake2s"]  # fmt: skip
    calls = ", ".join(f"hashlib.{n}(b'x').hexdigest()" for n in names)
    body = f"import hashlib\nreturn [{calls}, hashlib.new('sha256', b'x').hexdigest()]"
    expected = [hashlib.new(n, b"x").hexdigest() for n in names]
    assert result_of(body) == [*expected, hashlib.sha256(b"x").hexdigest()]


def test_hmac_signature_check_as_zadarma_does() -> None:
    # Zadarma: base64(hex(hmac_sha1(secret, data))) in the Signature header.
    secret, data = "s3cr3t", "NOTIFY_START" + "+79161234567" + "101"
    digest = hmac.new(secret.encode(), data.encode(), hashlib.sha1).hexdigest()
    signature = base64.b64encode(digest.encode()).decode()
    body = """
        import hmac, hashlib, base64
        data = request.form()
        text = data["event"] + data["caller_id"] + data["called_did"]
        digest = hmac.new(settings["secret"].encode(), text.encode(), hashlib.sha1).hexdigest()
        expected = base64.b64encode(digest.encode()).decode()
        one_shot = hmac.digest(b"k", b"m", "sha256").hex()
        return [hmac.compare_digest(expected, request.headers["signature"]), len(one_shot)]
    """
    request = RequestData(
        body="event=NOTIFY_START&caller_id=%2B79161234567&called_did=101",
        headers=(("Signature", signature),),
    )
    assert result_of(body, request=request, settings={"secret": secret}) == [True, 64]


def test_urllib_parse_every_import_form() -> None:
    body = """
        import urllib.parse
        import urllib
        from urllib import parse
        from urllib.parse import urlencode, quote
        u = urllib.parse.urlparse("https://a.example/p?q=1#f")
        s = parse.urlsplit("https://a.example/x?y=2")
        return [u.netloc, u.path, s.query, urllib.parse.urlunparse(u),
                parse.urlunsplit(s), parse.urljoin("https://a.example/a/b", "c"),
                parse.parse_qs("a=1&a=2"), parse.parse_qsl("a=1&b="), urlencode({"a": "x y"}),
                quote("a b/c"), parse.quote_plus("a b"), parse.unquote("a%20b"),
                parse.unquote_plus("a+b"), urllib.parse is parse]
    """
    assert result_of(body) == [
        "a.example", "/p", "y=2", "https://a.example/p?q=1#f", "https://a.example/x?y=2",
        "https://a.example/a/c", {"a": ["1", "2"]}, [["a", "1"]], "a=x+y", "a%20b/c", "a+b",
        "a b", "a b", True,
    ]  # fmt: skip


def test_uuid_module() -> None:
    body = """
        import uuid
        u4 = uuid.uuid4()
        return [len(str(u4)), u4.version, str(uuid.uuid5(uuid.NAMESPACE_DNS, "a.example")),
                str(uuid.uuid3(uuid.NAMESPACE_URL, "x"))[:8], uuid.UUID(int=1).hex[-1],
                str(uuid.NAMESPACE_OID)[:8], str(uuid.NAMESPACE_X500)[:8]]
    """
    import uuid

    assert result_of(body) == [
        36, 4, str(uuid.uuid5(uuid.NAMESPACE_DNS, "a.example")),
        str(uuid.uuid3(uuid.NAMESPACE_URL, "x"))[:8], "1", str(uuid.NAMESPACE_OID)[:8],
        str(uuid.NAMESPACE_X500)[:8],
    ]  # fmt: skip


# -- request -------------------------------------------------------------------------------------


def test_fetch_request_fields_and_helpers() -> None:
    request = RequestData(
        method="POST",
        url="https://svc.example/hooks/t/events?a=1&b=x+y&c=&a=2",
        headers=(("Content-Type", "application/json"), ("X-Multi", "1"), ("x-multi", "2")),
        body='{"k": [1, 2]}',
    )
    body = """
        first = request.json()
        first["k"].append(3)
        second = request.json()
        h = request.headers
        return [request.method, request.url, request.body, second, first is not second,
                h["content-type"], h["CONTENT-TYPE"], h.get("x-multi"), "Content-Type" in h,
                "content-type" in h, h.get("missing", "-"), sorted(h.keys()), len(h),
                dict(request.query), request.query["b"], request.query.get("c"), request.form()]
    """
    assert result_of(body, request=request) == [
        "POST", "https://svc.example/hooks/t/events?a=1&b=x+y&c=&a=2", '{"k": [1, 2]}',
        {"k": [1, 2]}, True, "application/json", "application/json", "1, 2", True, True, "-",
        ["Content-Type", "X-Multi"], 2, {"a": "2", "b": "x y", "c": ""}, "x y", "",
        {'{"k": [1, 2]}': ""},
    ]  # fmt: skip


def test_request_form_and_json_errors() -> None:
    body = """
        out = [request.form()]
        try:
            request.json()
        except ValueError as error:
            out.append(str(error)[:28])
        return out
    """
    form = RequestData(body="a=1&b=hello+world&empty=&a=3&%zz=bad")
    assert result_of(body, request=form) == [
        {"a": "3", "b": "hello world", "empty": "", "%zz": "bad"},
        "the request body is not JSON",
    ]
    empty = RequestData(method="GET", body=None)
    assert result_of(body, request=empty) == [{}, "the request body is empty, n"]


def test_request_form_skips_a_byte_order_mark_as_json_does() -> None:
    # A sender that writes UTF-8 with a byte order mark (as json() already allows): the first
    # field is `event`, not "\ufeffevent", so form()["event"] finds it.
    request = RequestData(body="\ufeffevent=NOTIFY_START&caller_id=79161234567")
    assert result_of("return request.form()", request=request) == {
        "event": "NOTIFY_START", "caller_id": "79161234567"}


def test_json_nested_deeper_than_the_stack_is_a_value_error() -> None:
    # Any sender can post it (2 KB): json() raised RecursionError, past the script's documented
    # `except ValueError`, and the webhook failed as if the script had recursed.
    body = """
        try:
            request.json()
        except ValueError as error:
            return str(error)
    """
    deep = RequestData(body="[" * 1000 + "]" * 1000)
    assert result_of(body, request=deep) == "the request body is JSON nested too deeply to read"


# -- response builder ----------------------------------------------------------------------------


def test_http_response_chained_and_step_by_step() -> None:
    body = """
        chained = HttpResponse().status(400).content("Hello").header("X-Id", "7")
        r = HttpResponse()
        r.status(201)
        r.content({"a": [1]})
        same = r.header("Retry-After", "5")
        return {"chained": chained, "stepped": r, "same": same is r, "empty": HttpResponse(),
                "list": HttpResponse().content([1, "б"])}
    """
    assert result_of(body) == {
        "chained": {
            "status": 400,
            "headers": {"Content-Type": "text/plain; charset=utf-8", "X-Id": "7"},
            "body": "Hello",
        },
        "stepped": {
            "status": 201,
            "headers": {"Content-Type": "application/json", "Retry-After": "5"},
            "body": '{"a": [1]}',
        },
        "same": True,
        "empty": {"status": 200, "headers": {}, "body": ""},
        "list": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": '[1, "б"]',
        },
    }


def test_http_response_header_replaces_case_insensitively() -> None:
    body = """
        return HttpResponse().content("x").header("content-type", "text/csv")
    """
    assert result_of(body)["headers"] == {"content-type": "text/csv"}


def test_http_response_a_chosen_content_type_wins_over_content() -> None:
    # Contract §3 (2026-12-06): .content() only supplies a default; .header() is the script's.
    body = """
        return {
            "before": HttpResponse().header("Content-Type", "text/xml").content("<ok/>"),
            "before_json": HttpResponse().header("CONTENT-TYPE", "application/problem+json")
                .content({"title": "no"}),
            "after": HttpResponse().content({"a": 1}).header("Content-Type", "text/plain"),
            "defaults_change": HttpResponse().content("x").content([1]),
            "kept_twice": HttpResponse().header("content-type", "text/csv").content("a,b")
                .content({"a": 1}),
        }
    """
    result = result_of(body)
    assert result["before"] == {"status": 200, "headers": {"Content-Type": "text/xml"},
                                "body": "<ok/>"}
    assert result["before_json"]["headers"] == {"CONTENT-TYPE": "application/problem+json"}
    assert result["before_json"]["body"] == '{"title": "no"}'
    assert result["after"]["headers"] == {"Content-Type": "text/plain"}
    assert result["defaults_change"]["headers"] == {"Content-Type": "application/json"}
    assert result["kept_twice"] == {"status": 200, "headers": {"content-type": "text/csv"},
                                    "body": '{"a": 1}'}


# -- enums ---------------------------------------------------------------------------------------


def test_enums_behave_as_strings() -> None:
    body = """
        d = VoipCallDisposition.NoAnswer
        return [d == "no_answer", str(d), f"{d}", "%s" % d, "{}".format(d), d.name, d.value,
                d.upper(), [m.value for m in VoipCallDirection], VoipCallDisposition("busy").name,
                VoipCallDisposition["Busy"] == "busy", VoipWebhookEvent.NotifyStart,
                d in VoipCallDisposition, len(VoipWebhookEvent), {d: 1}]
    """
    assert result_of(body) == [
        True, "no_answer", "no_answer", "no_answer", "no_answer", "NoAnswer", "no_answer",
        "NO_ANSWER", ["in", "out", "internal"], "Busy", True, "notify_start", True, 6,
        {"no_answer": 1},
    ]  # fmt: skip


def test_a_providers_spelling_given_to_an_enum_says_the_member_meant() -> None:
    """`VoipCallDisposition("no answer")` (Zadarma's own string) said only "'no answer' is not
    a valid VoipCallDisposition", where the result validation names the member meant."""
    body = """
        said = []
        for kind, text in [(VoipCallDisposition, "no answer"), (VoipCallDisposition, "NoAnswer"),
                           (VoipCallDisposition, "no money, no limit"),
                           (VoipWebhookEvent, "NOTIFY_START"), (VoipCallDirection, "incoming")]:
            try:
                kind(text)
            except ValueError as error:
                said.append(str(error))
        return said
    """
    assert result_of(body) == [
        "'no answer' is not a valid VoipCallDisposition; did you mean "
        "VoipCallDisposition.NoAnswer ('no_answer')?",
        "'NoAnswer' is not a valid VoipCallDisposition; did you mean "
        "VoipCallDisposition.NoAnswer ('no_answer')?",
        "'no money, no limit' is not a valid VoipCallDisposition; did you mean "
        "VoipCallDisposition.NoMoneyNoLimit ('no_money_no_limit')?",
        "'NOTIFY_START' is not a valid VoipWebhookEvent; did you mean "
        "VoipWebhookEvent.NotifyStart ('notify_start')?",
        "'incoming' is not a valid VoipCallDirection; its values: 'in', 'out', 'internal'",
    ]


def test_enum_values_are_the_contract_strings() -> None:
    body = """
        enums = (VoipCallDirection, VoipCallDisposition, VoipWebhookEvent)
        return [[m.name, m.value] for e in enums for m in e]
    """
    assert dict(result_of(body)) == {
        "In": "in", "Out": "out", "Internal": "internal",
        "Answered": "answered", "Busy": "busy", "Cancel": "cancel", "NoAnswer": "no_answer",
        "Failed": "failed", "NoMoney": "no_money", "UnallocatedNumber": "unallocated_number",
        "NoLimit": "no_limit", "NoDayLimit": "no_day_limit", "LineLimit": "line_limit",
        "NoMoneyNoLimit": "no_money_no_limit", "Unknown": "unknown",
        "NotifyStart": "notify_start", "NotifyInternal": "notify_internal",
        "NotifyAnswer": "notify_answer", "NotifyEnd": "notify_end",
        "NotifyOutStart": "notify_out_start", "NotifyOutEnd": "notify_out_end",
    }  # fmt: skip


# -- settings ------------------------------------------------------------------------------------


def test_settings_read_only_mapping() -> None:
    body = """
        return [settings["apiKey"], settings.get("x"), settings.get("x", 5), "apiKey" in settings,
                sorted(settings.keys()), sorted(settings.items()), len(settings), dict(settings),
                sorted(settings.values(), key=str), [k for k in settings]]
    """
    values = {"apiKey": "k1", "flag": True}
    assert result_of(body, settings=values) == [
        "k1", None, 5, True, ["apiKey", "flag"], [["apiKey", "k1"], ["flag", True]], 2, values,
        [True, "k1"], ["apiKey", "flag"],
    ]  # fmt: skip


def test_settings_query_and_headers_copy_and_merge_like_dicts() -> None:
    # `settings.copy()` said "settings has no attribute 'copy': read a value as
    # settings['copy']", and `settings | defaults` was a TypeError: both are what a dict does,
    # and give a new plain dict the script may change.
    body = """
        mine = settings.copy()
        mine["apiKey"] = "changed"
        merged = {"base": "https://x", "apiKey": "default"} | settings
        over = settings | {"flag": False}
        return [mine, merged, over, request.query.copy(), request.headers.copy(), dict(settings)]
    """
    request = RequestData(url="https://svc/hooks/t?a=1", headers=(("X-Sig", "s"),))
    assert result_of(body, settings={"apiKey": "k1", "flag": True}, request=request) == [
        {"apiKey": "changed", "flag": True},
        {"base": "https://x", "apiKey": "k1", "flag": True},
        {"apiKey": "k1", "flag": False},
        {"a": "1"}, {"X-Sig": "s"}, {"apiKey": "k1", "flag": True},
    ]


def test_changing_settings_in_place_says_how_to_get_a_copy() -> None:
    error = run(script("settings.update(a=1)\nreturn None"))["error"]
    assert (error["type"], error["message"]) == (
        "AttributeError", "line 2: settings is read-only, so it has no update(): "
        "settings.copy() or dict(settings) gives a dict to change")


# -- output --------------------------------------------------------------------------------------


def test_print_and_log_are_captured_with_top_level_output() -> None:
    source = script(
        """
        print("in function", 1, sep="-")
        log("logged", {"a": 1})
        print("no newline", end="")
        return None
        """,
        top='print("top level")',
    )
    outcome = run(source)
    assert outcome["ok"], outcome
    assert outcome["logs"] == "top level\nin function-1\nlogged {'a': 1}\nno newline"
    assert outcome["logs_truncated"] is False


def test_log_takes_the_arguments_print_takes() -> None:
    # Contract §3: `log` takes arguments like `print`; `flush=True`, a habit from print(),
    # was a TypeError ("log() got an unexpected keyword argument 'flush'").
    source = script('log("a", "b", sep="-", end="!\\n", flush=True)\nlog("c", file=None)\n'
                    'return None')
    outcome = run(source)
    assert outcome["ok"], outcome["error"]
    assert outcome["logs"] == "a-b!\nc\n"
    refused = run(script("log('x', file=settings)\nreturn None"))["error"]
    assert (refused["type"], refused["message"]) == (
        "TypeError", "line 2: log(file=...) is not available in the sandbox")


def test_output_beyond_limit_is_dropped_and_script_goes_on() -> None:
    body = """
        for i in range(1000):
            print("line", i)
        return "finished"
    """
    outcome = run(script(body), limits=Limits(output_bytes=100))
    assert outcome["ok"], outcome
    assert outcome["result"] == "finished"
    assert outcome["logs_truncated"] is True
    assert len(outcome["logs"].encode()) == 100
    assert outcome["logs"].startswith("line 0\nline 1\n")


# -- storage and fetch ---------------------------------------------------------------------------


def test_storage_through_the_host_bridge() -> None:
    host = DictHost()
    body = """
        storage.set("count", {"n": 1})
        got = storage.get("count")
        got["n"] = 99
        again = storage.get("count")
        storage.set("tmp", [1], ttl=60)
        storage.delete("tmp")
        storage.delete("never-there")
        try:
            storage.set("full", 1)
        except StorageError as error:
            refused = str(error)
        return [again, storage.get("tmp"), storage.get("nope", "dflt"), refused]
    """
    assert result_of(body, host=host) == [{"n": 1}, None, "dflt", "storage is full (100000 keys)"]
    assert host.data == {"count": {"n": 1}}
    assert {"op": "storage.set", "key": "tmp", "value": [1], "ttl": 60} in host.requests


def test_storage_validates_before_asking_host() -> None:
    host = DictHost()
    body = """
        out = []
        for key, value in [("k" * 201, 1), ("", 1), ("ok", {1, 2}), ("big", "x" * 70000)]:
            try:
                storage.set(key, value)
            except TypeError:
                out.append("TypeError")
            except StorageError:  # a limit (contract §3)
                out.append("StorageError")
        try:
            storage.get(5)
        except TypeError:
            out.append("TypeError")
        return out
    """
    assert result_of(body, host=host) == [
        "StorageError", "StorageError", "TypeError", "StorageError", "TypeError",
    ]  # fmt: skip
    assert host.requests == []


def test_fetch_through_the_host_bridge() -> None:
    host = DictHost(
        {
            "https://api.example/x": {
                "status": 200,
                "headers": [["Content-Type", "application/json"]],
                "body": '{"a": 1}',
            }
        }
    )
    body = """
        r = fetch("https://api.example/x", method="post", headers={"X-Key": "k"},
                  body={"q": 1}, timeout=3)
        try:
            fetch("https://other.example/")
        except FetchError as error:
            refused = str(error)
        return [r.status, r.ok, r.headers["content-type"], r.url, r.text(), r.json(), refused]
    """
    assert result_of(body, host=host) == [
        200, True, "application/json", "https://api.example/x", '{"a": 1}', {"a": 1},
        "host not on the allowlist",
    ]  # fmt: skip
    assert host.requests[0] == {
        "op": "fetch",
        "url": "https://api.example/x",
        "method": "POST",
        "headers": {"X-Key": "k"},
        "body": None,
        "json": {"q": 1},
        "timeout": 3.0,
        "follow_redirects": True,
    }


def test_fetch_validates_url_locally() -> None:
    host = DictHost()
    body = """
        out = []
        for url in ["file:///etc/passwd", "ftp://x", 5]:
            try:
                fetch(url)
            except TypeError:
                out.append("TypeError")
            except ValueError:
                out.append("ValueError")
        return out
    """
    assert result_of(body, host=host) == ["ValueError", "ValueError", "TypeError"]
    assert host.requests == []


# -- the language --------------------------------------------------------------------------------


def test_classes_with_init_methods_and_instance_mutation() -> None:
    body = """
        class Counter:
            kind = "counter"
            def __init__(self, start=0):
                self.total = start
                self.items = []
            def add(self, x):
                self.total += x
                self.items.append(x)
                return self
        class Special(Counter):
            def __init__(self):
                super().__init__(10)
                Counter.__init__(self, 20)
                self.extra = True
        c = Counter().add(2).add(3)
        c.label = "c"
        del c.label
        Counter.kind = "changed"
        s = Special()
        s.total += 1
        return [c.total, c.items, Counter.kind, s.total, s.extra, isinstance(s, Counter)]
    """
    assert result_of(body) == [5, [2, 3], "changed", 21, True, True]


def test_generators_closures_lambdas_comprehensions() -> None:
    body = """
        def gen(n):
            for i in range(n):
                yield i * i
            yield from [100]
        def make_adder(k):
            def add(x):
                return x + k
            return add
        add5 = make_adder(5)
        square = lambda x, p=2: x ** p
        g = (x for x in range(3))
        return [list(gen(3)), add5(1), square(4), sum(g), [x for x in range(4) if x % 2],
                {k: v for k, v in zip("ab", [1, 2])}, sorted({x % 3 for x in range(10)}),
                [(a, b) for a in range(2) for b in range(2)]]
    """
    assert result_of(body) == [
        [0, 1, 4, 100], 6, 16, 3, [1, 3], {"a": 1, "b": 2}, [0, 1, 2],
        [[0, 0], [0, 1], [1, 0], [1, 1]],
    ]  # fmt: skip


def test_functions_with_defaults_args_kwargs() -> None:
    body = """
        def f(a, b=2, *args, c=3, **kwargs):
            return [a, b, list(args), c, kwargs]
        params = {"c": 9, "d": 10}
        rest = [7, 8]
        return [f(1), f(1, 5, 6, c=4, z=1), f(*rest), f(0, **params)]
    """
    assert result_of(body) == [
        [1, 2, [], 3, {}], [1, 5, [6], 4, {"z": 1}], [7, 8, [], 3, {}], [0, 2, [], 9, {"d": 10}],
    ]  # fmt: skip


def test_control_flow_try_assert_global_del_walrus_unpacking() -> None:
    source = script(
        """
        global COUNT
        COUNT += 1
        out = []
        try:
            assert COUNT == 2, "count"
            1 / 0
        except ZeroDivisionError:
            out.append("zero")
        else:
            out.append("else")
        finally:
            out.append("finally")
        try:
            {}["x"]
        except:
            out.append("bare")
        a, (b, c), *rest = [1, (2, 3), 4, 5]
        first, *middle, last = range(5)
        for k, (x, y) in [("p", (1, 2))]:
            out.append(k + str(x + y))
        if (n := len(rest)) > 1:
            out.append(n)
        d = {"a": 1, "b": 2}
        del d["a"]
        lst = [0, 1, 2, 3]
        del lst[1:3]
        return [out, a, b, c, rest, first, middle, last, d, lst, lst[::-1], "abc"[1:]]
        """,
        top="COUNT = 1",
    )
    outcome = run(source)
    assert outcome["ok"], outcome
    assert outcome["result"] == [
        ["zero", "finally", "bare", "p3", 2], 1, 2, 3, [4, 5], 0, [1, 2, 3], 4, {"b": 2}, [0, 3],
        [3, 0], "bc",
    ]  # fmt: skip


def test_string_formatting() -> None:
    body = """
        d = {"key": "v"}
        price = 3.14159
        return ["{0} {name} {d[key]}".format(1, name="n", d=d), "{:>5}|{:.2f}".format("a", price),
                "{0:{1}}".format(7, "03"), "{x}".format_map({"x": 1}), str.format("{}", 2),
                f"{price:.1f} {d['key']!r} {price:{'>8'}}", "%s=%d %.1f" % ("a", 5, price),
                "%(a)s" % {"a": "mapped"}, format(255, "x"), "{0[1]}".format([5, 6])]
    """
    assert result_of(body) == [
        "1 n v", "    a|3.14", "007", "1", "2", "3.1 'v'  3.14159", "a=5 3.1", "mapped", "ff", "6",
    ]  # fmt: skip


def test_augmented_assignment_on_names_items_attributes() -> None:
    body = """
        counts = {}
        for word in "a b a c a".split():
            counts[word] = counts.get(word, 0)
            counts[word] += 1
        matrix = [[0, 0], [0, 0]]
        matrix[1][0] += 5
        n = 2
        n **= 3
        n -= 1
        n //= 2
        text = "a"
        text *= 3
        class Box:
            pass
        box = Box()
        box.total = 10
        box.total -= 4
        box.total *= 2
        keys = ["a"]
        counts[keys[0]] <<= 1
        return [counts, matrix, n, text, box.total]
    """
    assert result_of(body) == [{"a": 6, "b": 1, "c": 1}, [[0, 0], [5, 0]], 3, "aaa", 12]


def test_function_missing_and_compile_only() -> None:
    source = script("return 1")
    missing = run(source, "VoipTestConnection")
    assert missing["ok"] is False
    assert missing["error"] == {
        "type": "FunctionMissing",
        "message": "the script does not define VoipTestConnection()",
        "line": None,
    }
    checked = run(source, None)
    assert checked == {**checked, "ok": True, "result": None, "error": None, "limit": None}


def test_other_contract_functions_receive_plain_json_args() -> None:
    source = script("return None") + (
        "\n\ndef VoipGetCallLink(call):\n"
        "    call['id'] += '!'\n"
        "    return settings['base'] + '/' + call['id']\n"
        "\n\ndef VoipGenerateCall(src, dst):\n"
        "    log(src, dst)\n"
        "    return object_that_is_ignored()\n"
        "\n\ndef object_that_is_ignored():\n"
        "    return lambda: 1\n"
    )
    args = ({"id": "r1"},)
    link = run(source, "VoipGetCallLink", args=args, settings={"base": "https://r.example"})
    assert link["result"] == "https://r.example/r1!"
    assert args == ({"id": "r1"},)
    generated = run(source, "VoipGenerateCall", args=("101", "+7916"))
    assert generated["ok"] and generated["result"] is None
    assert generated["logs"] == "101 +7916\n"


def test_outcome_shape() -> None:
    outcome = run(script("return {'a': 1}"))
    assert set(outcome) == {
        "ok", "result", "error", "limit", "logs", "logs_truncated", "duration_ms", "cpu_ms",
        "retire",
    }  # fmt: skip
    assert outcome["retire"] is False
    assert isinstance(outcome["duration_ms"], float)
    assert isinstance(outcome["cpu_ms"], float)
    json.dumps(outcome)


def test_seed_script_parses_its_examples() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "scripts" / "seed-json" / "script.py"
    source = root.read_text()
    request = RequestData(
        body='{"type": "end", "callId": "c-1", "srcPhone": "+79161234567", "dstPhone": "101",'
        ' "disposition": "answered"}'
    )
    outcome = run(source, request=request)
    assert outcome["ok"], outcome
    assert outcome["result"]["event"]["event"] == "notify_end"
    bad = run(source, request=RequestData(body='{"type": "nope"}'))
    assert bad["result"]["response"]["status"] == 400
    assert bad["logs"].startswith("refused:")


def test_typed_script_runs() -> None:
    source = """from __future__ import annotations
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voip_runtime_script import *

class Counter:
    total: int
    label: str = "calls"

    def __init__(self, start: int = 0) -> None:
        self.total: int = start

def helper(a: int, *rest: str, scale: "float" = 1.0, **extra: dict[str, int]) -> list[int]:
    seen: int
    doubled: int = a * 2
    return [doubled, len(rest)]

def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    data: dict = request.json()
    counter: Counter = Counter(data["n"])
    counter.total += 1
    return {"response": HttpResponse().content(
        {"h": helper(1, "x"), "label": Counter.label, "total": counter.total})}
"""
    outcome = run(source, request=RequestData(body='{"n": 4}'))
    assert outcome["ok"], outcome
    assert json.loads(outcome["result"]["response"]["body"]) == {
        "h": [2, 1], "label": "calls", "total": 5,
    }  # fmt: skip


def test_annotations_never_run() -> None:
    # Annotations are removed after the policy checked them: none of these calls happen.
    host = DictHost()
    body = """
    def f(a: log("param")) -> log("return"):
        return a
    x: fetch("https://example.com/ann") = f(1)
    y: storage.set("k", 1)
    return {"x": x}
    """
    outcome = run(script(body), host=host)
    assert outcome["ok"], outcome
    assert outcome["result"] == {"x": 1}
    assert outcome["logs"] == ""
    assert host.requests == []


def test_result_types_build_plain_dicts_as_the_platform_writes_them() -> None:
    result = result_of(
        """
        record = VoipCallRecord(
            srcPhone="+79161234567", dstPhone="101", direction=VoipCallDirection.In,
            disposition=VoipCallDisposition.Answered, duration=42, call={"id": "r-1"},
        )
        assert isinstance(record, dict)
        record["callId"] = "c-1"
        return VoipWebhookParseResult(callRecord=record, response=HttpResponse().status(202))
        """
    )
    assert result["callRecord"] == {
        "srcPhone": "+79161234567", "dstPhone": "101", "direction": "in",
        "disposition": "answered", "duration": 42, "call": {"id": "r-1"}, "callId": "c-1",
    }  # fmt: skip
    assert result["response"]["status"] == 202
    members = run(
        script("return {}", top="def VoipGetMembers():\n    return [VoipMember(id='101')]"),
        "VoipGetMembers",
    )
    assert members["ok"] and members["result"] == [{"id": "101"}]
    test = run(
        script(
            "return {}",
            top="def VoipTestConnection():\n"
            "    return VoipTestConnectionResult(success=False, failReason='no key')",
        ),
        "VoipTestConnection",
    )
    assert test["ok"] and test["result"] == {"success": False, "failReason": "no key"}


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("VoipCallRecord(srcphone='1')", "VoipCallRecord() got an unknown key 'srcphone'; "
         "did you mean 'srcPhone'?"),
        ("VoipMember('101')", "VoipMember() takes keyword arguments only, such as VoipMember(id="),
        ("VoipWebhookRequest(event=VoipWebhookEvent.NotifyStart, call={})",
         "VoipWebhookRequest() got an unknown key 'call'"),
    ],
)
def test_result_types_refuse_unknown_keys_and_positional_arguments(
    expression: str, fragment: str
) -> None:
    outcome = run(script(f"return {expression}"))
    assert outcome["error"]["type"] == "TypeError"
    assert fragment in outcome["error"]["message"]
    assert outcome["error"]["line"] == 2


# -- the rest of contract §3's language ------------------------------------------------------


def test_getattr_and_hasattr_like_attribute_access() -> None:
    result = result_of(
        """
        class A:
            x = 1
        a = A()
        return [getattr(a, "x"), getattr(a, "y", 2), hasattr(a, "x"), hasattr(a, "y"),
                getattr(request, "method"), hasattr(settings, "get"), getattr("{0}", "format")(3)]
        """
    )
    assert result == [1, 2, True, False, "POST", True, "3"]
    missing = run(script("return getattr(request, 'nope')"))
    assert missing["error"]["type"] == "AttributeError"
    assert missing["error"]["line"] == 2


def test_classes_with_object_property_staticmethod_classmethod_super_decorators() -> None:
    result = result_of(
        """
        def traced(func):
            def wrapper(*args, **kwargs):
                calls.append("call")
                return func(*args, **kwargs)
            return wrapper
        calls = []

        class Base(object):
            def __init__(self, n):
                self.n = n
            def describe(self):
                return "base " + str(self.n)

        class Child(Base):
            unit = "s"
            def __init__(self, n):
                super().__init__(n * 2)
            @property
            def seconds(self):
                return self.n
            @seconds.setter
            def seconds(self, value):
                self.n = value
            @staticmethod
            def parse(text):
                return int(text)
            @classmethod
            def make(cls, text):
                return cls(cls.parse(text))
            @traced
            def describe(self):
                return "child, " + super().describe() + " / " + super(Child, self).describe()

        class CallFailed(RuntimeError):
            def __init__(self, message, code):
                super().__init__(message)
                self.code = code

        c = Child.make("21")
        before = c.seconds
        c.seconds = 5
        try:
            raise CallFailed("busy", 486)
        except CallFailed as error:
            failure = [str(error), error.code]
        return [before, c.seconds, c.describe(), calls, isinstance(c, object), failure,
                isinstance(object(), object)]
        """
    )
    assert result == [42, 5, "child, base 5 / base 5", ["call"], True, ["busy", 486], True]


def test_nonlocal_counter() -> None:
    result = result_of(
        """
        def counter():
            count = 0
            def bump(step=1):
                nonlocal count
                count += step
                return count
            return bump
        bump = counter()
        bump()
        return bump(2)
        """
    )
    assert result == 3


def test_match_every_allowed_pattern() -> None:
    result = result_of(
        """
        def kind(value):
            match value:
                case VoipWebhookEvent.NotifyStart:
                    return "value"
                case "notify_end" | "notify_out_end" as final:
                    return "or-as " + final
                case None | True:
                    return "singleton"
                case 0 | 1.5 | -2:
                    return "literal"
                case {"type": "record", "ids": [first, *others], **rest}:
                    return ["mapping", first, others, rest]
                case [x, y, *_]:
                    return ["sequence", x, y]
                case other:
                    return ["capture", other]
        return [kind(VoipWebhookEvent.NotifyStart), kind("notify_out_end"), kind(None),
                kind(-2), kind({"type": "record", "ids": [1, 2, 3], "x": 4}), kind((7, 8, 9)),
                kind("text")]
        """
    )
    assert result == [
        "value", "or-as notify_out_end", "singleton", "literal",
        ["mapping", 1, [2, 3], {"x": 4}], ["sequence", 7, 8], ["capture", "text"],
    ]  # fmt: skip


def test_match_mapping_patterns_on_headers_query_and_settings() -> None:
    body = """
    found = []
    match request.headers:
        case {"x-event": name}:
            found.append(name)
    match request.query:
        case {"zd_echo": echo}:
            found.append(echo)
    match settings:
        case {"apiKey": key, "region": "RU"}:
            found.append(key)
    match request.json():
        case {"event": "NOTIFY_START", "caller": caller}:
            found.append(caller)
    return found
    """
    request = RequestData(
        method="POST",
        url="https://example.com/hooks/t?zd_echo=abc",
        headers=(("X-Event", "start"),),
        body='{"event": "NOTIFY_START", "caller": "+7916"}',
    )
    result = result_of(body, request=request, settings={"apiKey": "k", "region": "RU"})
    assert result == ["start", "abc", "k", "+7916"]


def test_match_rest_of_settings_is_a_plain_copy() -> None:
    body = """
    match settings:
        case {"apiKey": key, **others}:
            others["region"] = "changed"
    return [key, others, settings["region"]]
    """
    result = result_of(body, settings={"apiKey": "k", "region": "RU"})
    assert result == ["k", {"region": "changed"}, "RU"]


def test_match_rest_of_headers_ignores_case_like_their_lookup() -> None:
    body = """
    found = []
    match request.headers:
        case {"x-kind": kind, **others}:
            found.append([kind, others])
    match request.headers:
        case {"X-KIND": "k", **others} if len(others) == 1:
            found.append(others)
    match [{"a": 1, "b": {"c": 3, "d": 4}}]:
        case [{"a": a, "b": {"c": c, **inner}, **outer}]:
            found.append([a, c, inner, outer])
    match {"a": 1, "b": 2}:
        case {"a": 1, **r} | {"zz": 1, **r}:
            found.append(r)
    return found
    """
    request = RequestData(headers=(("X-Kind", "k"), ("Accept", "*/*")))
    assert result_of(body, request=request) == [
        ["k", {"Accept": "*/*"}], {"Accept": "*/*"}, [1, 3, {"d": 4}, {}], {"b": 2},
    ]  # fmt: skip
