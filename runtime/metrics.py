"""Prometheus metrics, one registry per application (several apps may share a test process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from runtime.store.health import StorageHealth
from sandbox import SandboxPool

EXECUTION_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10)


class PoolCollector(Collector):
    """Reads the pool's own counters at scrape time rather than mirroring them."""

    def __init__(self, pool: SandboxPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self.pool.stats
        yield GaugeMetricFamily(
            "voip_sandbox_workers", "Sandbox worker processes ready", value=self.pool.live_workers
        )
        yield GaugeMetricFamily(
            "voip_sandbox_queued_calls", "Calls waiting for a worker", value=self.pool.queued
        )
        yield CounterMetricFamily(
            "voip_sandbox_worker_replacements", "Workers replaced after a limit or crash",
            value=stats.workers_replaced,
        )
        hits = CounterMetricFamily(
            "voip_sandbox_limit_hits", "Calls stopped by a limit", labels=["limit"]
        )
        for limit, count in sorted(stats.limit_hits.items()):
            hits.add_metric([limit], count)
        yield hits
        if stats.layers:  # (none until a worker has said which took effect)
            layers = GaugeMetricFamily(
                "voip_sandbox_layer_active",
                "1 for each OS-wall layer the sandbox workers have on this host, 0 for each "
                "missing (the start's log says why)", labels=["layer"])
            for layer, active in stats.layers.items():
                layers.add_metric([layer], 1 if active else 0)
            yield layers
            yield GaugeMetricFamily(
                "voip_sandbox_workers_exposed",
                "1 while the layers that cover for one another are all missing, so a breached "
                "worker reads what file permissions allow (the log warns what)",
                value=1 if stats.exposed else 0)


class StorageCollector(Collector):
    """The store's health at scrape time: whether it takes writes, and how many it refused."""

    def __init__(self, health: StorageHealth) -> None:
        self.health = health

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        health = self.health
        yield GaugeMetricFamily(
            "voip_storage_available",
            "1 while the store takes writes, 0 while it refuses them (disk full, I/O error, "
            "database unreachable or read-only)", value=1 if health.available else 0,
        )
        yield CounterMetricFamily(
            "voip_storage_refused_writes", "Writes the storage refused", value=health.refused_writes
        )
        yield CounterMetricFamily(
            "voip_storage_outages", "Times the store turned unavailable", value=health.outages
        )


class ClusterCollector(Collector):
    """Whether this node hears the other nodes (PostgreSQL's LISTEN), at scrape time."""

    def __init__(self, listening: Callable[[], bool]) -> None:
        self.listening = listening

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "voip_cluster_listening",
            "1 while this node hears the other nodes (its PostgreSQL listener is connected), "
            "0 while it reconnects (it then reads modules from the database for every webhook)",
            value=1 if self.listening() else 0,
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "voip_webhooks", "Webhooks received, by outcome", ["outcome"], registry=self.registry
        )
        self.execution_seconds = Histogram(
            "voip_execution_seconds", "Script execution time, by function", ["function"],
            buckets=EXECUTION_BUCKETS, registry=self.registry,
        )

        self.storage_refusals = Counter(
            "voip_storage_refusals", "Requests answered 503 because the storage refused, by "
            "surface (webhook, api, console)", ["surface"], registry=self.registry,
        )
        self.retention_pruned = Counter(
            "voip_retention_pruned_rows", "History rows deleted by retention, by kind "
            "(executions, notifications, call_events, calls, usage, dial_forms, signed_out, "
            "storage, revoked_credentials)",
            ["kind"],
            registry=self.registry,
        )
        self.fetch_bytes = Counter(
            "voip_fetch_received_bytes", "Bytes scripts received through fetch() (on the wire, "
            "and what decoding added), as the tenants' fetch budgets count them",
            registry=self.registry,
        )
        self.fetch_budget_refusals = Counter(
            "voip_fetch_budget_refusals", "fetch() calls refused because the tenant's budget of "
            "bytes a minute (fetch.tenant_mib_per_minute) was spent", registry=self.registry,
        )
        # Labelled children by label value: `labels()` takes a lock and builds a key on every
        # call, and these are counted on every webhook. The sets of values are small and fixed.
        self._webhook_outcomes: dict[str, Counter] = {}
        self._execution_functions: dict[str, Histogram] = {}

    def count_webhook(self, outcome: str) -> None:
        """One webhook more with this outcome (`voip_webhooks{outcome=...}`)."""
        child = self._webhook_outcomes.get(outcome)
        if child is None:
            child = self._webhook_outcomes[outcome] = self.webhooks.labels(outcome)
        child.inc()

    def observe_execution(self, function: str, seconds: float) -> None:
        """One execution of `function` that took `seconds` (`voip_execution_seconds`)."""
        child = self._execution_functions.get(function)
        if child is None:
            child = self._execution_functions[function] = self.execution_seconds.labels(function)
        child.observe(seconds)

    def watch_storage(self, health: StorageHealth) -> None:
        self.registry.register(StorageCollector(health))

    def watch_cluster(self, listening: Callable[[], bool]) -> None:
        self.registry.register(ClusterCollector(listening))

    def watch_pool(self, pool: SandboxPool) -> None:
        self.registry.register(PoolCollector(pool))

    def render(self) -> bytes:
        return generate_latest(self.registry)
