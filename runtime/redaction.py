"""Masking the secrets an execution carried before anyone is shown it: the API, the console and
the command line all show executions, dry runs and replays through this one module.

What is masked (docs/modules.md, "What the execution log shows"):
- in the stored request, the values of headers, query parameters, form fields and JSON keys
  whose names say they hold a signature, token, key, secret or password (MegaFon's
  `crm_token`, `Authorization`, Zadarma's `Signature`), their length hidden too;
- anywhere in what is shown (the request, the captured output, the error, the result, the
  effects, a dry run's reply), the value of each setting the module marks secret.

Nothing is masked where it is stored: a replay runs the request as it really came. Each view
lists what was masked (`masked`), so a builder debugging a run knows that a `••••••` is a mask
and not what the provider sent.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

from runtime.store.models import JSON, Execution, Module, to_json

MASK: Final = "••••••"
TOO_DEEP: Final = "(a JSON body nested too deeply to mask its credentials: not shown)"
# Names, not words inside names: "sign" alone or as a part (crm_sign, sign-key), not
# "assigned"; "auth" but not "author". Ids that often sit beside credentials (session ids,
# hashes of a call, nonces) stay shown: a builder debugging a run needs them.
SENSITIVE: Final = re.compile(
    r"(auth(?!ors?($|[_\-.]))|signature|(^|[_\-.])sig(n)?($|[_\-.])|token|secret|passw|pwd|key|cookie|"
    r"hmac|credential|x-api|bearer|jwt)",
    re.IGNORECASE,
)
_URL_IN_TEXT: Final = re.compile(r"https?://[^\s'\"<>]+")
# A secret setting shorter than this is not searched for in text: a value like "on" or "1"
# would mask every word that contains it and hide nothing an attacker could not guess.
MIN_SECRET_CHARS: Final = 4
# Characters times spellings of the secret settings one view may search (about a
# nanosecond each, in the service's event loop): a module of a few secrets is searched whole
# even in its largest views (a 64 KiB request body and output, a 256 KiB result: dozens of
# spellings); a module of 200 secrets spelt five ways each made every view of a large run
# cost half a second of the loop, and readers of it in a loop stalled every tenant's webhooks.
# Text beyond the budget is not searched and not shown (UNSEARCHED); the same view always
# gives the same answer. A search also costs PER_SEARCH characters' worth (Python's part).
SEARCH_BUDGET: Final = 16_000_000
PER_SEARCH: Final = 160
UNSEARCHED: Final = "(not shown: too large to search for this module's secret settings)"


def sensitive(name: str) -> bool:
    """Whether a header, parameter or JSON key's name says its value is a credential."""
    return bool(SENSITIVE.search(name))


def secret_values(module: Module) -> dict[str, str]:
    """The module's secret settings, value -> setting name, longest value first (so a secret
    containing another is masked whole)."""
    return secret_settings(module.settings, module.secrets)


def secret_settings(settings: Mapping[str, object], secrets: Iterable[str]) -> dict[str, str]:
    """`secret_values` of settings and the names of the secret ones (a module.yaml's)."""
    names = set(secrets)
    found = {value: name for name, value in settings.items()
             if name in names and isinstance(value, str) and len(value) >= MIN_SECRET_CHARS}
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


@dataclass(frozen=True, slots=True)
class Spelling:
    """A secret setting's value as it may be found in text."""

    text: str
    name: str  # the setting's
    in_json: str  # `text` as it reads inside a JSON string (json.dumps, ensure_ascii=False)


def spellings(secrets: Mapping[str, str]) -> tuple[Spelling, ...]:
    """Each secret value as it is found in text, longest first: as written, inside a JSON
    string (a reply or a fetch body the service encoded, a log line of json.dumps: `"` and
    non-ASCII letters escaped) and percent-encoded in a URL (a base64 key's `+`, `/` and `=`:
    quote(), quote_plus(), a query built from it)."""
    return _spellings(tuple(secrets.items()))


# A page of the log masks each listed error with a Redactor of its own: the spellings of a
# module's secrets are made once, not once an execution (hundreds of secrets, 500 a page).
@functools.lru_cache(maxsize=256)
def _spellings(secrets: tuple[tuple[str, str], ...]) -> tuple[Spelling, ...]:
    found: dict[str, str] = {}
    for value, name in secrets:
        for spelling in (value, _in_json(value, ascii=True), _in_json(value),
                         *_url_spellings(value)):
            found.setdefault(spelling, name)
    return tuple(Spelling(text, name, _in_json(text))
                 for text, name in sorted(found.items(), key=lambda item: -len(item[0])))


def _in_json(text: str, *, ascii: bool = False) -> str:
    return json.dumps(text, ensure_ascii=ascii)[1:-1]


def _url_spellings(value: str) -> tuple[str, ...]:
    try:
        return (quote(value, safe=""), quote(value), quote_plus(value),
                quote_plus(value, safe="/"))
    except UnicodeError:  # text no URL can carry (a lone surrogate): none
        return ()


