"""Workers that misbehave on purpose, for tests/sandbox/test_hostile_worker.py.

Each is a `child_main` the template runs in place of the real worker (a pool built with
`worker_entry="tests.sandbox.fake_workers:<mode>"`), forked and hardened exactly as the real one:
it stands for a worker whose language wall was breached.
"""

from __future__ import annotations

import json
import os
from typing import NoReturn

from sandbox.forkserver import WORKER_IN_FD, WORKER_OUT_FD
from sandbox.harden import HardeningReport


def _send(message: dict[str, object]) -> None:
    os.write(WORKER_OUT_FD, json.dumps(message).encode() + b"\n")


def _first_call_id(report: HardeningReport) -> int:
    _send({"type": "ready", "hardening": report.to_json()})
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(WORKER_IN_FD, 1)
        if not chunk:
            os._exit(0)
        line += chunk
    call_id: int = json.loads(line)["id"]
    return call_id


def _linger() -> NoReturn:
    while os.read(WORKER_IN_FD, 65536):
        pass
    os._exit(0)


def garbage(report: HardeningReport) -> NoReturn:
    _first_call_id(report)
    os.write(WORKER_OUT_FD, b"this is not json\n")
    _linger()


def wrong_id(report: HardeningReport) -> NoReturn:
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id + 99, "outcome": {"ok": True}})
    _linger()


def bad_outcome(report: HardeningReport) -> NoReturn:
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id, "outcome": {"ok": "yes", "limit": "none"}})
    _linger()


def bad_retire(report: HardeningReport) -> NoReturn:
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id, "outcome": {"ok": True, "retire": "no"}})
    _linger()


def bad_cpu(report: HardeningReport) -> NoReturn:
    """Claims a negative CPU time (the usage page sums what workers report)."""
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id, "outcome": {"ok": True, "cpu_ms": -5}})
    _linger()


def retires_and_stays(report: HardeningReport) -> NoReturn:
    """Says it retires after its call, then never leaves."""
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id, "outcome": {"ok": True, "retire": True}})
    _linger()


def pickle(report: HardeningReport) -> NoReturn:
    call_id = _first_call_id(report)
    outcome = {"ok": True, "result": {"py/reduce": "os.system"}, "duration_ms": "x"}
    _send({"type": "outcome", "id": call_id, "outcome": outcome})
    _linger()


def flood(report: HardeningReport) -> NoReturn:
    _first_call_id(report)
    for _ in range(200):
        os.write(WORKER_OUT_FD, b"x" * 65536)
    _linger()


def exit(report: HardeningReport) -> NoReturn:
    _first_call_id(report)
    os._exit(3)


def silent(report: HardeningReport) -> NoReturn:
    """Never says ready: the pool's start deadline must fire."""
    _linger()


def closes_its_pipe(report: HardeningReport) -> NoReturn:
    """Closes its pipe to the pool mid-call but lives on: the pool must kill it."""
    _first_call_id(report)
    os.close(WORKER_OUT_FD)
    _linger()


def burns_cpu(report: HardeningReport) -> NoReturn:
    """Takes a call and computes forever, deaf to its CPU timer (a breached worker would):
    only the pool's check from outside can stop it."""
    _first_call_id(report)
    n = 0
    while True:
        n += 1


def floods_requests(report: HardeningReport) -> NoReturn:
    """Asks the host for a capability over and over without waiting for the answers."""
    call_id = _first_call_id(report)
    for n in range(10_000):
        _send({"type": "capability", "id": call_id,
               "request": {"op": "storage.get", "key": f"k{n}"}})
    _linger()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_outcome(report: HardeningReport) -> NoReturn:
    """An outcome whose result is nested far deeper than a JSON parser's recursion allows."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "outcome", "id": %d, "outcome": {"ok": true, '
             b'"result": %s}}\n' % (call_id, _nested(100_000)))
    _linger()


def deep_request(report: HardeningReport) -> NoReturn:
    """A capability request nested far deeper than a JSON parser's recursion allows."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "capability", "id": %d, "request": {"op": '
             b'"storage.set", "key": "k", "value": %s}}\n' % (call_id, _nested(100_000)))
    _linger()


