"""Names people read, on both backends: a tenant's or a module's
name holds no control characters (a 422 naming the character and where it is, nothing
stored), while names in any script, with apostrophes, emoji and joiners, are kept as sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Service, service_on_backend

# (name, the character refused, where)
CONTROLLED = [("a\tb", "U+0009", 2), ("line\nbreak", "U+000A", 5),
              ("\x1b[31mred", "U+001B", 1), ("del\x7f", "U+007F", 4), ("c1\x85x", "U+0085", 3),
              ("x\u2028y", "U+2028", 2), ("acme\u202egpj.exe", "U+202E", 5),
              ("isolate\u2066", "U+2066", 8)]
BENIGN = ["Рога и копыта", "O'Brien & Co. (UK)", "👨\u200d👩\u200d👧 family", "می\u200cخواهم",
          "东京 第2", "Müller GmbH"]


@pytest.fixture(params=["sqlite", "postgres"])
async def on_both(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    async with service_on_backend(request.param, tmp_path) as service:
        yield service


async def test_names_holding_control_characters_are_refused_and_nothing_is_stored(
    on_both: Service,
) -> None:
    op = on_both.operator
    _, api = await on_both.new_tenant("builders")
    module = await api.ok("POST", "/api/v1/modules", {"name": "pbx"}, status=201)
    for name, character, at in CONTROLLED:
        message = (f"name: a name must not hold control characters (it holds {character} at "
                   f"character {at})")
        for caller, method, path in ((op, "POST", "/api/v1/tenants"),
                                     (api, "POST", "/api/v1/modules"),
                                     (api, "PATCH", f"/api/v1/modules/{module['id']}")):
            refused = await caller.ok(method, path, {"name": name}, status=422)
            assert refused["error"] == "invalid", (path, refused)
            assert refused["message"] == message, (path, refused)
    assert [t["name"] for t in (await op.ok("GET", "/api/v1/tenants"))["tenants"]] \
        == ["builders"]
    assert [m["name"] for m in (await api.ok("GET", "/api/v1/modules"))["modules"]] == ["pbx"]

    for name in BENIGN:
        tenant = await op.ok("POST", "/api/v1/tenants", {"name": name}, status=201)
        assert tenant["name"] == name
        created = await api.ok("POST", "/api/v1/modules", {"name": name}, status=201)
        assert created["name"] == name
        renamed = await api.ok("PATCH", f"/api/v1/modules/{created['id']}",
                               {"name": name + " 2"})
        assert renamed["name"] == name + " 2"
