"""The published stubs (`voip-runtime stubs`): generated from what the sandbox injects, and good
enough that `mypy --strict` checks every sample module and catches a wrong result."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.cli import main
from sandbox import injected
from sandbox.stubs import INJECTED_MEMBERS, PACKAGE, exported_names, stub_text
from tests.sandbox.lang_support import DictHost

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
SAMPLE_MODULES = sorted(path.parent.name for path in SCRIPTS.glob("*/script.py"))


def stub_tree() -> ast.Module:
    return ast.parse(stub_text())


def defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_stub_names_are_the_injected_names() -> None:
    names = set(injected.make_injected(host=DictHost(), settings={},
                                       output=injected.OutputLog(10)))
    exported = set(exported_names())
    assert names <= exported
    # Beyond the injected names, only the enums' value aliases, which mypy refuses to call or
    # check against: any other stub name a script may use, the sandbox defines too (HttpReply,
    # FetchResponse and Storage were the stub's only, and a NameError at run time).
    assert exported - names == {
        "VoipCallDirectionValue", "VoipCallDispositionValue", "VoipWebhookEventValue",
    }  # fmt: skip
    assert exported <= defined_names(stub_tree())


@pytest.mark.parametrize("name", sorted(INJECTED_MEMBERS))
def test_stub_classes_have_the_runtime_classes_public_members(name: str) -> None:
    runtime_class, members = INJECTED_MEMBERS[name]
    public = {member for member in dir(runtime_class) if not member.startswith("_")}
    assert set(members) == public
    stub_class = next(
        node for node in stub_tree().body if isinstance(node, ast.ClassDef) and node.name == name
    )
    assert {n.name for n in stub_class.body if isinstance(n, ast.FunctionDef)} == public


def test_enum_members_are_in_the_stub() -> None:
    text = stub_text()
    for kind in injected.CONTRACT_ENUMS:
        for member in kind:
            assert f"    {member.name} = {member.value!r}\n" in text


@pytest.fixture(scope="module")
def stubs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("stubs")
    assert main(["stubs", str(directory)]) == 0
    assert (directory / PACKAGE / "__init__.pyi").is_file()
    assert (directory / PACKAGE / "py.typed").is_file()
    return directory


def mypy_strict(stubs: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version",
         "3.11", "--no-error-summary", "--hide-error-context", *map(str, files)],
        capture_output=True, text=True, timeout=600, check=False,
        env={"MYPYPATH": str(stubs), "PATH": "/usr/bin:/bin"}, cwd=files[0].parent,
    )  # fmt: skip


def test_every_sample_module_passes_mypy_strict(stubs_dir: Path, tmp_path: Path) -> None:
    # One mypy run for all: each script is copied under its module's name (all are script.py).
    copies = []
    for name in SAMPLE_MODULES:
        copy = tmp_path / f"{name.replace('-', '_')}.py"
        shutil.copy(SCRIPTS / name / "script.py", copy)
        copies.append(copy)
    result = mypy_strict(stubs_dir, copies)
    assert result.returncode == 0, result.stdout + result.stderr


WRONG = textwrap.dedent(
    """
    from __future__ import annotations
    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        from voip_runtime_script import *

    def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
        record = VoipCallRecord(
            direction=VoipCallDirection.In, disposition=VoipCallDisposition.Answered,
            srcPhone="+79161234567", dstPhone="101", duration="74",
        )
        event: VoipWebhookRequest = {
            "event": VoipWebhookEvent.NotifyStart, "direction": "in",
            "disposition": VoipCallDisposition.Unknown, "srcPhone": "1", "dstphone": "2",
        }
        return {"callRecord": record, "event": event, "respons": HttpResponse()}
    """
)


def test_a_wrong_result_fails_mypy_strict(stubs_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "wrong.py"
    script.write_text(WRONG)
    result = mypy_strict(stubs_dir, [script])
    assert result.returncode == 1, result.stdout + result.stderr
    errors = result.stdout
    assert 'expression has type "str", TypedDict item "duration" has type "int | float"' in errors
    assert 'Extra key "dstphone" for TypedDict "VoipWebhookRequest"' in errors, errors
    assert 'Extra key "respons" for TypedDict "VoipWebhookParseResult"' in errors, errors


SNAKE_CASE = textwrap.dedent(
    """
    from __future__ import annotations
    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        from voip_runtime_script import *

    def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
        data: dict[str, str] = request.json()
        record = VoipCallRecord(direction=VoipCallDirection.In, disposition="no_answer",
                                src_phone=data["from"], dst_phone=data["to"],
                                call_id=data["id"], src_phone_ext=None, duration=0)
        end: VoipWebhookRequest = {"event": "notify_end", "direction": "in",
                                   "disposition": "no_answer", "src_phone": data["from"],
                                   "dst_phone": data["to"], "call_id": data["id"]}
        if data.get("camel"):
            return {"callRecord": VoipCallRecord(direction="in", disposition="busy",
                                                 srcPhone="1", dstPhone="2", duration=0)}
        return VoipWebhookParseResult(event=end, call_record=record)

    def VoipTestConnection() -> VoipTestConnectionResult:
        return VoipTestConnectionResult(success=False, fail_reason="the API key was refused")
    """
)


def test_snake_case_keys_the_contract_accepts_type_check(stubs_dir: Path, tmp_path: Path
                                                         ) -> None:
    # Contract §2 and §4 accept each key's snake_case spelling, and the sandbox runs this module
    # (tests/e2e/test_builders_snake_case.py); the stub declared the camelCase keys only, so
    # mypy --strict said 'Extra keys ("src_phone", ...)' and 'Missing keys ("dstPhone", ...)'.
    script = tmp_path / "snake.py"
    script.write_text(SNAKE_CASE)
    result = mypy_strict(stubs_dir, [script])
    assert result.returncode == 0, result.stdout + result.stderr


COPIES = textwrap.dedent(
    """
    from __future__ import annotations
    from typing import TYPE_CHECKING, Any
    if TYPE_CHECKING:
        from voip_runtime_script import *

    DEFAULTS: dict[str, Any] = {"base": "https://api.example.com"}

    def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
        config = DEFAULTS | settings
        mine = settings.copy()
        mine["apiKey"] = "x"
        query: dict[str, str] = request.query.copy() | {"page": "1"}
        headers: dict[str, str] = request.headers.copy()
        return {"response": HttpResponse().content([config, mine, query, headers])}
    """
)


def test_copying_and_merging_settings_and_the_query_type_check(stubs_dir: Path,
                                                               tmp_path: Path) -> None:
    # What the sandbox runs (settings.copy(), defaults | settings), the stub must allow:
    # `Mapping` has neither, so mypy said the script's working code was wrong.
    script = tmp_path / "copies.py"
    script.write_text(COPIES)
    result = mypy_strict(stubs_dir, [script])
    assert result.returncode == 0, result.stdout + result.stderr


def test_stubs_into_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["stubs", str(blocker)]) == 2
    assert "cannot write the stubs into" in capsys.readouterr().err