def nested_request(report: HardeningReport) -> NoReturn:
    """A capability request nested deeper than any script can make one (storage and fetch()
    refuse values deeper than 64 levels), though not so deep that parsing it fails."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "capability", "id": %d, "request": {"op": '
             b'"storage.set", "key": "k", "value": %s}}\n' % (call_id, _nested(500)))
    _linger()


def deep_result(report: HardeningReport) -> NoReturn:
    """A result nested deeper than the call's result_depth (the real worker refuses it)."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "outcome", "id": %d, "outcome": {"ok": true, '
             b'"result": {"a": %s}}}\n' % (call_id, _nested(40)))
    _linger()


def not_a_number(report: HardeningReport) -> NoReturn:
    """NaN and Infinity: Python's JSON parser takes them, JSON (and the service's store, which
    refuses them when it writes) does not; no real worker sends them."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "outcome", "id": %d, "outcome": {"ok": true, '
             b'"result": {"response": {"status": 200, "body": "x"}, "junk": [NaN, '
             b'-Infinity]}}}\n' % call_id)
    _linger()


def huge_duration(report: HardeningReport) -> NoReturn:
    """A duration no float can hold (an integer of 400 digits): converting it raised
    OverflowError out of the pool's reader, not a protocol violation."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "outcome", "id": %d, "outcome": {"ok": true, '
             b'"duration_ms": %s}}\n' % (call_id, b"9" * 400))
    _linger()


def unhashable_limit(report: HardeningReport) -> NoReturn:
    """A limit that is an object, not a name: looking it up among the names raised TypeError
    out of the pool's reader."""
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id, "outcome": {"ok": False, "limit": {"cpu": 1}}})
    _linger()


def negative_duration(report: HardeningReport) -> NoReturn:
    """Claims its call took less than no time (the execution log shows what workers report)."""
    call_id = _first_call_id(report)
    _send({"type": "outcome", "id": call_id, "outcome": {"ok": True, "duration_ms": -5}})
    _linger()


def says_source_missing(report: HardeningReport) -> NoReturn:
    """Answers every call with "source_missing", whether or not the call carried its source
    (as a breached script can, after it ran: the same script breaches the next worker too)."""
    call_id = _first_call_id(report)
    _send({"type": "source_missing", "id": call_id})
    _linger()


def forgets_sources(report: HardeningReport) -> NoReturn:
    """The real worker, except that it forgets every script's text before each call: a call
    sent by hash finds it missing, as when the pool's and the worker's caches disagree."""
    from sandbox import worker

    remember = worker.WorkerState.resolve_source

    def forgetful(self: worker.WorkerState, call: dict[str, object]) -> bool:
        self.sources.clear()
        return remember(self, call)

    worker.WorkerState.resolve_source = forgetful  # type: ignore[method-assign]
    worker.child_main(report)


def lone_surrogate_outcome(report: HardeningReport) -> NoReturn:
    """Logs and a result holding a lone surrogate, spelled as a JSON escape (its UTF-8 bytes
    are refused as not UTF-8): the store cannot write such text into the execution log."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "outcome", "id": %d, "outcome": {"ok": true, '
             b'"result": {"response": {"status": 200, "body": "x\\udc00"}}, '
             b'"logs": "a\\ud800b\\n"}}\n' % call_id)
    _linger()


def lone_surrogate_request(report: HardeningReport) -> NoReturn:
    """A storage.set whose key and value hold a lone surrogate (as an escape): no host code
    can encode it as UTF-8 to store it."""
    call_id = _first_call_id(report)
    os.write(WORKER_OUT_FD, b'{"type": "capability", "id": %d, "request": {"op": '
             b'"storage.set", "key": "k\\udfff", "value": "v\\ud800"}}\n' % call_id)
    _linger()


def dies_at_start(report: HardeningReport) -> NoReturn:
    """Exits before it says ready, as a worker whose start fails every time would (a layer
    that cannot be applied, a resource the host ran out of)."""
    os._exit(7)
