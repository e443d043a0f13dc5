"""What a tenant's webhook reply may carry (contract §4): its header names and its content type.

A reply is served from the service's own address, the one the console lives on. So whatever a
script answers must never act as part of the service: no header a proxy in front of it acts on
(nginx's `X-Accel-Redirect` would make nginx serve an internal location, `X-Sendfile` a file),
no header a browser applies to the whole origin, and no content type a browser will run as
script or style (a `text/javascript` reply is a script any page of the origin may load; the
reply's own `Content-Security-Policy: sandbox` does not apply to a resource loaded as a script).

Both lists are allowlists: a name or type not named here is refused. The refusal lists below
only choose the words of the error, so that a module builder learns why.

The runtime adds `Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff` to
every reply (`runtime.runner.REPLY_SECURITY_HEADERS`): a reply opened as a page runs nothing,
even an XML one (any XML document may hold XHTML `<script>` elements), and one loaded as a
script or stylesheet is refused for its type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.charsets import text_codec

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "ALLOWED_HEADERS",
    "ALLOWED_HEADER_PREFIX",
    "ALLOWED_TYPE_SUFFIXES",
    "REFUSED_X_HEADERS",
    "REFUSED_X_PREFIXES",
    "MediaType",
    "body_codec",
    "content_type_refusal",
    "declared_charset",
    "header_refusal",
    "parse_media_type",
]

# --- header names (compared in lower case) ---------------------------------------------------

ALLOWED_HEADERS: frozenset[str] = frozenset({"content-type", "cache-control", "retry-after"})
ALLOWED_HEADER_PREFIX = "x-"

# X- names something in front of the service, or the browser, acts on: name -> who acts on it.
REFUSED_X_HEADERS: Mapping[str, str] = {
    # Files and internal redirects served by the proxy instead of the reply.
    "x-reproxy-url": "Perlbal and nginx setups fetch and serve the URL it names",
    # What the proxy trusts about the client and the original request.
    "x-real-ip": "proxies take it as the client's address",
    "x-client-ip": "proxies take it as the client's address",
    "x-cluster-client-ip": "proxies take it as the client's address",
    "x-original-url": "proxies and IIS take it as the original request's URL",
    "x-rewrite-url": "proxies and IIS take it as the original request's URL",
    "x-http-method-override": "frameworks behind proxies take it as the request's method",
    # What a browser applies to the service's own pages.
    "x-frame-options": "browsers apply it to the service's address",
    "x-content-type-options": "the service sets it on every reply",
    "x-xss-protection": "browsers apply it to the service's address",
    "x-content-security-policy": "browsers apply it to the service's address",
    "x-webkit-csp": "browsers apply it to the service's address",
    "x-dns-prefetch-control": "browsers apply it to the service's address",
    "x-download-options": "browsers apply it to the service's address",
    "x-permitted-cross-domain-policies": "browser plug-ins apply it to the service's address",
    "x-ua-compatible": "browsers apply it to the service's address",
}
REFUSED_X_PREFIXES: Mapping[str, str] = {
    "x-accel-": "nginx acts on X-Accel-* (internal redirects, buffering, caching, rate limits)",
    "x-sendfile": "Apache, lighttpd and others act on X-Sendfile* (serving a file from disk)",
    "x-lighttpd-": "lighttpd acts on X-LIGHTTPD-* (serving a file, rate limits)",
    "x-litespeed-": "LiteSpeed acts on X-LiteSpeed-* (internal redirects, its cache)",
    "x-envoy-": "Envoy acts on x-envoy-* (retries, health checks, overload)",
    "x-forwarded": "proxies take X-Forwarded-* as what the client sent",
}
ALLOWED_HEADERS_TEXT = (
    "allowed: Content-Type, Cache-Control, Retry-After and names beginning with X- "
    "other than those a proxy or browser acts on"
)


def header_refusal(name: str) -> str | None:
    """Why a reply may not carry the header `name`, or None when it may (any case)."""
    lowered = name.lower()
    if lowered in ALLOWED_HEADERS:
        return None
    if not lowered.startswith(ALLOWED_HEADER_PREFIX):
        return f"is not a header a script may set; {ALLOWED_HEADERS_TEXT}"
    who = REFUSED_X_HEADERS.get(lowered) or next(
        (why for prefix, why in REFUSED_X_PREFIXES.items() if lowered.startswith(prefix)), None
    )
    if who is None:
        return None
    return f"is not a header a script may set: {who}; {ALLOWED_HEADERS_TEXT}"


# --- content types ---------------------------------------------------------------------------

# Essences (type/subtype, lower case) a reply may have: none runs as script or style.
ALLOWED_CONTENT_TYPES: frozenset[str] = frozenset({
    "application/json",
    "application/xml",
    "text/xml",
    "text/plain",
    "text/csv",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
})
# `application/<anything>+json` and `+xml` (problem+json, soap+xml, ...), except the XML
# vocabularies a browser runs script in even without any XHTML inside.
ALLOWED_TYPE_SUFFIXES: tuple[str, ...] = ("+json", "+xml")
SUFFIX_TYPE = "application"

HTML_TYPES = frozenset({"text/html"})
# The WHATWG MIME Sniffing standard's JavaScript MIME type essences, and JSON modules' cousins.
SCRIPT_TYPES = frozenset({
    "application/ecmascript", "application/javascript", "application/x-ecmascript",
    "application/x-javascript", "text/ecmascript", "text/javascript", "text/javascript1.0",
    "text/javascript1.1", "text/javascript1.2", "text/javascript1.3", "text/javascript1.4",
    "text/javascript1.5", "text/jscript", "text/livescript", "text/x-ecmascript",
    "text/x-javascript", "application/wasm",
})
STYLE_TYPES = frozenset({"text/css"})
SCRIPTED_XML_TYPES = frozenset({
    "image/svg+xml", "application/xhtml+xml", "application/vnd.wap.xhtml+xml",
    "application/xslt+xml", "text/xsl",
})
ALLOWED_TYPES_TEXT = (
    "allowed: application/json and application/*+json, application/xml, text/xml and "
    "application/*+xml, text/plain, text/csv, application/x-www-form-urlencoded, "
    "multipart/form-data; any charset"
)

# RFC 9110 media-type: token "/" token *( OWS ";" OWS parameter ), a parameter's value a token
# or a quoted string. Stricter than browsers on purpose: what we cannot read, we refuse.
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
QUOTED = r'"[^"\\\x00-\x1f\x7f]*"'
MEDIA_TYPE = re.compile(
    rf"(?P<type>{TOKEN})/(?P<subtype>{TOKEN})"
    rf"(?P<parameters>(?:[ \t]*;[ \t]*{TOKEN}=(?:{TOKEN}|{QUOTED}))*)[ \t]*;?"
)
HTTP_WHITESPACE = " \t"


@dataclass(frozen=True, slots=True)
class MediaType:
    essence: str  # "type/subtype", lower case
    parameters: str  # as written, from the first ";"


def parse_media_type(value: str) -> MediaType | None:
    """A Content-Type value read as browsers read it (surrounding spaces and tabs ignored,
    names in any case); None when it is not exactly one well-formed media type."""
    text = value.strip(HTTP_WHITESPACE)
    # A browser splits the header at commas and uses the last type it can read:
    # `application/json, text/javascript` is a script to it. One type, no commas, even quoted.
    if "," in text:
        return None
    found = MEDIA_TYPE.fullmatch(text)
    if found is None:
        return None
    essence = f"{found['type']}/{found['subtype']}".lower()
    return MediaType(essence, found["parameters"])


PARAMETER = re.compile(rf"[ \t]*;[ \t]*(?P<name>{TOKEN})=(?P<value>{TOKEN}|{QUOTED})")


def declared_charset(media: MediaType) -> str | None:
    """The media type's `charset` parameter (unquoted), or None when it names none."""
    for found in PARAMETER.finditer(media.parameters):
        if found["name"].lower() == "charset":
            value = found["value"]
            return value[1:-1] if value.startswith('"') else value
    return None


