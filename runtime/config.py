"""Service configuration: one YAML file, validated by pydantic, with safe defaults.

Secrets may come from the environment instead of the file: `VOIP_RUNTIME_OPERATOR_TOKEN` and
`VOIP_RUNTIME_STORAGE_URL` (a PostgreSQL URL carries a password). With no operator token
anywhere, one is generated on first start and kept in the data directory — never a fixed
default.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runtime.data_at_rest import (
    database_files,
    secure_data_directory,
    wipe_environment_variable,
)
from runtime.file_problems import file_problem
from runtime.store.models import StorageLimits
from runtime.store.storage_url import check_storage_url
from sandbox import PARSE_FUNCTION, Limits

OPERATOR_TOKEN_ENV = "VOIP_RUNTIME_OPERATOR_TOKEN"
STORAGE_URL_ENV = "VOIP_RUNTIME_STORAGE_URL"
OPERATOR_TOKEN_FILE = "operator-token"
DATABASE_FILE = "voip-runtime.db"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(Strict):
    host: str = "127.0.0.1"
    # Not 0 (any free port): the service's own URLs (webhook URLs, the printed addresses) are
    # built from this port before the socket is open.
    port: int = Field(default=8080, ge=1, le=65535)


class SandboxConfig(Strict):
    # Calls running at once (the fairness rules share these out between tenants).
    workers: int = Field(default=4, ge=1, le=256)
    # Worker processes kept for tenants, busy or idle: a worker serves one tenant for its
    # life; beyond this many the least recently used idle one is reclaimed. `spare_workers`
    # more wait unassigned, forked from the template, so a tenant's first call never waits.
    tenant_workers: int = Field(default=64, ge=1, le=4096)
    spare_workers: int = Field(default=2, ge=0, le=64)
    workers_per_tenant: int = Field(default=2, ge=1, le=64)
    # A tenant's worker idle this long is reclaimed (its memory goes back).
    idle_worker_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Worker starts a tenant's calls may cause (crashes, kills, memory limits): a burst, then
    # this many a minute; beyond it that tenant's calls fail fast with a "restarts" limit.
    restart_burst: int = Field(default=10, ge=1, le=10_000)
    restarts_per_minute: float = Field(default=30.0, gt=0, le=60_000)
    # Script checks (uploads, POST /api/v1/check, the editor's Check) each start a new worker,
    # charged to that tenant's own budget of checks, apart from its calls': a burst, then this
    # many a minute; beyond it its checks are answered 429 until it refills. Far above a
    # builder's checks (one per upload; a deploy of every module at once fits in the burst).
    check_burst: int = Field(default=500, ge=1, le=100_000)
    checks_per_minute: float = Field(default=1800.0, gt=0, le=600_000)
    # As root, each worker runs as its own uid from [first, first + count).
    worker_uid_first: int = Field(default=200_000, ge=1000, le=2**31 - 70_000)
    worker_uid_count: int = Field(default=65_536, ge=1, le=65_536)
    inflight_per_worker: int = Field(default=4, ge=1, le=16)
    webhook_wall_seconds: float = Field(default=2.0, gt=0, le=60)
    other_wall_seconds: float = Field(default=10.0, gt=0, le=300)
    cpu_seconds: float = Field(default=1.0, gt=0, le=60)
    memory_mb: int = Field(default=256, ge=32, le=8192)
    output_kib: int = Field(default=64, ge=1, le=4096)
    result_kib: int = Field(default=2048, ge=1, le=16384)
    fetches_per_call: int = Field(default=10, ge=0, le=100)

    def limits(self, wall_seconds: float) -> Limits:
        return Limits(
            wall_seconds=wall_seconds,
            cpu_seconds=self.cpu_seconds,
            memory_bytes=self.memory_mb * 1024 * 1024,
            output_bytes=self.output_kib * 1024,
            result_bytes=self.result_kib * 1024,
            fetches_per_call=self.fetches_per_call,
        )

    @property
    def worker_uids(self) -> range:
        return range(self.worker_uid_first, self.worker_uid_first + self.worker_uid_count)

    @property
    def webhook_limits(self) -> Limits:
        return self.limits(self.webhook_wall_seconds)

    @property
    def other_limits(self) -> Limits:
        return self.limits(self.other_wall_seconds)

    def limits_for(self, function: str) -> Limits:
        """A webhook's parse function gets the webhook wall clock; the others their own."""
        return self.webhook_limits if function == PARSE_FUNCTION else self.other_limits


