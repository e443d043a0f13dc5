"""`voip-runtime deploy FOLDER --url URL`: make a service hold the module a folder describes.

The folder is `module.yaml` + `script.py` (contract §1). Deploying is declarative and goes
through the public API with a tenant key, in this order, so that a refused script changes
nothing at all:

1. read and check the folder (`module.yaml` keys, the script's size);
2. `POST /api/v1/check` the script: compile or contract problems are printed as
   `FOLDER/script.py:LINE: message` and the command exits 1;
3. find the module by name, work out what differs, and print it (`--dry-run` stops here);
4. create the module, or PATCH what changed (settings, secrets, allowlist, region, description);
5. bindings (when module.yaml has `bindings`): users are found by name, and created when the
   tenant has none of that name (the plan says so); the module's bindings become exactly these;
6. upload the script as a new version unless the active version has the same sha256, and
   activate it unless `--no-activate`.

Secret settings are never shown back by the API, only masked (`••••` + the last two
characters). A secret counts as unchanged when its masked form is the same; `--update-secrets`
sends the folder's secret values anyway (for a new value that masks the same).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails

from runtime.file_problems import file_problem
from runtime.json_body import problem
from runtime.module_yaml import load_builder_yaml
from runtime.openapi.models import PLAIN_NAME
from runtime.operations.module_fields import Settings, check_host, mask

KEY_ENV = "VOIP_RUNTIME_API_KEY"
MODULE_FILE = "module.yaml"
SCRIPT_FILE = "script.py"
MAX_SCRIPT_BYTES = 64 * 1024
PAGE = 500

SettingValue = str | int | float | bool


class DeployError(Exception):
    """The deploy cannot go on: exit 1 with the message (nothing further is changed)."""


class FolderError(Exception):
    """The folder or the command line is wrong: exit 2 with the message."""


class ModuleFile(BaseModel):
    """module.yaml (contract §1)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                    PLAIN_NAME]
    description: str = ""
    region: str = "RU"
    # The API's own check: one plain sentence for a nested value, not one line per type tried.
    settings: Settings = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    allowlist: list[str] = Field(default_factory=list)
    bindings: dict[str, str] | None = None  # member id -> user name; None: leave as they are


