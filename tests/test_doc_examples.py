"""The Python examples in the builder's docs, taken from the docs' own text.

An example that says it comes from a sample module (`# scripts/NAME/script.py`) must name only
what that script names, so a renamed helper or a rewritten passage shows up as a failing test
rather than as a snippet nobody can find. An example that is a whole parse result
(`return {...}`) runs through `voip-runtime run` as a script's `VoipParseWebhookRequest`, as a
builder would paste it, and must come back valid.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.test_stubs import mypy_strict, stubs_dir

__all__ = ["stubs_dir"]  # the fixture, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_examples() -> list[tuple[str, str]]:
    """(file, code) for each fenced Python block of the docs."""
    return [(path.name, block) for path in DOC_FILES
            for block in re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"),
                                    flags=re.S)]


def without_comments_and_strings(code: str) -> str:
    # A comment is prose, a string literal is data: only the code's names are compared.
    lines = "\n".join(line.split("#", 1)[0] for line in code.splitlines())
    return re.sub(r'"[^"\n]*"|\'[^\'\n]*\'', '""', lines)


def names(code: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))


QUOTED = [(doc, code, match.group(1)) for doc, code in python_examples()
          if (match := re.search(r"#\s*(scripts/[\w.-]+/script\.py)", code))]


def test_the_quoted_examples_are_found() -> None:
    assert len(QUOTED) >= 6


@pytest.mark.parametrize(("doc", "code", "script"), QUOTED,
                         ids=[f"{doc}:{script}:{i}" for i, (doc, _, script) in enumerate(QUOTED)])
def test_an_example_quoted_from_a_sample_names_only_what_the_sample_does(
        doc: str, code: str, script: str) -> None:
    source = (ROOT / script).read_text(encoding="utf-8")
    missing = sorted(names(without_comments_and_strings(code)) - names(source))
    assert not missing, f"{doc} quotes {script}, which has no {missing}:\n{code}"


RESULTS = [(doc, code) for doc, code in python_examples() if code.startswith("return {")]


def test_the_result_examples_are_found() -> None:
    assert len(RESULTS) >= 2


def run_as_parse_function(code: str, tmp_path: Path) -> dict[str, object]:
    body = "\n".join("    " + line for line in code.splitlines())
    script = tmp_path / "script.py"
    script.write_text(f"def VoipParseWebhookRequest(request):\n{body}\n", encoding="utf-8")
    (tmp_path / "settings.json").write_text("{}", encoding="utf-8")
    (tmp_path / "request.json").write_text(json.dumps(
        {"method": "POST", "url": "https://voip.example.com/hooks/TOKEN", "headers": {},
         "body": ""}), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "run", str(script), "--settings", "settings.json",
         "--request", "request.json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
    report: dict[str, object] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize(("doc", "code"), RESULTS, ids=[f"{doc}:{i}" for i, (doc, _)
                                                        in enumerate(RESULTS)])
def test_a_result_example_is_a_valid_result(doc: str, code: str, tmp_path: Path) -> None:
    report = run_as_parse_function(code, tmp_path)
    assert report["ok"] is True, f"{doc}: {report['error']}\n{code}"
    assert report["result"], f"{doc}: the example's result validated to nothing"


def test_the_reply_example_keeps_the_type_the_script_chose(tmp_path: Path) -> None:
    # modules.md: a Content-Type set with .header(), before or after .content(), is kept.
    code = next(code for doc, code in RESULTS if "Retry-After" in code)
    reply = run_as_parse_function(code, tmp_path)["reply"]
    assert isinstance(reply, dict)
    assert reply["status"] == 503
    assert reply["headers"]["Content-Type"] == "application/problem+json"
    assert reply["headers"]["Retry-After"] == "30"
    assert reply["headers"]["Content-Security-Policy"] == "sandbox"
    assert reply["headers"]["X-Content-Type-Options"] == "nosniff"
    assert json.loads(reply["body"]) == {"title": "busy"}


def run_cli(tmp_path: Path, *argv: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "runtime", *argv], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.stdout, done.stderr[-2000:]
    report: dict[str, object] = json.loads(done.stdout)
    return done.returncode, report


SCRIPTS = [(doc, code) for doc, code in python_examples()
           if re.search(r"^def VoipParseWebhookRequest\(", code, flags=re.M)]


def test_the_whole_script_examples_are_found() -> None:
    assert {doc for doc, _ in SCRIPTS} >= {"modules.md", "reference.md"}


@pytest.mark.parametrize(("doc", "code"), SCRIPTS, ids=[f"{doc}:{i}" for i, (doc, _)
                                                        in enumerate(SCRIPTS)])
def test_a_whole_script_example_passes_the_check(doc: str, code: str, tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(code, encoding="utf-8")
    status, report = run_cli(tmp_path, "check", "script.py")
    assert (status, report["ok"]) == (0, True), f"{doc}: {report['error']}\n{code}"


def test_the_typed_example_builds_the_record_it_shows(tmp_path: Path) -> None:
    # reference §3.4: the result types called with keywords make the plain dicts a result is.
    code = next(code for doc, code in SCRIPTS
                if doc == "reference.md" and "VoipWebhookParseResult(" in code)
    fields = re.findall(r'data\["(\w+)"\]', code)
    assert "seconds" in fields
    (tmp_path / "script.py").write_text(code, encoding="utf-8")
    (tmp_path / "settings.json").write_text("{}", encoding="utf-8")
    (tmp_path / "request.json").write_text(json.dumps(
        {"method": "POST", "url": "https://voip.example.com/hooks/TOKEN",
         "headers": {"Content-Type": "application/json"},
         "body": json.dumps({name: "74" for name in fields})}), encoding="utf-8")
    status, report = run_cli(tmp_path, "run", "script.py", "--settings", "settings.json",
                             "--request", "request.json")
    assert (status, report["error"]) == (0, None), code
    record = report["result"]["callRecord"]  # type: ignore[index]
    assert record["duration"] == 74 and record["direction"] == "in"
    assert record["disposition"] == "answered" and isinstance(record["srcPhone"], str)


BUILDER_LINES = [line.split("#", 1)[0].strip() for doc, code in python_examples()
                 for line in code.splitlines() if line.startswith("HttpResponse()")]


@pytest.mark.parametrize("builder", BUILDER_LINES)
def test_a_reply_builder_example_makes_a_valid_reply(builder: str, tmp_path: Path) -> None:
    report = run_as_parse_function(f'return {{"response": {builder}}}', tmp_path)
    assert report["ok"] is True, report["error"]
    reply = report["reply"]
    assert isinstance(reply, dict)
    content_type = reply["headers"]["Content-Type"]
    if '.header("Content-Type", ' in builder:  # the type the script chose stays
        assert content_type == re.findall(r'"Content-Type", "([^"]+)"', builder)[0]
    elif ".content(\"" in builder:
        assert content_type == "text/plain; charset=utf-8"
    else:
        assert content_type == "application/json"
    status = re.findall(r"\.status\((\d+)\)", builder)
    assert reply["status"] == (int(status[0]) if status else 200)


def test_the_reply_builder_examples_are_found() -> None:
    assert len(BUILDER_LINES) >= 3


def test_the_typed_examples_pass_mypy_strict_with_the_stub(stubs_dir: Path,
                                                           tmp_path: Path) -> None:
    # The guide's header (`if TYPE_CHECKING:` imports) above each typed example's function, as
    # a builder puts them together; the reference says they pass `mypy --strict`.
    header_example = next(code for doc, code in SCRIPTS if doc == "modules.md"
                          and "TYPE_CHECKING" in code)
    header = header_example[:header_example.index("\ndef ") + 1]
    files = []
    for index, (_, code) in enumerate(SCRIPTS):
        function = code[code.index("def "):] if "TYPE_CHECKING" in code else code
        if function.rstrip().endswith("..."):
            continue  # a placeholder body, not an example to check
        path = tmp_path / f"example_{index}.py"
        path.write_text(header + "\n" + function, encoding="utf-8")
        files.append(path)
    assert files
    checked = mypy_strict(stubs_dir, files)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_script_size_limit_is_the_documented_one_and_refused_with_problems(
        tmp_path: Path) -> None:
    # reference §8: "| script | 64 KiB of source | refused when checked and uploaded"; §10:
    # `voip-runtime check` answers "JSON with `ok` and, when refused, `error.problems`".
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    limit = int(re.findall(r"\| script \| (\d+) KiB of source", reference)[0]) * 1024
    head = "def VoipParseWebhookRequest(request):\n    return None\n"
    at_limit = head + "#" * (limit - len(head) - 1) + "\n"
    assert len(at_limit.encode("utf-8")) == limit
    (tmp_path / "script.py").write_text(at_limit, encoding="utf-8")
    status, report = run_cli(tmp_path, "check", "script.py")
    assert (status, report["ok"]) == (0, True), report["error"]

    (tmp_path / "script.py").write_text(at_limit + "#", encoding="utf-8")
    status, report = run_cli(tmp_path, "check", "script.py")
    assert (status, report["ok"], report["limit"]) == (1, False, "source")
    error = report["error"]
    assert isinstance(error, dict) and error["type"] == "CompileError"
    message = f"the script is {limit + 1} bytes; the limit is {limit} bytes"
    assert error["message"] == message
    assert error["problems"] == [{"line": None, "message": message}]