class TenantLimitsConfig(Strict):
    webhooks_per_second: float = Field(default=500.0, gt=0)
    webhook_burst: int = Field(default=1000, ge=1)
    concurrent_executions: int = Field(default=6, ge=1)
    # Executions beyond those that wait for a slot (a provider's burst) rather than being
    # refused with 429; each waits at most queue_wait_seconds (runtime/ratelimit.py). The
    # wait is short: a burst of quick calls (a group ringing a dozen phones at once) drains in
    # well under it, while a tenant whose calls are slow is still told 429 soon, not held.
    queued_executions: int = Field(default=100, ge=0)
    queue_wait_seconds: float = Field(default=1.0, gt=0, le=60)
    # Script checks (an upload's too), dry runs and replays, and function runs a tenant starts
    # from the API or the console: each costs a worker's CPU time, so they have a rate of
    # their own (webhooks do not spend it).
    # Generous: a builder's tools (or a CI job checking and dry-running a module's cases)
    # must never meet it; it bounds what spamming checks costs everyone else.
    runs_per_second: float = Field(default=50.0, gt=0)
    run_burst: int = Field(default=500, ge=1)
    # What one tenant key may create (runtime/operations/caps.py): each module brings its own
    # storage and execution log, each version up to 64 KiB of source, so without caps one key
    # could fill the disk that every tenant shares. Far above what a real company uses.
    max_modules: int = Field(default=200, ge=1)
    max_versions_per_module: int = Field(default=5_000, ge=1)
    max_bindings_per_module: int = Field(default=20_000, ge=1)
    max_users: int = Field(default=10_000, ge=1)
    # Live (unrevoked) tokens of one user.
    max_tokens_per_user: int = Field(default=100, ge=1)
    # Contacts of one tenant, made by the API or by missed calls from new numbers (each a
    # contact): a provider's flood of calls from ever-new numbers must not grow them without
    # end. At the cap a missed call is still recorded, without a contact (its execution log
    # says why). Far above a large call centre's clientele.
    max_contacts: int = Field(default=1_000_000, ge=1)
    # The UTF-8 bytes of script source a tenant's versions may hold in all (drafts are the
    # browser's, not stored): the counts above still let one key store 200 x 5,000 x 64 KiB,
    # 64 GB. A real integration is under 10 KiB; 200 modules with 500 versions each of that is
    # about 1 GiB: ten times that. Past it an upload is 409 `limit_reached` saying what is
    # used; deleting a module frees its versions' bytes.
    max_source_bytes: int = Field(default=10 * 1024 ** 3, ge=64 * 1024)


class FetchConfig(Strict):
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_response_kib: int = Field(default=5 * 1024, ge=1)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # Bytes one tenant's scripts may receive through fetch() a minute, on each node
    # (runtime/fetch_budget.py): beyond it their fetches fail with a FetchError saying so
    # until it refills. Per call, fetches_per_call x max_response_kib bound it already;
    # across calls nothing did. Far above what an integration reading a provider's API uses
    # (kilobytes a call): it stops one tenant taking the host's bandwidth and memory.
    tenant_mib_per_minute: int = Field(default=1024, ge=1)
    # Address ranges scripts may reach although private/loopback (tests allow 127.0.0.0/8).
    allow_networks: tuple[str, ...] = ()

    @field_validator("allow_networks")
    @classmethod
    def _networks_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value