def describe_problem(error: ErrorDetails) -> str:
    """One problem of module.yaml in a builder's words. A misspelt key (`setings:`) would
    otherwise read "Extra inputs are not permitted", which names neither the file's keys nor
    the one meant."""
    where = ".".join(str(p) for p in error["loc"]) or "(file)"
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        keys = list(ModuleFile.model_fields)
        close = difflib.get_close_matches(where, keys, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"{where}: is not a {MODULE_FILE} key{hint} (its keys: {', '.join(keys)})"
    return f"{where}: {problem(error)}"  # the API's words, without pydantic's "Value error, "


@dataclass(frozen=True)
class Folder:
    path: Path
    module: ModuleFile
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


def read_folder(path: Path) -> Folder:
    module_file, script_file = path / MODULE_FILE, path / SCRIPT_FILE
    for required in (module_file, script_file):
        if not required.is_file():
            raise FolderError(f"{required} not found: a module folder holds "
                              f"{MODULE_FILE} and {SCRIPT_FILE}")
    module = read_module_file(module_file)
    try:
        source = script_file.read_text(encoding="utf-8-sig")  # a BOM is no part of the script
    except (OSError, UnicodeDecodeError) as error:
        raise FolderError(f"cannot read {script_file}: {file_problem(error)}") from None
    size = len(source.encode("utf-8"))
    if size > MAX_SCRIPT_BYTES:
        raise DeployError(f"{script_file}: {size} bytes; a script is at most 64 KiB")
    return Folder(path, module, source)


def read_module_file(module_file: Path) -> ModuleFile:
    """module.yaml checked (deploy, and `voip-runtime check` and `run` beside a script), or a
    FolderError naming the file and every problem in it."""
    try:
        data = load_builder_yaml(module_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise FolderError(f"cannot read {module_file}: {file_problem(error)}") from None
    if not isinstance(data, dict):
        raise FolderError(f"{module_file} must hold a mapping (name, settings, ...)")
    # `bindings: {101: operator}` has an int key (written 101: its text); member ids are strings.
    if isinstance(data.get("bindings"), dict):
        data["bindings"] = {str(k): v for k, v in data["bindings"].items()}
    try:
        return ModuleFile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(describe_problem(e) for e in error.errors())
        raise FolderError(f"{module_file}: {problems}") from None


# --- the API ------------------------------------------------------------------------------------


# How long one request to the service may take, its answer included.
REQUEST_SECONDS = 60


def one_line(text: str) -> str:
    return " ".join(text.split())


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, key: str) -> None:
        self.session, self.url = session, url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, body: Any = None,
                   expect: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        where = f"{method} {self.url}{path}"
        try:
            async with self.session.request(method, self.url + path, json=body,
                                            headers=self.headers) as response:
                text = await response.text(errors="replace")
        except TimeoutError:  # its message is empty: "POST .../check: " and nothing else
            raise DeployError(f"{where}: no answer within {REQUEST_SECONDS} s") from None
        except (aiohttp.ClientError, ValueError) as error:
            raise DeployError(f"{where}: {one_line(str(error))}") from None
        try:
            data = json.loads(text) if text else None
        except ValueError:
            # Another server at that address (a proxy's error page, a web server): json's
            # "Expecting value: line 1 column 1" said nothing of that.
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise DeployError(f"{where}: {response.status} answered with {kind}, not the "
                              f"service's JSON (is --url {self.url} the service's own "
                              "address, such as http://127.0.0.1:8080?)") from None
        if response.status not in expect:
            message = (one_line(str(data.get("message"))) if isinstance(data, dict)
                       else one_line(text)[:200])
            if response.status == 404 and not (isinstance(data, dict)
                                               and data.get("error") == "not_found"
                                               and data.get("message") != "no such resource"):
                # Not one of our records missing: the address itself is not the API's.
                message = (f"{message} (is --url {self.url} the service's own address, "
                           "such as http://127.0.0.1:8080?)")
            raise DeployError(f"{method} {self.url}{path}: {response.status} {message}")
        return response.status, data

    async def all(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            _, data = await self.call("GET", f"{path}?limit={PAGE}&offset={len(items)}")
            page = data[key]
            items.extend(page)
            if len(page) < PAGE:
                return items


# --- the plan -----------------------------------------------------------------------------------


@dataclass
class Plan:
    module: dict[str, Any] | None  # the module as the service has it; None: to be created
    patch: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    new_users: list[str] = field(default_factory=list)
    bindings: dict[str, str] | None = None  # member id -> user name, when they change
    upload: bool = False
    activate: bool = False
    version: int | None = None  # the number of the version uploaded

    @property
    def empty(self) -> bool:
        return self.module is not None and not (
            self.patch or self.new_users or self.bindings is not None or self.upload
            or self.activate)


def settings_differ(wanted: Mapping[str, SettingValue], secrets: set[str],
                    shown: Mapping[str, Any]) -> list[str]:
    """Names of the settings whose value differs (secrets compared in their masked form)."""
    names = sorted(set(wanted) | set(shown))
    differ = []
    for name in names:
        if name not in wanted or name not in shown:
            differ.append(name)
        elif name in secrets:
            if mask(wanted[name]) != shown[name]:
                differ.append(name)
        elif not same_value(wanted[name], shown[name]):
            differ.append(name)
    return differ


def same_value(wanted: SettingValue, shown: Any) -> bool:
    """Equal as JSON values: `true` is not `1`, but `3` is `3.0`."""
    if isinstance(wanted, bool) or isinstance(shown, bool):
        return type(wanted) is type(shown) and wanted == shown
    return bool(wanted == shown)


def hosts(entries: list[str]) -> list[str]:
    """The allowlist as the API stores it, checked by its rule and refused in its words (a URL:
    "give the host name only"); a host in capitals is written in lowercase, as ever."""
    try:
        return list(dict.fromkeys(check_host(e.strip().lower()) for e in entries))
    except ValueError as error:
        raise FolderError(f"{MODULE_FILE}: allowlist: {error}") from None


def module_fields(spec: ModuleFile) -> dict[str, Any]:
    return {"description": spec.description, "region": spec.region.strip().upper(),
            "settings": spec.settings, "secrets": list(dict.fromkeys(spec.secrets)),
            "allowlist": hosts(spec.allowlist)}


def count(items: Any, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


async def make_plan(api: Api, folder: Folder, *, activate: bool, update_secrets: bool) -> Plan:
    spec = folder.module
    wanted = module_fields(spec)
    modules = await api.all("/api/v1/modules", "modules")
    current = next((m for m in modules if m["name"] == spec.name), None)
    plan = Plan(module=current)
    if current is None:
        plan.changes.append(f"create module {spec.name!r} (region {wanted['region']}, "
                            f"{count(spec.settings, 'setting')} "
                            f"({count(wanted['secrets'], 'secret')}), "
                            f"{count(wanted['allowlist'], 'allowed host')})")
    else:
        for name in ("description", "region", "allowlist"):
            if wanted[name] != current[name]:
                plan.patch[name] = wanted[name]
                plan.changes.append(f"{name}: {current[name]!r} -> {wanted[name]!r}")
        if wanted["secrets"] != current["secrets"]:
            plan.patch["secrets"] = wanted["secrets"]
            plan.changes.append(f"secrets: {current['secrets']} -> {wanted['secrets']}")
        differ = settings_differ(spec.settings, set(wanted["secrets"]), current["settings"])
        forced = update_secrets and bool(wanted["secrets"])
        if differ or forced or "secrets" in plan.patch:
            plan.patch["settings"] = spec.settings
            plan.patch.setdefault("secrets", wanted["secrets"])
            named = ", ".join(differ) if differ else "secret values (--update-secrets)"
            plan.changes.append(f"settings: {named}")
    await plan_bindings(api, plan, spec)
    await plan_script(api, plan, folder, activate=activate)
    return plan


async def plan_bindings(api: Api, plan: Plan, spec: ModuleFile) -> None:
    if spec.bindings is None:
        return
    users = {u["name"]: u["id"] for u in await api.all("/api/v1/users", "users")}
    plan.new_users = sorted({name for name in spec.bindings.values() if name not in users})
    for name in plan.new_users:
        plan.changes.append(f"create user {name!r} (no user of that name yet)")
    current: dict[str, str] = {}
    if plan.module is not None:
        _, data = await api.call("GET", f"/api/v1/modules/{plan.module['id']}/bindings")
        names = {v: k for k, v in users.items()}
        current = {b["member_id"]: names.get(b["user_id"], b["user_id"])
                   for b in data["bindings"]}
    if current != spec.bindings:
        plan.bindings = dict(spec.bindings)
        shown = ", ".join(f"{m} -> {u}" for m, u in sorted(spec.bindings.items())) or "none"
        plan.changes.append(f"bindings: {shown}")


async def plan_script(api: Api, plan: Plan, folder: Folder, *, activate: bool) -> None:
    module = plan.module
    if module is not None and module["active_version"] is not None:
        active = module["active_version"]["id"]
        _, version = await api.call("GET", f"/api/v1/modules/{module['id']}/versions/{active}")
        if version["sha256"] == folder.sha256:
            return
    plan.upload = True
    plan.activate = activate
    what = "upload the script as a new version"
    plan.changes.append(what + (" and activate it" if activate else " (not activated)")
                        + f" (sha256 {folder.sha256[:12]})")


# --- doing it -----------------------------------------------------------------------------------


def script_problems(folder: Folder, data: Any) -> list[str]:
    where = folder.path / SCRIPT_FILE
    problems = data.get("problems") if isinstance(data, dict) else None
    if not problems:
        return [f"{where}: {data.get('message') if isinstance(data, dict) else data}"]
    return [f"{where}:{p['line']}: {p['message']}" if p.get("line") else f"{where}: {p['message']}"
            for p in problems]


async def check_script(api: Api, folder: Folder) -> None:
    status, data = await api.call("POST", "/api/v1/check", {"source": folder.source},
                                  expect=(200, 422))
    if status == 422:
        raise DeployError("the script was refused; nothing was changed\n"
                          + "\n".join(script_problems(folder, data)))


async def apply(api: Api, plan: Plan, folder: Folder) -> dict[str, Any]:
    spec = folder.module
    if plan.module is None:
        _, module = await api.call("POST", "/api/v1/modules",
                                   {"name": spec.name, **module_fields(spec)}, expect=(201,))
    else:
        module = plan.module
        if plan.patch:
            _, module = await api.call("PATCH", f"/api/v1/modules/{module['id']}", plan.patch)
    if plan.bindings is not None:
        users = {u["name"]: u["id"] for u in await api.all("/api/v1/users", "users")}
        for name in plan.new_users:
            if name not in users:
                _, user = await api.call("POST", "/api/v1/users", {"name": name}, expect=(201,))
                users[name] = user["id"]
        await api.call("PUT", f"/api/v1/modules/{module['id']}/bindings",
                       {"bindings": {m: users[u] for m, u in plan.bindings.items()}})
    if plan.upload:
        status, data = await api.call(
            "POST", f"/api/v1/modules/{module['id']}/versions",
            {"source": folder.source, "activate": plan.activate}, expect=(201, 422))
        if status == 422:
            raise DeployError("the script was refused\n"
                              + "\n".join(script_problems(folder, data)))
        plan.version = int(data["number"])
    _, module = await api.call("GET", f"/api/v1/modules/{module['id']}")
    return dict(module)


async def deploy(folder: Folder, *, url: str, key: str, dry_run: bool, activate: bool,
                 update_secrets: bool, say: Callable[[str], None]) -> Plan:
    timeout = aiohttp.ClientTimeout(total=REQUEST_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        api = Api(session, url, key)
        await check_script(api, folder)
        plan = await make_plan(api, folder, activate=activate, update_secrets=update_secrets)
        name = folder.module.name
        if plan.empty:
            say(f"{name}: up to date, nothing changed")
            return plan
        if dry_run:
            say(f"{name}: would change (dry run, nothing was changed):")
            for change in plan.changes:
                say(f"  - {change}")
            return plan
        module = await apply(api, plan, folder)
        say(f"{name}: deployed")
        for change in plan.changes:
            say(f"  - {change}")
        if plan.version is not None:
            state = "active" if plan.activate else "not active (--no-activate)"
            say(f"  version {plan.version} is {state}")
        say(f"  webhook URL: {module['webhook_url']}")
        return plan


def key_from(given: str | None) -> str:
    # A key read from a file or a secret's mount often ends with a newline: it is not part of
    # the key (the service strips it too), and in a header it was refused as an injection.
    key = (given or os.environ.get(KEY_ENV) or "").strip()
    if not key:
        raise FolderError(f"give the tenant API key with --key or the {KEY_ENV} variable")
    odd = next((c for c in key if not (c.isascii() and c.isprintable()) or c.isspace()), None)
    if odd is not None:
        raise FolderError(f"the tenant API key holds {odd!r} (U+{ord(odd):04X}): a key is "
                          "printable ASCII without spaces, such as vrk_AbCd...")
    return key


def service_url(given: str) -> str:
    """--url as the service's base address: an http(s) URL naming a host (else aiohttp's
    complaint about a request URL, or a connection error, read as a refusal, exit 1)."""
    try:
        parts = urlsplit(given.strip())
    except ValueError as error:  # "Invalid IPv6 URL": a bracket left open
        raise FolderError(f"--url {given!r}: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FolderError(f"--url {given!r} is not the service's address: give an http or "
                          "https URL such as http://127.0.0.1:8080")
    try:
        _ = parts.port  # a port that is not a number raises here
    except ValueError as error:
        raise FolderError(f"--url {given!r}: {error}") from None
    return given.strip()


def run(folder_path: Path, *, url: str, key: str | None, dry_run: bool = False,
        activate: bool = True, update_secrets: bool = False,
        say: Callable[[str], None] = print) -> Plan:
    base = service_url(url)
    folder = read_folder(folder_path)
    try:
        return asyncio.run(deploy(folder, url=base, key=key_from(key), dry_run=dry_run,
                                  activate=activate, update_secrets=update_secrets, say=say))
    except (LookupError, TypeError, AttributeError) as error:
        # JSON of another shape than the service's (another program at that address): one
        # line, exit 1, as any other refusal, not a traceback.
        raise DeployError(f"{base} answered JSON that is not the service's "
                          f"({type(error).__name__}: {one_line(str(error))[:120]}): is --url "
                          "the service's own address, such as http://127.0.0.1:8080?") from None
