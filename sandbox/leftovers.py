"""What a call leaves behind in its worker, dealt with before the call's outcome is reported.

Garbage: objects a script leaves in reference cycles are freed only by the collector. Left to
the collector's own schedule, their finalisers (a generator's `finally`) would run during some
later call, as that call's CPU time, output and errors. So the executor collects at the end of
each call, while the call's CPU timer is still armed and its output still captured. A script
whose finalisers keep making new garbage is cut off after `MAX_COLLECTIONS` and reported as the
"garbage" limit (its worker retires).

Caches: the standard library keeps what a script passes to some functions in module-level
caches (`re`, `urllib.parse`, `_strptime`, codec lookups). The curated module views
(sandbox/modules.py) pass exact builtin types, so those caches never keep a script's object
alive; what the views cannot cover (a compiled pattern's own `sub()` keeps its replacement
template; `datetime.strptime` keeps its format; an unknown codec name is remembered forever) is
dropped here.

Memory: a MemoryError retires the worker only when the address space really is nearly full
when it reaches the executor (`memory_nearly_full`, while the script's frames still hold what it
allocated): `bytes(10**12)` is refused without allocating anything and costs nothing more; a
script that filled its allowance leaves a heap that may stay fragmented near the limit.

Each call starts with `gc.freeze()` (`begin_call`): everything alive before it (the worker's
start-up heap, which a template process should also freeze before forking, so that workers keep
sharing its pages, and what earlier calls legitimately keep, such as compiled scripts and
patterns) is out of the collector's view, so the full collection at the end walks only what
this call made. Nothing is unfrozen: an object that
was alive at a call's start and later becomes *cyclic* garbage would stay (the worker's own
state is plain data freed by reference counting).
"""

from __future__ import annotations

import _strptime  # type: ignore[import-not-found]
import encodings
import gc
import mmap
import re
from typing import Any, Final

# Full collections at the end of a call before its garbage is judged to re-create itself.
# Ordinary garbage settles in one (a second finds nothing); each further round only happens when
# finalisers made new cyclic garbage.
MAX_COLLECTIONS: Final = 8

# A MemoryError with less than this share of the memory allowance left unmapped retires the worker.
RETIRE_BELOW_HEADROOM: Final = 0.25

_compile_repl: Any = getattr(re, "_compile_repl", None)  # lru_cache of sub() templates (3.11)
_codec_cache: dict[str, Any] = getattr(encodings, "_cache", {})
_strptime_formats: dict[Any, Any] = getattr(_strptime, "_regex_cache", {})
# How many codec names the cache held after the last clean-up (at first, at import): entries
# are only ever added, so a call that added none leaves it at that size and needs no scan. (The
# count taken at import alone would be stale for good: the template looks up more codecs after
# importing this module, and every call would then scan them all.)
_codecs_known = len(_codec_cache)


def begin_call() -> None:
    """Put everything alive now out of the collector's view (an O(1) list splice)."""
    gc.freeze()


def collect_garbage() -> bool:
    """Collect the call's garbage now (its finalisers run here); False when it would not settle."""
    for _ in range(MAX_COLLECTIONS):  # noqa: SIM110  (a loop of side effects, not a search)
        if gc.collect() == 0:
            return True
    return False


def forget_caches() -> None:
    """Drop what a call may have left in the standard library's module-level caches."""
    global _codecs_known
    if _compile_repl is not None:
        # Keys hold the template as the script passed it (a str subclass keeps its class, its
        # methods and so the call's namespace alive). Clearing an empty cache costs less than
        # asking whether it is (cache_info() builds a named tuple).
        _compile_repl.cache_clear()
    if _strptime_formats:
        for key in [key for key in _strptime_formats if type(key) is not str]:
            del _strptime_formats[key]
    if len(_codec_cache) > _codecs_known:
        # encodings remembers every unknown codec name as None: unbounded across calls.
        for name in [name for name, entry in _codec_cache.items() if entry is None]:
            del _codec_cache[name]
        _codecs_known = len(_codec_cache)


def memory_nearly_full(memory_bytes: int) -> bool:
    """Is less than RETIRE_BELOW_HEADROOM of the allowance left in this process's address space
    (RLIMIT_AS)? Probed by reserving that much address space, never touched, and releasing it:
    no /proc needed, a few microseconds. Without an address-space limit, never."""
    size = max(int(memory_bytes * RETIRE_BELOW_HEADROOM), mmap.PAGESIZE)
    try:
        probe = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=0)
    except (OSError, MemoryError):
        return True
    probe.close()
    return False
