"""The live WebSocket (/api/v1/live) opened over a plain socket, for tests that need what a
client library hides: a tiny receive buffer, a hang-up without a close frame."""

from __future__ import annotations

import base64
import os
import socket


def live_upgrade(token: str) -> bytes:
    """The request opening a live socket for the user token `token`."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /api/v1/live?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode()


def read_until(raw: socket.socket, marker: bytes, answer: bytes = b"", *, chunk: int = 4096
               ) -> bytes:
    """`answer` and what follows it on `raw` until it holds `marker`, read `chunk` bytes at
    most at a time. The service closing the connection first fails the test (an empty read
    would otherwise be read again forever)."""
    while marker not in answer:
        data = raw.recv(chunk)
        assert data, f"the service closed the connection after {answer[:300]!r}"
        answer += data
    return answer
