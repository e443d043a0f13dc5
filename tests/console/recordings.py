"""A stand-in for a provider's recording storage on loopback: serves a short WAV tone."""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer


def tone_wav(seconds: float = 1.0, rate: int = 8000, hz: float = 440.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
            for i in range(int(seconds * rate)))
        out.writeframes(frames)
    return buffer.getvalue()


@dataclass
class RecordingServer:
    base: str = ""
    hits: list[str] = field(default_factory=list)


@asynccontextmanager
async def recording_server() -> AsyncIterator[RecordingServer]:
    state = RecordingServer()
    body = tone_wav()

    async def serve(request: web.Request) -> web.Response:
        state.hits.append(request.path)
        return web.Response(body=body, content_type="audio/wav",
                            headers={"Accept-Ranges": "none"})

    app = web.Application()
    app.router.add_get("/rec/{record_id}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.base = str(server.make_url("/rec")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()
