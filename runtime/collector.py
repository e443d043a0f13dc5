"""The garbage collector as the service runs it: `settle()` once everything is loaded.

Everything alive at that moment (modules, caches, the store's statements) is moved out of the
collector's way (`gc.freeze`): what is frozen is never walked again. Young objects are
collected less often than Python's default (every 700 net allocations): a full collection
walking every long-lived object is what puts the tail into webhook latencies, and a unit of
work's records, results and coroutines, alive together while a batch waits for its commit,
crossed the default threshold every few units.

The service settles it at startup (runtime/server.py); the benches of a unit of work
(bench/unit_of_work.py, bench/unit_instructions.py) do the same before their units, so that
what they count is what the service pays.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
