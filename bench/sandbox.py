"""How much the sandbox costs: the seed module's parse function through the worker pool, next to
the same function compiled normally and called in this process.

    .venv/bin/python bench/sandbox.py [--seconds 3] [--workers 2]

Prints calls/s and p50/p99 latency at concurrency 1, 4 and 32, the in-process baseline, and the
ratios. Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.seed_call import SEED, SETTINGS, start_request  # noqa: E402
from bench.webhooks import children_of, cpu_seconds  # noqa: E402
from sandbox import Call, Limits, SandboxPool  # noqa: E402
from sandbox.injected import FetchRequest, OutputLog, make_injected  # noqa: E402

REQUEST = start_request(
    "http://localhost/hooks/bench",
    (("Content-Type", "application/json"),),
)


class NoHost:
    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": False, "error": "no host in the benchmark"}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def in_process(seconds: float) -> dict[str, float]:
    """Plain compile + exec per call (fresh namespace, as the sandbox does), no walls."""
    code = compile(SEED, "script.py", "exec")
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        namespace: dict[str, Any] = {"__builtins__": builtins}
        namespace.update(make_injected(host=NoHost(), settings=SETTINGS,
                                       output=OutputLog(65536)))
        exec(code, namespace)
        result = namespace["VoipParseWebhookRequest"](FetchRequest(REQUEST))
        json.dumps(result)
        latencies.append(time.perf_counter() - started)
    return summary(latencies, seconds)


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    return {
        "calls_per_s": len(latencies) / seconds,
        "p50_us": percentile(latencies, 0.50) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
        "mean_us": statistics.fmean(latencies) * 1e6,
    }


async def through_pool(pool: SandboxPool, concurrency: int, seconds: float) -> dict[str, float]:
    call = Call(source=SEED, function="VoipParseWebhookRequest", request=REQUEST,
                settings=SETTINGS)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            outcome = await pool.run(call)
            latencies.append(time.perf_counter() - started)
            if not outcome.ok:
                failures += 1

    began = time.perf_counter()
    cpu_before = own_cpu(), workers_cpu()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    result = summary(latencies, elapsed)
    result["failures"] = failures
    calls = max(len(latencies), 1)
    result["pool_cpu_us"] = (own_cpu() - cpu_before[0]) / calls * 1e6
    result["workers_cpu_us"] = (workers_cpu() - cpu_before[1]) / calls * 1e6
    return result


def own_cpu() -> float:
    """This process's CPU time: the pool's side of every call (and the benchmark's loop)."""
    return time.process_time()


def workers_cpu() -> float:
    """CPU time of every process below this one (the template and its workers), from /proc."""
    return sum(cpu_seconds(pid) for pid in children_of(os.getpid()))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--inflight", type=int, default=4)
    args = parser.parse_args()

    baseline = in_process(args.seconds)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"in-process baseline (plain compile, no walls): {baseline['calls_per_s']:9.0f} calls/s"
          f"   p50 {baseline['p50_us']:7.1f} µs   p99 {baseline['p99_us']:7.1f} µs")
    async with SandboxPool(size=args.workers, limits=Limits(),
                           inflight_per_worker=args.inflight) as pool:
        for _ in range(200):  # warm the compile caches of every worker
            await pool.run(Call(source=SEED, function="VoipParseWebhookRequest",
                                request=REQUEST, settings=SETTINGS))
        print(f"pool: {args.workers} workers, {args.inflight} calls in flight per worker")
        for concurrency in (1, 4, 32):
            figures = await through_pool(pool, concurrency, args.seconds)
            overhead = figures["p50_us"] - baseline["p50_us"]
            print(
                f"  concurrency {concurrency:2d}: {figures['calls_per_s']:9.0f} calls/s"
                f"   p50 {figures['p50_us']:7.1f} µs   p99 {figures['p99_us']:7.1f} µs"
                f"   p50 overhead {overhead:7.1f} µs"
                f"   throughput ratio {figures['calls_per_s'] / baseline['calls_per_s']:.2f}"
                f"   failures {int(figures['failures'])}"
            )
            print(f"{'':17}CPU per call: pool {figures['pool_cpu_us']:6.0f} µs, "
                  f"workers {figures['workers_cpu_us']:6.0f} µs")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
