"""What tenant isolation costs and what it holds: many tenants interleaved against the bare
baseline, a neighbour that hits every limit, and the memory a tenant's idle worker takes.

    .venv/bin/python bench/isolation.py [--seconds 5] [--workers 2] [--tenants 50]

Starts, in one run, the bare baseline (bench/baseline_server.py) and the real service
(`voip-runtime serve`, SQLite). Prints figures and ratios; asserts nothing about timing.

- throughput: one tenant, then `--tenants` tenants whose webhooks arrive interleaved request by
  request (every request may need another tenant's worker), against the baseline. A real
  service is warm, so each tenant's cold start (its worker forked from the template, the
  script's first compile, the worker's first copy-on-write page faults) happens before the
  timed window: every tenant is served once, one after another, and what that cost is printed
  on its own; then a warm-up load; then the window, with what happened in it counted per
  webhook (worker processes started, the workers' page faults and wakeups) so a cold start
  that still fell inside it shows;
- hostile neighbour: tenant B's p99 alone, then while tenant A's calls take turns at the CPU
  limit, real memory exhaustion, a garbage-cycle bomb, an oversized result and deep recursion;
- idle workers: the proportional memory (PSS, shared pages split among their sharers) of each
  tenant's idle worker, and how many such workers fit in 1 GiB beside the service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.webhooks import (  # noqa: E402
    PYTHON,
    SEED,
    children_of,
    cpu_per_webhook,
    cpu_snapshot,
    finish,
    free_port,
    load,
    load_async,
    module_hook,
    process,
    row,
    service_args,
    wait_ready,
)

CONCURRENCY = 64
NEIGHBOUR_CONCURRENCY = 8
GIB = 1024 * 1024 * 1024

# Tenant A: each call picks a way to hit a limit from its call id (the load generator numbers
# them), so every kind keeps coming while B is measured.
HOSTILE = '''
class Node:
    def __init__(self):
        self.other = self


def burn_cpu():
    n = 0
    while True:
        n += 1


def exhaust_memory():
    hoard = []
    while True:
        hoard.append("x" * 1_000_000 + str(len(hoard)))


def garbage_cycles():
    for _ in range(200_000):
        Node()


def oversized_result():
    return {"response": {"status": 200, "body": "x" * 2_000_000}}


def recurse(depth):
    return recurse(depth + 1)


def VoipParseWebhookRequest(request):
    n = int(request.json()["callId"].rsplit("-", 1)[1])
    kind = n % 5
    if kind == 0:
        burn_cpu()
    elif kind == 1:
        exhaust_memory()
    elif kind == 2:
        garbage_cycles()
    elif kind == 3:
        return oversized_result()
    recurse(0)
'''


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def tenant_hooks(base: str, count: int, source: str, prefix: str) -> list[str]:
    return [await module_hook(base, f"{prefix}-{index}", source) for index in range(count)]


async def one_webhook_each(hooks: list[str]) -> list[float]:
    """One webhook to each hook in turn; the seconds each took."""
    took: list[float] = []
    async with aiohttp.ClientSession() as session:
        for index, hook in enumerate(hooks):
            body = {"type": "start", "callId": f"warm-{index}", "srcPhone": "+79161234567",
                    "dstPhone": "101"}
            started = time.perf_counter()
            async with session.post(hook, json=body) as response:
                await response.read()
            took.append(time.perf_counter() - started)
    return took


def process_counts(pid: int) -> dict[str, Any]:
    """Counters of the service's process and of its children (the template and the workers):
    page faults and voluntary context switches (a wakeup after a blocking wait: for a worker,
    nearly one per call it did not find already waiting in its pipe), and which children there
    are (a new pid is a worker started)."""
    def read(each: int) -> tuple[int, int, int] | None:
        try:
            with open(f"/proc/{each}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{each}/status") as status:
                switches = next(int(line.split()[1]) for line in status
                                if line.startswith("voluntary_ctxt_switches:"))
        except (OSError, StopIteration):
            return None
        return int(fields[7]), int(fields[9]), switches

    children = {child: read(child) for child in children_of(pid)}
    return {"main": read(pid) or (0, 0, 0),
            "children": {child: got for child, got in children.items() if got is not None}}


def counts_per_webhook(before: dict[str, Any], after: dict[str, Any], webhooks: int
                       ) -> dict[str, float]:
    """What happened between two `process_counts`, per webhook (processes started: in all).
    A child that exited meanwhile takes its counts with it (none should, warm)."""
    per = max(webhooks, 1)
    started = [pid for pid in after["children"] if pid not in before["children"]]
    worker = [0, 0, 0]
    for pid, counts in after["children"].items():
        was = before["children"].get(pid, (0, 0, 0))
        for index in range(3):
            worker[index] += counts[index] - was[index]
    main = [after["main"][index] - before["main"][index] for index in range(3)]
    return {"processes started": len(started),
            "exited": sum(1 for pid in before["children"] if pid not in after["children"]),
            "worker minor faults": worker[0] / per, "worker major faults": worker[1] / per,
            "worker wakeups": worker[2] / per, "main minor faults": main[0] / per,
            "main wakeups": main[2] / per}


def counts_row(counts: dict[str, float]) -> str:
    return (f"    in the window: {counts['processes started']:.0f} processes started, "
            f"{counts['exited']:.0f} exited; per webhook: workers "
            f"{counts['worker minor faults']:.2f} minor + {counts['worker major faults']:.2f} "
            f"major faults, "
            f"{counts['worker wakeups']:.2f} wakeups; main process "
            f"{counts['main minor faults']:.2f} minor faults, {counts['main wakeups']:.2f} wakeups")


def run_nanoseconds(pid: int) -> int:
    """CPU time of every thread of a process, in ns (schedstat: /proc's stat counts in ticks of
    10 ms, too coarse for one tenant's start)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat") as stat:
            total += int(stat.read().split()[0])
    return total


def cpu_ns_snapshot(pid: int) -> dict[str, int]:
    return {"service process": run_nanoseconds(pid),
            "template and workers": sum(run_nanoseconds(child) for child in children_of(pid))}


def cold_starts(server_pid: int, hooks: list[str]) -> str:
    """Serve each tenant its first webhook, one after another: its worker's start and first call,
    measured apart from the throughput window."""
    before_cpu, before = cpu_ns_snapshot(server_pid), process_counts(server_pid)
    took = sorted(asyncio.run(one_webhook_each(hooks)))
    after_cpu, after = cpu_ns_snapshot(server_pid), process_counts(server_pid)
    counts = counts_per_webhook(before, after, len(hooks))
    cpu = {part: (after_cpu[part] - before_cpu[part]) / len(hooks) / 1e9 for part in before_cpu}
    return (f"  cold start, each of {len(hooks)} tenants' first webhook in turn: "
            f"p50 {took[len(took) // 2] * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms; "
            f"{counts['processes started']:.0f} processes started; per tenant: worker "
            f"{counts['worker minor faults']:.0f} minor faults; CPU "
            + ", ".join(f"{part} {seconds * 1e6:.0f} us" for part, seconds in cpu.items()))


def throughput(args: argparse.Namespace, work: Path) -> None:
    base_port, port = free_port(), free_port()
    with process([PYTHON, str(ROOT / "bench" / "baseline_server.py"), "--port", str(base_port),
                  "--data", str(work / "baseline")]) as baseline_server:
        asyncio.run(wait_ready(f"http://127.0.0.1:{base_port}/"))
        url = f"http://127.0.0.1:{base_port}/hooks/baseline"
        load(url, 8, 1.0)
        before = cpu_snapshot(baseline_server.pid)
        baseline = load(url, CONCURRENCY, args.seconds)
        baseline_cpu = cpu_per_webhook(before, cpu_snapshot(baseline_server.pid), baseline)
    with process(service_args(work / "service", port, args.workers)) as server:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base + "/healthz"))
        single = asyncio.run(module_hook(base, "single", SEED))
        single_cold = cold_starts(server.pid, [single])
        load(single, 8, 1.0)
        before, counted = cpu_snapshot(server.pid), process_counts(server.pid)
        one = load(single, CONCURRENCY, args.seconds)
        one_cpu = cpu_per_webhook(before, cpu_snapshot(server.pid), one)
        one_counts = counts_per_webhook(counted, process_counts(server.pid), one["ok"])
        many_hooks = asyncio.run(tenant_hooks(base, args.tenants, SEED, "many"))
        many_cold = cold_starts(server.pid, many_hooks)
        load_urls(many_hooks, 8, 1.0)
        before, counted = cpu_snapshot(server.pid), process_counts(server.pid)
        many = load_urls(many_hooks, CONCURRENCY, args.seconds)
        many_cpu = cpu_per_webhook(before, cpu_snapshot(server.pid), many)
        many_counts = counts_per_webhook(counted, process_counts(server.pid), many["ok"])
    print(f"throughput (seed module, concurrency {CONCURRENCY}, {args.workers} workers):")
    print(row("  baseline (no sandbox)", baseline))
    print(row("  service, one tenant", one))
    print(f"  {'':32} service/baseline: {one['per_second'] / max(baseline['per_second'], 1):.2f}")
    print(counts_row(one_counts))
    print(row(f"  service, {args.tenants} tenants interleaved", many))
    print(f"  {'':32} service/baseline: {many['per_second'] / max(baseline['per_second'], 1):.2f}")
    print(counts_row(many_counts))
    print("  before the windows (not in them):")
    print("  " + single_cold)
    print("  " + many_cold)
    # Where each side's CPU goes per webhook, and what that allows: with both cores busy
    # (load generator, event loop, sandbox workers), the totals bound the ratio; where the
    # workers had cores of their own, the event loops would.
    print("  CPU per webhook (us):")
    for name, parts in (("baseline", baseline_cpu), ("one tenant", one_cpu),
                        (f"{args.tenants} tenants", many_cpu)):
        print(f"    {name:<11}" + ", ".join(f"{part} {seconds * 1e6:.0f}"
                                          for part, seconds in parts.items()))
        if parts is not baseline_cpu:
            by_totals = sum(baseline_cpu.values()) / max(sum(parts.values()), 1e-9)
            by_loops = (baseline_cpu["event loop thread"]
                        / max(parts["event loop thread"], 1e-9))
            print(f"    {'':11}service/baseline bound: {by_totals:.2f} by CPU totals, "
                  f"{by_loops:.2f} by event loops")
    print()


