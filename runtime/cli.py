"""The `voip-runtime` command: serve; deploy a module folder; run or check a script locally.

`run` is the service without a server: the real sandbox pool, the contract's validation, the
service's storage and fetch() checks (`runtime.local_host`) and its limits, from a service's
configuration file (`--config`) or the defaults, and the same error types as its execution log.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from runtime.config import Config, ConfigError, load_config
from runtime.file_problems import file_problem
from runtime.intake import composed_request
from runtime.local_host import LocalHost
from runtime.module_yaml import load_builder_yaml
from sandbox import Call, Limits, Outcome, RequestData, SandboxPool
from sandbox.call import DEFAULT_REQUEST_URL, PARSE_FUNCTION, SCRIPT_FUNCTIONS

if TYPE_CHECKING:
    from runtime.deploy import ModuleFile

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# Whoever read our output stopped (`voip-runtime run ... | head`): end quietly with EPIPE's
# number, as Python's own command-line tools do (`python -m json.tool`).
EXIT_PIPE_CLOSED = errno.EPIPE


class UsageError(Exception):
    """A command-line mistake: exit 2 with the message."""


def script_path(text: str) -> Path:
    """A script, or a module folder (module.yaml + script.py, as `deploy` takes): its
    script.py, whose module.yaml then gives the settings and allowlist."""
    path = Path(text)
    return path / "script.py" if path.is_dir() else path


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("voip-runtime")
    except metadata.PackageNotFoundError:
        return "0"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voip-runtime",
        description="Hosted runtime for telephony integration scripts.",
    )
    # The release, as the API's document states it (info.version), for bug reports.
    parser.add_argument("--version", action="version", version=f"voip-runtime {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--config", type=Path, help="YAML configuration file")
    serve.add_argument("--host", help="listen address (overrides the configuration)")
    serve.add_argument("--port", type=int, help="listen port (overrides the configuration)")

    run = commands.add_parser("run", help="run one function of a script in the sandbox")
    run.add_argument("script", type=script_path, help="script.py, or its module folder")
    run.add_argument("--function", default=PARSE_FUNCTION, choices=sorted(SCRIPT_FUNCTIONS))
    run.add_argument("--request", type=Path, help='JSON file {"method","url","headers","body"}')
    run.add_argument("--settings", type=Path, metavar="FILE",
                     help="JSON or YAML file holding the settings object (default: the "
                          "settings in module.yaml)")
    run.add_argument("--args", help="JSON list of the function's arguments (not the request)")
    run.add_argument("--storage", type=Path,
                     help="JSON file the script's storage is read from and saved to")
    run.add_argument("--allow", action="append", default=[], metavar="HOST",
                     help="a host fetch() may call (default: the allowlist in module.yaml)")
    run.add_argument("--allow-network", action="append", default=[], metavar="CIDR",
                     help="a private address range fetch() may reach, e.g. 127.0.0.0/8")
    run.add_argument("--config", type=Path,
                     help="a service's YAML configuration: its sandbox, fetch and storage "
                          "limits apply here too (default: the service's defaults)")

    check = commands.add_parser("check", help="compile and contract-check a script")
    check.add_argument("script", type=script_path, help="script.py, or its module folder")

    deploy = commands.add_parser(
        "deploy", help="create or update a module on a service from its folder",
        description="Create or update the module described by FOLDER (module.yaml + script.py) "
                    "on a running service: settings, allowlist, bindings, a new script "
                    "version. Exit 0: deployed or up to date; 1: refused (script problems "
                    "are printed with their lines; nothing is changed); 2: usage.")
    deploy.add_argument("folder", type=Path)
    deploy.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    deploy.add_argument("--key", help="tenant API key (default: $VOIP_RUNTIME_API_KEY)")
    deploy.add_argument("--dry-run", action="store_true", help="show what would change")
    deploy.add_argument("--no-activate", action="store_true",
                        help="upload a changed script without activating it")
    deploy.add_argument("--update-secrets", action="store_true",
                        help="send secret settings even when their masked form is unchanged")
    for name, what in (("backup", "copy the SQLite database, consistently, while the "
                                  "service runs, into a new file (0600)"),
                       ("restore", "put a backup into an empty data directory")):
        command = commands.add_parser(name, help=what, description=what + ". PostgreSQL: "
                                      "pg_dump/pg_restore (README, Operations). Exit 0: done; "
                                      "1: refused or failed; 2: usage.")
        command.add_argument("file", type=Path)
        command.add_argument("--config", type=Path,
                             help="the service's YAML configuration (its data_dir)")
    stubs = commands.add_parser(
        "stubs", help="write the typed stub package of what a script can use",
        description="Write the voip_runtime_script stub package (PEP 561) into DIR, for mypy "
                    "(MYPYPATH=DIR mypy --strict script.py), pyright (extraPaths) and editors. "
                    "A script imports it under 'if TYPE_CHECKING:'; see docs/modules.md.")
    stubs.add_argument("dir", type=Path)
    return parser


def command_stubs(args: argparse.Namespace) -> int:
    from sandbox.stubs import write_stubs

    try:
        written = write_stubs(args.dir)
    except OSError as error:
        raise UsageError(f"cannot write the stubs into {args.dir}: {file_problem(error)}") from None
    for path in written:
        print(path)
    return 0


def read_source(path: Path) -> str:
    """A script file's text. A UTF-8 byte order mark (editors on Windows write one) is the
    encoding's marker, as Python reads a file, not a character of the script."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {file_problem(error)}") from None


