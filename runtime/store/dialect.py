"""What differs between the two SQL databases, and nothing else: a `Dialect`.

Every statement of the store is written once, in PostgreSQL's numbered style (`$1`, `$2`) with
a few named fields for the words that differ (`{same}`, `{for_update}`, `{phones}`, ...). A
dialect renders a statement for its database once (`render`, cached) and converts values on
their way in and out:

                SQLite (embedded)                   PostgreSQL (several nodes)
    marks       ?1, ?2 (SQLite's numbered form)     $1, $2
    times       ISO-8601 text, milliseconds         timestamptz, cut to milliseconds
    JSON        compact text                        `json` (compact text as written)
    booleans    0 / 1                               boolean
    storage key text                                bytea (UTF-8 of the key, exactly)
    NULL-safe = IS NOT DISTINCT FROM (3.39+: `IS`)  IS NOT DISTINCT FROM

Locking is not here: it is the `Locks` hook (`locks.py`), which does nothing on SQLite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.store.models import JSON, from_iso, to_iso, truncate_ms
from sandbox.jsontext import dumper

# One encoder for every write: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# dumps(value): compact JSON text, non-ASCII kept (storage sizes are counted in UTF-8 bytes
# of this). A webhook's unit encodes four JSON columns: without the encoder's Python frames,
# and with one encoder made once (`acyclic`: what the store keeps is JSON that came in as
# text, or records' dumps made of it, never a structure referring to itself).
dumps: Callable[[JSON], str] = dumper(_ENCODER, acyclic=True)


def loads(text: str | bytes) -> JSON:
    return json.loads(text)


_MARK = re.compile(r"\$(\d+)")


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True, eq=False)
class Dialect:
    name: str
    mark_prefix: str  # "?" or "$": statements are written with "$n"
    time_in: Callable[[datetime], Any]
    time_out: Callable[[Any], datetime]
    bool_in: Callable[[bool], Any]
    key_in: Callable[[str], Any]
    key_out: Callable[[Any], str]
    text_in: Callable[[str], str]  # what a text column can hold (PostgreSQL: no NUL)
    json_time_out: Callable[[str], datetime]  # a time inside a JSON object the database built
    json_object: str  # the function building a JSON object from name/value pairs
    json_text: str  # how a JSON column goes into such an object as its text ("{}" the column)
    words: dict[str, str]  # the named fields of statements
    _rendered: dict[str, str] = field(default_factory=dict, repr=False)

    def render(self, sql: str) -> str:
        """The statement as this database takes it (computed once per statement text)."""
        done = self._rendered.get(sql)
        if done is None:
            done = sql.format(**self.words) if "{" in sql else sql
            if self.mark_prefix != "$":
                done = _MARK.sub(lambda m: f"{self.mark_prefix}{m[1]}", done)
            self._rendered[sql] = done
        return done

    def time_or_none_in(self, moment: datetime | None) -> Any:
        return None if moment is None else self.time_in(moment)

    def time_or_none_out(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _key_text(data: Any) -> str:
    return bytes(data).decode("utf-8", "surrogatepass")


def _no_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a script's phone or log line can. It becomes U+FFFD.
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _pg_json_time(text: str) -> datetime:
    # to_json(timestamptz) writes the session's offset: "2025-03-04T10:15:02.123+00:00".
    return truncate_ms(datetime.fromisoformat(text))


SQLITE = Dialect(
    name="sqlite", mark_prefix="?", time_in=to_iso, time_out=from_iso, bool_in=int,
    key_in=_identity, key_out=_identity, text_in=_identity, json_time_out=from_iso,
    json_object="json_object", json_text="{}",
    words={
        "agg": "json_group_array",
        "as_json": "json",  # a JSON text from a subquery is text again: parse it back
        "same": "IS",
        "for_update": "",
        "insert_order": "rowid",
        # Lower case of any script (SQLite's own lower() knows ASCII only): the function
        # every connection registers (sqlite.py, `unicode_lower`), Python's str.lower.
        "fold": "unicode_lower",
        # The texts of a JSON array given as one parameter, as rows of one column `value`.
        "each_text": "json_each",
        # A contact's phones as a JSON array of [raw, normalized], in position order.
        "phones": "(SELECT json_group_array(json_array(p.raw, p.normalized)) FROM "
                  "(SELECT raw, normalized FROM contact_phones WHERE contact_id = c.id "
                  "ORDER BY position) p)",
    },
)

POSTGRES = Dialect(
    name="postgres", mark_prefix="$", time_in=truncate_ms, time_out=_identity, bool_in=bool,
    key_in=_key_bytes, key_out=_key_text, text_in=_no_nul, json_time_out=_pg_json_time,
    json_object="json_build_object", json_text="{}::text",
    words={
        "agg": "json_agg",
        "as_json": "",
        "same": "IS NOT DISTINCT FROM",
        "for_update": " FOR UPDATE",
        "insert_order": "seq",
        "fold": "lower",  # by the database's locale (UTF-8): Cyrillic and Latin alike
        "each_text": "json_array_elements_text",
        "phones": "(SELECT json_agg(json_build_array(p.raw, p.normalized) ORDER BY p.position) "
                  "FROM contact_phones p WHERE p.contact_id = c.id)",
    },
)
