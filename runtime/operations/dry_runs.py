"""Dry runs: a module's VoipParseWebhookRequest run on a composed request or on a stored
webhook's request (a replay), with a draft, a version or the active script; nothing is stored
(contract §5, "dry run").

Where the API and the console used to differ, one behaviour holds for both:
- the composed request's method is upper-cased (`post` is run as `POST`), as every HTTP
  request line carries it, so a script comparing `request.method == "POST"` behaves as it
  will for real webhooks;
- an execution of another module of the tenant is a 400 `bad_request` naming that (the
  execution exists, the request is wrong), an unknown one or another tenant's a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from runtime.edge_protocol import MAX_REQUEST_HEADERS
from runtime.errors import ApiError, bad_request, unprocessable
from runtime.intake import composed_request
from runtime.json_body import Body
from runtime.openapi.models import DryRunReport, dump
from runtime.operations.executions import tenant_execution
from runtime.operations.modules import webhook_url
from runtime.operations.services import Services
from runtime.operations.sources import Script, script_for
from runtime.reply_policy import body_codec
from runtime.runner import Reply
from runtime.store.models import EXECUTION_REQUEST_CAP, KIB, Execution, Module
from runtime.text import valid_strings
from sandbox import RequestData

ID_LENGTH = 64


def _too_many_headers(headers: object) -> bool:
    return isinstance(headers, dict | list) and len(headers) > MAX_REQUEST_HEADERS


def header_pairs(value: Any) -> Any:
    """A composed request's headers, checked as one field: an object of names to values or a
    list of [name, value] pairs. (Left to the union of the two types, pydantic refused each
    branch in turn, under field names such as `request.headers.dict[str,str]`.)

    No more than a real webhook may carry (the service answers that webhook 400 before any
    script runs), counted first: tens of thousands in a 2 MiB body cost the service a fifth
    of a second to take in."""
    if _too_many_headers(value):
        raise PydanticCustomError(
            "too_many_headers",
            "{count} headers; a webhook carries at most {limit} (the service answers one with "
            "more 400 and runs no script)",
            {"count": len(value), "limit": MAX_REQUEST_HEADERS})
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(
            isinstance(pair, list | tuple) and len(pair) == 2 for pair in value):
        pairs = value
    else:
        raise ValueError("must be an object of header names to values, or a list of "
                         "[name, value] pairs")
    for name, text in pairs:
        if not isinstance(name, str) or not isinstance(text, str):
            raise ValueError(f"a header's name and value must be strings: {name!r}: {text!r}")
    return value


def splittable_url(value: str | None) -> str | None:
    """A URL urllib can take apart, as `called_url` below and a script reading `request.url`
    do: `http://[::1` (an IPv6 host without its `]`) was urlsplit's ValueError, a 500."""
    if value is not None:
        try:
            urlsplit(value)
        except ValueError as error:
            raise ValueError(f"is not a URL that can be read: {error}") from None
    return value


class RequestBody(Body):
    """A request composed for a dry run: its text is made valid as a webhook's would be
    (lone surrogates such as `"\\udcff"` become U+FFFD, contract §3)."""

    method: Annotated[str, AfterValidator(str.upper)] = Field(
        default="POST", min_length=1, max_length=16,
        description="the HTTP method, upper-cased as a request line carries it")
    url: Annotated[str | None, AfterValidator(splittable_url)] = Field(
        default=None, max_length=8192,
        description="the URL the provider called; without a scheme and host it is read below "
                    "the module's webhook URL (`/events/summary`, `?kind=end`), which is also "
                    "the default")
    headers: Annotated[dict[str, str] | list[tuple[str, str]], BeforeValidator(header_pairs)] = (
        Field(default_factory=dict, json_schema_extra={"maxItems": MAX_REQUEST_HEADERS,
                                                       "maxProperties": MAX_REQUEST_HEADERS},
              description=f"at most {MAX_REQUEST_HEADERS}, as a webhook may carry"))
    body: Annotated[str | None, BeforeValidator(body_text)] = Field(
        default=None, description="the body's text, as the provider sent it (a JSON body too: "
                                  "its text, not the object)")

    lenient_text_fields = frozenset({"method", "url", "headers", "body"})

    @model_validator(mode="before")
    @classmethod
    def valid_unicode(cls, data: Any) -> Any:
        if isinstance(data, dict) and _too_many_headers(data.get("headers")):
            return data  # refused by the field, without first cleaning up every header's text
        return valid_strings(data)


def body_text(value: Any) -> Any:
    """A composed body is text, as a provider's is; an object or list here is most often a
    JSON body written as JSON (pydantic said only "Input should be a valid string")."""
    if isinstance(value, dict | list):
        raise ValueError("must be the body's text, as the provider sends it: write a JSON body "
                         "as a string holding its JSON (json.dumps of it), not as an object")
    return value


