"""Schemathesis (4.x) against the real service on loopback, driven by the served document.

Two runs of `schemathesis run` with tests/e2e/schemathesis.toml (seed, example counts, checks,
credentials by security scheme): one with the tenant's own ids in the path, one with another
tenant's ids, which must behave exactly like unknown ones. Both must pass every check (no 500s,
every status and body as documented, negative data refused, ...). Afterwards every status the
document lists for an operation must have been seen in one of the runs, or be explained in
`UNREACHED` below.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import OPERATOR_TOKEN, SEED_SCRIPT, Service
from tests.e2e.helpers import SeedSetup, answer, end, record, seed_setup, start, upload

pytest.importorskip("schemathesis")

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
RUN_TIMEOUT = 240.0


@dataclass
class Tenant:
    setup: SeedSetup
    ids: dict[str, str]


# The seed module has no click-to-call; this one logs the call instead of placing it.
SCRIPT = SEED_SCRIPT + """

def VoipGenerateCall(src_phone, dst_phone):
    log("would call", dst_phone, "from", src_phone)
"""


async def prepare(service: Service, name: str) -> Tenant:
    """A tenant with the seed module, a bound user, a finished recorded call, a contact."""
    setup = await seed_setup(service, name, script=SCRIPT)
    api = setup.api
    for payload in (start(), answer(), end(), record()):
        await setup.hook_ok(payload)
    calls = (await api.ok("GET", "/api/v1/calls"))["calls"]
    executions = (await api.ok("GET", "/api/v1/executions"))["executions"]
    contact = await api.ok("POST", "/api/v1/contacts",
                           {"name": "Ivan Petrov", "phones": ["+7 916 765-43-21"]}, status=201)
    edit_module = await api.ok("POST", "/api/v1/modules", {"name": "edited"}, status=201)
    await upload(api, edit_module["id"], SEED_SCRIPT)
    edit_version = await upload(api, edit_module["id"], SEED_SCRIPT)
    doomed_module = await api.ok("POST", "/api/v1/modules", {"name": "doomed"}, status=201)
    spare_key = await service.operator.ok(
        "POST", f"/api/v1/tenants/{setup.tenant_id}/keys", status=201)
    # A token of the run's user that may be revoked, and a user that may be deleted.
    spare_token = await api.ok("POST", f"/api/v1/users/{setup.user['id']}/tokens", status=201)
    doomed_user = await api.ok("POST", "/api/v1/users", {"name": "doomed"}, status=201)
    module = await api.ok("GET", f"/api/v1/modules/{setup.module['id']}")
    doomed_tenant = await service.operator.ok("POST", "/api/v1/tenants",
                                              {"name": f"doomed-{name}"}, status=201)
    doomed_contact = await api.ok("POST", "/api/v1/contacts",
                                  {"name": "doomed", "phones": ["+7 916 000-00-01"]}, status=201)
    merged_contact = await api.ok("POST", "/api/v1/contacts",
                                  {"name": "merged", "phones": ["+7 916 000-00-02"]}, status=201)
    return Tenant(setup, {
        "VR_DOOMED_TENANT_ID": doomed_tenant["id"],
        "VR_DOOMED_CONTACT_ID": doomed_contact["id"],
        "VR_MERGED_CONTACT_ID": merged_contact["id"],
        "VR_TENANT_ID": setup.tenant_id,
        "VR_MODULE_ID": module["id"],
        "VR_VERSION_ID": module["active_version"]["id"],
        "VR_USER_ID": setup.user["id"],
        "VR_CONTACT_ID": contact["id"],
        "VR_CALL_ID": calls[0]["id"],
        "VR_EXECUTION_ID": executions[0]["id"],
        "VR_EDIT_MODULE_ID": edit_module["id"],
        "VR_EDIT_VERSION_ID": edit_version["id"],
        "VR_DOOMED_MODULE_ID": doomed_module["id"],
        "VR_SPARE_KEY_ID": spare_key["id"],
        "VR_SPARE_TOKEN_ID": spare_token["id"],
        "VR_DOOMED_USER_ID": doomed_user["id"],
    })


async def schemathesis(base: str, env: dict[str, str], report_dir: Path, *extra: str
                       ) -> tuple[int, str, list[dict[str, Any]]]:
    """Run the CLI; its exit code, its output, and the (method, path, status) of each request."""
    report_dir.mkdir(parents=True, exist_ok=True)
    har = report_dir / "requests.har"
    args = [str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color", "run",
            f"{base}/api/v1/openapi.json", "--url", base,
            "--report", "har", "--report-har-path", str(har), *extra]
    command = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())
                       if k.startswith("VR_")) + " " + shlex.join(args)
    process = await asyncio.create_subprocess_exec(
        *args, env={**os.environ, **env}, cwd=str(report_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        process.kill()
        raise
    text = f"$ {command}\n{output.decode(errors='replace')}"
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    return process.returncode or 0, text, entries


def observed(entries: list[dict[str, Any]], document: dict[str, Any], base: str
             ) -> Iterator[tuple[str, str, str]]:
    """(METHOD, path template, status) for each request whose path the document names."""
    templates = [(path, _matcher(path)) for path in document["paths"]]
    for entry in entries:
        request, response = entry["request"], entry["response"]
        path = request["url"][len(base):].split("?", 1)[0]
        for template, match in templates:
            if match(path):
                yield request["method"].upper(), template, str(response["status"])
                break


def _matcher(template: str) -> Any:
    import re

    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$").match


# Statuses the runs cannot produce, and where a test produces them against a real server and
# checks them against the document (tests/e2e/test_openapi_statuses.py unless said otherwise).
ANY_OPERATION: dict[str, str] = {
    "400": "more than one Authorization header (an operation without a body or query has no "
           "other 400): tests/e2e/test_api_access.py::"
           "test_two_authorization_headers_are_400_not_the_first_one",
    "503": "the store is closed while the service shuts down: test_503_while_shutting_down",
    "413": "a body over the size limit (2 MiB): Schemathesis never sends one; "
           "test_413_body_too_large",
    "408": "a body slower than its deadline: tests/e2e/test_http_edge.py::"
           "test_408_and_415_conform",
    "415": "a Content-Encoding the service does not decode: tests/e2e/test_http_edge.py::"
           "test_408_and_415_conform",
    "429": "the tenant's concurrent-execution limit needs parallel slow runs: "
           "test_run_statuses_conform (and tests/e2e/test_service.py for webhooks); its "
           "run rate needs more checks and runs than a run makes: tests/e2e/test_run_rate.py",
    "501": "the script lacks the function (the run's script has all of them): "
           "test_run_statuses_conform",
    "502": "the script fails (the run's script does not): test_run_statuses_conform",
}
UNREACHED: dict[tuple[str, str, str], str] = {
    ("GET", "/api/v1/openapi.json", "200"):
        "Schemathesis leaves out the operation serving the document it tests; "
        "tests/e2e/test_openapi.py reads it",
    ("GET", "/healthz", "503"): "no live sandbox worker: test_healthz_degraded",
    ("GET", "/api/v1/calls/{call_id}/recording", "409"):
        "a recorded call of a module without an active version cannot be made over the API "
        "(versions are never deactivated); the same `no_active_script` answer as "
        "test_run_statuses_conform",
    ("POST", "/api/v1/modules/{module_id}/test-connection", "409"): "test_run_statuses_conform",
    ("POST", "/api/v1/modules/{module_id}/load-members", "409"): "test_run_statuses_conform",
    ("POST", "/api/v1/modules/{module_id}/dry-run", "409"): "test_run_statuses_conform",
    ("POST", "/api/v1/executions/{execution_id}/replay", "409"): "test_run_statuses_conform",
    ("POST", "/api/v1/modules/{module_id}/versions", "409"):
        "needs a stale `base_version_id`: test_version_conflict_conforms",
    ("POST", "/api/v1/contacts", "409"):
        "a number another contact has: tests/e2e/test_api_deletion.py::test_409_and_200_conform",
    ("POST", "/api/v1/contacts/bulk", "409"):
        "a number another contact has: tests/e2e/test_api_deletion.py::test_409_and_200_conform",
    ("PATCH", "/api/v1/contacts/{contact_id}", "409"):
        "a number another contact has: tests/e2e/test_api_deletion.py::test_409_and_200_conform",
    ("PUT", "/api/v1/modules/{module_id}/bindings", "409"):
        "past tenant_limits.max_bindings_per_module: tests/e2e/test_tenant_caps.py",
    ("PATCH", "/api/v1/modules/{module_id}/bindings", "409"):
        "past tenant_limits.max_bindings_per_module: tests/e2e/test_tenant_caps.py",
    ("POST", "/api/v1/users/{user_id}/tokens", "409"):
        "past tenant_limits.max_tokens_per_user: tests/e2e/test_tenant_caps.py",
    ("POST", "/api/v1/calls/originate", "403"):
        "a user token naming another user (the run calls with the tenant key): "
        "test_run_statuses_conform",
}


def explanation(method: str, path: str, status: str) -> str | None:
    return UNREACHED.get((method, path, status)) or ANY_OPERATION.get(status)


async def test_schemathesis_finds_nothing(service: Service, tmp_path: Path) -> None:
    own = await prepare(service, "acme")
    foreign = await prepare(service, "globex")
    base = str(service.client.make_url("")).rstrip("/")
    document = await service.operator.ok("GET", "/api/v1/openapi.json")
    credentials = {"VR_OPERATOR_TOKEN": OPERATOR_TOKEN,
                   "VR_TENANT_KEY": own.setup.api.secret or "",
                   "VR_USER_TOKEN": own.setup.user_token}
    code, text, entries = await schemathesis(base, {**credentials, **own.ids}, tmp_path / "own")
    print(text)
    assert code == 0, text
    # The operator sees every tenant: for tenant routes, an id nobody has.
    foreign.ids["VR_TENANT_ID"] = "ten_" + "0" * 26
    code, text, foreign_entries = await schemathesis(
        base, {**credentials, **foreign.ids}, tmp_path / "foreign", "--max-examples", "3")
    print(text)
    assert code == 0, text
    seen = set(observed(entries + foreign_entries, document, base))
    documented = {(method.upper(), path, status)
                  for path, methods in document["paths"].items()
                  for method, op in methods.items() for status in op["responses"]}
    unexplained = sorted(item for item in documented - seen if explanation(*item) is None)
    assert not unexplained, f"documented, never answered, not explained: {unexplained}"
    for key in UNREACHED:
        assert key in documented, f"UNREACHED names a status the document does not: {key}"
