"""The platform's documented `event` example, ported line by line.

ELMA365 / BRIX365 TypeScript SDK, VoipWebhookParseResult.event:

    async function VoipParseWebhookRequest(request: FetchRequest): Promise<VoipWebhookParseResult> {
        if (typeof request.body !== 'string') {
            return {};
        }
        const data = JSON.parse(request.body);
        return {
            event: {
                event: VoipWebhookEvent.NotifyStart,
                direction: VoipCallDirection.In,
                dstPhone: data.dstPhone,
                srcPhone: data.srcPhone,
                disposition: VoipCallDisposition.Unknown,
            }
        };
    }

Differences, each for Python: `def`, not `async function`; `request.json()` for `JSON.parse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For type checkers and editors only (`voip-runtime stubs DIR`); the sandbox injects these.
    from typing import Any

    from voip_runtime_script import *


def VoipParseWebhookRequest(request: FetchRequest) -> VoipWebhookParseResult:
    if not isinstance(request.body, str):
        return {}
    data: dict[str, Any] = request.json()
    return VoipWebhookParseResult(
        event=VoipWebhookRequest(
            event=VoipWebhookEvent.NotifyStart,
            direction=VoipCallDirection.In,
            dstPhone=data["dstPhone"],
            srcPhone=data["srcPhone"],
            disposition=VoipCallDisposition.Unknown,
        )
    )
