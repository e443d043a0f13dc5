"""Reading a JSON request body into a pydantic model, for the API and the console alike:
size-limited, strict JSON (no NaN), valid Unicode, and every problem named by its field."""

from __future__ import annotations

import difflib
import json
import math
import re
from typing import Any, ClassVar, TypeVar, get_args

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from runtime.bodies import api_body_limit
from runtime.bodies import read_body as read_whole_body
from runtime.errors import ApiError, bad_request
from runtime.result_bounds import values_over
from runtime.text import first_invalid_text, text_problem

ModelT = TypeVar("ModelT", bound=BaseModel)



class Body(BaseModel):
    """Base of API request bodies: unknown fields are refused by name, and so is text that is
    not valid Unicode (JSON can spell a lone surrogate, `"\\udcff"`; it would fail later
    wherever it is encoded: the store, the sandbox's pipe, a log line) or holds NUL (which
    PostgreSQL's text cannot keep: the store would hold other text than the API answered)."""

    model_config = ConfigDict(extra="forbid")
    # Fields whose text is made valid instead (a request composed for a dry run is run as a
    # webhook carrying such bytes would be: with U+FFFD, contract §3).
    lenient_text_fields: ClassVar[frozenset[str]] = frozenset()
    # The values (object members and array items, at every depth) a body may hold: checked by
    # its containers' lengths before anything else reads it. The API's bodies are read in the
    # event loop every tenant's webhooks share, at a cost per value: 2 MiB of JSON is 690,000
    # array items or 150,000 members, which pydantic checked one by one and made a dict for
    # each of their errors: 1-2 s of the loop a request, for any tenant key in a loop. A
    # valid body holds far fewer (module settings, secrets and allowlist: about 500); bodies
    # of many items say their own (bindings, contacts in bulk).
    max_values: ClassVar[int] = 2_000


def nested_body(annotation: Any) -> type[Body] | None:
    """The `Body` a field's type is (or includes, as in `X | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, Body):
        return annotation
    for arg in get_args(annotation):
        if (found := nested_body(arg)) is not None:
            return found
    return None


def invalid_text_in(model: type[Body], data: Any, prefix: str = ""
                    ) -> tuple[str, str] | None:
    """Where `data` holds text the API refuses (a dotted field path) and why (`text_problem`),
    outside the fields `model` makes valid itself; None when there is none."""
    if not isinstance(data, dict):
        return first_invalid_text(data, prefix.rstrip(".") or "(body)")
    fields = model.model_fields  # (a property: read once, not once a key)
    for key, value in data.items():
        where = f"{prefix}{key}"
        if isinstance(key, str) and (problem := text_problem(key)) is not None:
            return f"{prefix}[key]", problem
        if key in model.lenient_text_fields:
            continue
        field = fields.get(key)
        inner = nested_body(field.annotation) if field is not None else None
        found = (invalid_text_in(inner, value, where + ".") if inner is not None
                 else first_invalid_text(value, where))
        if found is not None:
            return found
    return None


def not_json_number(text: str) -> float:
    """NaN and Infinity: Python's json reads them, JSON has no such numbers (and PostgreSQL's
    jsonb, or any client reading our answer back, refuses them)."""
    raise ValueError(f"{text} is not a JSON number")


def finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999
        raise ValueError(f"{text} is too large for a number")
    return value


# Python refuses to read an integer of more than 4300 digits (a quadratic conversion); its
# message tells a Python programmer to raise the limit, which a client cannot do. Integers are
# read by json's own C path and this message put in the client's terms afterwards: a Python
# callback for each integer held the event loop three times as long (a 2 MiB body of a million
# integers, about 2 s).
_TOO_MANY_DIGITS = re.compile(r"integer string conversion: value has (\d+) digits")


def json_problem(error: ValueError) -> str:
    """What is wrong with a body json refused, in the client's terms."""
    too_long = _TOO_MANY_DIGITS.search(str(error))
    if too_long is not None:
        return f"a number of {too_long.group(1)} digits is too long"
    return str(error)


