"""Replays for the console: the shared operation (runtime/operations/dry_runs.py), shown with
the request masked and a comparison of the draft's run with what really happened."""

from __future__ import annotations

import json
from typing import Any

from runtime.operations.dry_runs import DryRun, replay_execution, what_happened
from runtime.operations.services import Services
from runtime.operations.sources import Script
from runtime.redaction import redacted_report, secret_values
from runtime.store.execution_caps import as_kept
from runtime.store.models import Execution, ExecutionOutcome, Module

FAILED = {ExecutionOutcome.ERROR.value, ExecutionOutcome.INVALID.value,
          ExecutionOutcome.LIMIT.value}
# Ids differ between a real run and a dry run of the same request; they are not a change.
ID_KEYS = {"id", "call_id", "contact_id", "user_id"}


def flatten(value: Any, prefix: str = "", *, skip_ids: bool = False) -> dict[str, str]:
    """{"a.b[0].c": "<compact JSON of the leaf>"} for comparing two JSON values key by key."""
    out: dict[str, str] = {}
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if skip_ids and key in ID_KEYS:
                continue
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key),
                               skip_ids=skip_ids))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]", skip_ids=skip_ids))
    else:
        out[prefix or "(value)"] = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return out


def json_diff(before: Any, after: Any, *, skip_ids: bool = False) -> list[dict[str, Any]]:
    """The leaves that differ: [{"path", "before", "after"}] (None where a side lacks it)."""
    left = flatten(before, skip_ids=skip_ids)
    right = flatten(after, skip_ids=skip_ids)
    rows = []
    for path in sorted(set(left) | set(right)):
        if left.get(path) != right.get(path):
            rows.append({"path": path, "before": left.get(path), "after": right.get(path)})
    return rows


def compare(original: Execution, report: dict[str, Any]) -> dict[str, Any]:
    before = original.outcome.value
    after = str(report.get("outcome"))
    effects_before = original.effects if isinstance(original.effects, dict) else None
    if effects_before is not None:
        effects_before = {k: v for k, v in effects_before.items() if k != "fetches"}
    # The new run's as the log would keep them: a stored one past its cap was cut.
    result_diff = json_diff(original.result, as_kept(report.get("result")))
    effects_diff = json_diff(effects_before, as_kept(report.get("effects")), skip_ids=True)
    return {
        "outcome_before": before,
        "outcome_after": after,
        "outcome_changed": before != after,
        "newly_failing": before not in FAILED and after in FAILED,
        "newly_passing": before in FAILED and after not in FAILED,
        "result_diff": result_diff,
        "effects_diff": effects_diff,
        "changed": before != after or bool(result_diff),
    }


def replay_view(replay: DryRun, module: Module) -> dict[str, Any]:
    """A replay's report as the console shows it: the original run (with its time) and the
    comparison beside the dry run, compared on what really ran, then shown with the secrets
    masked (runtime/redaction.py)."""
    execution = replay.replayed
    assert execution is not None
    report = dict(replay.report)
    report["original"] = {**what_happened(execution),
                          "created_at": execution.created_at.isoformat()}
    report["comparison"] = compare(execution, report)
    return redacted_report(report, secret_values(module))


async def replay_for_console(services: Services, module: Module, execution: Execution,
                             script: Script) -> dict[str, Any]:
    """A dry run of a stored webhook request of `module` with `script`, as the console shows
    it."""
    return replay_view(await replay_execution(services, module, execution, script), module)