def load_urls(urls: list[str], concurrency: int, seconds: float) -> dict[str, Any]:
    """bench/loadgen.py taking the URLs in turn, request by request."""
    completed = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "loadgen.py"), *urls, "--concurrency", str(concurrency),
         "--seconds", str(seconds)], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def hostile_neighbour(args: argparse.Namespace, work: Path) -> None:
    port = free_port()
    with process(service_args(work / "hostile", port, args.workers)):
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base + "/healthz"))
        quiet = asyncio.run(module_hook(base, "tenant-b", SEED))
        hostile = asyncio.run(module_hook(base, "tenant-a", HOSTILE))
        load(quiet, NEIGHBOUR_CONCURRENCY, 1.0)
        solo = load(quiet, NEIGHBOUR_CONCURRENCY, args.seconds)
        attack = load_async(hostile, NEIGHBOUR_CONCURRENCY, args.seconds + 1)
        time.sleep(0.5)
        shared = load(quiet, NEIGHBOUR_CONCURRENCY, args.seconds)
        attacked = finish(attack)
    print("hostile neighbour (A: CPU limit, memory exhaustion, garbage cycles, oversized "
          "result, recursion, in turn; B: seed module):")
    print(row(f"  B alone, concurrency {NEIGHBOUR_CONCURRENCY}", solo))
    print(row("  B while A attacks", shared))
    print(f"  {'':32} B keeps {shared['per_second'] / max(solo['per_second'], 1):.2f} of its solo "
          f"throughput; p99 x{shared['p99_ms'] / max(solo['p99_ms'], 1e-9):.2f}")
    print(f"  {'':32} A: {attacked['statuses']} in {attacked['seconds']:.1f} s")
    print()


