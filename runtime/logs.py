"""Structured logs: one JSON object per line (or plain text for a terminal)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

# A webhook URL's token is its provider's only credential (DESIGN.md, "Tenancy and access"):
# whoever reads the service's log must not be able to post to a tenant's webhook.
_HOOK_TOKEN = re.compile(r"^(/hooks/)([^/]+)")
HOOK_TOKEN_SHOWN = 4  # characters kept, enough to tell modules apart while debugging


def path_for_log(path: str) -> str:
    """A request's path as the log may say it: a webhook token cut to its first characters."""
    return _HOOK_TOKEN.sub(lambda m: f"{m[1]}{m[2][:HOOK_TOKEN_SHOWN]}…", path)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class OneLineRetries(logging.Filter):
    """A driver's reconnect retries as one line naming the error, without its traceback.

    asyncpg's pool logs "Failed to restore the pool connection floor; retrying" with a full
    traceback at every attempt (1 s apart, then up to 60 s) while PostgreSQL is down: an
    expected outage, which the store's health already reports once. The retries stay visible,
    one line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    retries = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, OneLineRetries) for f in retries.filters):
        retries.addFilter(OneLineRetries())


class Throttled:
    """A log line that any client can cause (a malformed request, a slow one): at most `burst`
    of them every `period` seconds; the rest are counted, and the count is said in one line
    when the period ends. The log of a service left running must not grow at the rate that
    someone on the internet sends requests."""

    def __init__(self, logger: logging.Logger, what: str, *, burst: int = 10,
                 period: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what  # "slow connections closed", in the line that counts them
        self.burst = burst
        self.period = period
        self.clock = clock
        self._ends = float("-inf")
        self._logged = 0
        self._held = 0
        self._level = logging.INFO
        self._timer: asyncio.TimerHandle | None = None

    def log(self, level: int, msg: str, *args: object) -> None:
        now = self.clock()
        if now >= self._ends:
            self.flush()
            self._ends, self._logged = now + self.period, 0
        if self._logged < self.burst:
            self._logged += 1
            self.logger.log(level, msg, *args)
            return
        self._held += 1
        self._level = max(self._level, level)
        if self._timer is None:
            # Said when the period ends, also when nothing else happens by then.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(max(0.0, self._ends - now), self.flush)

    def flush(self) -> None:
        """Say how many lines were held back, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._held:
            self.logger.log(self._level, "%d more %s in the last %g s, not logged one by one",
                            self._held, self.what, self.period)
            self._held, self._level = 0, logging.INFO
