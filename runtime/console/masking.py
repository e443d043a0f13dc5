"""Masking what carries a credential in a stored request before the console shows it.

Header values, query parameters, form fields and JSON keys whose names say they hold a
signature, token, key, secret or password are replaced by a mask (their length hidden too).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "••••••"
TOO_DEEP = "(a JSON body nested too deeply to mask its credentials: not shown)"
SENSITIVE = re.compile(
    r"(auth|sign|token|secret|passw|pwd|key|cookie|session|hmac|credential|hash|nonce|sig\b|"
    r"^sig|x-api|bearer|jwt)",
    re.IGNORECASE,
)


def sensitive(name: str) -> bool:
    return bool(SENSITIVE.search(name))


def mask_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return query
    return urlencode([(k, MASK if sensitive(k) else v) for k, v in pairs], safe="•")


def mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit(parts._replace(query=mask_query(parts.query)))


def mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if sensitive(str(k)) and not isinstance(v, dict | list)
                    else mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return value


def header_value(headers: Any, name: str) -> str:
    for key, value in headers or ():
        if str(key).lower() == name.lower():
            return str(value)
    return ""


def mask_body(body: str | None, content_type: str) -> str | None:
    if not body:
        return body
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or (
            not kind and "=" in body and "{" not in body and "\n" not in body):
        return mask_query(body)
    if kind.endswith("json") or body.lstrip()[:1] in ("{", "["):
        try:
            return json.dumps(mask_json(json.loads(body)), ensure_ascii=False, indent=2)
        except ValueError:
            return body
        except RecursionError:
            # Nested deeper than Python's JSON can walk (a 2 KB body can be): shown as sent when
            # no name in it could be a credential's, else not at all.
            return TOO_DEEP if SENSITIVE.search(body) else body
    return body


def masked_request(request: Any) -> Any:
    """A stored request ({"method", "url", "headers": [[name, value]], "body"}), masked."""
    if not isinstance(request, dict):
        return request
    headers = request.get("headers") or []
    if isinstance(headers, dict):
        headers = list(headers.items())
    pairs = [[str(k), MASK if sensitive(str(k)) else str(v)] for k, v in headers]
    return {
        **request,
        "url": mask_url(str(request.get("url") or "")),
        "headers": pairs,
        "body": mask_body(request.get("body"), header_value(headers, "Content-Type")),
    }