class HttpConfig(Strict):
    """The HTTP edge: how long a client may take, and how much it may send outside webhooks.

    aiohttp has no deadline of its own for a request's headers or body; `runtime/deadlines.py`
    enforces these on every connection (a slow client is cut off, never waited for)."""

    # From the first byte of a request to the end of its headers.
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # From the end of the headers to the last byte of the body (all of it, however it arrives).
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # An idle keep-alive connection (no request started) is closed after this.
    keepalive_timeout_seconds: float = Field(default=75.0, gt=0, le=3600)
    # A client that takes none of its response for this long while the service has more to
    # send (the socket's buffers full) is cut off: it held its connection, the handler
    # writing to it and megabytes of buffers for as long as it liked.
    response_stall_seconds: float = Field(default=30.0, gt=0, le=600)
    # Bodies of the JSON API and the console's forms (webhooks have max_webhook_body_kib).
    max_api_body_kib: int = Field(default=2048, ge=64, le=64 * 1024)


class StorageLimitsConfig(Strict):
    max_keys_per_module: int = Field(default=100_000, ge=1)
    max_bytes_per_module: int = Field(default=64 * 1024 * 1024, ge=1024)

    @property
    def limits(self) -> StorageLimits:
        return StorageLimits(max_keys=self.max_keys_per_module,
                             max_bytes=self.max_bytes_per_module)


class RetentionConfig(Strict):
    """How long history is kept (runtime/retention.py prunes it continuously, in batches).

    Calls, contacts and activity are the tenant's records: contacts are never pruned, calls
    (with their activity) only when `calls_days` is set; usage per day is rolled up from
    executions before they go, and kept `usage_days`."""

    executions_days: int = Field(default=30, ge=1, le=3650)
    # The newest this many executions of each module stay whatever their age; None: no cap.
    executions_per_module: int | None = Field(default=100_000, ge=100)
    # The captured text (request, result, effects, error, logs) of a module's executions, in
    # MiB: beyond it the oldest go, so the log keeps fewer rows, the newest whole. A row
    # keeps up to about 321 KiB (store/execution_caps.py), so the cap on rows alone let a
    # module keep 31 GiB. An ordinary webhook's row is a few KiB: its module meets the cap on
    # rows long before this. None: no budget.
    executions_mib_per_module: int | None = Field(default=1024, ge=1)
    notifications_days: int = Field(default=30, ge=1, le=3650)
    call_events_days: int = Field(default=90, ge=1, le=3650)
    # Calls created and last changed (ended; for a call that never ended, its last event)
    # longer ago than this go, with what belongs to them: their history events, whom they
    # rang, their notifications and their activity entries (contacts stay). Calls are the
    # tenant's records, so None, the default, keeps them for ever; an operator who must bound
    # them (a flood of calls grows the table without end, each call a few KiB with its
    # activity) or must not keep them (data protection) sets it.
    calls_days: int | None = Field(default=None, ge=1, le=36_500)
    usage_days: int = Field(default=400, ge=1, le=3650)
    # Revoked user tokens and API keys are kept this long after their revocation: listed as
    # revoked (with when), and revoking one again says it was revoked already. Then they go
    # (a token made and revoked in a loop would otherwise grow the table without end: the cap
    # on a user's tokens counts live ones). A revoked secret is refused the same way before
    # and after. An API key a stored version names as its author stays while the version does.
    revoked_credentials_days: int = Field(default=90, ge=1, le=3650)
    # Rows one statement deletes or rolls up: it holds the SQLite writer, shared with
    # webhooks, for about a millisecond per 100 rows.
    batch_rows: int = Field(default=200, ge=10, le=10_000)
    # A pause after every batch that changed something: the webhooks' turn, and a bound on
    # how fast deletions fill the SQLite WAL (whose checkpoints hold the writer): a backlog
    # goes at up to about batch_rows / pause rows a second (2,000 by default).
    batch_pause_ms: float = Field(default=100.0, ge=0, le=10_000)
    interval_seconds: float = Field(default=30.0, gt=0, le=86_400)


