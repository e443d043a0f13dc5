"""Scripts the console tests type into the editor."""

FORM_SCRIPT = '''"""Form webhooks: type=start|answer|end, callId, from, to."""

EVENTS = {"start": VoipWebhookEvent.NotifyStart, "answer": VoipWebhookEvent.NotifyAnswer,
          "end": VoipWebhookEvent.NotifyEnd}


def VoipParseWebhookRequest(request):
    form = request.form()
    log("got", form.get("type"), "from", form.get("from"))
    kind = form.get("type")
    if kind not in EVENTS:
        return {"response": HttpResponse().status(400).content("unknown type")}
    disposition = VoipCallDisposition.Unknown if kind == "start" else VoipCallDisposition.Answered
    return {"event": {"event": EVENTS[kind], "direction": VoipCallDirection.In,
                      "disposition": disposition, "srcPhone": form["from"],
                      "dstPhone": form["to"], "callId": form.get("callId")}}
'''

# Lines 9 and 10 break the language wall: both problems must be shown at once, at these lines.
BROKEN_SCRIPT = FORM_SCRIPT.replace(
    '    form = request.form()\n',
    '    form = request.form()\n    secret = eval("1")\n    _hidden = 2\n',
)
BROKEN_LINES = (9, 10)

# The changed draft: every call goes to extension 102.
CHANGED_SCRIPT = FORM_SCRIPT.replace('"dstPhone": form["to"]', '"dstPhone": "102"')

FORM_BODY = "type=start&callId=f-1&from=%2B79161234567&to=101"

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

# Prints and raises tenant-controlled markup; answers "start" with a ringing event.
XSS_SCRIPT = '''XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def VoipParseWebhookRequest(request):
    data = request.json()
    print("log line", XSS)
    if data["type"] == "boom":
        raise ValueError("bad input " + XSS)
    return {"event": {"event": VoipWebhookEvent.NotifyStart, "direction": VoipCallDirection.In,
                      "disposition": VoipCallDisposition.Unknown, "srcPhone": data["srcPhone"],
                      "dstPhone": data["dstPhone"], "callId": data["callId"]}}
'''
