"""The worker template stays small, and what it prepares once is what the workers need.

Every page the template holds is a page-table entry each fork copies, and each module that
registers an after-fork hook runs it in every worker before the worker does anything
(`threading`'s costs a worker about 125 copy-on-write faults). These tests keep such imports
out of the template, and check that the seccomp filter it gets from its helper process is the
filter libseccomp compiles.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys

import pytest

from sandbox.oswall import seccomp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What the template imports and prepares before its first fork (sandbox/template.py).
TEMPLATE_IMPORTS = (
    "import sys, json; sys.path.insert(0, {root!r})\n"
    "from sandbox import template, harden\n"
    "template._resolve(template.DEFAULT_ENTRY)\n"
    "import sandbox.executor\n"
    "template._warm()\n"
    "notes = harden.prepare_template()\n"
    "print(json.dumps({{'modules': sorted(sys.modules), 'notes': notes}}))\n"
)

# Never in the template: the pool's event loop and what it brings, and modules whose import
# registers an after-fork hook or starts nothing a worker needs.
KEPT_OUT = ("asyncio", "threading", "subprocess", "ssl", "pyseccomp", "ctypes.util",
            "concurrent.futures", "sandbox.pool", "sandbox.forkserver")


@pytest.fixture(scope="module")
def template_state() -> dict[str, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-I", "-c", TEMPLATE_IMPORTS.format(root=ROOT)],
        capture_output=True, text=True, timeout=120, env={}, check=True)
    state: dict[str, list[str]] = json.loads(completed.stdout.splitlines()[-1])
    return state


@pytest.mark.parametrize("module", KEPT_OUT)
def test_the_template_does_not_import(template_state: dict[str, list[str]],
                                      module: str) -> None:
    assert module not in template_state["modules"]


def test_the_template_still_compiles_the_seccomp_filter(
        template_state: dict[str, list[str]]) -> None:
    if not any(note.startswith("seccomp allowlist compiled") for note in template_state["notes"]):
        pytest.skip(f"no seccomp on this host: {template_state['notes']}")
    assert "sandbox.executor" in template_state["modules"]


def test_the_helper_compiles_the_same_filter_as_libseccomp_here() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        here = seccomp.build_program(libc)
    except (ImportError, RuntimeError, OSError) as error:
        pytest.skip(f"no seccomp on this host: {error}")
    helped = seccomp.build_program_in_helper(libc)
    assert helped.bpf == here.bpf
    assert helped.allowed == here.allowed
    assert helped.fprog.len == len(here.bpf) // 8


def test_a_helper_that_cannot_compile_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bytes:
        raise ImportError("libseccomp.so.2: cannot open shared object file")

    monkeypatch.setattr(seccomp, "_compile", broken)  # the forked helper inherits it
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(seccomp.PR_GET_SECCOMP, 0, 0, 0, 0) < 0:
        pytest.skip("no seccomp in this kernel")
    with pytest.raises(RuntimeError, match=re.escape("ImportError: libseccomp.so.2: cannot")):
        seccomp.build_program_in_helper(libc)


def test_a_program_is_whole_instructions() -> None:
    with pytest.raises(ValueError):
        seccomp.SeccompProgram(bpf=b"\0" * 12, allowed=1)
