"""The webhook counter and the execution histogram, counted in plain Python on the event
loop's thread, are shown exactly as prometheus_client's own Counter and Histogram show them."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from runtime.metrics import EXECUTION_BUCKETS, Metrics

OBSERVED = [("VoipParseWebhookRequest", s) for s in
            (0.0001, 0.0005, 0.0007, 0.002, 0.0042, 0.05, 0.3, 7.0, 10.0, 12.5, 0.0)]
OBSERVED += [("VoipGetCallLink", 0.001), ("VoipGetCallLink", 3.0)]
OUTCOMES = ["ok", "ok", "error", "rate_limited", "ok", "invalid"]


def library_text(outcomes: list[str] = OUTCOMES,
                 observed: list[tuple[str, float]] = OBSERVED) -> str:
    registry = CollectorRegistry()
    webhooks = Counter("voip_webhooks", "Webhooks received, by outcome", ["outcome"],
                       registry=registry)
    seconds = Histogram("voip_execution_seconds", "Script execution time, by function",
                        ["function"], buckets=EXECUTION_BUCKETS, registry=registry)
    for outcome in outcomes:
        webhooks.labels(outcome).inc()
    for function, amount in observed:
        seconds.labels(function).observe(amount)
    return generate_latest(registry).decode()


def without_created_times(text: str) -> str:
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text)


def test_the_loop_metrics_read_as_the_librarys() -> None:
    metrics = Metrics()
    for outcome in OUTCOMES:
        metrics.count_webhook(outcome)
    for function, amount in OBSERVED:
        metrics.observe_execution(function, amount)
    ours = metrics.render().decode()
    theirs = library_text()
    ours_part = ours[:ours.index("# HELP voip_storage_refusals")]
    assert without_created_times(ours_part) == without_created_times(theirs)
    assert 'voip_webhooks_total{outcome="ok"} 3.0' in ours
    assert 'voip_execution_seconds_count{function="VoipParseWebhookRequest"} 11.0' in ours
    assert 'voip_execution_seconds_bucket{function="VoipGetCallLink",le="0.001"} 1.0' in ours


def test_nothing_counted_shows_the_families_alone() -> None:
    text = Metrics().render().decode()
    assert text.startswith(library_text([], []))
    assert "voip_webhooks_total{" not in text
    assert "voip_execution_seconds_bucket{" not in text