def load_mapping(path: Path) -> dict[str, Any]:
    try:
        data = load_builder_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UsageError(f"cannot read {path}: {file_problem(error)}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a JSON or YAML object")
    return data


def module_beside(script: Path) -> tuple[Path, ModuleFile] | None:
    """The module.yaml beside the script, checked as deploy checks it, or None without one.
    Read only for its settings and allowlist, it let a misspelt `setings:` pass: the script
    ran with no settings, and check said ok to a folder deploy then refused."""
    from runtime.deploy import MODULE_FILE, FolderError, read_module_file

    module_file = script.parent / MODULE_FILE
    if not module_file.exists():
        return None
    try:
        return module_file, read_module_file(module_file)
    except FolderError as error:
        raise UsageError(str(error)) from None


def load_settings(script: Path, settings_file: Path | None) -> dict[str, Any]:
    if settings_file is not None:
        return checked_settings(load_mapping(settings_file), settings_file)
    beside = module_beside(script)
    if beside is not None:
        module_file, module = beside
        return checked_settings(dict(module.settings), module_file)
    return {}


def checked_settings(settings: dict[Any, Any], where: Path) -> dict[str, Any]:
    """Settings as the service takes them (a flat object of strings, numbers and booleans,
    checked by the API's own rule), or a usage error in the API's words: a run with settings
    the service would refuse tells nothing about the service."""
    from runtime.operations.module_fields import check_settings

    for name in settings:
        if not isinstance(name, str):
            raise UsageError(f"{where}: settings: setting names are text, not {name!r} "
                             "(quote it in YAML)")
    try:
        return check_settings(settings)
    except ValueError as error:
        raise UsageError(f"{where}: settings: {error}") from None


def load_secret_names(script: Path) -> list[str]:
    """The names of the secret settings, from the `module.yaml` beside the script (also when
    the settings come from `--settings`: the folder says which of them are secret)."""
    module_file = script.parent / "module.yaml"
    if not module_file.exists():
        return []
    secrets = load_mapping(module_file).get("secrets") or []
    if not isinstance(secrets, list):
        raise UsageError(f"{module_file}: secrets must be a list of setting names")
    return [str(name) for name in secrets]


def load_allowlist(script: Path, given: list[str]) -> list[str]:
    if given:
        return checked_hosts(given, "--allow")
    beside = module_beside(script)
    if beside is not None:
        module_file, module = beside
        return checked_hosts(list(module.allowlist), f"{module_file}: allowlist")
    return []


