"""How fast a tenant gets a fresh worker: fork from the template to the worker's "ready", and a
new tenant's first call through the pool with and without warm spares.

    .venv/bin/python bench/worker_spawn.py [--spawns 300] [--tenants 100]

Prints p50/p99 for spawns back to back and 20 ms apart (then the standby, the next worker
forked and hardened ahead of its request, is ready: see sandbox/template.py), and the old way's
cost for comparison (starting `python -I` and importing the sandbox, what every worker cost
before the template).
Figures only: nothing here asserts a timing. Idle memory per worker (private, unshared with
the template) is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import Call, Limits, RequestData, SandboxPool  # noqa: E402
from sandbox.forkserver import DEFAULT_ENTRY, ForkServer  # noqa: E402
from sandbox.pool import readable_paths  # noqa: E402

QUICK = ("def VoipParseWebhookRequest(request):\n"
         "    return {'response': {'status': 200, 'body': 'ok'}}\n")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def line(label: str, samples: list[float]) -> str:
    return (f"{label:48s} p50 {percentile(samples, 0.5) * 1000:8.2f} ms   "
            f"p99 {percentile(samples, 0.99) * 1000:8.2f} ms   (n={len(samples)})")


def private_kib(pid: int) -> int:
    """Memory this process alone holds (Private_* of smaps_rollup): what a worker costs."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for row in rollup:
            if row.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(row.split()[1])
    return total


def read_line(fd: int) -> bytes:
    """The first line from a pipe (a worker writes its hello at once: one read, nearly
    always)."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


async def fork_to_ready(count: int, gap: float = 0.0
                        ) -> tuple[list[float], list[float], list[int]]:
    """Spawn request → the worker's "ready" line, one at a time, through the template.

    `gap`: seconds between a worker's "ready" and the next request. Back to back (0), every
    request forks on arrival; with a gap longer than the template's STANDBY_AFTER_MS, the
    template has forked and hardened the next worker ahead of it (sandbox/template.py)."""
    exits: list[int] = []
    template = ForkServer(sys.executable, DEFAULT_ENTRY, lambda pid, status: exits.append(pid),
                          lambda server: None)
    await template.start()
    spec = {"uid": None, "gid": None, "memory_bytes": Limits().memory_bytes,
            "readable_paths": list(readable_paths())}
    samples: list[float] = []
    forked: list[float] = []
    memory: list[int] = []
    try:
        for n in range(count):
            began = time.perf_counter()
            spawned = await template.spawn(spec, standby=spec)
            forked.append(time.perf_counter() - began)
            # Blocking on purpose: nothing else runs meanwhile, and a thread hop would be
            # measured too. Read in chunks, as the pool does: an unbuffered readline() reads
            # one byte per system call, and the hello is most of a kilobyte.
            hello = read_line(spawned.read_fd)
            samples.append(time.perf_counter() - began)
            assert hello.startswith(b'{"type":"ready"'), hello
            if n < 20:
                memory.append(private_kib(spawned.pid))
            os.close(spawned.read_fd)
            os.close(spawned.write_fd)  # the worker sees EOF and exits
            if spawned.pidfd is not None:
                os.close(spawned.pidfd)
            if gap:
                await asyncio.sleep(gap)
    finally:
        await template.close()
    return samples, forked, memory


async def first_calls(tenants: int, spares: int) -> list[float]:
    """A new tenant's first call, end to end (each tenant new: a worker is bound to it)."""
    samples: list[float] = []
    async with SandboxPool(size=4, max_workers=4, limits=Limits(), spare_workers=spares,
                           idle_seconds=0.05) as pool:
        for n in range(tenants):
            await asyncio.sleep(0.02)  # spares refill, idle tenant workers are reclaimed
            began = time.perf_counter()
            outcome = await pool.run(Call(source=QUICK, function="VoipParseWebhookRequest",
                                          request=RequestData()), group=f"tenant-{n}")
            samples.append(time.perf_counter() - began)
            assert outcome.ok, outcome
    return samples


def cold_start(count: int) -> list[float]:
    """The old way: a new interpreter importing the sandbox."""
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c",
                        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import sandbox.executor"],
                       check=True)
        samples.append(time.perf_counter() - began)
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=300)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--cold", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    samples, forked, memory = await fork_to_ready(args.spawns)
    print(line("spawn request to the template's answer (forked)", forked))
    print(line("spawn request to the worker's ready (hardened)", samples))
    spaced, _, _ = await fork_to_ready(args.spawns, gap=0.02)
    print(line("the same, requests 20 ms apart (standby ready)", spaced))
    if memory:
        print(f"{'idle worker, memory of its own (Private_*)':48s} "
              f"{sum(memory) / len(memory) / 1024:8.2f} MiB")
    print(line("a new tenant's first call, spares ready", await first_calls(args.tenants, 2)))
    print(line("a new tenant's first call, no spares (forks)", await first_calls(args.tenants,
                                                                                 0)))
    if args.cold:
        print(line("before: python -I + import the sandbox", cold_start(args.cold)))


if __name__ == "__main__":
    asyncio.run(main())
