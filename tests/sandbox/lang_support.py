"""Shared helpers for the language-wall tests: run scripts in-process through `execute()`.

`DictHost` is a tiny HostBridge answering storage from a dict and fetch from canned replies;
nothing of our own logic is replaced.
"""

from __future__ import annotations

import textwrap
from typing import Any

from sandbox.call import Call, RequestData
from sandbox.executor import execute
from sandbox.limits import Limits

PARSE = "VoipParseWebhookRequest"


class DictHost:
    """Storage in a dict; fetch answered from `pages` (url -> reply), recording every request."""

    def __init__(self, pages: dict[str, dict[str, Any]] | None = None) -> None:
        self.data: dict[str, Any] = {}
        self.pages = pages or {}
        self.requests: list[dict[str, Any]] = []

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(payload)
        op = payload["op"]
        if op == "storage.get":
            key = payload["key"]
            return {"ok": True, "found": key in self.data, "value": self.data.get(key)}
        if op == "storage.set":
            if payload["key"] == "full":
                return {"ok": False, "error": "storage is full (100000 keys)"}
            self.data[payload["key"]] = payload["value"]
            return {"ok": True}
        if op == "storage.delete":
            self.data.pop(payload["key"], None)
            return {"ok": True}
        if op == "fetch":
            page = self.pages.get(payload["url"])
            if page is None:
                return {"ok": False, "error": "host not on the allowlist"}
            return {"ok": True, "url": payload["url"], **page}
        return {"ok": False, "error": f"unknown op {op}"}


def script(body: str, *, top: str = "") -> str:
    """A script whose VoipParseWebhookRequest runs `body` (dedented)."""
    inner = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    head = textwrap.dedent(top).strip("\n")
    return (head + "\n\n" if head else "") + f"def {PARSE}(request):\n{inner}\n"


def run(
    source: str,
    function: str | None = PARSE,
    *,
    args: tuple[Any, ...] = (),
    request: RequestData | None = None,
    settings: dict[str, Any] | None = None,
    limits: Limits | None = None,
    host: DictHost | None = None,
) -> dict[str, Any]:
    if function == PARSE and request is None:
        request = RequestData()
    call = Call(
        source=source,
        function=function,
        args=args,
        request=request,
        settings=settings or {},
    )
    return execute(call, limits or Limits(), host or DictHost())


def result_of(body: str, **kwargs: Any) -> Any:
    """Run `body` as the parse function; assert it succeeded; return its result."""
    outcome = run(script(body), **kwargs)
    assert outcome["ok"], outcome["error"]
    return outcome["result"]


def problems_of(source: str) -> list[tuple[int | None, str]]:
    outcome = run(source, None)
    assert not outcome["ok"]
    assert outcome["error"]["type"] == "CompileError", outcome["error"]
    return [(p["line"], p["message"]) for p in outcome["error"]["problems"]]


BENIGN_SOURCE = script(
    """
    data = request.json() if request.body else {}
    total = 0
    for i in range(5):
        total += i
    return {"total": total, "n": len(data), "dir": VoipCallDirection.In}
    """
)


def assert_benign_call_works() -> None:
    """The fixed benign call every attack is followed by."""
    outcome = run(BENIGN_SOURCE, request=RequestData(body='{"a": 1}'))
    assert outcome["ok"], outcome
    assert outcome["result"] == {"total": 10, "n": 1, "dir": "in"}