def checked_hosts(hosts: list[str], where: str) -> list[str]:
    """The allowlist as the service stores it, checked by the API's own rule (a host name in
    lowercase, no scheme or path), or a usage error in the API's words."""
    from runtime.operations.module_fields import check_host

    try:
        return [check_host(host) for host in hosts]
    except ValueError as error:
        raise UsageError(f"{where}: {error}") from None


def load_request(path: Path | None) -> RequestData:
    """The --request file, checked as the API's dry run checks a composed request (a method
    that is not text, a header value that is a number: a usage error naming the field)."""
    from runtime.errors import ApiError
    from runtime.json_body import validated
    from runtime.operations.dry_runs import RequestBody, called_url

    if path is None:
        return RequestData(method="POST", body=None)
    data = load_mapping(path)
    try:
        given = validated(RequestBody, data)
        # A URL without a scheme and host (`/events/call?kind=end`) is read below the webhook
        # URL, as a dry run reads it: request.url is always a full URL (contract §3), and a
        # script reading its host or signing it ran here on the bare path alone.
        return composed_request({**data, "url": called_url(DEFAULT_REQUEST_URL, given.url)})
    except ApiError as error:
        raise UsageError(f"{path}: {error.message}") from None
    except (TypeError, ValueError) as error:
        raise UsageError(f"{path}: {error}") from None


def load_args(raw: str | None, function: str) -> tuple[Any, ...]:
    expected = SCRIPT_FUNCTIONS[function] - (1 if function == PARSE_FUNCTION else 0)
    if raw is None:
        if expected:
            raise UsageError(f"{function} takes {expected} argument(s): give them with --args")
        return ()
    try:
        args = json.loads(raw)
    except ValueError as error:
        raise UsageError(f"--args is not JSON: {error}") from None
    if not isinstance(args, list) or len(args) != expected:
        raise UsageError(f"--args must be a JSON list of {expected} value(s) for {function}")
    return tuple(args)


def load_service_config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as error:
        raise UsageError(str(error)) from None


def report(outcome: Outcome, function: str) -> tuple[dict[str, Any], int]:
    """The printed JSON and exit code: the script's outcome, then the contract's validation,
    and for a webhook the reply its caller would get (as a dry run on the service shows it)."""
    from runtime.contract import ParseResult, ResultInvalid, validate_result
    from runtime.operations.dry_runs import reply_json
    from runtime.runner import invalid_result_error, reply_for

    data = outcome.to_json()
    # Whether the worker that ran the call goes on is the pool's business, not the reader's.
    del data["retire"]
    if not outcome.ok:
        return data, EXIT_FAILED
    try:
        result = validate_result(function, outcome.result)
    except ResultInvalid as invalid:
        data["ok"] = False
        data["error"] = invalid_result_error(invalid)
        return data, EXIT_FAILED
    data["result"] = result.to_json()
    if isinstance(result, ParseResult):
        data["reply"] = reply_json(reply_for(result))
    return data, EXIT_OK


async def run_in_pool(call: Call, limits: Limits, host: LocalHost | None = None) -> Outcome:
    # One call: one worker, forked when the call comes, and no spares waiting for others.
    async with SandboxPool(size=1, limits=limits, max_workers=1, spare_workers=0) as pool:
        return await pool.run(call, limits=limits, handler=host.handle if host else None)


def command_run(args: argparse.Namespace) -> int:
    source = read_source(args.script)
    function: str = args.function
    config = load_service_config(args.config)
    call = Call(
        source=source,
        function=function,
        args=load_args(args.args, function),
        request=load_request(args.request) if function == PARSE_FUNCTION else None,
        settings=load_settings(args.script, args.settings),
    )
    check_webhook_body(call.request, config)
    try:
        host = LocalHost.create(config, function,
                                allowlist=load_allowlist(args.script, args.allow),
                                allow_networks=args.allow_network, storage_file=args.storage)
    except ValueError as error:
        raise UsageError(str(error)) from None
    outcome = asyncio.run(run_in_pool(call, config.sandbox.limits_for(function), host))
    data, code = report(outcome, function)
    data["storage"] = host.storage_changes()
    data["fetches"] = host.fetch_log
    if code == EXIT_OK:
        host.commit()
    # Shown as the service shows a dry run: the secret settings masked, `masked` saying where
    # (a run's output ends up in terminals' scrollback and CI logs).
    from runtime.redaction import redacted_report, secret_settings

    secrets = secret_settings(call.settings or {}, load_secret_names(args.script))
    print(json.dumps(redacted_report(data, secrets), ensure_ascii=False, indent=2))
    return code