def idle_workers(args: argparse.Namespace, work: Path) -> None:
    port = free_port()
    with process(service_args(work / "idle", port, args.workers)) as server:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base + "/healthz"))
        before = {pid: pss_kib(pid) for pid in children_of(server.pid)}
        service_pss = pss_kib(server.pid) + sum(before.values())
        hooks = asyncio.run(tenant_hooks(base, args.idle_tenants, SEED, "idle"))
        asyncio.run(one_webhook_each(hooks))
        time.sleep(1.0)
        after = {pid: pss_kib(pid) for pid in children_of(server.pid)}
    new = {pid: kib for pid, kib in after.items() if pid not in before}
    print(f"idle tenant workers ({args.idle_tenants} tenants, one webhook each):")
    print(f"  service and its processes before: {service_pss / 1024:.1f} MiB PSS")
    if not new:
        print("  no new worker processes (workers are not per tenant, or were reclaimed)")
        return
    per_worker = sum(new.values()) / len(new)
    print(f"  {len(new)} new processes, {per_worker / 1024:.2f} MiB PSS each on average "
          f"(max {max(new.values()) / 1024:.2f} MiB)")
    room = GIB / 1024 - service_pss
    print(f"  in 1 GiB beside the service: about {int(room / per_worker)} idle tenant workers")
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--idle-tenants", type=int, default=20)
    parser.add_argument("--only", choices=("throughput", "hostile", "idle"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voip-bench-isolation-") as tmp:
        work = Path(tmp)
        if args.only in (None, "throughput"):
            throughput(args, work)
        if args.only in (None, "hostile"):
            hostile_neighbour(args, work)
        if args.only in (None, "idle"):
            idle_workers(args, work)


if __name__ == "__main__":
    main()