class Redactor:
    """Masks one view (an execution, a report) and remembers what it masked, in order."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.secrets = dict(secrets or {})
        self._spellings = spellings(self.secrets)
        self._budget = SEARCH_BUDGET
        self.masked: list[str] = []
        self.hits = 0  # values masked, counted even when `masked` already says where

    @classmethod
    def for_module(cls, module: Module | None) -> Redactor:
        """For a view of `module`'s runs (None: a module deleted since, whose settings are
        gone: credentials are still masked by their names)."""
        return cls(secret_values(module) if module is not None else {})

    def _note(self, what: str) -> None:
        self.hits += 1
        if what not in self.masked:
            self.masked.append(what)

    # -- the value of a secret setting, wherever it appears --------------------------------

    def _affords(self, chars: int, spellings: int, where: str) -> bool:
        """Whether searching `chars` characters for `spellings` spellings fits what is left
        of the view's budget (then spent); else noted as not shown."""
        cost = (chars + PER_SEARCH) * spellings
        if cost <= self._budget:
            self._budget -= cost
            return True
        self._note(f"{where} (too large to search for {len(self.secrets)} secret settings: "
                   "not shown)")
        return False

    def text(self, text: str, where: str, among: tuple[Spelling, ...] | None = None) -> str:
        among = self._spellings if among is None else among
        if among and not self._affords(len(text), len(among), where):
            return UNSEARCHED
        for spelling in among:
            if spelling.text in text:
                text = text.replace(spelling.text, MASK)
                self._note(f"secret setting {spelling.name} in {where}")
        return text

    def json(self, value: Any, where: str) -> Any:
        """`value` with every string in it (keys too) searched for the secret settings."""
        if not self._spellings:
            return value
        if isinstance(value, str):
            return self.text(value, where)
        # One search of the whole value for each spelling, not one of each of its strings
        # (a result of 20,000 strings, a module of 200 secrets: seconds of the event loop at
        # each view); then only the spellings found are looked for string by string.
        try:
            encoded = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            return self._json(value, where, self._spellings)
        if not self._affords(len(encoded), len(self._spellings), where):
            return _unsearched(value)
        # JSON escaping is made character by character: a spelling inside one of the value's
        # strings is inside its encoding.
        present = tuple(s for s in self._spellings if s.in_json in encoded)
        return value if not present else self._json(value, where, present)

    def _json(self, value: Any, where: str, among: tuple[Spelling, ...]) -> Any:
        if isinstance(value, str):
            return self.text(value, where, among)
        if isinstance(value, dict):
            return {self.text(str(k), where, among): self._json(v, where, among)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._json(v, where, among) for v in value]
        return value

    # -- credentials by their names, in a request ------------------------------------------

    def query(self, query: str, where: str) -> str:
        """A query string or form body with its credentials masked; as given when none."""
        pairs = parse_qsl(query, keep_blank_values=True)
        names = [name for name, _ in pairs if sensitive(name)]
        if not names:
            return query
        for name in dict.fromkeys(names):
            self._note(f"{where} {name}")
        # The mask goes in as itself (percent-encoded it would read as a value sent).
        return "&".join(f"{quote_plus(k)}={MASK if sensitive(k) else quote_plus(v)}"
                        for k, v in pairs)

    def url(self, url: str, where: str = "request query parameter") -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        query = self.query(parts.query, where)
        return url if query == parts.query else urlunsplit(parts._replace(query=query))

    def _json_fields(self, value: Any, path: str, where: str = "request body field") -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if sensitive(str(key)):
                    # The value is the credential whatever its shape (`"tokens": [...]`,
                    # `"signature": {"value": ...}`): every value in it masked, its shape
                    # kept for the builder to read.
                    self._note(f"{where} {name}")
                    out[key] = _masked_leaves(item)
                else:
                    out[key] = self._json_fields(item, name, where)
            return out
        if isinstance(value, list):
            return [self._json_fields(item, f"{path}[{index}]", where)
                    for index, item in enumerate(value)]
        return value

    def body(self, body: str | None, content_type: str) -> str | None:
        """A request body with its credential fields masked; the text as sent when it has
        none (a JSON body is shown re-indented only when something in it was masked)."""
        if not body:
            return body
        kind = content_type.split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded" or (
                not kind and "=" in body and "{" not in body and "\n" not in body):
            return self.query(body, "request body field")
        # A UTF-8 byte order mark is skipped, as the script's request.json() skips it.
        text = body.removeprefix("\ufeff")
        if kind.endswith("json") or text.lstrip()[:1] in ("{", "["):
            before = self.hits
            try:
                masked = self._json_fields(json.loads(text, parse_int=_int_or_digits), "")
            except ValueError:
                return body
            except RecursionError:
                # Nested deeper than Python's JSON can walk (a 2 KB body can be): shown as sent
                # when no name in it could be a credential's, else not at all.
                if SENSITIVE.search(body):
                    self._note("request body (too deeply nested to mask field by field)")
                    return TOO_DEEP
                return body
            if self.hits == before:
                return body
            return json.dumps(masked, ensure_ascii=False, indent=2)
        return body

    def request(self, request: Any) -> Any:
        """A stored or composed request ({"method", "url", "headers": [[name, value]],
        "body"}), or another function's arguments, masked."""
        if not isinstance(request, dict) or "method" not in request:
            # Another function's arguments (VoipGetCallLink's saved call data, ...).
            return self.json(self._json_fields(request, "", "argument field"), "request")
        headers = request.get("headers") or []
        if isinstance(headers, dict):
            headers = list(headers.items())
        pairs = []
        for name, value in headers:
            if sensitive(str(name)):
                self._note(f"request header {name}")
                pairs.append([str(name), MASK])
            else:
                pairs.append([str(name), str(value)])
        shown = {
            **request,
            "url": self.url(str(request.get("url") or "")),
            "headers": pairs,
            "body": self.body(request.get("body"), header_value(pairs, "Content-Type")),
        }
        return self.json(shown, "request")

    # -- fetches: URLs the script called ----------------------------------------------------

    def fetches(self, value: Any, where: str) -> Any:
        """Fetch records ([{"method", "url", "final_url", "error", ...}]) with credentials in
        their URLs masked, in the error's words too ("not sent in a dry run: POST <url>")."""
        if not isinstance(value, list):
            return value
        label = f"{where} query parameter"
        shown = []
        for item in value:
            if isinstance(item, dict):
                item = dict(item)
                for key in ("url", "final_url"):
                    if isinstance(item.get(key), str):
                        item[key] = self.url(item[key], label)
                if isinstance(item.get("error"), str):
                    item["error"] = _URL_IN_TEXT.sub(lambda m: self.url(m[0], label),
                                                     item["error"])
            shown.append(item)
        return shown

    def storage_writes(self, writes: Any) -> Any:
        """A dry run's storage writes ([{"op", "key", "value"}]) with the value of a key named
        like a credential masked (an access token a script caches under `access_token`)."""
        if not isinstance(writes, list):
            return writes
        shown = []
        for write in writes:
            if isinstance(write, dict) and "value" in write and sensitive(str(write.get("key"))):
                self._note(f"storage value {write.get('key')}")
                write = {**write, "value": MASK}
            shown.append(write)
        return shown

    def effects(self, effects: Any, where: str = "effects") -> Any:
        if isinstance(effects, dict) and "fetches" in effects:
            effects = {**effects, "fetches": self.fetches(effects["fetches"], "a fetch URL")}
        return self.json(effects, where)


