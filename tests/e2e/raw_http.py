"""HTTP/1.1 over a raw socket, paced like a client on a real network: a request written in many
small TCP segments with pauses between them, or dribbled a byte at a time."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def head(method: str, target: bytes | str, headers: Sequence[tuple[str, str | bytes]] = (),
         *, host: str = "127.0.0.1") -> bytes:
    """A request line and headers, as bytes: any byte may go into a target or a value."""
    target_bytes = target.encode("latin-1") if isinstance(target, str) else target
    lines = [method.encode("ascii") + b" " + target_bytes + b" HTTP/1.1",
             b"Host: " + host.encode("latin-1")]
    names = {name.lower() for name, _ in headers}
    for name, value in headers:
        value_bytes = value.encode("latin-1") if isinstance(value, str) else value
        lines.append(name.encode("ascii") + b": " + value_bytes)
    if "connection" not in names:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def pieces(data: bytes, count: int) -> list[bytes]:
    """`data` cut into `count` pieces of nearly equal size (fewer when it is shorter)."""
    if not data:
        return []
    count = max(1, min(count, len(data)))
    size, extra = divmod(len(data), count)
    out, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        out.append(data[start:end])
        start = end
    return out


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    # Each write leaves as its own segment, as it would from a client far away.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


def parse_response(data: bytes) -> RawResponse:
    head_bytes, _, rest = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    pairs = (line.partition(":") for line in lines[1:])
    raw_headers = [(name.strip(), value.strip()) for name, _, value in pairs]
    headers = {k.lower(): v for k, v in raw_headers}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2:]
        rest = bytes(body)
    elif "content-length" in headers:
        rest = rest[:int(headers["content-length"])]
    return RawResponse(status, headers, rest, raw_headers)


async def send(port: int, request_head: bytes, body: bytes = b"", *, segments: int = 1,
               pause: float = 0.0, timeout: float = 30.0) -> RawResponse:
    """Send a request (its head in one write, then its body in `segments` writes `pause`
    seconds apart) with `Connection: close`, and read the whole answer."""
    reader, writer = await connect(port)
    try:
        writer.write(request_head)
        await writer.drain()
        for piece in pieces(body, segments):
            if pause:
                await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    assert data, "the connection closed without an answer"
    return parse_response(data)


def chunked(body: bytes, count: int) -> bytes:
    """`body` in Transfer-Encoding: chunked framing, `count` chunks."""
    framed = b"".join(b"%x\r\n" % len(piece) + piece + b"\r\n" for piece in pieces(body, count))
    return framed + b"0\r\n\r\n"
