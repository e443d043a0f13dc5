"""A small HTTP/1.1 keep-alive load generator, meant to run in its own process.

    python bench/loadgen.py URL [URL ...] --concurrency 32 --seconds 5 [--rate 2000] [--kind start]

Each request posts a JSON webhook with a unique call id. Several URLs (of one server) are
taken in turn, request by request, so their tenants' webhooks arrive interleaved. Closed loop
by default (each connection sends its next request when the last is answered); with --rate, an
open loop at that many requests per second across all connections. Prints one JSON line
with the counts, throughput and latency percentiles. Written on raw asyncio streams because a
full HTTP client costs more CPU per request than the server being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import uuid
from urllib.parse import urlsplit


def body_for(kind: str, n: int, prefix: str) -> bytes:
    data = {"type": kind, "callId": f"{prefix}-{n}", "srcPhone": f"+7916{n % 10_000_000:07d}",
            "dstPhone": "101"}
    return json.dumps(data).encode()


class Connection:
    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, body: bytes, path: str | None = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path or self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length = 0
        close = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def run(urls: list[str], concurrency: int, seconds: float, rate: float | None, kind: str,
              prefix: str) -> dict[str, object]:
    parts = urlsplit(urls[0])
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    paths = [path_of(url) for url in urls]
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.perf_counter() + seconds
    interval = concurrency / rate if rate else 0.0

    async def client(index: int) -> None:
        nonlocal errors
        connection = Connection(host, port, paths[0])
        next_at = time.perf_counter() + (interval * index / concurrency if rate else 0)
        while True:
            if rate:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            if time.perf_counter() >= deadline:
                break
            n = next(counter)
            body = body_for(kind, n, prefix)
            started = time.perf_counter()
            try:
                status = await connection.request(body, paths[n % len(paths)])
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                connection.close()
                await asyncio.sleep(0.01)
                continue
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(fraction: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * fraction))] * 1000

    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "requests": len(latencies), "ok": ok, "statuses": statuses, "errors": errors,
        "seconds": elapsed, "per_second": ok / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--kind", default="start")
    parser.add_argument("--prefix", default=uuid.uuid4().hex[:8])
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.urls, args.concurrency, args.seconds, args.rate, args.kind,
                             args.prefix))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
