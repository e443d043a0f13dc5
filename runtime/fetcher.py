"""The host side of a script's `fetch()`: an outbound HTTP request, checked against SSRF.

A sandboxed script asks the parent for a request (`{"op": "fetch", ...}`); `FetchSession.handle`
answers with `{"ok": true, status, headers, url, body}` or `{"ok": false, "error": ...}` and never
raises. SSRF lives in the details, so every rule here works on what the network will actually
reach, never on the URL's text:

- the host must be on the module's allowlist, compared after the URL parser's own IDNA/NFKC
  normalisation (`１２７.０.０.１` is `127.0.0.1` here, as it is for the resolver);
- the name is resolved here, once, and EVERY address it resolves to must be public (or inside the
  operator's `allow_networks`); the connection is then made to those vetted addresses only,
  through a resolver that knows nothing else, so DNS cannot be asked twice (no rebinding window);
- numeric spellings (`127.1`, `2130706433`, `0x7f.1`) are interpreted by getaddrinfo itself, the
  code that would connect, and classified by the address they mean;
- redirects are followed here, one hop at a time, each hop checked like the first;
- one deadline covers the whole exchange (DNS, connect, redirects, body), so a slow drip ends;
- the body limit counts decoded bytes; compressed bodies are inflated off the event loop and stop
  one byte past it (gzip bombs, runtime/fetch_body.py);
- every request carries the hop header the webhook intake refuses (no self-calling loops);
- the bytes received count against the tenant's budget per minute (runtime/fetch_budget.py),
  as they arrive: a fetch started with it spent, or whose body spends it, is refused.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ipaddress
import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from runtime.charsets import text_codec
from runtime.contract import HEADER_VALUE_CONTROL
from runtime.fetch_body import (
    ACCEPTED_CODINGS,
    INLINE_BYTES,
    BodyRefused,
    inflate,
    is_identity,
    too_large,
    wire_limit,
)
from runtime.intake import HOP_HEADER
from runtime.reply_policy import declared_charset, parse_media_type

if TYPE_CHECKING:
    from runtime.config import FetchConfig
    from runtime.fetch_budget import TenantFetchBudget

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a dry run sends: reads, so links and look-ups resolve; anything else would be an effect.
DRY_RUN_METHODS: Final = frozenset({"GET", "HEAD"})
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Headers that frame the message or mark the hop: the host owns them. A script that sets one is
# refused (not silently corrected) so the author sees why, instead of debugging a changed request.
FORBIDDEN_HEADERS: Final = frozenset(
    name.lower()
    for name in (
        "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade",
        "TE", "Trailer", "Proxy-Connection", HOP_HEADER,
    )
)
# Credentials a script meant for one origin; dropped when a redirect leaves that origin.
CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie", "proxy-authorization"})
# Codecs Python accepts as a charset that are not charsets (punycode decoding is quadratic).
MAX_URL_CHARS: Final = 8192
READ_CHUNK: Final = 64 * 1024
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST_NAME: Final = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_HOST_V6: Final = re.compile(r"[0-9a-f:.]+")


# --- addresses ------------------------------------------------------------------------------

def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), label) for net, label in pairs)


# Our own table, not only `is_global`: the stdlib's lists changed between Python releases, and
# multicast and 100.64/10 need naming anyway. Order matters only for the label.
_BLOCKED_V4: Final = _nets(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255
)
_BLOCKED_V6: Final = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved"),  # IPv4-compatible (deprecated): refused whatever it embeds
    ("64:ff9b:1::/48", "private"),  # local-use NAT64
    ("100::/64", "reserved"),
    ("2001::/23", "reserved"),  # Teredo and other protocol assignments
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "reserved"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "link-local"),  # site-local, deprecated
    ("ff00::/8", "multicast"),
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_SIIT: Final = ipaddress.ip_network("::ffff:0:0:0/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would deliver to, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _SIIT:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def classify_address(address: IPAddress) -> str | None:
    """Why `address` is not a public address ("loopback", "private", ...), or None if it is."""
    inner = embedded_ipv4(address)
    if inner is not None:
        label = classify_address(inner)
        return None if label is None else f"{label} (embedded in IPv6)"
    table = _BLOCKED_V4 if isinstance(address, ipaddress.IPv4Address) else _BLOCKED_V6
    for network, label in table:
        if address in network:
            return label
    # Belt and braces: whatever the stdlib knows to be non-global that the table missed.
    if address.is_multicast:
        return "multicast"
    if not address.is_global:
        return "reserved"
    return None


def address_refusal(
    address: IPAddress, allow_networks: Iterable[IPNetwork] = ()
) -> str | None:
    """Why a request may not go to `address` under the operator's allowed networks, or None."""
    inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    for network in allow_networks:
        # An IPv4-mapped address reaches the IPv4 one, so an allowed IPv4 network covers it.
        if address in network or (inner is not None and inner in network):
            return None
    return classify_address(address)


