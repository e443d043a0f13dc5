"""Limits inside a worker that a script cannot swallow, garbage that never outlives its call,
memory errors charged to whoever grew the worker, and host code that never runs a script's
objects. Real worker processes through the pool; nothing else checks the CPU time from outside
here, so the worker's own limit has to hold by itself.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from typing import Any

import pytest

from sandbox import Call, Limits, RequestData, SandboxPool

# The wall clock is far away: a call that swallowed its CPU limit must end by the CPU limit,
# not be rescued by the wall clock.
CPU_LIMITS = Limits(wall_seconds=60, cpu_seconds=0.3)
# Generous for a loaded machine: the CPU limit plus the worker's grace is half a second of CPU.
ENDS_WITHIN_SECONDS = 15

BENIGN = textwrap.dedent(
    """
    def VoipParseWebhookRequest(request):
        return {"n": request.json()["n"]}
    """
)


def parse_call(source: str, body: str | None = None) -> Call:
    return Call(source=textwrap.dedent(source), function="VoipParseWebhookRequest",
                request=RequestData(body=body))


@pytest.fixture
async def pool() -> Any:
    async with SandboxPool(size=2, limits=CPU_LIMITS) as pool:
        yield pool


async def assert_benign_works(pool: SandboxPool) -> None:
    outcome = await pool.run(parse_call(BENIGN, '{"n": 7}'))
    assert outcome.ok, outcome
    assert outcome.result == {"n": 7}


async def replaced(pool: SandboxPool, workers: int) -> None:
    """Wait until the pool has replaced `workers` workers in all (a retiring worker exits after
    reporting its outcome, and the pool replaces it then)."""
    for _ in range(400):
        if pool.stats.workers_replaced >= workers:
            assert pool.stats.workers_replaced == workers
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the pool replaced {pool.stats.workers_replaced} workers, not {workers}")


# -- the CPU limit, caught every way Python allows ----------------------------------------------

SWALLOWERS: dict[str, str] = {
    "except_in_a_loop": """
        def VoipParseWebhookRequest(request):
            n = 0
            while True:
                try:
                    while True:
                        n += 1
                except:
                    n = 0
        """,
    "finally_that_continues": """
        def spin():
            while True:
                pass

        def VoipParseWebhookRequest(request):
            while True:
                try:
                    spin()
                finally:
                    continue
        """,
    "finally_that_returns_into_a_loop": """
        def swallow():
            try:
                while True:
                    pass
            finally:
                return "swallowed"

        def VoipParseWebhookRequest(request):
            while True:
                swallow()
        """,
    "finally_that_loops": """
        def VoipParseWebhookRequest(request):
            try:
                while True:
                    pass
            finally:
                while True:
                    pass
        """,
    "generator_finally_during_finalisation": """
        def spinner():
            try:
                yield 1
            finally:
                while True:
                    pass

        def VoipParseWebhookRequest(request):
            while True:
                g = spinner()
                next(g)
                g = None  # finalised here: CPython discards what its finally raises
        """,
    "generator_finalised_by_the_collector": """
        def spinner():
            try:
                yield 1
            finally:
                while True:
                    pass

        def VoipParseWebhookRequest(request):
            while True:
                g = spinner()
                next(g)
                box = [g]
                box.append(box)  # a cycle: only the collector finalises it
                g = box = None
                n = 0
                while n < 1000:
                    n += 1
        """,
    "generator_close": """
        def spinner():
            try:
                yield 1
            finally:
                while True:
                    pass

        def VoipParseWebhookRequest(request):
            while True:
                g = spinner()
                next(g)
                try:
                    g.close()
                finally:
                    continue
        """,
    "nested_generators": """
        def inner():
            try:
                yield 1
            finally:
                while True:
                    pass

        def outer():
            try:
                yield 1
            finally:
                while True:
                    g = inner()
                    next(g)
                    g = None

        def VoipParseWebhookRequest(request):
            while True:
                g = outer()
                next(g)
                g = None
        """,
    "recursion_with_finally": """
        def down(n):
            try:
                return down(n + 1)
            finally:
                return down(n + 1)

        def VoipParseWebhookRequest(request):
            while True:
                down(0)
        """,
    "recursion_with_except": """
        def down(n):
            try:
                return down(n + 1)
            except RecursionError:
                return down(0)
            finally:
                pass

        def VoipParseWebhookRequest(request):
            while True:
                try:
                    down(0)
                finally:
                    continue
        """,
    "host_function_bound_to_a_name": """
        import urllib.parse

        def VoipParseWebhookRequest(request):
            quote = urllib.parse.quote  # no guard between the calls below
            text = "a b/" * 100000
            while True:
                quote(text)
        """,
    "pure_python_host_work_in_a_loop": """
        import json

        def VoipParseWebhookRequest(request):
            dumps = json.dumps
            data = [{"k": [1, 2, 3]}] * 20000
            while True:
                dumps(data, indent=1)  # json's Python encoder: the ticks land in host frames
        """,
    "swallowed_then_returns_success": """
        def spinner():
            try:
                yield 1
            finally:
                n = 0
                while n < 10 ** 9:
                    n += 1

        def VoipParseWebhookRequest(request):
            g = spinner()
            next(g)
            g = None
            return {"swallowed": True}
        """,
}


@pytest.mark.parametrize("name", sorted(SWALLOWERS))
async def test_cpu_limit_cannot_be_swallowed(pool: SandboxPool, name: str) -> None:
    started = time.perf_counter()
    outcome = await pool.run(parse_call(SWALLOWERS[name]))
    elapsed = time.perf_counter() - started
    assert outcome.limit == "cpu", outcome
    assert not outcome.ok and outcome.result is None
    assert outcome.error is not None and "CPU time limit of 0.3 s exceeded" in outcome.error.message
    assert elapsed < ENDS_WITHIN_SECONDS
    # Whether its worker unwound or had to stop (and is replaced), the pool serves on.
    for _ in range(3):
        await assert_benign_works(pool)


BURNER = """
    def VoipParseWebhookRequest(request):
        n = 0
        while True:
            n += 1
    """


async def test_the_cpu_limit_holds_on_every_call_of_a_worker_and_never_reaches_the_next() -> None:
    # One worker for the tenant, so every call below runs in the same process: the CPU timer's
    # handler is installed once per worker, and a call that ended at its limit must leave
    # nothing (a late SIGPROF) that stops the quick call after it.
    async with SandboxPool(size=1, max_workers=1, workers_per_group=1, spare_workers=0,
                           limits=CPU_LIMITS) as pool:
        pids = set()
        for _ in range(4):
            outcome = await pool.run(parse_call(BURNER), group="tenant")
            assert outcome.limit == "cpu", outcome
            for _ in range(5):
                quick = await pool.run(parse_call(BENIGN, '{"n": 7}'), group="tenant")
                assert quick.ok and quick.result == {"n": 7}, quick
            pids.update(worker.pid for worker in pool.workers() if worker.group == "tenant")
        assert len(pids) == 1  # the worker unwound each time and stayed
        assert pool.stats.workers_replaced == 0


async def test_a_stopped_script_gets_no_more_capabilities(pool: SandboxPool) -> None:
    seen: list[str] = []

    async def host(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request["op"])
        return {"ok": True}

    source = """
        def spinner():
            try:
                yield 1
            finally:
                while True:
                    pass

        def VoipParseWebhookRequest(request):
            g = spinner()
            next(g)
            g = None  # the limit fires in there and is discarded
            storage.set("after", 1)
            return {}
        """
    outcome = await pool.run(parse_call(source), handler=host)
    assert outcome.limit == "cpu"
    assert seen == []


async def test_ordinary_finally_and_generators_still_run(pool: SandboxPool) -> None:
    source = """
        def numbers():
            try:
                yield 1
                yield 2
            finally:
                log("numbers closed")

        def VoipParseWebhookRequest(request):
            total = 0
            for n in numbers():
                total += n
            g = numbers()
            first = next(g)
            g.close()
            try:
                raise ValueError("x")
            except ValueError:
                pass
            finally:
                log("finally ran")
            return {"total": total, "first": first}
        """
    outcome = await pool.run(parse_call(source))
    assert outcome.ok, outcome
    assert outcome.result == {"total": 3, "first": 1}
    assert outcome.logs == "numbers closed\nnumbers closed\nfinally ran\n"
    assert not outcome.retire


# -- garbage ------------------------------------------------------------------------------------

FINALISED_IN_ITS_CALL = """
    def held(tag):
        try:
            yield 1
        finally:
            log("finalised", tag)

    def VoipParseWebhookRequest(request):
        tag = request.json()["tag"]
        box = {"g": held(tag)}
        next(box["g"])
        box["self"] = box  # a cycle: only the collector frees it
        return {"tag": tag}
    """


async def test_garbage_cycles_are_collected_inside_their_call() -> None:
    async with SandboxPool(size=1, limits=CPU_LIMITS) as pool:
        first = await pool.run(parse_call(FINALISED_IN_ITS_CALL, '{"tag": "A"}'))
        second = await pool.run(parse_call(FINALISED_IN_ITS_CALL, '{"tag": "B"}'))
        assert first.ok and second.ok, (first, second)
        assert first.logs == "finalised A\n"
        assert second.logs == "finalised B\n"
        assert pool.stats.workers_replaced == 0


GARBAGE_BOMB = """
    def bomb():
        try:
            yield 1
        finally:
            plant()

    def plant():
        for _ in range(2):
            g = bomb()
            next(g)
            box = [g]
            box.append(box)

    def VoipParseWebhookRequest(request):
        plant()
        return {"planted": True}
    """


async def test_garbage_that_recreates_itself_is_a_limit_and_retires_the_worker() -> None:
    async with SandboxPool(size=1, limits=CPU_LIMITS) as pool:
        outcome = await pool.run(parse_call(GARBAGE_BOMB))
        assert not outcome.ok
        assert outcome.limit == "garbage"
        assert outcome.retire
        assert outcome.error is not None and "kept re-creating itself" in outcome.error.message
        await replaced(pool, 1)
        await assert_benign_works(pool)


# -- memory errors ------------------------------------------------------------------------------


async def test_a_memory_error_that_allocated_nothing_keeps_the_worker(pool: SandboxPool) -> None:
    source = """
        def VoipParseWebhookRequest(request):
            return {"n": len(bytes(10 ** 12))}
        """
    outcomes = await asyncio.gather(*(pool.run(parse_call(source)) for _ in range(100)))
    assert {o.limit for o in outcomes} == {"memory"}
    assert not any(o.retire for o in outcomes)
    assert all(o.error is not None and o.error.type == "MemoryError" for o in outcomes)
    await assert_benign_works(pool)
    assert pool.stats.workers_replaced == 0


async def test_a_real_memory_exhaustion_retires_the_worker(pool: SandboxPool) -> None:
    source = """
        def VoipParseWebhookRequest(request):
            items = []
            while True:
                items.append("x" * 100000 + str(len(items)))
        """
    outcome = await pool.run(parse_call(source), limits=Limits(wall_seconds=60, cpu_seconds=20))
    assert outcome.limit == "memory", outcome
    assert outcome.retire
    await replaced(pool, 1)
    await assert_benign_works(pool)


# -- host code never runs a script's objects ----------------------------------------------------

HOSTILE_OBJECTS = """
    import json

    CALLED = []

    class Hostile(dict):
        def items(self):
            CALLED.append("items")
            return [("forged", 1)]

        def keys(self):
            CALLED.append("keys")
            return ["forged"]

        def values(self):
            CALLED.append("values")
            return [1]

        def get(self, key, default=None):
            CALLED.append("get")
            return 1

    class Sneaky(str):
        def isalpha(self):
            CALLED.append("isalpha")
            return True

        def encode(self, *args, **kwargs):
            CALLED.append("encode")
            return b"forged"

        def upper(self):
            CALLED.append("upper")
            return "FORGED"

    def VoipParseWebhookRequest(request):
        h = Hostile(a=1)
        attempts = [
            lambda: storage.set("k", h),
            lambda: storage.set("k", {"nested": [h]}),
            lambda: storage.set(Sneaky("key"), 1),
            lambda: fetch("https://example.com/", method="POST", body=h),
            lambda: fetch("https://example.com/", headers=h),
            lambda: fetch(Sneaky("https://example.com/"), method=Sneaky("get")),
            lambda: HttpResponse().content(h),
            lambda: HttpResponse().content({"list": [h]}),
        ]
        errors = []
        for attempt in attempts:
            try:
                attempt()
                errors.append(None)
            except TypeError as error:
                errors.append("TypeError: " + str(error))
            except ValueError as error:
                errors.append("ValueError: " + str(error))
            except FetchError as error:
                errors.append("FetchError: " + str(error))
            except StorageError as error:
                errors.append("StorageError: " + str(error))
        log(h, Sneaky("s"))
        print(h, [h])
        return {"called": CALLED, "errors": errors}
    """


async def test_host_code_never_calls_a_scripts_methods(pool: SandboxPool) -> None:
    seen: list[dict[str, Any]] = []

    async def host(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        if request["op"] == "fetch":
            return {"ok": False, "error": "not on the allowlist"}
        return {"ok": True}

    outcome = await pool.run(parse_call(HOSTILE_OBJECTS), handler=host)
    assert outcome.ok, outcome
    assert outcome.result["called"] == []
    errors = outcome.result["errors"]
    assert errors[0].startswith("TypeError: ")
    assert "cannot hold a value of type 'Hostile'" in errors[0]
    assert "(at value['nested'][0])" in errors[1]
    assert errors[2] is None  # a str subclass key is copied as a plain str
    assert errors[3].startswith("TypeError: ") and "the fetch() body" in errors[3]
    assert errors[4] == "TypeError: fetch() headers must be a dict, not Hostile"
    assert errors[5] == "FetchError: not on the allowlist"
    # The reply builder's JSON content is copied the same way before the host's json sees it.
    assert errors[6].startswith("TypeError: ") and "the content() value" in errors[6]
    assert "(at content['list'][0])" in errors[7]
    # Only the plain copies reached the host.
    assert [(r["op"], r.get("key"), r.get("method"), r.get("url")) for r in seen] == [
        ("storage.set", "key", None, None),
        ("fetch", None, "GET", "https://example.com/"),
    ]
    assert all(type(r.get("key", "")) is str for r in seen)
    assert outcome.logs == "{'a': 1} s\n{'a': 1} [{'a': 1}]\n"


async def test_storage_values_from_enums_and_tuples_still_work(pool: SandboxPool) -> None:
    stored: dict[str, Any] = {}

    async def host(request: dict[str, Any]) -> dict[str, Any]:
        stored[request["key"]] = request["value"]
        return {"ok": True}

    source = """
        def VoipParseWebhookRequest(request):
            storage.set("v", {"dir": VoipCallDirection.In, "pair": (1, 2.5), "none": None,
                              "text": "б", "ok": True})
            return {}
        """
    outcome = await pool.run(parse_call(source), handler=host)
    assert outcome.ok, outcome
    assert stored == {"v": {"dir": "in", "pair": [1, 2.5], "none": None, "text": "б", "ok": True}}
    assert type(stored["v"]["dir"]) is str


async def test_each_call_runs_under_its_own_limits_in_the_same_worker() -> None:
    # The worker keeps the last limits it parsed while they stay the same: a call with other
    # limits, and the next with the first ones again, must each get their own.
    printer = parse_call("""
        def VoipParseWebhookRequest(request):
            print("0123456789" * 3)
            return {}
        """)
    async with SandboxPool(size=1, limits=CPU_LIMITS, spare_workers=0) as pool:
        truncated = []
        for output_bytes in (8, 8, 1000, 8, 1000):
            outcome = await pool.run(printer, limits=CPU_LIMITS.replace(output_bytes=output_bytes),
                                     group="one")
            assert outcome.ok, outcome
            truncated.append((outcome.logs, outcome.logs_truncated))
        workers = [info for info in pool.workers() if info.group == "one"]
    short, full = ("01234567", True), ("0123456789" * 3 + "\n", False)
    assert truncated == [short, short, full, short, full]
    assert len(workers) == 1 and workers[0].calls == 5
