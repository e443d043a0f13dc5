"""The platform's documented `response` example, ported line by line.

ELMA365 / BRIX365 TypeScript SDK, VoipWebhookParseResult.response:

    async function VoipParseWebhookRequest(request: FetchRequest): Promise<VoipWebhookParseResult> {
        return {
            response: new HttpResponse()
                .status(400)
                .content('Hello, world!'),
        };
    }

Differences, each for Python: `def`, not `async function`; `HttpResponse()`, not `new`. Every
webhook is answered 400 with the text, as in the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For type checkers and editors only (`voip-runtime stubs DIR`); the sandbox injects these.
    from voip_runtime_script import *


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    return VoipWebhookParseResult(
        response=HttpResponse()
        .status(400)
        .content("Hello, world!"),
    )