def is_json_type(content_type: str) -> bool:
    """`application/json` or a JSON-based type (`application/merge-patch+json`)."""
    return content_type == "application/json" or content_type.endswith("+json")


async def read_json(request: web.Request) -> Any:
    # A body labelled as something else is refused, not guessed at: `curl -d` without a header
    # labels it a form, and a client sending XML or text meant something else than this API.
    # Without a Content-Type (aiohttp reports application/octet-stream then, as for an
    # unlabelled stream of bytes) the body is read as JSON: it can be nothing else here.
    if request.content_type != "application/octet-stream" and not is_json_type(
            request.content_type):
        raise ApiError(415, "unsupported_media_type",
                       f"the body must be JSON, sent as application/json "
                       f"(got {request.content_type})")
    raw = await read_whole_body(request, api_body_limit(request))
    if not raw:
        raise bad_request("a JSON body is required")
    try:
        return json.loads(raw, parse_constant=not_json_number, parse_float=finite_float)
    except UnicodeDecodeError as error:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {error}") from None
    except ValueError as error:
        raise ApiError(400, "bad_json",
                       f"the body is not valid JSON: {json_problem(error)}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "the body is not valid JSON: nested too deeply") from None


async def read_body(request: web.Request, model: type[ModelT]) -> ModelT:
    return validated(model, await read_json(request))


# The problems a refusal lists. A body of 2 MiB can be 170,000 fields the model does not take:
# each was described (a close-match search among the fields taken) and compared with every
# one listed before it, some 10^10 comparisons holding the event loop for many minutes, every
# tenant's webhooks waiting; and the answer would have listed them all.
MAX_PROBLEMS = 100


def problem(error: ErrorDetails) -> str:
    """What a refused field needs, in our validators' own words (pydantic prefixes a
    ValueError's message with "Value error, "), and never the name of one of our classes."""
    if error["type"] == "model_type":  # pydantic names our class: "... instance of NewUserBody"
        return "must be a JSON object"
    raised = (error.get("ctx") or {}).get("error")
    return str(raised) if error["type"] == "value_error" and raised is not None else error["msg"]


def field_path(error: ErrorDetails) -> str:
    """Where a problem is, as the client wrote it: pydantic puts the member type of a union it
    tried into the path (`request.headers.dict[str,str].X`), which names no field of the body."""
    return ".".join(str(p) for p in error["loc"]
                    if not (isinstance(p, str) and "[" in p)) or "(body)"


def describe(model: type[BaseModel], error: ErrorDetails) -> str:
    """`problem`, with a field the body does not take named as such (pydantic says "Extra
    inputs are not permitted") and, at the top level, the field meant and the fields taken."""
    if error["type"] != "extra_forbidden":
        return problem(error)
    if len(error["loc"]) != 1:
        return "is not a field here"
    fields = [info.alias or name for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(str(error["loc"][0]), fields, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"is not a field of this request{hint} (its fields: {', '.join(fields)})"


def validated(model: type[ModelT], data: Any) -> ModelT:
    """`data` (a JSON body, or a console form's fields) as `model`; a 422 `invalid` naming
    the first field refused (`details`: every one, up to MAX_PROBLEMS)."""
    if issubclass(model, Body) and values_over(data, model.max_values):
        message = (f"holds more than {model.max_values:,} values (object members and array "
                   "items, at every depth), more than a valid body of this request holds")
        raise ApiError(422, "invalid", f"(body): {message}",
                       details=[{"field": "(body)", "message": message}])
    if issubclass(model, Body) and (refused := invalid_text_in(model, data)) is not None:
        where, message = refused
        raise ApiError(422, "invalid", f"{where}: {message}",
                       details=[{"field": where, "message": message}])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems: list[dict[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for e in error.errors(include_url=False, include_input=False):
            field, message = field_path(e), describe(model, e)
            if (field, message) in seen:  # (one union member's problem can read as another's)
                continue
            seen.add((field, message))
            problems.append({"field": field, "message": message})
            if len(problems) == MAX_PROBLEMS:
                break
        first = problems[0]
        raise ApiError(
            422, "invalid", f"{first['field']}: {first['message']}", details=problems
        ) from None
