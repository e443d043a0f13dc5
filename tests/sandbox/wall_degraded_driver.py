"""The pool on a host that lends it fewer layers: no namespaces (a container's seccomp profile
refuses `unshare`, `setns` and `clone` with a namespace flag) and no Landlock (an older kernel).
Run as a separate process, as root or as a normal user:

    python -c "from tests.sandbox.wall_degraded_driver import main; main()" [seccomp]

("seccomp": the host also says it has no seccomp, as a kernel without it would.)

It starts the pool with the test-only probe worker, runs one call, and prints as JSON the
hardening report and every warning the pool logged. `start_only()` (no host filter; the test
runs it where a layer the worker must have is missing, e.g. root without CAP_SETUID) prints
how the start ended and what the pool logged.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import logging
import sys
from typing import Any

import pyseccomp

from runtime.config import SandboxConfig
from sandbox import Limits, SandboxPool
from sandbox.forkserver import SpawnError
from tests.sandbox.probe_worker import PROBE_ENTRY, probe

PR_GET_SECCOMP = 21
PR_SET_NO_NEW_PRIVS = 38
NAMESPACE_FLAGS = (0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


CLONE_NEWUSER = 0x10000000
# What a host may lack, as the driver's arguments name it.
HOST_LACKS = ("seccomp", "user-namespaces", "namespaces", "landlock")


def refuse_on_this_host(lacking: set[str]) -> None:
    """This process and everything it starts: the calls of what the host `lacking` fail as
    they would there, the rest runs. "user-namespaces": a host with user namespaces disabled
    (`user.max_user_namespaces=0` answers ENOSPC; the others need no user namespace as root);
    "namespaces": a container's seccomp profile refusing `unshare`, `setns` and `clone` with a
    namespace flag; "landlock": an older kernel; "seccomp": a kernel without it."""
    unknown = lacking - set(HOST_LACKS)
    if unknown:
        raise ValueError(f"unknown host feature(s): {sorted(unknown)}")
    refused = pyseccomp.ERRNO(errno.EPERM)
    host = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    if "namespaces" in lacking:
        for name in ("unshare", "setns"):
            host.add_rule(refused, name)
        for flag in NAMESPACE_FLAGS:
            host.add_rule(refused, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    elif "user-namespaces" in lacking:
        no_room = pyseccomp.ERRNO(errno.ENOSPC)
        for name in ("unshare", "clone"):
            host.add_rule(no_room, name,
                          pyseccomp.Arg(0, pyseccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
    if "landlock" in lacking:
        host.add_rule(refused, "landlock_create_ruleset")
    if "seccomp" in lacking:
        host.add_rule(refused, "prctl", pyseccomp.Arg(0, pyseccomp.EQ, PR_GET_SECCOMP))
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs")
    host.load()


def refuse_namespaces_and_landlock(*, seccomp: bool = False) -> None:
    """This process and everything it starts: no namespaces and no Landlock (nor seccomp)."""
    refuse_on_this_host({"namespaces", "landlock"} | ({"seccomp"} if seccomp else set()))


# With /proc in sight: the template's descriptors (a standby's pipes among them), opened anew.
TEMPLATE_DESCRIPTORS = """
import os
try:
    names = os.listdir(f"/proc/{args[0]}/fd")
    opened = 0
    for name in names:
        try:
            os.close(os.open(f"/proc/{args[0]}/fd/{name}", os.O_RDONLY | os.O_NONBLOCK))
            opened += 1
        except OSError:
            pass
    result = f"opened {opened} of {len(names)}"
except OSError as error:
    result = f"refused: {type(error).__name__}"
"""


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def drive() -> dict[str, Any]:
    collected = Collected()
    logging.getLogger("sandbox").addHandler(collected)
    async with SandboxPool(size=1, limits=Limits(), worker_entry=PROBE_ENTRY,
                           python=sys.executable,
                           worker_uids=SandboxConfig().worker_uids) as pool:
        outcome = await pool.run(probe("result = hardening"), group="tenant")
        template = await pool.run(probe(TEMPLATE_DESCRIPTORS, pool.template_pid),
                                  group="tenant")
    return {"outcome": outcome.to_json(), "warnings": collected.lines,
            "template_descriptors": template.result}


async def start() -> dict[str, Any]:
    collected = Collected()
    logging.getLogger("sandbox").addHandler(collected)
    try:
        async with SandboxPool(size=1, limits=Limits(), worker_entry=PROBE_ENTRY,
                               python=sys.executable,
                               worker_uids=SandboxConfig().worker_uids):
            error = None
    except SpawnError as failed:
        error = str(failed)
    return {"error": error, "logged": collected.lines}


def start_only() -> None:
    print(json.dumps(asyncio.run(start())))


def main() -> None:
    """No arguments: a host without namespaces and Landlock; "seccomp": without seccomp too;
    otherwise what the host lacks, as HOST_LACKS names it."""
    lacking = set(sys.argv[1:])
    if lacking <= {"seccomp"}:
        refuse_namespaces_and_landlock(seccomp="seccomp" in lacking)
    else:
        refuse_on_this_host(lacking)
    print(json.dumps(asyncio.run(drive())))


if __name__ == "__main__":
    main()