# --- host names -----------------------------------------------------------------------------

def _url_host(host: str) -> str:
    """A host as the URL parser (and so the resolver and Host header) will spell it.

    yarl applies NFKC and IDNA, so full-width digits and letters become ASCII here exactly as
    they will for the request; comparing anything else would let text differ from what is used.
    """
    raw = URL.build(scheme="http", host=host).raw_host
    if not raw:
        raise ValueError("empty host")
    return raw


def _comparable(raw_host: str) -> str:
    return raw_host.rstrip(".").lower()


def normalize_host(entry: str) -> str:
    """An allowlist entry (`api.example.com`, `*.example.com`, `[::1]`) in comparable form.

    Raises ValueError for an entry that is not a host name; the API can call this at upload.
    """
    text = entry.strip()
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        host = _comparable(_url_host(text))
    except (ValueError, UnicodeError) as error:
        raise ValueError(f"not a host name: {entry!r}") from error
    if not (_HOST_NAME.fullmatch(host) or _HOST_V6.fullmatch(host)):
        raise ValueError(f"not a host name: {entry!r}")
    if wildcard and (":" in host or _is_numeric_text(host)):
        raise ValueError(f"a wildcard needs a domain name: {entry!r}")
    return f"*.{host}" if wildcard else host


def _is_numeric_text(host: str) -> bool:
    """What aiohttp takes for an IP literal (and connects to without our resolver)."""
    return ":" in host or host.replace(".", "").isdigit()


