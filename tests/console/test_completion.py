"""The editor's completion data: generated from what the sandbox injects and allows, so a name a
script can use and the editor does not offer (or the reverse) fails here."""

from __future__ import annotations

import json
from collections.abc import Sequence

from runtime.console.completion import (
    Entry,
    completion_data,
    completion_json,
    completion_url,
)
from sandbox import builtins_table, injected, modules
from sandbox.stubs import INJECTED_MEMBERS
from tests.console.conftest import Browser
from tests.e2e.conftest import Service
from tests.e2e.helpers import seed_setup
from tests.sandbox.lang_support import DictHost


def labels(entries: Sequence[Entry]) -> set[str]:
    return {entry.label for entry in entries}


def test_every_injected_name_has_an_entry_with_a_doc() -> None:
    names = set(injected.make_injected(host=DictHost(), settings={},
                                       output=injected.OutputLog(10)))
    data = completion_data()
    assert labels(data.globals) == names
    undocumented = [e.label for e in data.globals if not e.info]
    assert undocumented == []


def test_injected_objects_list_their_members_with_signatures() -> None:
    data = completion_data()
    for name, (_runtime, members) in INJECTED_MEMBERS.items():
        assert labels(data.types[name]) == set(members), name
    status = next(e for e in data.types["HttpResponse"] if e.label == "status")
    assert status.detail == "(code: int) -> HttpResponse"
    assert status.returns == "HttpResponse"  # so `HttpResponse().status(400).` completes
    form = next(e for e in data.types["FetchRequest"] if e.label == "form")
    assert form.info == "The urlencoded body as a new dict; never raises."
    assert data.values == {"settings": "ReadOnlyMapping", "storage": "Storage"}
    # settings, headers and query complete as what they are: a mapping with a dict's copy()
    assert labels(data.types["ReadOnlyMapping"]) == {"copy", "get", "items", "keys", "values"}
    assert data.parameters == {"VoipParseWebhookRequest": ["FetchRequest"]}
    fetch = next(e for e in data.globals if e.label == "fetch")
    assert fetch.returns == "FetchResponse"
    assert fetch.detail.startswith("(url: str, method: str='GET'")


def test_enums_and_result_types() -> None:
    data = completion_data()
    for kind in injected.CONTRACT_ENUMS:
        assert [e.label for e in data.types[kind.__name__]] == [m.name for m in kind]
    start = next(e for e in data.types["VoipWebhookEvent"] if e.label == "NotifyStart")
    assert start.detail == " = 'notify_start'"
    keys = {e.label: e for e in data.keys["VoipCallRecord"]}
    assert keys["srcPhone"].apply == "srcPhone="
    assert keys["srcPhone"].detail == ": str (required)"
    assert keys["callId"].detail == ": str | None"


def test_modules_are_exactly_the_allowed_views() -> None:
    data = completion_data()
    assert set(data.modules) == set(modules.VIEWS)
    for name, view in modules.VIEWS.items():
        assert labels(data.modules[name]) == set(dir(view)), name
    hmac_new = next(e for e in data.modules["hmac"] if e.label == "new")
    # The view wraps hmac.new; the signature and doc are the real function's.
    assert hmac_new.detail == "(key, msg=None, digestmod='')"
    assert hmac_new.info == "Create a new hashing object and return it."
    assert next(e for e in data.modules["urllib"] if e.label == "parse").returns == \
        "urllib.parse"
    assert "strptime" in labels(data.types["datetime.datetime"])


def test_builtins_are_the_contracts_and_refused_keywords_are_left_out() -> None:
    data = completion_data()
    offered = labels(data.builtins)
    allowed = {n for n, v in builtins_table.CONTRACT_BUILTINS.items()
               if v is not None and not isinstance(v, bool)}
    assert offered == allowed | {"pow", "getattr", "hasattr", "print"}
    assert not offered & {"open", "eval", "exec", "compile", "__import__", "globals"}
    words = labels(data.keywords)
    assert {"def", "return", "None", "lambda"} <= words
    assert not words & {"async", "await"}


async def test_the_route_serves_it_to_builders_only(console: tuple[Service, str],
                                                    browser: Browser) -> None:
    service, _ = console
    anonymous = await browser.get("/console/completion.json",
                                  headers={"Accept": "application/json"})
    assert anonymous.status == 401
    seed = await seed_setup(service)
    await browser.sign_in(seed.api.secret or "")
    editor = await browser.page(f"/console/modules/{seed.module['id']}/editor")
    url = completion_url()
    assert f'data-completion-url="{url}"' in editor
    response = await browser.get(url)
    assert response.status == 200
    assert "immutable" in response.headers["Cache-Control"]
    body = await response.json()
    assert body == json.loads(completion_json()[0])
    assert "fetch" in {e["label"] for e in body["globals"]}
    stale = await browser.get("/console/completion.json?v=old")
    assert stale.headers["Cache-Control"] == "no-store"
