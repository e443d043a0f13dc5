"""The console and the API are two adapters over one layer (runtime/operations): the console
imports nothing from runtime/api, so what both do lives once, outside either."""

from __future__ import annotations

import ast
from pathlib import Path

import runtime.console

CONSOLE = Path(runtime.console.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, by its full dotted name (`from a import b` gives both `a`
    and `a.b`, since `b` may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches_api(name: str) -> bool:
    return name == "runtime.api" or name.startswith("runtime.api.")


def test_the_console_imports_no_api_module() -> None:
    files = sorted(CONSOLE.rglob("*.py"))
    assert len(files) > 5, files  # the rule looks at the console's real modules
    offending = {
        str(path.relative_to(CONSOLE)): sorted(filter(reaches_api, imported_modules(path)))
        for path in files
    }
    assert {path: names for path, names in offending.items() if names} == {}


def test_the_rule_sees_every_spelling_of_an_api_import(tmp_path: Path) -> None:
    spellings = {
        "from runtime.api.runs import run_other\n": "runtime.api.runs",
        "import runtime.api.modules\n": "runtime.api.modules",
        "from runtime import api\n": "runtime.api",
        "from runtime.api import common\n": "runtime.api.common",
    }
    for source, expected in spellings.items():
        path = tmp_path / "view.py"
        path.write_text(source, encoding="utf-8")
        assert expected in set(filter(reaches_api, imported_modules(path))), source
    path.write_text("from runtime.operations.dry_runs import dry_run\n", encoding="utf-8")
    assert not set(filter(reaches_api, imported_modules(path)))