def _unsearched(value: Any) -> Any:
    """`value` with every string in it not shown; its shape and keys kept (what its readers,
    and the API's schema, look values up by)."""
    if isinstance(value, str):
        return UNSEARCHED
    if isinstance(value, dict):
        return {key: _unsearched(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unsearched(item) for item in value]
    return value


def _masked_leaves(value: Any) -> Any:
    """`value` with every string, number, boolean and null in it masked."""
    if isinstance(value, dict):
        return {key: _masked_leaves(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked_leaves(item) for item in value]
    return MASK


def _int_or_digits(digits: str) -> int | str:
    """A JSON integer, or its digits when Python will not read that many (4300): such a body
    is still JSON whose credentials are masked (the number is shown as text)."""
    try:
        return int(digits)
    except ValueError:
        return digits


def header_value(headers: Any, name: str) -> str:
    for key, value in headers or ():
        if str(key).lower() == name.lower():
            return str(value)
    return ""


def redact(execution: Execution, module: Module | None) -> tuple[Execution, list[str]]:
    """The execution with its secrets masked (`module`'s secret settings, credentials by
    name), and what was masked."""
    redactor = Redactor.for_module(module)
    shown = replace(
        execution,
        request=redactor.request(execution.request),
        logs=redactor.text(execution.logs, "logs"),
        error=redactor.json(execution.error, "error"),
        result=redactor.json(execution.result, "result"),
        effects=redactor.effects(execution.effects),
    )
    return shown, list(redactor.masked)


def redacted_execution(execution: Execution, module: Module | None) -> dict[str, JSON]:
    """An execution as the API shows it: every field, secrets masked, and `masked` saying
    what was."""
    shown, masked = redact(execution, module)
    out: dict[str, JSON] = to_json(shown)
    out["masked"] = list(masked)
    return out


def redacted_report(report: dict[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """A dry run's or a replay's report, as shown: its request's credentials masked by name,
    the module's secret settings masked wherever they appear, and `masked` saying what was.
    Comparisons with the original run are made before this, on what really ran. `secrets`:
    `secret_values(module)`."""
    redactor = Redactor(secrets)
    shown = dict(report)
    if "request" in shown:
        shown["request"] = redactor.request(shown["request"])
    if "fetches" in shown:
        shown["fetches"] = redactor.fetches(shown["fetches"], "a fetch URL")
    if "storage" in shown:
        shown["storage"] = redactor.storage_writes(shown["storage"])
    if "effects" in shown:
        shown["effects"] = redactor.effects(shown["effects"])
    original = shown.get("original")
    if isinstance(original, dict) and "effects" in original:
        shown["original"] = {**original, "effects": redactor.effects(original["effects"])}
    for key, item in list(shown.items()):
        if key not in ("request", "masked"):
            shown[key] = redactor.json(item, key)
    shown["masked"] = list(redactor.masked)
    return shown
