"""What the editor's test panel starts from: the module's last stored webhook, masked.

A module that receives forms should be tested with a form, not with a JSON sample: the panel's
composed request is filled from the most recent real (not dry-run) webhook execution. Its
secrets are masked exactly as the execution page shows them (runtime/redaction.py), so a
signature or token never reaches the page; to run the request as it really came, the panel's
"stored execution" mode replays it on the server, where nothing is masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from runtime.redaction import MASK, Redactor
from runtime.store.models import Execution, Module

# Headers that describe the transport of the stored request, not what the script reads: the
# dry run computes its own (the body is stored decoded, so Content-Length/-Encoding would lie).
TRANSPORT_HEADERS: Final = frozenset({
    "host", "content-length", "content-encoding", "transfer-encoding", "connection",
    "accept-encoding", "keep-alive", "te", "upgrade",
})

METHODS: Final = ("POST", "GET", "PUT", "PATCH", "DELETE")


def methods_for(start: StartingRequest | None) -> list[str]:
    """The method menu: the usual ones, and the stored request's own if it was another."""
    if start is None or start.method in METHODS:
        return list(METHODS)
    return [*METHODS, start.method]


@dataclass(frozen=True, slots=True)
class StartingRequest:
    """The composed request's fields as the panel shows them."""

    execution_id: str
    received_at: datetime
    method: str
    url: str
    headers: str  # "Name: value" lines
    body: str
    masked: bool  # a value was masked: running it as is may not behave like the original


def last_webhook(executions: Sequence[Execution]) -> Execution | None:
    """The newest execution that a real webhook caused (`executions` newest first)."""
    return next((e for e in executions
                 if not e.dry_run and isinstance(e.request, dict) and e.request.get("method")),
                None)


def starting_request(executions: Sequence[Execution], module: Module) -> StartingRequest | None:
    execution = last_webhook(executions)
    if execution is None:
        return None
    shown = Redactor.for_module(module).request(execution.request)
    headers = [(str(name), str(value)) for name, value in shown.get("headers") or []
               if str(name).lower() not in TRANSPORT_HEADERS]
    method = str(shown.get("method") or "POST").upper()
    body = shown.get("body")
    text = "" if body is None else str(body)
    header_lines = "\n".join(f"{name}: {value}" for name, value in headers)
    return StartingRequest(
        execution_id=execution.id, received_at=execution.created_at,
        method=method, url=str(shown.get("url") or ""),
        headers=header_lines, body=text,
        masked=any(MASK in part for part in (header_lines, text, str(shown.get("url") or ""))),
    )
