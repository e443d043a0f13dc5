"""Example request bodies, by schema name, for the document (and Schemathesis' examples phase).

A test validates each one with the model it belongs to, so an example cannot go stale.
"""

from __future__ import annotations

from typing import Any

MINIMAL_SCRIPT = '''def VoipParseWebhookRequest(request):
    data = request.json()
    return {"event": {
        "event": VoipWebhookEvent.NotifyStart,
        "direction": VoipCallDirection.In,
        "disposition": VoipCallDisposition.Unknown,
        "srcPhone": data["from"],
        "dstPhone": data["to"],
    }}
'''

START_BODY = '{"type": "start", "callId": "c-1001", "srcPhone": "+79161234567", "dstPhone": "101"}'

EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "NewTenantBody": [{"name": "acme"}],
    "NewModuleBody": [{
        "name": "pbx", "description": "Our PBX's JSON webhooks", "region": "RU",
        "settings": {"apiKey": "demo-api-key-123456", "apiBaseUrl": "https://api.example.com",
                     "retries": 3, "sandbox": False},
        "secrets": ["apiKey"], "allowlist": ["api.example.com"],
    }],
    "ModulePatchBody": [{"description": "Our PBX's JSON webhooks (v2)",
                         "allowlist": ["api.example.com", "*.cdn.example.com"]}],
    "NewVersionBody": [{"source": MINIMAL_SCRIPT, "activate": False}],
    "SourceBody": [{"source": MINIMAL_SCRIPT}],
    "NewUserBody": [{"name": "Anna Petrova", "email": "anna@example.com"}],
    "BindingsBody": [{"bindings": {"101": "usr_06h0zyq5d8r2w0f7m3k9x1c4b2", "102": None}}],
    "NewContactBody": [{"name": "Ivan Petrov", "phones": ["+7 916 123-45-67"], "region": "RU"}],
    "BulkBody": [{"contacts": [{"name": "Ivan Petrov", "phones": ["89161234567"]},
                               {"name": "Olga", "phones": ["+7 495 111-22-33"]}],
                  "region": "RU"}],
    "DryRunBody": [{"request": {"method": "POST",
                                "headers": {"Content-Type": "application/json"},
                                "body": START_BODY}}],
    "ReplayBody": [{}],
    "OriginateBody": [{"module_id": "mod_06h0zyq5d8r2w0f7m3k9x1c4b2", "number": "+79161234567",
                       "user_id": "usr_06h0zyq5d8r2w0f7m3k9x1c4b2"}],
}