class Config(Strict):
    listen: ListenConfig = ListenConfig()
    public_url: str | None = None
    data_dir: Path = Path("./data")
    storage_url: str | None = None
    operator_token: str | None = Field(default=None, min_length=16)
    # 0: a batch is whatever queued while the previous commit ran (no added wait).
    commit_window_ms: float = Field(default=0.0, ge=0, le=100)
    max_webhook_body_kib: int = Field(default=1024, ge=1, le=64 * 1024)
    # An open live WebSocket re-reads its credential this often. Revocations, deletions and
    # sign-outs close sockets at once on every node; this catches one whose event was lost.
    live_recheck_seconds: float = Field(default=60.0, gt=0, le=3600)
    # A live WebSocket is pinged this often; a peer that has not answered within half of it
    # is dropped and its place under the live socket limits (runtime/live_limits.py) freed.
    # A peer gone without a word (a phone's network switched, a laptop shut) sends no close
    # and no TCP reset: without the ping its socket, and its place, would stay for as long as
    # the kernel keeps the connection (hours). Browsers answer pings on their own.
    live_heartbeat_seconds: float = Field(default=25.0, gt=0, le=300)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sandbox: SandboxConfig = SandboxConfig()
    tenant_limits: TenantLimitsConfig = TenantLimitsConfig()
    fetch: FetchConfig = FetchConfig()
    storage_limits: StorageLimitsConfig = StorageLimitsConfig()
    http: HttpConfig = HttpConfig()
    retention: RetentionConfig = RetentionConfig()

    @field_validator("storage_url")
    @classmethod
    def openable_storage_url(cls, url: str | None) -> str | None:
        # A wrong scheme or ?pool_size= is the configuration's error, said at start (it was a
        # traceback from opening the store).
        if url is not None:
            check_storage_url(url)
        return url

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"sqlite://{(self.data_dir / DATABASE_FILE).resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.listen.host if self.listen.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return http_url(host, self.listen.port)


def http_url(host: str, port: int) -> str:
    """`http://host:port`, an IPv6 address in brackets (`--host ::1` made `http://::1:8080`,
    which no URL parser reads: the service stopped at start with a traceback)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; the message says where."""


def load_config(path: Path | None, *, listen: Mapping[str, object] | None = None) -> Config:
    """The configuration from `path` (defaults without one); `listen` overrides its keys of
    `listen:` (the command line's --host and --port), validated with the rest."""
    data: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        # ValueError: not UTF-8, or a value YAML reads as a date that is none (2025-13-45).
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise ConfigError(f"cannot read {path}: {file_problem(error)}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping")
        data = loaded
    # Read once, then gone from the environment (and from /proc/<pid>/environ): the operator
    # token, and the storage URL, whose PostgreSQL URL carries the database's password.
    operator_token = wipe_environment_variable(OPERATOR_TOKEN_ENV)
    if operator_token:
        data["operator_token"] = operator_token
    storage_url = wipe_environment_variable(STORAGE_URL_ENV)
    if storage_url:
        data["storage_url"] = storage_url
    if listen:
        given = data.get("listen")
        data["listen"] = {**(given if isinstance(given, dict) else {}), **listen}
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        from runtime.json_body import problem

        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {problem(e)}" for e in error.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def ensure_operator_token(config: Config) -> tuple[str, bool]:
    """The operator token, and whether it was generated just now (to print it once).

    Also makes the data directory private (0700, its database and token files 0600), fixing
    an older install's modes with one log line."""
    token_file = config.data_dir / OPERATOR_TOKEN_FILE
    if config.storage_url is None or not config.operator_token or config.data_dir.exists():
        secure_data_directory(
            config.data_dir,
            [token_file, *database_files(config.data_dir / DATABASE_FILE)],
        )
    if config.operator_token:
        return config.operator_token, False
    if token_file.exists():
        return token_file.read_text(encoding="ascii").strip(), False
    token = "op_" + secrets.token_urlsafe(32)
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token, True
