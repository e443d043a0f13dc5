"""Jinja2 filters for the console's templates (all output stays autoescaped)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from markupsafe import Markup

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


def isolate(value: Any) -> Markup:
    """Tenant or caller text inside a line of other text, as a bidirectional run of its own
    (<bdi>, escaped): a right-to-left name, or one holding a direction override (U+202E),
    otherwise reorders what follows it on the line: the phone number beside a contact's name
    read reversed ("20000006197+"), "(101)" after a user's name as ")101(" or before it."""
    return Markup("<bdi>{}</bdi>").format("" if value is None else value)


def name_and_number(name: str | None, number: str) -> Markup:
    """Who answered, as the pages say it: "name (number)", the name isolated; the number alone
    when nobody was bound to it."""
    return Markup("{} ({})").format(isolate(name), number) if name else isolate(number)


FILTERS = {"when": when, "iso": iso, "pretty_json": pretty_json, "compact_json": compact_json,
           "duration": duration, "isolate": isolate}
