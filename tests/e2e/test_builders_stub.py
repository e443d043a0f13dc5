"""The typed stub the contract publishes (`voip-runtime stubs`) against the builder-written
modules of builder_modules/: every one, written in its own style (TypedDict constructors,
typed decorators and closures, match, generators, a handler class), passes `mypy --strict`,
and the service accepts each one's source as it is."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.builders_support import MODULES
from tests.e2e.conftest import Service
from tests.sandbox.test_stubs import mypy_strict, stubs_dir

__all__ = ["stubs_dir"]  # the fixture, imported for pytest
NAMES = sorted(p.name for p in MODULES.iterdir() if (p / "script.py").is_file())


def test_every_builder_module_passes_mypy_strict_with_the_stub(stubs_dir: Path,
                                                               tmp_path: Path) -> None:
    assert NAMES == ["acme", "kukushka", "mango", "megafon", "oblako", "sipuni",
                     "sipuni_ts", "telfin", "twilio", "vesna", "zadarma", "zvonok"]
    copies = []
    for name in NAMES:
        copy = tmp_path / f"builder_{name}.py"
        shutil.copy(MODULES / name / "script.py", copy)
        copies.append(copy)
    result = mypy_strict(stubs_dir, copies)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_every_builder_module_is_accepted_by_the_service(service: Service) -> None:
    _, api = await service.new_tenant()
    for name in NAMES:
        module = await api.ok("POST", "/api/v1/modules", {"name": name}, status=201)
        source = (MODULES / name / "script.py").read_text(encoding="utf-8")
        await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                     {"source": source, "activate": True}, status=201)


STUB_NAMES = '''from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voip_runtime_script import *


def reply(text: str) -> HttpReply:
    return HttpReply(status=200, headers={"Content-Type": "text/plain"}, body=text)


def answer(response: FetchResponse | None, store: Storage) -> str:
    return "stored" if store.get("k") else "none"


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    return {"response": reply(answer(None, storage))}
'''


async def test_a_module_using_the_stubs_type_names_runs_as_it_type_checks(
        stubs_dir: Path, tmp_path: Path, service: Service) -> None:
    # HttpReply, FetchResponse and Storage are in the stub (the first a TypedDict a module may
    # call, as it calls VoipCallRecord): mypy passed this module and the sandbox said
    # "NameError: name 'HttpReply' is not defined".
    script = tmp_path / "stub_names.py"
    script.write_text(STUB_NAMES, encoding="utf-8")
    checked = mypy_strict(stubs_dir, [script])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    _, api = await service.new_tenant()
    module = await api.ok("POST", "/api/v1/modules", {"name": "m"}, status=201)
    await api.ok("POST", f"/api/v1/modules/{module['id']}/versions",
                 {"source": STUB_NAMES, "activate": True}, status=201)
    response = await service.client.post(
        "/hooks/" + module["webhook_url"].rsplit("/hooks/", 1)[1], data="{}")
    assert response.status == 200, await response.text()
    assert await response.text() == "none"
    assert response.headers["Content-Type"] == "text/plain"