def check_webhook_body(request: RequestData | None, config: Config) -> None:
    """A body the service would answer 413 to, without running the script, is refused here."""
    if request is None or request.body is None:
        return
    size = len(request.body.encode("utf-8", "surrogatepass"))
    limit = config.max_webhook_body_kib * 1024
    if size > limit:
        raise UsageError(f"the request body is {size} bytes; the service answers a webhook "
                         f"body over {limit} bytes (max_webhook_body_kib) with 413 and does "
                         "not run the script")


def command_check(args: argparse.Namespace) -> int:
    source = read_source(args.script)
    module_beside(args.script)  # a module.yaml deploy would refuse is a usage error here too
    outcome = asyncio.run(run_in_pool(Call(source=source, function=None), Limits()))
    # What POST /api/v1/check says: `ok`, and the error with its problems when refused (a
    # compile ran nothing: no result, logs or durations to show).
    data: dict[str, Any] = {"ok": outcome.ok}
    if outcome.error is not None:
        data["error"] = outcome.error.to_json()
    if outcome.limit is not None:
        data["limit"] = outcome.limit
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return EXIT_OK if outcome.ok else EXIT_FAILED


def command_deploy(args: argparse.Namespace) -> int:
    from runtime import deploy

    try:
        deploy.run(args.folder, url=args.url, key=args.key, dry_run=args.dry_run,
                   activate=not args.no_activate, update_secrets=args.update_secrets)
    except deploy.FolderError as error:
        raise UsageError(str(error)) from None
    except deploy.DeployError as error:
        print(f"voip-runtime deploy: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def command_backup_or_restore(args: argparse.Namespace) -> int:
    from runtime import backup
    from runtime.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    try:
        if args.command == "backup":
            checked = backup.backup(config, args.file)
            print(f"backed up {backup.sqlite_path(config)} to {args.file} (schema version "
                  f"{checked.schema_version}, {checked.size} bytes)")
        else:
            checked = backup.restore(config, args.file)
            print(f"restored {args.file} into {backup.sqlite_path(config)} (schema version "
                  f"{checked.schema_version}; the service migrates it when it starts)")
    except backup.BackupError as error:
        print(f"voip-runtime {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def command_serve(args: argparse.Namespace) -> int:
    from runtime.data_at_rest import SERVICE_UMASK, make_process_undumpable
    from runtime.server import serve

    # Before anything is read or created: files private to the service's user, and no
    # same-uid process (a worker of a non-root service) reads this one's memory or environment.
    os.umask(SERVICE_UMASK)
    make_process_undumpable()

    return serve(args.config, host=args.host, port=args.port)


def main(argv: list[str] | None = None) -> int:
    try:
        code = run_command(argv)
        sys.stdout.flush()  # here, where a closed pipe can still be handled, not at exit
        return code
    except BrokenPipeError:
        return pipe_closed()


def run_command(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    handlers = {"run": command_run, "check": command_check, "serve": command_serve,
                "deploy": command_deploy, "backup": command_backup_or_restore,
                "restore": command_backup_or_restore, "stubs": command_stubs}
    try:
        return handlers[args.command](args)
    except UsageError as error:
        print(f"voip-runtime: {error}", file=sys.stderr)
        return EXIT_USAGE


def pipe_closed() -> int:
    """The reader of our output went away: no traceback, and nothing more to write.

    Python flushes stdout and stderr again at exit, which would fail the same way; pointing
    their descriptors at /dev/null makes that harmless (the recipe of Python's `signal` docs).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        os.dup2(devnull, stream.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


if __name__ == "__main__":
    sys.exit(main())
