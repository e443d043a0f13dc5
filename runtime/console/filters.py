"""Jinja2 filters for the console's templates (all output stays autoescaped)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from runtime.store.models import to_iso


def when(value: Any) -> str:
    """A short UTC time: 2025-03-04 10:15:02 UTC."""
    if isinstance(value, datetime):
        value = to_iso(value)
    if not isinstance(value, str) or not value:
        return ""
    return value.replace("T", " ")[:19] + " UTC"


def iso(value: Any) -> str:
    """A time as ISO-8601 for a `datetime` attribute or a script (the store's own format)."""
    return to_iso(value) if isinstance(value, datetime) else ""


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def duration(value: Any) -> str:
    """Seconds as people read them: "42.5 s", "3 min 07 s". A length measured between two
    events has microseconds ("42.456789"): a tenth is all a page needs."""
    if value is None:
        return ""
    seconds = float(value)
    if not math.isfinite(seconds):  # a row from elsewhere: no length is better than a 500
        return ""
    if round(seconds, 1) < 60:
        return f"{round(seconds, 1):g} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


FILTERS = {"when": when, "iso": iso, "pretty_json": pretty_json, "compact_json": compact_json,
           "duration": duration}
