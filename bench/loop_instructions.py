"""Instructions per webhook in the service's main process against the bare baseline's, under
callgrind: what one tenant's webhook costs the event loop that bounds the service's throughput.

    .venv/bin/python bench/loop_instructions.py [--warm-up 200] [--webhooks 400] [--tenants 1]
        [--keep DIR]

Starts the real service (`voip-runtime serve`, SQLite, bench/webhooks.py's configuration, the
seed module for one tenant) and then the baseline (bench/baseline_server.py), each under
`valgrind --tool=callgrind --trace-children=no` with PYTHONHASHSEED=0: the sandbox's template
is exec'd, so its workers run natively and only the main process (every thread of it, the
store's commit thread included) is counted. Posts the same webhooks bench/loadgen.py posts
(NotifyStart of a new call from a new number), at concurrency 8, from this process:

    warm-up, dump; N webhooks, dump; 2N webhooks, dump

Instructions per webhook = the two parts' sum / 3N. What each part pays once (the dump, timers
while idle) is spread over its N or 2N webhooks; the difference of the parts / N, which
cancels it, is printed too, but it varies more from run to run (the store's group commits
batch as the threads' timing falls, so each part's work is not quite proportional to its
webhooks). Compare figures from runs made alike (two at once, or one at a time). Prints
both servers' figures and the ratio; asserts nothing.
`--keep DIR` keeps the callgrind files, for callgrind_annotate (`--inclusive=yes
DIR/service.out.<pid>.3` is the 2N part).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.loadgen import Connection, body_for, path_of  # noqa: E402
from bench.webhooks import (  # noqa: E402
    PYTHON,
    SEED,
    free_port,
    module_hook,
    service_args,
    stop,
)

CONCURRENCY = 8
# Everything is some 50 times slower under callgrind: imports, the store's opening, the API
# calls that set the tenant up.
START_SECONDS = 600.0


@contextmanager
def under_callgrind(args: list[str], out: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    command = ["valgrind", "--tool=callgrind", "--trace-children=no",
               f"--callgrind-out-file={out}", *args]
    with log.open("wb") as output:
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield child
    finally:
        stop(child, grace=120)  # callgrind writes its last dump on the way out


async def wait_ready(host: str, port: int, path: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with {child.returncode} while starting")
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await reader.read()
        writer.close()
        return
    raise RuntimeError(f"{host}:{port} did not come up")


async def post(urls: list[str], count: int, prefix: str) -> None:
    """`count` webhooks at CONCURRENCY, each over keep-alive connections, to the URLs in turn
    (interleaved tenants); every one must be acknowledged (a refused one would count
    instructions for a different path)."""
    url = urls[0]
    host, port = "127.0.0.1", int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    paths = [path_of(each) for each in urls]
    numbers = itertools.count()
    refused: list[int] = []

    async def client() -> None:
        connection = Connection(host, port, paths[0])
        while (n := next(numbers)) < count:
            status = await connection.request(body_for("start", n, prefix), paths[n % len(paths)])
            if not 200 <= status < 300:
                refused.append(status)
        connection.close()

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    if refused:
        raise RuntimeError(f"{len(refused)} webhooks refused: {sorted(set(refused))}")


def dump(pid: int) -> None:
    """Ask callgrind to write what it counted since the last dump (and start again)."""
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)


def part_total(out: Path, pid: int, part: int) -> int:
    """The instructions in one dump (`summary:` or `totals:` line of its file)."""
    text = Path(f"{out}.{pid}.{part}").read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no total in {out}.{pid}.{part}")


def measure(name: str, server: list[str], port: int, setup_hook: str | None, ready_path: str,
            work: Path, warm_up: int, webhooks: int, tenants: int = 1) -> int:
    """Instructions per webhook of one server's main process; `setup_hook` is the baseline's
    webhook path, None for the service (`tenants` tenants, each with the seed module, are made
    through its API, and the webhooks go to each in turn)."""
    out = work / f"{name}.out"
    with under_callgrind(server, Path(f"{out}.%p"), work / f"{name}.log") as child:
        asyncio.run(wait_ready("127.0.0.1", port, ready_path, child))
        base = f"http://127.0.0.1:{port}"
        urls = [asyncio.run(module_hook(base, f"loop-{n}", SEED)) for n in range(tenants)] \
            if setup_hook is None else [base + setup_hook]
        prefix = f"{name}-{os.getpid()}"
        asyncio.run(post(urls, warm_up, prefix + "-w"))
        dump(child.pid)
        asyncio.run(post(urls, webhooks, prefix + "-a"))
        dump(child.pid)
        asyncio.run(post(urls, 2 * webhooks, prefix + "-b"))
        dump(child.pid)
        single = part_total(out, child.pid, 2)
        double = part_total(out, child.pid, 3)
    per_webhook = (single + double) // (3 * webhooks)
    print(f"{name:<9} {per_webhook:>12,} instructions per webhook   (difference of the parts: "
          f"{(double - single) // webhooks:,}; parts: {single:,} for {webhooks}, {double:,} for "
          f"{2 * webhooks}; pid {child.pid})", flush=True)
    return per_webhook


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--webhooks", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=1,
                        help="tenants the service's webhooks go to in turn (each its own worker)")
    parser.add_argument("--only", choices=("service", "baseline"))
    parser.add_argument("--keep", type=Path, help="keep the callgrind files in this directory")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    with tempfile.TemporaryDirectory(prefix="voip-loop-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        figures: dict[str, int] = {}
        if args.only in (None, "service"):
            port = free_port()
            service = service_args(work / "service-data", port, args.workers)
            figures["service"] = measure("service", service, port, None, "/healthz", work,
                                         args.warm_up, args.webhooks, args.tenants)
        if args.only in (None, "baseline"):
            port = free_port()
            baseline = [PYTHON, str(ROOT / "bench" / "baseline_server.py"), "--port", str(port),
                        "--data", str(work / "baseline-data")]
            (work / "baseline-data").mkdir(exist_ok=True)
            figures["baseline"] = measure("baseline", baseline, port, "/hooks/baseline", "/",
                                          work, args.warm_up, args.webhooks)
        if len(figures) == 2:
            print(f"service/baseline: {figures['service'] / figures['baseline']:.3f}")


if __name__ == "__main__":
    main()
