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
    assert NAMES == ["acme", "megafon", "sipuni", "zadarma"]
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