def called_url(hook: str, given: str | None) -> str:
    """The full URL a composed request stands for (contract §3: `request.url` is the full URL
    that was called). A URL without a scheme and host is a path or query below the module's
    webhook URL, where a provider's calls arrive (`/hooks/{token}` and below it)."""
    if not given:
        return hook
    parts = urlsplit(given)
    if parts.scheme and parts.netloc:
        return given
    if given.startswith(("?", "#")):
        return hook + given
    return f"{hook}/{given.lstrip('/')}"


class DryRunBody(Body):
    request: RequestBody | None = None
    source: str | None = None
    version_id: str | None = Field(default=None, max_length=ID_LENGTH)
    execution_id: str | None = Field(default=None, max_length=ID_LENGTH)


class ReplayBody(Body):
    source: str | None = None
    version_id: str | None = Field(default=None, max_length=ID_LENGTH)


@dataclass(frozen=True, slots=True)
class DryRun:
    """A dry run's report (the API's `DryRunReport` JSON) and, for a replay, the stored
    execution whose request it ran again."""

    report: dict[str, Any]
    replayed: Execution | None = None


def reply_json(reply: Reply | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    # The body as text again, read in the charset it was sent in (windows-1251 bytes read as
    # UTF-8 would show the builder U+FFFD where the provider gets their text).
    content_type = next((value for name, value in reply.headers.items()
                         if name.lower() == "content-type"), None)
    return {"status": reply.status, "headers": reply.headers,
            "body": reply.body.decode(body_codec(content_type), errors="replace")}


def stored_request(execution: Execution) -> RequestData:
    """The webhook request an execution stored, or a 409 `not_replayable`."""
    if not isinstance(execution.request, dict) or "method" not in execution.request:
        raise ApiError(409, "not_replayable", "that execution did not store a webhook request")
    if execution.request.get("body_truncated"):
        # The script would run on another body than it was given, and the report would say
        # the script's answer changed where its request did.
        raise ApiError(409, "not_replayable", (
            f"that webhook's body was longer than the execution log keeps (its request is "
            f"kept up to {EXECUTION_REQUEST_CAP // KIB} KiB, the body cut to fit), so it cannot "
            "be run again as it came; send the request yourself as a dry run's `request`"))
    return composed_request(execution.request)


def what_happened(execution: Execution) -> dict[str, Any]:
    """A stored execution as a replay shows it beside the dry run."""
    return {
        "execution_id": execution.id,
        "version_id": execution.version_id,
        "outcome": execution.outcome.value,
        "result": execution.result,
        "effects": execution.effects,
        "error": execution.error,
    }


def of_module(module: Module, execution: Execution) -> Execution:
    """The execution, when it is one of `module`'s; a 400 otherwise."""
    if execution.module_id != module.id:
        raise bad_request("that execution belongs to another module")
    return execution


async def run_report(services: Services, module: Module, script: Script,
                     data: RequestData) -> dict[str, Any]:
    """Run the script on `data` as a dry run (`Refused` over the tenant's limits: its run
    rate, its executions at once)."""
    services.runner.limiter.admit_run(module.tenant_id)
    report, reply = await services.runner.dry_run(module, script.source, data)
    body = report.to_json()
    body.pop("execution_id")
    body["version_id"] = script.version_id
    body["reply"] = reply_json(reply)
    body["request"] = data.to_json()
    return dump(DryRunReport, body)


async def replay_execution(services: Services, module: Module, execution: Execution,
                           script: Script) -> DryRun:
    """A stored webhook request of `module` run again with `script`."""
    data = stored_request(of_module(module, execution))
    return DryRun(await run_report(services, module, script, data), execution)


async def dry_run(services: Services, module: Module, body: DryRunBody) -> DryRun:
    """A composed request, or the stored request of `body.execution_id`, run with the script
    `body` names (a draft, a version, else the active one)."""
    # The execution is looked up first: another tenant's id is 404 whatever else the body
    # holds, as for every id in every body.
    execution = (None if body.execution_id is None
                 else await tenant_execution(services, module.tenant_id, body.execution_id))
    if execution is not None and body.request is not None:
        # Which one was meant cannot be known; the stored request ran, the given one was
        # dropped without a word.
        raise bad_request("give either request or execution_id, not both")
    script = await script_for(services, module, body.source, body.version_id)
    if execution is not None:
        return await replay_execution(services, module, execution, script)
    given = body.request or RequestBody()
    if given.body is not None:
        size, limit = len(given.body.encode()), services.config.max_webhook_body_kib * 1024
        if size > limit:
            # What would happen is a 413 before any script runs: say so, run nothing.
            message = (f"the body is {size} bytes; the service answers a webhook body over "
                       f"{limit} bytes (max_webhook_body_kib) with 413 and runs no script")
            raise unprocessable(f"request.body: {message}",
                                details=[{"field": "request.body", "message": message}])
    data = composed_request({
        "method": given.method, "url": called_url(webhook_url(services.config, module), given.url),
        "headers": given.headers, "body": given.body,
    })
    return DryRun(await run_report(services, module, script, data))
