"""Webhook throughput and latency of the real service against a bare baseline, noisy
neighbours, crash durability at load, and memory.

    .venv/bin/python bench/webhooks.py [--seconds 5] [--workers 2] [--skip-crash]

Starts the real service (SQLite, `voip-runtime serve`) and, in the same run, the baseline (a
bare aiohttp handler doing the same JSON parse, contract validation and durable insert, no
sandbox: bench/baseline_server.py), and that server's empty handler as the machine's ceiling
(what HTTP and the load generator alone allow). Load comes from bench/loadgen.py in a separate
process. Prints figures and ratios; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.loadgen import Connection, body_for  # noqa: E402

PYTHON = sys.executable
OPERATOR = "op_benchmark_operator_token_000"
SEED = (ROOT / "scripts" / "seed-json" / "script.py").read_text(encoding="utf-8")
NOISY_CONCURRENCY = 8
IDLE_BUSY_LOOP = (
    "import os\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True:\n"
    "    pass\n"
)
BURNER = (
    "def VoipParseWebhookRequest(request):\n"
    "    n = 0\n"
    "    while True:\n"
    "        n += 1\n"
)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its children, in KiB."""
    total = 0
    for each in [pid, *children_of(pid)]:
        try:
            with open(f"/proc/{each}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU time of a process (or one of its threads), in seconds."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        with open(path) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    """Every process below `pid`: the sandbox's workers are its fork server's children."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        parents.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found += children
        frontier += children
    return found


def cpu_snapshot(pid: int) -> dict[str, float]:
    """CPU seconds so far: the service's event-loop thread, its other threads, its workers,
    and (through RUSAGE_CHILDREN) every load generator this process has waited for."""
    loop_thread = cpu_seconds(pid, pid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "event loop thread": loop_thread,
        "other service threads": cpu_seconds(pid) - loop_thread,
        "sandbox workers": sum(cpu_seconds(child) for child in children_of(pid)),
        "load generator": usage.ru_utime + usage.ru_stime,
    }


def _socket_ports(pid: int) -> set[int]:
    """The local TCP ports of the sockets a process (or one of its children) holds open."""
    inodes: set[str] = set()
    for each in [pid, *children_of(pid)]:
        try:
            fds = os.listdir(f"/proc/{each}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{each}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def postgres_cpu(service_pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of the PostgreSQL server's processes (those named `postgres` in
    /proc): the backends serving these service processes' connections (found by their
    client port in the backend's title, "user db 127.0.0.1(port) state"), and the rest (the
    postmaster, WAL writer, checkpointer..., and other clients' backends: anything else
    using the same server during the window counts there)."""
    ports = set().union(*(_socket_ports(pid) for pid in service_pids))
    ours = rest = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if stat.read().split(" ", 2)[1] != "(postgres)":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().decode("utf-8", "replace")
        except OSError:
            continue
        seconds = cpu_seconds(int(entry))
        client = title.rsplit("(", 1)[-1].split(")", 1)[0]
        if client.isdigit() and int(client) in ports:
            ours += seconds
        else:
            rest += seconds
    return {"postgres: our backends": ours, "postgres: other processes": rest}


def nodes_cpu(pids: list[int]) -> dict[str, float]:
    """`cpu_snapshot` summed over service nodes, with the PostgreSQL server's parts."""
    total: dict[str, float] = {}
    for pid in pids:
        for part, seconds in cpu_snapshot(pid).items():
            if part == "load generator":
                seconds = seconds if pid == pids[0] else 0.0  # this process's children, once
            total[part] = total.get(part, 0.0) + seconds
    return total | postgres_cpu(pids)


def print_cpu(name: str, parts: dict[str, float]) -> None:
    total = sum(parts.values())
    print(f"    {name:<11}" + ", ".join(
        f"{part} {seconds * 1e6:.0f} us" for part, seconds in parts.items()
        if seconds or part != "sandbox workers"))
    print(f"    {'':11}total {total * 1e6:.0f} us: at most "
          f"{(os.cpu_count() or 1) / total:.0f}/s on {os.cpu_count()} cores, at most "
          f"{1 / parts['event loop thread']:.0f}/s on one event loop")


def cpu_per_webhook(before: dict[str, float], after: dict[str, float], figures: dict[str, Any]
                    ) -> dict[str, float]:
    return {part: (after[part] - before[part]) / max(figures["ok"], 1) for part in before}


async def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def stop(child: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def process(args: list[str], cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        stop(child)


def service_args(data: Path, port: int, workers: int, storage_url: str | None = None
                 ) -> list[str]:
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "data_dir": str(data),
        "operator_token": OPERATOR,
        "log_format": "text",
        "log_level": "WARNING",
        "sandbox": {"workers": workers},
        "tenant_limits": {"webhooks_per_second": 1e9, "webhook_burst": 1_000_000,
                          "concurrent_executions": 64},
    }
    if storage_url:
        config["storage_url"] = storage_url
    config_file = data / "config.yaml"
    data.mkdir(parents=True, exist_ok=True)
    config_file.write_text(yaml.safe_dump(config))
    return [PYTHON, "-m", "runtime", "serve", "--config", str(config_file)]


async def api(session: aiohttp.ClientSession, method: str, url: str, token: str,
              body: Any = None) -> Any:
    async with session.request(method, url, json=body,
                               headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
        return await response.json()


async def module_hook(base: str, name: str, source: str) -> str:
    """A tenant with one module running `source`; returns its webhook URL."""
    async with aiohttp.ClientSession() as session:
        tenant = await api(session, "POST", f"{base}/api/v1/tenants", OPERATOR, {"name": name})
        key = (await api(session, "POST", f"{base}/api/v1/tenants/{tenant['id']}/keys",
                         OPERATOR))["key"]
        module = await api(session, "POST", f"{base}/api/v1/modules", key,
                           {"name": "seed", "region": "RU"})
        await api(session, "POST", f"{base}/api/v1/modules/{module['id']}/versions", key,
                  {"source": source, "activate": True})
        return str(module["webhook_url"])


def load(url: str, concurrency: int, seconds: float, rate: float | None = None
         ) -> dict[str, Any]:
    args = [PYTHON, str(ROOT / "bench" / "loadgen.py"), url, "--concurrency", str(concurrency),
            "--seconds", str(seconds)]
    if rate:
        args += ["--rate", str(rate)]
    completed = subprocess.run(args, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def row(label: str, figures: dict[str, Any]) -> str:
    return (f"{label:<34} {figures['per_second']:8.0f}/s   p50 {figures['p50_ms']:7.2f} ms"
            f"   p99 {figures['p99_ms']:7.2f} ms   non-2xx {figures['requests'] - figures['ok']}"
            f"   errors {figures['errors']}")


def load_async(url: str, concurrency: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, str(ROOT / "bench" / "loadgen.py"), url, "--concurrency", str(concurrency),
         "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)


def finish(child: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = child.communicate()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Baseline and service (SQLite) figures; returns the service's at the top concurrency."""
    levels = [int(c) for c in args.concurrency.split(",")]
    base_port, service_port = free_port(), free_port()
    print(f"machine: {os.cpu_count()} cores; service: {args.workers} sandbox workers; "
          f"{args.seconds:g} s per figure; load from a separate process")
    print()
    baseline: dict[int, dict[str, Any]] = {}
    with process([PYTHON, str(ROOT / "bench" / "baseline_server.py"), "--port", str(base_port),
                  "--data", str(work / "baseline")]) as baseline_server:
        asyncio.run(wait_ready(f"http://127.0.0.1:{base_port}/"))
        url = f"http://127.0.0.1:{base_port}/hooks/baseline"
        load(url, 8, 1.0)  # warm up
        baseline_cpu: dict[str, float] = {}
        for level in levels:
            before = cpu_snapshot(baseline_server.pid)
            baseline[level] = load(url, level, args.seconds)
            baseline_cpu = cpu_per_webhook(before, cpu_snapshot(baseline_server.pid),
                                           baseline[level])
        empty_url = f"http://127.0.0.1:{base_port}/hooks/empty"
        before = cpu_snapshot(baseline_server.pid)
        empty = load(empty_url, levels[-1], args.seconds)
        empty_cpu = cpu_per_webhook(before, cpu_snapshot(baseline_server.pid), empty)
    with process(service_args(work / "service", service_port, args.workers)) as server:
        base = f"http://127.0.0.1:{service_port}"
        asyncio.run(wait_ready(base + "/healthz"))
        idle_rss = rss_kib(server.pid)
        hook = asyncio.run(module_hook(base, "bench", SEED))
        load(hook, 8, 1.0)
        service: dict[int, dict[str, Any]] = {}
        loaded_rss = 0
        service_cpu: dict[str, float] = {}
        for level in levels:
            before = cpu_snapshot(server.pid)
            child = load_async(hook, level, args.seconds)
            time.sleep(args.seconds / 2)
            loaded_rss = max(loaded_rss, rss_kib(server.pid))
            service[level] = finish(child)
            service_cpu = cpu_per_webhook(before, cpu_snapshot(server.pid), service[level])
        print("webhooks (seed module, NotifyStart creating a call each):")
        for level in levels:
            print(row(f"  baseline   concurrency {level:3d}", baseline[level]))
            print(row(f"  service    concurrency {level:3d}", service[level]))
            ratio = service[level]["per_second"] / max(baseline[level]["per_second"], 1)
            print(f"  {'':32} service/baseline throughput: {ratio:.2f}")
        peak = max(service.values(), key=lambda f: f["per_second"])
        base_peak = max(baseline.values(), key=lambda f: f["per_second"])
        print(f"  peak: service {peak['per_second']:.0f}/s, baseline "
              f"{base_peak['per_second']:.0f}/s, ratio "
              f"{peak['per_second'] / max(base_peak['per_second'], 1):.2f}")
        # Where a webhook's CPU goes (at the highest concurrency): the event-loop thread caps
        # a server at 1 / its share; all parts together cap it at cores / total.
        print(f"  CPU per webhook at concurrency {levels[-1]}:")
        for name, parts in (("baseline", baseline_cpu), ("service", service_cpu)):
            print_cpu(name, parts)
        # What the ratio can be at all here: with every core busy (load generator and
        # sandbox workers share them), the CPU totals bound it; with cores to spare for the
        # workers, each side's event loop does.
        by_totals = sum(baseline_cpu.values()) / max(sum(service_cpu.values()), 1e-9)
        by_loops = (baseline_cpu["event loop thread"]
                    / max(service_cpu["event loop thread"], 1e-9))
        print(f"    service/baseline bound: {by_totals:.2f} with all {os.cpu_count()} cores "
              f"busy (CPU totals); {by_loops:.2f} where the workers have cores of their own "
              f"(event loops)")
        # The same load generator against a handler that does nothing: the most any webhook
        # handler on this machine could reach, whatever it did.
        print(row(f"  ceiling: empty handler, conc. {levels[-1]}", empty))
        print(f"    {'':9}(reads the body and answers; per request: event loop thread "
              f"{empty_cpu['event loop thread'] * 1e6:.0f} us, load generator "
              f"{empty_cpu['load generator'] * 1e6:.0f} us)")
        half = peak["per_second"] / 2
        paced = load(hook, 64, args.seconds, rate=half)
        print(row(f"  service at half peak ({half:.0f}/s)", paced))
        print()
        print(f"memory (service + workers, RSS): idle {idle_rss / 1024:.0f} MiB, "
              f"under load {loaded_rss / 1024:.0f} MiB")
        print()
        return service[levels[-1]] | {"cpu": service_cpu}


def noisy_neighbour(args: argparse.Namespace, work: Path) -> None:
    port = free_port()
    with process(service_args(work / "noisy", port, args.workers)):
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base + "/healthz"))
        quiet = asyncio.run(module_hook(base, "tenant-b", SEED))
        noisy = asyncio.run(module_hook(base, "tenant-a", BURNER))
        load(quiet, 8, 1.0)
        solo = load(quiet, 8, args.seconds)
        flood = load_async(noisy, NOISY_CONCURRENCY, args.seconds + 1)
        time.sleep(0.5)
        shared = load(quiet, 8, args.seconds)
        burned = finish(flood)  # waits for A's queued calls to drain
        # The floor on this machine: any busy loop beside B, even one that only gets CPU
        # nobody else wants (SCHED_IDLE), costs B something (the vCPUs share a host).
        idle_loop = subprocess.Popen([PYTHON, "-c", IDLE_BUSY_LOOP])
        time.sleep(0.5)
        beside_idle_loop = load(quiet, 8, args.seconds)
        idle_loop.kill()
        idle_loop.wait()
    print("noisy neighbour (tenant A: every call burns its whole CPU limit; B: seed module):")
    print(row("  B alone, concurrency 8", solo))
    print(row(f"  B while A floods (A conc. {NOISY_CONCURRENCY})", shared))
    print(f"  {'':32} B keeps {shared['per_second'] / max(solo['per_second'], 1):.2f} of its "
          f"solo throughput; p99 x{shared['p99_ms'] / max(solo['p99_ms'], 1e-9):.2f}")
    print(f"  {'':32} A: {burned['statuses']} (each call stopped at its CPU limit)")
    print(row("  reference: B beside an idle loop", beside_idle_loop))
    print(f"  {'':32} (a SCHED_IDLE busy loop outside the service: B keeps "
          f"{beside_idle_loop['per_second'] / max(solo['per_second'], 1):.2f}; p99 "
          f"x{beside_idle_loop['p99_ms'] / max(solo['p99_ms'], 1e-9):.2f})")
    print()


async def crash(args: argparse.Namespace, work: Path) -> None:
    port = free_port()
    service_cmd = service_args(work / "crash", port, args.workers)
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(service_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await wait_ready(base + "/healthz")
        hook = await module_hook(base, "crash", SEED)
        path = hook.split(str(port), 1)[1]
        acknowledged: set[int] = set()
        attempted: set[int] = set()
        counter = iter(range(10**9))
        stop = False

        async def client() -> None:
            connection = Connection("127.0.0.1", port, path)
            while not stop:
                n = next(counter)
                attempted.add(n)
                try:
                    status = await connection.request(body_for("start", n, "crash"))
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    return
                if 200 <= status < 300:
                    acknowledged.add(n)

        clients = [asyncio.ensure_future(client()) for _ in range(32)]
        await asyncio.sleep(args.seconds / 2)
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop = True
        await asyncio.gather(*clients, return_exceptions=True)
        server = subprocess.Popen(service_cmd, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        await wait_ready(base + "/healthz")
        async with aiohttp.ClientSession() as session:
            tenants = await api(session, "GET", f"{base}/api/v1/tenants", OPERATOR)
            tenant = tenants[0] if isinstance(tenants, list) else tenants["tenants"][0]
            key = (await api(session, "POST", f"{base}/api/v1/tenants/{tenant['id']}/keys",
                             OPERATOR))["key"]

            async def stored_ids() -> list[str]:
                found: list[str] = []
                offset = 0
                while True:
                    page = await api(session, "GET",
                                     f"{base}/api/v1/calls?limit=500&offset={offset}", key)
                    items = page if isinstance(page, list) else page["calls"]
                    found += [c["provider_call_id"] for c in items]
                    if len(items) < 500:
                        return found
                    offset += 500

            before = await stored_ids()
            stored = {int(c.split("-")[1]) for c in before}
            lost = acknowledged - stored
            unacknowledged = attempted - acknowledged
            connection = Connection("127.0.0.1", port, path)
            for n in sorted(unacknowledged | set(list(acknowledged)[:200])):
                await connection.request(body_for("start", n, "crash"))
            connection.close()
            after = await stored_ids()
        print("crash durability (SIGKILL at load, then restart):")
        print(f"  acknowledged before the kill: {len(acknowledged)}; attempted: {len(attempted)}")
        print(f"  acknowledged but not stored after restart: {len(lost)}")
        print(f"  stored although unacknowledged: {len(stored - acknowledged)}")
        print(f"  retried {len(unacknowledged)} unacknowledged + 200 acknowledged: calls "
              f"{len(before)} -> {len(after)}; duplicates: {len(after) - len(set(after))}")
        print()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(10)


def postgres(args: argparse.Namespace, work: Path, sqlite_service: dict[str, Any]) -> None:
    """The same webhooks with PostgreSQL as the store: one node, then two nodes sharing it,
    with their ratios to the SQLite service measured in the same run (at the same
    concurrency) and two nodes' to one's."""
    level = max(int(c) for c in args.concurrency.split(","))
    print(f"PostgreSQL ({args.postgres.split('@')[-1]}), concurrency {level} in all:")
    totals: dict[int, dict[str, Any]] = {}
    cpu: dict[int, dict[str, float]] = {}
    for nodes in (1, 2):
        schema = f"bench_{os.getpid()}_{nodes}"
        separator = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{separator}schema={schema}"
        ports = [free_port() for _ in range(nodes)]
        with contextlib.ExitStack() as stack:
            stack_children = []
            for index, port in enumerate(ports):
                stack_children.append(stack.enter_context(process(service_args(
                    work / f"pg{nodes}-{index}", port, args.workers, url))))
                # One node at a time: the first applies the schema's migrations.
                asyncio.run(wait_ready(f"http://127.0.0.1:{port}/healthz"))
            hook = asyncio.run(module_hook(f"http://127.0.0.1:{ports[0]}", f"pg{nodes}", SEED))
            path = hook.split(str(ports[0]), 1)[1]
            urls = [f"http://127.0.0.1:{port}{path}" for port in ports]
            load(urls[-1], 8, 1.0)
            pids = [child.pid for child in stack_children]
            before = nodes_cpu(pids)
            children = [load_async(u, max(1, level // nodes), args.seconds) for u in urls]
            results = [finish(child) for child in children]
            after = nodes_cpu(pids)
        total = {
            "per_second": sum(r["per_second"] for r in results),
            "requests": sum(r["requests"] for r in results),
            "ok": sum(r["ok"] for r in results),
            "errors": sum(r["errors"] for r in results),
            "p50_ms": max(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
        }
        print(row(f"  service, {nodes} node{'s' if nodes > 1 else ''}", total))
        cpu[nodes] = cpu_per_webhook(before, after, total)
        totals[nodes] = total
        drop_schema(args.postgres, schema)
    print(f"  PostgreSQL one node / SQLite service: "
          f"{totals[1]['per_second'] / max(sqlite_service['per_second'], 1):.2f}; "
          f"two nodes / one node: "
          f"{totals[2]['per_second'] / max(totals[1]['per_second'], 1):.2f}")
    # Whether 0.8x SQLite can be reached on these cores at all: with the cores busy, one
    # node serves at most cores / (its CPU per webhook, service and server processes).
    print(f"  CPU per webhook at concurrency {level} (summed over nodes):")
    print_cpu("SQLite", sqlite_service["cpu"])
    for nodes, parts in cpu.items():
        print_cpu(f"PG {nodes} node{'s' if nodes > 1 else ''}", parts)
    cores = os.cpu_count() or 1
    bound = cores / max(sum(cpu[1].values()), 1e-9)
    print(f"    PostgreSQL one node, CPU-bound on {cores} cores: at most {bound:.0f}/s, "
          f"{bound / max(sqlite_service['per_second'], 1):.2f}x the SQLite service's "
          f"{sqlite_service['per_second']:.0f}/s here")
    print()


def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    from runtime.store.postgres import PgTarget

    async def drop() -> None:
        # The URL's own ?schema= and ?pool_size= are the store's, not asyncpg's.
        connection = await asyncpg.connect(PgTarget.parse(url).dsn)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--skip-crash", action="store_true")
    parser.add_argument("--skip-noisy", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("VOIP_TEST_POSTGRES_URL"),
                        help="a PostgreSQL URL: also measure one and two nodes sharing it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voip-bench-") as tmp:
        work = Path(tmp)
        sqlite_service = throughput(args, work)
        if args.postgres:
            postgres(args, work, sqlite_service)
        if not args.skip_noisy:
            noisy_neighbour(args, work)
        if not args.skip_crash:
            asyncio.run(crash(args, work))


if __name__ == "__main__":
    main()