def body_codec(content_type: str | None) -> str:
    """The codec a reply's body is sent in: the charset its Content-Type names (a provider
    decodes the body by it: a body sent as UTF-8 under `charset=windows-1251` reaches it as
    mojibake), else UTF-8. The Content-Type has passed content_type_refusal."""
    if content_type is None or "charset" not in content_type.lower():
        return "utf-8"  # most replies: JSON, or no Content-Type at all
    media = parse_media_type(content_type)
    charset = declared_charset(media) if media is not None else None
    return (text_codec(charset) if charset is not None else None) or "utf-8"


def short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def content_type_refusal(value: str) -> str | None:
    """Why a reply may not have the Content-Type `value`, or None when it may."""
    if not value.strip(HTTP_WHITESPACE):
        return f"must not be empty: leave Content-Type out or name a type; {ALLOWED_TYPES_TEXT}"
    media = parse_media_type(value)
    if media is None:
        return (f"must be one media type such as application/json or "
                f"'text/plain; charset=utf-8' (got {short(value)})")
    essence = media.essence
    if essence in ALLOWED_CONTENT_TYPES:
        return charset_refusal(media)
    if essence in HTML_TYPES:
        why = "a browser would show it as a page of the service"
    elif essence in SCRIPT_TYPES or "javascript" in essence or "ecmascript" in essence:
        why = "a browser would run it as the service's own script"
    elif essence in STYLE_TYPES:
        why = "a browser would apply it as the service's own stylesheet"
    elif essence in SCRIPTED_XML_TYPES:
        why = "a browser would run the scripts it may carry as the service's own"
    else:
        type_, subtype = essence.split("/", 1)
        if type_ == SUFFIX_TYPE and subtype.endswith(ALLOWED_TYPE_SUFFIXES):
            return charset_refusal(media)
        why = "it is not one of the types a reply may have"
    return f"{essence} is refused: {why}; {ALLOWED_TYPES_TEXT}"


def charset_refusal(media: MediaType) -> str | None:
    """Why the body cannot be sent in the charset `media` names, or None when it can (or
    names none): the service encodes the body in that charset."""
    charset = declared_charset(media)
    if charset is None or text_codec(charset) is not None:
        return None
    return (f"names charset {short(charset)}, which is no text encoding the service knows, so "
            "it cannot send the body in it; name one such as utf-8, windows-1251 or koi8-r, or "
            "leave the charset out (the body is then sent in UTF-8)")
