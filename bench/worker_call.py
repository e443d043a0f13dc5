"""A sandbox worker's own CPU per call, in this process: the seed module's webhook call as the
pool encodes it, decoded, run and its outcome encoded, exactly as `sandbox/worker.py` does
between reading a line and writing one (no pipes, no other process).

    .venv/bin/python bench/worker_call.py [--calls 2000] [--rounds 5]

Prints CPU µs per call for each round. The machine is shared, so time varies; for a figure
that does not depend on the load, count instructions:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/w.cg \\
        .venv/bin/python bench/worker_call.py --calls 500 --rounds 1
    callgrind_annotate /tmp/w.cg | head -40

(`--warm-only` runs only the template's warm-up, the script's first call (which compiles it)
and the same number of bare loop iterations, so the difference between the two totals is the
calls' own.)

`--evict MIB` writes one byte in every cache line of a MIB-MiB buffer before each call (outside
the call's measured time): the call then finds what it touches gone from the caches, as a worker
does when many tenants' workers take turns on the cores between two of its calls. The same
instructions then take longer: compare the CPU per call with and without it, in one sitting.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.seed_call import SEED, SETTINGS, start_request  # noqa: E402
from sandbox import Call, Limits  # noqa: E402
from sandbox.protocol import (  # noqa: E402
    CallLines,
    EncodedCall,
    decode,
    encode,
    encode_outcome,
    encode_strict,
    source_facts,
)

REQUEST = start_request(
    "http://localhost/hooks/bench?token=abc",
    (("Content-Type", "application/json"), ("User-Agent", "pbx/1.0")),
)


class RecordingChannel:
    """The worker's channel, minus the pipe: it encodes as the real one does."""

    sending = False

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: dict[str, Any]) -> None:
        self.sent += len(encode(message))

    def send_outcome(self, call_id: int, outcome: dict[str, Any]) -> None:
        self.sent += len(encode_outcome(call_id, outcome))


def encoded_message(call_id: int, with_source: bool) -> bytes:
    call = Call(source=SEED, function="VoipParseWebhookRequest", request=REQUEST,
                settings=SETTINGS)
    body = call.to_json()
    del body["source"]
    body["source_sha256"] = source_facts(SEED)[0]
    encoded = EncodedCall.of(body, SEED, encode_strict(Limits().to_json()))
    return encoded.message(call_id, with_source)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warm-only", action="store_true")
    parser.add_argument("--evict", type=int, default=0, metavar="MIB")
    args = parser.parse_args()
    evicting = bytearray(args.evict << 20)
    touches = b"\1" * (len(evicting) // 64)

    import sandbox.executor as executor
    from sandbox import template, worker

    template._warm()
    template.gc_ready()
    channel = RecordingChannel()
    state = worker.WorkerState(channel)  # type: ignore[arg-type]
    worker.install_cpu_timer_handler(state)
    first = decode(encoded_message(1, with_source=True))
    state.resolve_source(first["call"])
    # The worker's first call of a script compiles it (once per worker); made here in both
    # modes, so the difference between the two totals is the calls' own.
    if not worker.run_one(state, first, executor)["ok"]:
        raise SystemExit("the first call failed")
    line = encoded_message(2, with_source=False)
    lines = CallLines()  # the worker's channel reads each line with one of these

    for _ in range(args.rounds):
        spent = 0.0
        for _ in range(args.calls):
            if evicting:
                evicting[::64] = touches
            if args.warm_only:
                continue
            started = time.process_time()
            message = lines.decode(line)
            if not state.resolve_source(message["call"]):
                raise SystemExit("the source was not resolved")
            outcome = worker.run_one(state, message, executor)
            if not outcome["ok"]:
                raise SystemExit(f"the call failed: {outcome}")
            channel.send_outcome(message["id"], outcome)
            spent += time.process_time() - started
        print(f"{args.calls} calls: {spent / args.calls * 1e6:7.1f} µs CPU per call"
              f"   gc tracked after: {len(gc.get_objects())}")


if __name__ == "__main__":
    main()
