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
