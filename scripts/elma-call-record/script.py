"""The platform's documented `callRecord` example, ported line by line (with its VoipGetCallLink).

ELMA365 / BRIX365 TypeScript SDK, VoipWebhookParseResult.callRecord:

    async function VoipParseWebhookRequest(request: FetchRequest): Promise<VoipWebhookParseResult> {
        if (typeof request.body !== 'string') {
            return {};
        }
        const data = JSON.parse(request.body);
        return {
            callRecord: {
                srcPhone: data.srcPhone,
                dstPhone: data.dstPhone,
                direction: VoipCallDirection.In,
                duration: data.duration,
                // The data from this field will be available in the VoipGetCallLink function.
                call: {
                    link: data.callLink,
                },
                disposition: VoipCallDisposition.Answered,
            }
        };
    }
    async function VoipGetCallLink(callData: any): Promise<string> {
        return callData.link; // Retrieve the data saved in VoipParseWebhookRequest.
    }

Differences, each for Python: `def`, not `async function`; `request.json()` for `JSON.parse`;
`data.get("callLink")` where JavaScript reads a missing property as `undefined`. The settings
are none: the example needs nothing but the webhook.
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
        callRecord=VoipCallRecord(
            srcPhone=data["srcPhone"],
            dstPhone=data["dstPhone"],
            direction=VoipCallDirection.In,
            duration=data["duration"],
            # The data from this field will be available in the VoipGetCallLink function.
            call={
                "link": data.get("callLink"),
            },
            disposition=VoipCallDisposition.Answered,
        )
    )


def VoipGetCallLink(call_data: dict[str, Any]) -> str:
    link: str = call_data["link"]  # Retrieve the data saved in VoipParseWebhookRequest.
    return link
