"""Prometheus metrics, one registry per application (several apps may share a test process)."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

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


def _created_series() -> bool:
    """Whether `_created` series are shown (prometheus_client's own switch,
    PROMETHEUS_DISABLE_CREATED_SERIES), as its own counters and histograms decide."""
    return bool(getattr(prometheus_metrics, "_use_created", True))


class LoopCounter(Collector):
    """A counter with one label, as prometheus_client's `Counter` shows it (`_total`, and
    `_created` per label value), counted in plain Python: on the event loop's thread, where
    every webhook counts it, the library's child took a lock and checked its arguments.
    Only ever counted and read on the event loop's thread."""

    def __init__(self, name: str, documentation: str, label: str,
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._counts: dict[str, float] = {}
        self._created: dict[str, float] = {}
        registry.register(self)

    def inc(self, value: str) -> None:
        counts = self._counts
        if value in counts:
            counts[value] += 1.0
        else:
            counts[value] = 1.0
            self._created[value] = time.time()

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        created = _created_series()
        for value, count in list(self._counts.items()):
            family.add_metric([value], count,
                              created=self._created[value] if created else None)
        yield family


class LoopHistogram(Collector):
    """A histogram with one label, as prometheus_client's `Histogram` shows it (cumulative
    `_bucket`s with `le`, `_count`, `_sum`, `_created`), kept in plain Python for the same
    reason as `LoopCounter`: per label value, each bucket's own count, then the sum."""

    def __init__(self, name: str, documentation: str, label: str, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        bounds = [float(bound) for bound in buckets]
        if bounds[-1] != float("inf"):
            bounds.append(float("inf"))
        self._bounds = tuple(bounds)
        self._le = tuple(floatToGoString(bound) for bound in bounds)  # type: ignore[no-untyped-call]
        self._series: dict[str, list[float]] = {}
        self._created: dict[str, float] = {}
        registry.register(self)

    def observe(self, value: str, amount: float) -> None:
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = [0.0] * (len(self._bounds) + 1)
            self._created[value] = time.time()
        # The first bucket whose bound is at least the amount (`amount <= bound`), as the
        # library counts it.
        series[bisect_left(self._bounds, amount)] += 1.0
        series[-1] += amount

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        created = _created_series()
        for value, series in list(self._series.items()):
            cumulative = 0.0
            buckets = []
            for le, count in zip(self._le, series[:-1], strict=True):  # (the last: the sum)
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric([value], buckets, sum_value=series[-1])
            if created:
                family.samples.append(Sample(f"{self.name}_created", {self.label: value},
                                             self._created[value]))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Counted for every webhook: plain Python, not the library's locked children.
        self.webhooks = LoopCounter(
            "voip_webhooks", "Webhooks received, by outcome", "outcome", self.registry
        )
        self.execution_seconds = LoopHistogram(
            "voip_execution_seconds", "Script execution time, by function", "function",
            EXECUTION_BUCKETS, self.registry,
        )

        self.storage_refusals = Counter(
            "voip_storage_refusals", "Requests answered 503 because the storage refused, by "
            "surface (webhook, api, console)", ["surface"], registry=self.registry,
        )
        self.retention_pruned = Counter(
            "voip_retention_pruned_rows", "History rows deleted by retention, by kind "
            "(executions, notifications, call_events, usage, dial_forms)", ["kind"],
            registry=self.registry,
        )

    def count_webhook(self, outcome: str) -> None:
        """One webhook more with this outcome (`voip_webhooks{outcome=...}`)."""
        self.webhooks.inc(outcome)

    def observe_execution(self, function: str, seconds: float) -> None:
        """One execution of `function` that took `seconds` (`voip_execution_seconds`)."""
        self.execution_seconds.observe(function, seconds)

    def watch_storage(self, health: StorageHealth) -> None:
        self.registry.register(StorageCollector(health))

    def watch_pool(self, pool: SandboxPool) -> None:
        self.registry.register(PoolCollector(pool))

    def render(self) -> bytes:
        return generate_latest(self.registry)
