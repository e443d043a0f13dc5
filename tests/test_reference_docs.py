"""The builder's reference (docs/reference.md) against the definitions the sandbox injects.

Every name comes from the code that builds a script's namespace, never from a list kept here:
a name injected, an enum member, a curated module's member or a result key that the reference
does not document fails a test, as does a documented key whose required-ness is wrong, a
configuration key that does not exist, or a link between the docs that leads nowhere.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic.alias_generators import to_camel

from runtime.config import Config
from runtime.contract import CallEvent, CallRecord, ContractModel, ParseResult
from runtime.openapi.generate import INFO_DESCRIPTION
from sandbox import injected
from sandbox.call import SCRIPT_FUNCTIONS, Call, RequestData
from sandbox.executor import _arguments, _namespace
from sandbox.modules import VIEWS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference.md"
TEXT = REFERENCE.read_text(encoding="utf-8")


class NoHost:
    """A bridge that is never asked: the namespace is built, no script runs."""

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no capability is used while building a namespace")


def script_namespace() -> dict[str, Any]:
    call = Call(source="", function=None, settings={"apiKey": "k"})
    return _namespace(call, NoHost(), injected.OutputLog(1024))


NAMESPACE = script_namespace()
BUILTINS: dict[str, Any] = NAMESPACE["__builtins__"]


def injected_names() -> list[str]:
    """What a script can name: the namespace's and the builtins' public names, and `print`,
    which RestrictedPython compiles to the `_print_` guard."""
    names = {name for name in NAMESPACE if not name.startswith("_")}
    names |= {name for name in BUILTINS if not name.startswith("_")}
    if "_print_" in NAMESPACE:
        names.add("print")
    return sorted(names)


def code_identifiers(text: str) -> set[str]:
    """Identifiers written as code: in `spans` and in fenced blocks."""
    blocks = re.findall(r"```.*?\n(.*?)```", text, flags=re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return {word for chunk in blocks + spans
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", chunk)}


def section(heading: str) -> str:
    """The text under the heading that starts with `heading`, up to the next heading of its
    level or above."""
    level = heading.split(" ", 1)[0]
    lines = TEXT.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines))
                if re.match(rf"#{{1,{len(level)}}} ", lines[i])), len(lines))
    return "\n".join(lines[start + 1:end])


def table_rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"\|[-| ]+\|$", line):
            yield [cell.strip() for cell in line.strip().strip("|").split("|")]


def public_members(value: Any) -> set[str]:
    return {name for name in dir(value) if not name.startswith("_")}


DOCUMENTED = code_identifiers(TEXT)


@pytest.mark.parametrize("name", injected_names())
def test_every_injected_name_is_in_the_reference(name: str) -> None:
    assert name in DOCUMENTED, f"{name} is injected into scripts but not in docs/reference.md"


def test_the_namespace_is_read_from_the_sandbox() -> None:
    # Guards against an empty or misread namespace making every check above pass vacuously.
    names = injected_names()
    for expected in ("HttpResponse", "VoipWebhookEvent", "settings", "storage", "fetch", "log",
                     "FetchError", "StorageError", "len", "dict", "ValueError", "print"):
        assert expected in names


ENUMS = sorted((name for name, value in NAMESPACE.items()
                if isinstance(value, type) and issubclass(value, enum.Enum)))


def test_the_enums_are_found() -> None:
    assert {"VoipCallDirection", "VoipCallDisposition", "VoipWebhookEvent"} <= set(ENUMS)


@pytest.mark.parametrize("name", ENUMS)
def test_every_enum_member_is_in_its_table(name: str) -> None:
    enum_class = NAMESPACE[name]
    enums = section("### 3.3")
    start = enums.index(f"`{name}`:")
    rows = {row[0]: row[1] for row in table_rows(enums[start:].split("\n\n", 2)[1])}
    for member in enum_class:
        assert rows.get(f"`{member.name}`") == f"`{member.value}`", (
            f"{name}.{member.name} ({member.value!r}) is not in its table in reference §3.3")
    assert len(rows) - 1 == len(enum_class), f"{name}'s table lists members it does not have"


def test_every_function_is_in_the_functions_table() -> None:
    rows = [row[0] for row in table_rows(section("## 2."))]
    for function in SCRIPT_FUNCTIONS:
        assert any(cell.startswith(f"`{function}(") for cell in rows), function


MODULE_ROWS = {row[0].strip("`"): row[1] for row in table_rows(section("### 3.11"))}


@pytest.mark.parametrize("module", sorted(VIEWS))
def test_every_curated_module_and_its_names_are_in_the_modules_table(module: str) -> None:
    assert module in MODULE_ROWS, f"import {module} is allowed but not in reference §3.11"
    listed = set(re.findall(r"`([^`]+)`", MODULE_ROWS[module]))
    missing = sorted(set(dir(VIEWS[module])) - listed)
    assert not missing, f"{module}: {missing} are importable but not in reference §3.11"


def objects_a_script_holds() -> dict[str, tuple[str, Any]]:
    """Each injected object (or what it returns) and the reference section that describes it."""
    request = _arguments(Call(source="", function="VoipParseWebhookRequest",
                              request=RequestData()))[0]
    fetch_response = typing.get_type_hints(NAMESPACE["fetch"])["return"]
    return {
        "request": ("### 3.1", request),
        "HttpResponse()": ("### 3.2", NAMESPACE["HttpResponse"]()),
        "settings": ("### 3.5", NAMESPACE["settings"]),
        "fetch() response": ("### 3.6", fetch_response),
        "storage": ("### 3.7", NAMESPACE["storage"]),
    }


@pytest.mark.parametrize("what", sorted(objects_a_script_holds()))
def test_every_member_of_an_injected_object_is_in_its_section(what: str) -> None:
    heading, value = objects_a_script_holds()[what]
    members = public_members(value)
    assert members, what
    missing = sorted(members - code_identifiers(section(heading)))
    assert not missing, f"{what}: {missing} are not in reference {heading[4:]}"


def keys_and_required(model: type[ContractModel]) -> dict[str, bool]:
    return {to_camel(name): field.is_required() for name, field in model.model_fields.items()}


@pytest.mark.parametrize(("model", "heading"), [
    (ParseResult, "### 4.1"), (CallEvent, "### 4.2"), (CallRecord, "### 4.3"),
])
def test_result_tables_list_every_key_and_whether_it_is_required(
        model: type[ContractModel], heading: str) -> None:
    rows = {row[0].strip("`"): row for row in table_rows(section(heading))
            if row[0].startswith("`")}
    keys = keys_and_required(model)
    assert set(keys) <= set(rows), f"{sorted(set(keys) - set(rows))} not in {heading}"
    if model is ParseResult:
        return  # all three keys are optional; the table says what each is
    for key, required in keys.items():
        assert rows[key][2] == ("yes" if required else "no"), f"{heading}: {key}"


def test_limits_name_real_configuration_keys() -> None:
    config = Config()
    keys = re.findall(r"`((?:sandbox|fetch|storage_limits|tenant_limits)\.[a-z_]+|[a-z_]+_kib)`",
                      section("## 8."))
    assert len(keys) >= 10
    for key in keys:
        value: Any = config
        for part in key.split("."):
            assert hasattr(value, part), f"reference §8 names {key}, which is no setting"
            value = getattr(value, part)
    # Bare names in the same table belong to the group named before them.
    assert hasattr(config.tenant_limits, "webhook_burst")


def slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#+ ", line)}


DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_links_between_the_docs_lead_somewhere(path: Path) -> None:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{path.name} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{path.name} links to {target}: no such heading"


def test_the_docs_stay_inside_the_repository() -> None:
    for path in DOC_FILES:
        assert "../shared" not in path.read_text(encoding="utf-8"), path.name


def test_the_api_reference_points_to_the_live_protocol() -> None:
    assert "docs/live.md" in INFO_DESCRIPTION
    live = (DOCS / "live.md").read_text(encoding="utf-8")
    for message in ('"hello"', '"caught_up"', '"notification"', "?after=", "missed"):
        assert message in live


def test_every_limit_name_is_in_the_execution_log_table() -> None:
    from sandbox.outcome import LIMIT_NAMES

    rows = {row[0]: row[1] for row in table_rows(section("## 7."))}
    named = set(re.findall(r"`([a-z]+)`", rows["`limit`"]))
    assert named >= LIMIT_NAMES, f"limits not in reference §7: {sorted(LIMIT_NAMES - named)}"


def test_limits_show_the_real_defaults() -> None:
    from runtime.store.models import DEFAULT_STORAGE_LIMITS
    from sandbox import DEFAULT_LIMITS

    config, kib, mib = Config(), 1024, 1024 * 1024
    sandbox, fetch, storage, tenant = (config.sandbox, config.fetch, config.storage_limits,
                                       config.tenant_limits)
    limits = section("## 8.")
    for fragment in (
        f"{sandbox.webhook_wall_seconds:g} s for `VoipParseWebhookRequest`",
        f"{sandbox.other_wall_seconds:g} s for the others",
        f"| CPU time | {sandbox.cpu_seconds:g} s ",
        f"| memory | {sandbox.memory_mb} MiB ",
        f"| output (`print`, `log`) | {sandbox.output_kib} KiB ",
        f"| result | {sandbox.result_kib // kib} MiB as JSON (`sandbox.result_kib`), "
        f"{DEFAULT_LIMITS.result_depth} levels deep",
        f"| `fetch()` calls | {sandbox.fetches_per_call} per function call",
        f"{fetch.timeout_seconds:g} s (`fetch.timeout_seconds`), "
        f"{fetch.max_response_kib // kib} MiB decoded",
        f"{fetch.max_redirects} redirects",
        f"keys of {DEFAULT_STORAGE_LIMITS.max_key_chars} characters, values of "
        f"{DEFAULT_STORAGE_LIMITS.max_value_bytes // kib} KiB",
        f"{storage.max_keys_per_module:,} keys (`storage_limits.max_keys_per_module`)",
        f"{storage.max_bytes_per_module // mib} MiB (`storage_limits.max_bytes_per_module`)",
        f"| script | {DEFAULT_LIMITS.source_bytes // kib} KiB of source",
        f"| webhook body | {config.max_webhook_body_kib // kib} MiB ",
        f"{tenant.webhooks_per_second:g} webhooks/s, bursts of {tenant.webhook_burst}",
        f"{tenant.concurrent_executions} executions at once",
        f"up to {tenant.queued_executions} more wait their turn, each at most "
        f"{tenant.queue_wait_seconds:g} s",
        f"`sandbox.restart_burst` ({sandbox.restart_burst}), then "
        f"`sandbox.restarts_per_minute` ({sandbox.restarts_per_minute:g})",
    ):
        assert fragment in limits, f"reference §8 should say: {fragment}"


def test_result_limits_are_the_validators() -> None:
    from runtime import contract

    assert f"{contract.STATUS_MIN}–{contract.STATUS_MAX}" in section("### 4.4")
    assert f"at most {contract.BODY_MAX_BYTES // (1024 * 1024)} MiB" in section("### 4.4")
    event = section("### 4.2")
    assert f"str, 1–{contract.PHONE_MAX_CHARS} characters" in event
    assert f"at most {contract.CALL_ID_MAX_BYTES} bytes" in event
    assert f"at most {contract.PHONE_EXT_MAX_BYTES} bytes" in event
    assert f"at most {contract.CALL_DATA_MAX_BYTES // 1024} KiB" in section("### 4.3")
    assert f"at most {contract.CALL_LINK_MAX_CHARS} characters" in section("### 4.5")


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_sample_files_the_docs_name_exist(path: Path) -> None:
    named = set(re.findall(r"\bscripts/[\w.-]+(?:/[\w.-]+)*", path.read_text(encoding="utf-8")))
    missing = sorted(name for name in named if not (ROOT / name.rstrip(".")).exists())
    assert not missing, f"{path.name} names {missing}, which do not exist"


def documented_commands() -> list[tuple[str, str]]:
    """(file, command) for each `voip-runtime run` or `check` in the docs' shell examples."""
    commands = []
    for path in DOC_FILES:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
            joined = re.sub(r"\\\n\s*", "", block)
            for line in joined.splitlines():
                line = line.split("  #", 1)[0].strip()
                if re.match(r"\.venv/bin/voip-runtime (run|check) ", line):
                    commands.append((path.name, line))
    return commands


@pytest.mark.parametrize(("doc", "command"), documented_commands())
def test_documented_commands_run(doc: str, command: str, tmp_path: Path) -> None:
    import shlex
    import subprocess
    import sys

    argv = shlex.split(command)
    argv = [sys.executable, "-m", "runtime",
            *(str(ROOT / arg) if arg.startswith("scripts/") else arg for arg in argv[1:])]
    # In a scratch directory: `--storage state.json` must not write into the repository.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          check=False)
    assert done.returncode == 0, f"{doc}: {command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def test_the_documented_commands_are_found() -> None:
    assert len(documented_commands()) >= 8