def own_host_ports(urls: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """(host, port) pairs of the service's own URLs (public URL, listen address) for refusal."""
    pairs = []
    for text in urls:
        url = URL(text)
        if url.raw_host and url.port is not None:
            pairs.append((url.raw_host, url.port))
    return tuple(pairs)


# --- policy ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchPolicy:
    """What one script execution may fetch; an invalid allowlist or network raises ValueError."""

    allowlist: tuple[str, ...] = ()  # exact hosts; "*.example.com" allows its subdomains only
    allow_networks: tuple[str, ...] = ()  # private ranges the operator allows anyway
    timeout_seconds: float = 5.0  # default and maximum for one whole exchange
    max_response_bytes: int = 5 * 1024 * 1024  # decoded body bytes
    max_redirects: int = 5
    max_requests: int = 10  # fetch() calls per script execution
    refused_hosts: tuple[tuple[str, int], ...] = ()  # the service's own (host, port) pairs
    dry_run: bool = False

    _exact: frozenset[str] = field(init=False, repr=False, compare=False)
    _suffixes: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _refused_names: frozenset[tuple[str, int]] = field(init=False, repr=False, compare=False)
    _refused_ips: frozenset[tuple[IPAddress, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = [normalize_host(entry) for entry in self.allowlist]
        names: set[tuple[str, int]] = set()
        ips: set[tuple[IPAddress, int]] = set()
        for host, port in self.refused_hosts:
            name = normalize_host(host)
            names.add((name, port))
            with contextlib.suppress(ValueError):  # a name, not an address
                ips.add((_unmapped(ipaddress.ip_address(name)), port))
        # Frozen dataclass: derived lookup tables are set once, here.
        set_ = object.__setattr__
        set_(self, "_exact", frozenset(e for e in entries if not e.startswith("*.")))
        set_(self, "_suffixes", frozenset(e[2:] for e in entries if e.startswith("*.")))
        set_(self, "_networks", tuple(
            ipaddress.ip_network(net, strict=False) for net in self.allow_networks
        ))
        set_(self, "_refused_names", frozenset(names))
        set_(self, "_refused_ips", frozenset(ips))

    @classmethod
    def from_config(
        cls,
        config: FetchConfig,
        *,
        allowlist: Iterable[str],
        max_requests: int,
        refused_hosts: Iterable[tuple[str, int]] = (),
        dry_run: bool = False,
    ) -> FetchPolicy:
        """The policy for one execution: operator limits, the module's allowlist, the call's
        fetch budget (`SandboxConfig.fetches_per_call`) and whether it is a dry run."""
        return cls(
            allowlist=tuple(allowlist),
            allow_networks=tuple(config.allow_networks),
            timeout_seconds=float(config.timeout_seconds),
            max_response_bytes=int(config.max_response_kib) * 1024,
            max_redirects=int(config.max_redirects),
            max_requests=max_requests,
            refused_hosts=tuple(refused_hosts),
            dry_run=dry_run,
        )

    @property
    def networks(self) -> tuple[IPNetwork, ...]:
        return self._networks

    def host_allowed(self, host: str) -> bool:
        """`host` in comparable form: an exact entry, or below a "*." entry's domain."""
        if host in self._exact:
            return True
        if _is_numeric_text(host):  # an address never matches a wildcard
            return False
        labels = host.split(".")
        return any(".".join(labels[i:]) in self._suffixes for i in range(1, len(labels)))

    def is_own_name(self, host: str, port: int) -> bool:
        return (host, port) in self._refused_names

    def is_own_address(self, address: IPAddress, port: int) -> bool:
        plain = _unmapped(address)
        if (plain, port) in self._refused_ips:
            return True
        # The service listening on 0.0.0.0/:: answers on loopback too.
        return plain.is_loopback and any(
            ip.is_unspecified and p == port for ip, p in self._refused_ips
        )


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- the session ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FetchLogEntry:
    """One fetch() attempt, for the execution log and a dry run's would-be effects."""

    method: str
    url: str
    status: int | None = None
    error: str | None = None
    not_sent: bool = False  # refused only because this is a dry run
    final_url: str | None = None
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Refused(Exception):
    """A refusal or failure whose message goes to the script as is."""


@dataclass
class _Prepared:
    method: str
    url: URL
    headers: dict[str, str]
    data: bytes | None
    timeout: float
    follow_redirects: bool


@dataclass(frozen=True)
class _Target:
    url: URL  # what aiohttp is given (numeric hosts rewritten to the address they mean)
    host: str  # the name the pinned resolver answers for
    results: tuple[ResolveResult, ...]


class _PinnedResolver(AbstractResolver):
    """Answers only for the vetted name, only with the vetted addresses: no second DNS query."""

    def __init__(self, target: _Target) -> None:
        self._target = target

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self._target.host:
            raise OSError(f"refusing to resolve an unvetted name: {host}")
        return [
            ResolveResult(
                hostname=result["hostname"], host=result["host"], port=port or result["port"],
                family=result["family"], proto=result["proto"], flags=result["flags"],
            )
            for result in self._target.results
            if family in (socket.AF_UNSPEC, result["family"])
        ]

    async def close(self) -> None:
        return None


# Of a call's wall-clock limit, what a fetch() leaves the script after its own timeout: time
# to answer the webhook, or go on without the response, rather than end at the limit.
CALL_TIME_RESERVE_SECONDS = 0.25


def _call_time_left(request: Mapping[str, Any]) -> float | None:
    """How long this request may take within its call's wall clock (the pool says what is
    left of it, `wall_seconds_left`), keeping CALL_TIME_RESERVE_SECONDS; None when unknown."""
    left = request.get("wall_seconds_left")
    if isinstance(left, bool) or not isinstance(left, int | float):
        return None
    return float(left) - CALL_TIME_RESERVE_SECONDS


class FetchSession:
    """The fetch() requests of one script execution, under one policy.

    `ssl_context` replaces the default certificate verification (an operator's private CA, or
    tests); verification itself is never turned off here.
    """

    def __init__(self, policy: FetchPolicy, *, ssl_context: ssl.SSLContext | None = None,
                 budget: TenantFetchBudget | None = None) -> None:
        self.policy = policy
        self.log: list[FetchLogEntry] = []
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._requests = 0
        self._budget = budget  # the tenant's bytes a minute (None: unbounded, a local run)

    @property
    def not_sent(self) -> list[FetchLogEntry]:
        """Requests a dry run refused to send: they belong to the would-be effects."""
        return [entry for entry in self.log if entry.not_sent]

    async def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The worker's fetch request → the reply it sends back to the script. Never raises."""
        started = time.monotonic()
        method = str(request.get("method") or "GET")[:16]
        url_text = str(request.get("url"))[:MAX_URL_CHARS]
        self._requests += 1
        if self._requests > self.policy.max_requests:
            error = f"too many requests: at most {self.policy.max_requests} fetch() calls per call"
            if self._requests == self.policy.max_requests + 1:  # log once; a loop cannot grow it
                self.log.append(FetchLogEntry(method, url_text, error=error))
            return {"ok": False, "error": error}

        not_sent = False
        timeout = self.policy.timeout_seconds
        within = f"{timeout:g} s"
        try:
            prepared = self._prepare(request)
            method, timeout = prepared.method, prepared.timeout
            within = f"{timeout:g} s"
            left = _call_time_left(request)
            if left is not None and left < timeout:
                # What the call's wall clock leaves, less a moment for the script to act on
                # the FetchError (reply, or go on without the answer).
                timeout = left
                within = f"{max(timeout, 0):.2f} s, what the call's wall-clock limit left"
            self._check_url(prepared.url)  # a dry run reports what the real run would refuse
            if self.policy.dry_run and method not in DRY_RUN_METHODS:
                not_sent = True
                raise _Refused(f"not sent in a dry run: {method} {url_text}")
            if timeout <= 0:
                raise TimeoutError
            if self._budget is not None and self._budget.spent():
                self._budget.refused_now()
                raise _Refused(self._budget.refusal())
            async with asyncio.timeout(timeout):
                reply = await self._exchange(prepared)
        except _Refused as refusal:
            error = str(refusal)
        except TimeoutError:  # before OSError: it is one
            error = f"timeout: no complete response within {within}"
        except (aiohttp.ClientError, OSError) as failure:
            error = f"connection failed: {_describe(failure)}"
        except Exception:
            logger.exception("fetch failed unexpectedly")
            error = "fetch failed: internal error"
        else:
            self.log.append(FetchLogEntry(
                method, url_text, status=reply["status"], final_url=reply["url"],
                elapsed_ms=_elapsed_ms(started),
            ))
            return reply
        self.log.append(FetchLogEntry(
            method, url_text, error=error, not_sent=not_sent, elapsed_ms=_elapsed_ms(started)
        ))
        return {"ok": False, "error": error}

    # -- validation of the script's arguments ---------------------------------------------

    def _prepare(self, request: Mapping[str, Any]) -> _Prepared:
        url_text = request.get("url")
        if not isinstance(url_text, str) or not url_text:
            raise _Refused("bad URL: the URL must be a non-empty string")
        if len(url_text) > MAX_URL_CHARS:
            raise _Refused(f"bad URL: longer than {MAX_URL_CHARS} characters")
        try:
            url = URL(url_text)
        except (ValueError, UnicodeError) as error:
            raise _Refused(f"bad URL: {error}") from None

        method = request.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in ALLOWED_METHODS:
            raise _Refused(f"method not allowed: {str(method)[:16]!r}; use one of "
                           + ", ".join(sorted(ALLOWED_METHODS)))
        method = method.upper()

        headers = _script_headers(request.get("headers"))
        body, json_body = request.get("body"), request.get("json")
        data: bytes | None = None
        if body is not None and json_body is not None:
            raise _Refused("bad request: give either a text body or a JSON body, not both")
        if body is not None:
            if not isinstance(body, str):
                raise _Refused("bad request: the body must be a string")
            data = _encoded_body(body, headers)
            _default_header(headers, "Content-Type", "text/plain; charset=utf-8")
        elif json_body is not None:
            try:
                text = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"),
                                  allow_nan=False)
            except (TypeError, ValueError) as error:
                raise _Refused(f"bad request: the JSON body cannot be sent: {error}") from None
            data = _encoded_body(text, headers)
            _default_header(headers, "Content-Type", "application/json")
        _default_header(headers, "Accept-Encoding", ACCEPTED_CODINGS)

        timeout = self.policy.timeout_seconds
        asked = request.get("timeout")
        if asked is not None:
            if isinstance(asked, bool) or not isinstance(asked, int | float) or not asked > 0:
                raise _Refused("bad request: timeout must be a positive number of seconds")
            # The policy's is the maximum. Compared before float() reads it: an integer no
            # float holds (a breached worker may send one) raised OverflowError there, an
            # internal error with a traceback in the log.
            timeout = float(min(timeout, asked))

        follow = request.get("follow_redirects", True)
        return _Prepared(method, url, headers, data, timeout, follow is not False)

    def _check_url(self, url: URL) -> tuple[str, int]:
        """The text rules of one hop, no DNS: scheme, credentials, host syntax, allowlist."""
        if url.scheme not in ("http", "https"):
            raise _Refused(f"scheme not allowed: {url.scheme or '(none)'}; use http or https")
        if url.user is not None or url.password is not None:
            raise _Refused("bad URL: credentials in the URL are not allowed; "
                           "send an Authorization header")
        raw = url.raw_host
        if not raw or not raw.isascii():
            raise _Refused("bad URL: no host")
        host = _comparable(raw)
        if not (_HOST_NAME.fullmatch(host) or _HOST_V6.fullmatch(host)):
            raise _Refused(f"bad URL: invalid host {raw!r}")
        port = url.port
        if port is None:
            raise _Refused("bad URL: no port")
        if not self.policy.host_allowed(host):
            raise _Refused(f"host not allowed: {host} is not on the module's fetch allowlist")
        if self.policy.is_own_name(host, port):
            raise _Refused(f"own address: {host}:{port} is this service")
        return host, port

    # -- the exchange ----------------------------------------------------------------------

    async def _exchange(self, prepared: _Prepared) -> dict[str, Any]:
        method, url, headers, data = (
            prepared.method, prepared.url, prepared.headers, prepared.data
        )
        redirects = 0
        while True:
            target = await self._vet(url)
            async with (
                self._client(target) as client,
                client.request(
                    method, target.url, headers={**headers, HOP_HEADER: "1"}, data=data,
                    allow_redirects=False,
                ) as response,
            ):
                location = response.headers.get("Location", "")
                if not (prepared.follow_redirects and response.status in REDIRECT_STATUSES
                        and location):
                    body = await self._read_body(response)
                    return {
                        "ok": True,
                        "status": response.status,
                        "headers": [[name, value] for name, value in response.headers.items()],
                        "url": str(url),
                        "body": body,
                    }
                status = response.status
            # The redirect's own body is never read: the connection closes with the client.
            redirects += 1
            if redirects > self.policy.max_redirects:
                raise _Refused(f"too many redirects: more than {self.policy.max_redirects}")
            try:
                next_url = url.join(URL(location))
            except (ValueError, UnicodeError):
                raise _Refused(f"bad URL: the redirect to {location[:200]!r} is invalid") from None
            if status in (301, 302, 303) and method != "HEAD":
                # As browsers do: the request becomes a GET and loses its body.
                method, data = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            if _origin(next_url) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            url = next_url.with_fragment(None)
            self._check_url(url)
            if self.policy.dry_run and method not in DRY_RUN_METHODS:  # 307/308 keep the method
                raise _Refused(f"not sent in a dry run: {method} {url}")

    async def _vet(self, url: URL) -> _Target:
        """Resolve the hop's host once and check every address; the connection uses only these."""
        host, port = self._check_url(url)
        raw = url.raw_host
        assert raw is not None  # _check_url refused a URL without a host
        loop = asyncio.get_running_loop()
        try:
            # Numeric spellings first, interpreted by the same code that would connect.
            infos = await loop.getaddrinfo(
                raw, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
            numeric = True
        except socket.gaierror:
            if _is_numeric_text(raw):
                # aiohttp would treat it as an address and connect by name, bypassing us.
                raise _Refused(f"bad URL: {raw!r} is not a valid IP address") from None
            try:
                infos = await loop.getaddrinfo(raw, port, type=socket.SOCK_STREAM)
            except socket.gaierror as error:
                raise _Refused(
                    f"connection failed: cannot resolve {host}: {error.strerror}"
                ) from None
            numeric = False

        results: list[ResolveResult] = []
        seen: set[str] = set()
        for family, _, proto, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(sockaddr[0])
            reason = address_refusal(address, self.policy.networks)
            if reason is not None:
                raise _Refused(f"private address: {host} is {address} ({reason})")
            if self.policy.is_own_address(address, port):
                raise _Refused(f"own address: {address}:{port} is this service")
            if str(sockaddr[0]) not in seen:
                seen.add(str(sockaddr[0]))
                results.append(ResolveResult(
                    hostname=raw, host=str(sockaddr[0]), port=port, family=family,
                    proto=proto, flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                ))
        if not results:
            raise _Refused(f"connection failed: {host} has no usable address")
        if numeric:
            # aiohttp refuses non-canonical spellings; give it the address they mean.
            canonical = str(ipaddress.ip_address(results[0]["host"]))
            if canonical != raw:
                url = url.with_host(canonical)
                raw = canonical
        return _Target(url=url, host=raw, results=tuple(results))

    def _client(self, target: _Target) -> aiohttp.ClientSession:
        # A connector per hop: it is the only way to bind the pinned resolver to the request, and
        # nothing (connections, DNS cache, cookies) leaks between hops or executions.
        connector = aiohttp.TCPConnector(
            resolver=_PinnedResolver(target), use_dns_cache=False, force_close=True,
            limit=1, ssl=self._ssl,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),  # ours covers the whole exchange
            trust_env=False,  # never a proxy from the environment
            auto_decompress=False,  # inflated off the loop, within the limit (fetch_body.py)
        )

    async def _read_body(self, response: aiohttp.ClientResponse) -> str:
        """The body as text: the bytes on the wire read within what the limit allows, then
        inflated and decoded, in a thread unless small and plain."""
        limit = self.policy.max_response_bytes
        coding = response.headers.get("Content-Encoding", "")
        most = wire_limit(limit, coding)
        declared = response.content_length
        if declared is not None and declared > most:
            raise _Refused(too_large(limit))
        raw = bytearray()
        budget = self._budget
        while chunk := await response.content.read(READ_CHUNK):
            raw += chunk
            if len(raw) > most:
                raise _Refused(too_large(limit))
            if budget is not None and not budget.spend(len(chunk)):
                raise _Refused(budget.refusal())  # (the connection closes unread)
        charset = response.charset
        try:
            if is_identity(coding) and len(raw) <= INLINE_BYTES and _decodes_fast(charset):
                return _decode(bytes(raw), charset)
            size, text = await asyncio.to_thread(_inflate_and_decode, bytes(raw), coding, limit,
                                                 charset)
        except BodyRefused as refused:
            raise _Refused(str(refused)) from None
        # What decoding added to the bytes on the wire counts too: a small compressed body
        # can stand for megabytes handed to the script.
        if budget is not None and not budget.spend(size - len(raw)):
            raise _Refused(budget.refusal())
        return text


def _decodes_fast(charset: str | None) -> bool:
    """Whether a body in `charset` decodes quickly enough for the event loop (UTF-8, the
    default; a slow codec such as UTF-7 takes some 20 ms for 64 KiB it must replace)."""
    return charset is None or text_codec(charset) in (None, "utf-8")


def _inflate_and_decode(raw: bytes, coding: str, limit: int, charset: str | None
                        ) -> tuple[int, str]:
    """The body's decoded size and its text."""
    body = inflate(raw, coding, limit)
    return len(body), _decode(body, charset)


def _script_headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _Refused("bad request: headers must be an object of strings")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise _Refused("bad request: header names and values must be strings")
        if not _TOKEN.fullmatch(name):
            raise _Refused(f"bad request: {name[:64]!r} is not a valid header name")
        if HEADER_VALUE_CONTROL.search(value):
            raise _Refused(f"bad request: the value of {name} contains a line break or "
                           "another control character")
        if name.lower() in FORBIDDEN_HEADERS:
            raise _Refused(f"header not allowed: {name} is set by the host, not by a script")
        headers[name] = value
    return headers


def _encoded_body(text: str, headers: Mapping[str, str]) -> bytes:
    """The body in the charset the script's Content-Type names (a server reads it by that
    charset: UTF-8 bytes under `charset=windows-1251` reach it as mojibake), else UTF-8."""
    content_type = next((value for name, value in headers.items()
                         if name.lower() == "content-type"), None)
    media = parse_media_type(content_type) if content_type is not None else None
    charset = declared_charset(media) if media is not None else None
    if charset is None:
        return text.encode("utf-8")
    codec = text_codec(charset)
    if codec is None:
        raise _Refused(f"bad request: the Content-Type names charset {charset[:64]!r}, which is "
                       "no text encoding the service knows, so it cannot send the body in it; "
                       "name one such as utf-8 or windows-1251, or leave the charset out")
    try:
        return text.encode(codec)
    except UnicodeEncodeError as error:
        bad = error.object[error.start]
        raise _Refused(f"bad request: the body holds {bad!r} (U+{ord(bad):04X}, character "
                       f"{error.start + 1}), which charset {charset[:64]} (its Content-Type's) "
                       "cannot carry") from None


def _default_header(headers: dict[str, str], name: str, value: str) -> None:
    if not any(key.lower() == name.lower() for key in headers):
        headers[name] = value


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return url.scheme, url.raw_host, url.port


# A fetched body is decoded this much at a time (in a thread, for a large one). One
# bytes.decode holds the interpreter until it returns, and some codecs a server may name are
# slow: 5 MiB of bytes UTF-7 must replace took about two seconds, the event loop (every
# tenant's webhooks) held all along, ten fetches a call. A piece takes a few milliseconds at
# most, about the interpreter's switch interval.
DECODE_PIECE: Final = 16 * 1024


def _decode(body: bytes, charset: str | None) -> str:
    """Text from the charset the response declares, else UTF-8; bad bytes replaced."""
    codec = text_codec(charset) if charset else None
    if codec is not None:
        try:
            return _decode_in_pieces(body, codec)
        except (LookupError, UnicodeError, ValueError):
            pass
    return _decode_in_pieces(body, "utf-8")


def _decode_in_pieces(body: bytes, codec: str) -> str:
    """`body.decode(codec, errors="replace")`, DECODE_PIECE bytes at a time: one decode call
    holds the interpreter until it returns, so a thread decoding a whole body held the event
    loop too (see DECODE_PIECE); between pieces the loop has its turn."""
    if len(body) <= DECODE_PIECE:
        return body.decode(codec, errors="replace")
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    parts = [decoder.decode(body[start:start + DECODE_PIECE])
             for start in range(0, len(body), DECODE_PIECE)]
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def _describe(failure: BaseException) -> str:
    text = str(failure) or type(failure).__name__
    return text[:300]


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
