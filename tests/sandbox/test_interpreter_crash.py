"""A script that crashes the interpreter itself (C code recursing through data nested far
deeper than the stack holds) fails its call as WorkerCrashed with a hint a builder can act
on; it said only "the sandbox worker stopped unexpectedly (exit status -11)"."""

from __future__ import annotations

from sandbox import Call, Limits, RequestData, SandboxPool
from sandbox.crash import worker_stopped_message

DEEP_HASH = (
    "def VoipParseWebhookRequest(request):\n"
    "    nested = ()\n"
    "    for _ in range(300000):\n"
    "        nested = (nested,)\n"
    "    return {'response': {'status': 200, 'headers': {}, 'body': str(hash(nested))}}\n"
)


async def test_a_script_crashing_the_interpreter_is_told_what_usually_causes_it() -> None:
    pool = SandboxPool(size=1, limits=Limits(wall_seconds=20))
    await pool.start()
    try:
        outcome = await pool.run(Call(source=DEEP_HASH, function="VoipParseWebhookRequest",
                                      request=RequestData()))
        ok = await pool.run(Call(source="def VoipParseWebhookRequest(r):\n    return {}\n",
                                 function="VoipParseWebhookRequest", request=RequestData()))
    finally:
        await pool.close()
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.type == "WorkerCrashed"
    message = outcome.error.message
    assert message.startswith("the sandbox worker stopped unexpectedly (exit status -11, "
                              "SIGSEGV): the Python interpreter crashed"), message
    assert "nested very deeply" in message and "recursion" in message
    assert "the line it happened on is not known" in message
    assert outcome.error.line is None  # no line is pretended
    assert ok.ok  # the next call runs on a fresh worker


def test_other_ends_keep_their_plain_status() -> None:
    assert worker_stopped_message(None) == "the sandbox worker stopped unexpectedly"
    assert worker_stopped_message(3) == "the sandbox worker stopped unexpectedly (exit status 3)"
    assert worker_stopped_message(-9) == (
        "the sandbox worker stopped unexpectedly (exit status -9)")
    assert "(exit status -7, SIGBUS): the Python interpreter crashed" in (
        worker_stopped_message(-7))
