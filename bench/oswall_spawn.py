"""What the OS wall costs a new worker: time from the spawn request to the worker's first
byte, with a plain fork of the template as the baseline, in one run.

    .venv/bin/python bench/oswall_spawn.py [--spawns 200]

The process running this plays the template: it imports the sandbox as the pool's template does
and calls `prepare_template()` once. Then, alternately, it forks a worker with no wall and one
through `spawn_isolated` (every layer this host allows), each of which writes one byte and
exits. Prints, for both, the latency p50/p99 and the CPU time a spawn costs in all (the
template's, plus every process it forked for the worker, reaped), which a loaded machine
disturbs far less than the latency. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import sandbox.executor  # noqa: E402,F401  (what the real template imports before forking)
from sandbox.harden import (  # noqa: E402
    HardeningReport,
    IsolationSpec,
    default_readable_paths,
    prepare_template,
    spawn_isolated,
)

FIRST_WORKER_UID = 200_000


Spawner = Callable[[Callable[[HardeningReport], NoReturn], int], int]


def plain_fork(child: Callable[[HardeningReport], NoReturn], keep_fd: int) -> int:
    pid = os.fork()
    if pid == 0:
        child(HardeningReport())
    return pid


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_one(spawn: Spawner, cpu: list[float]) -> float:
    """Seconds from the spawn call to the worker's first byte; appends the CPU it cost."""
    cpu_before = cpu_seconds()
    read_end, write_end = os.pipe()

    def child(report: HardeningReport) -> NoReturn:
        os.write(write_end, b"!")
        os._exit(0)

    started = time.perf_counter()
    pid = spawn(child, write_end)
    os.close(write_end)
    os.read(read_end, 1)
    elapsed = time.perf_counter() - started
    os.close(read_end)
    os.waitpid(pid, 0)
    cpu.append(cpu_seconds() - cpu_before)
    return elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spawns", type=int, default=200)
    args = parser.parse_args()
    notes = prepare_template()
    paths = default_readable_paths()
    plain: list[float] = []
    walled: list[float] = []
    plain_cpu: list[float] = []
    walled_cpu: list[float] = []
    for index in range(args.spawns):
        uid = FIRST_WORKER_UID + index % 1000 if os.geteuid() == 0 else None

        def isolated(child: Callable[[HardeningReport], NoReturn], keep_fd: int,
                     uid: int | None = uid) -> int:
            spec = IsolationSpec(uid=uid, gid=uid, memory_bytes=256 * 2**20,
                                 keep_fds=frozenset({keep_fd}), readable_paths=paths)
            return spawn_isolated(spec, child)

        plain.append(time_one(plain_fork, plain_cpu))
        walled.append(time_one(isolated, walled_cpu))
    print(f"template notes: {notes}")
    for name, values, cpu in (("plain fork", plain, plain_cpu),
                              ("every layer", walled, walled_cpu)):
        print(f"{name:12s} p50 {1000 * statistics.median(values):6.2f} ms   "
              f"p99 {1000 * percentile(values, 0.99):6.2f} ms   "
              f"CPU p50 {1000 * statistics.median(cpu):6.2f} ms")
    print(f"ratio p50 {statistics.median(walled) / statistics.median(plain):.1f}x "
          f"({args.spawns} spawns each, as uid {os.geteuid()})")


if __name__ == "__main__":
    main()
