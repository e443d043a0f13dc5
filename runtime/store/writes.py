"""A unit's acting writes, held back and sent together: `PendingWrites`, and how each database
takes them in one statement.

The rows acting writes (contacts, calls, history, notifications, activity, the execution row)
are queued by the `Tx` instead of being sent one statement each; they go out as ONE statement
before the unit's next read (which must see them) and at the unit's end. A unit acting on one
event or one call record thus costs two statements: one read (the call's scene), one write.

- SQLite (`sqlite_unit_writes_sql`): the writer connection holds a TEMP view `unit_writes`
  with a column for every column of every slot; an INSTEAD OF INSERT trigger per slot
  inserts (or updates) its table's row from the view's row, in the order the foreign keys
  need. One INSERT into the view (a row per row of the busiest slot), its statements run
  inside SQLite, the values bound as parameters like any other. Rows of one table alone go
  straight in (one plain statement, cheaper than the triggers), as does the rare batch whose
  rows cannot be lined up (several contacts at once). The choice is the statement count, not
  CPU: a row through a trigger costs SQLite about twice a plain INSERT's work, and a plain
  statement costs Python only about 3 µs (BENCHMARKS.md, "The store written once").
- PostgreSQL (`pg_unit_writes`): one statement of data-modifying CTEs, one per table (and one
  per updated row), the values as parameters.

Rows are kept per table in the order given; an update of a row queued for insert becomes that
insert (a statement cannot both insert a row and update it), a second update replaces the
first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.store import tables as t


@dataclass(frozen=True, slots=True)
class Slot:
    """One kind of queued row: inserts into a table, or updates of some of its columns."""

    name: str
    table: str
    columns: Sequence[str]  # for an update: the key first, then the columns it sets
    update: bool = False

    def insert_sql(self, marks: Sequence[str]) -> str:
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES " + ", ".join(
            marks)


def _update_columns(table: t.Table[Any], fixed: Sequence[str]) -> list[str]:
    key, *rest = table.names
    return [key, *(c for c in rest if c not in fixed)]


ACTIVITY_FIXED = ("tenant_id", "call_id", "created_at")

# In the order the foreign keys need (contacts before the calls and activity naming them, ...).
SLOTS = (
    Slot("contacts", "contacts", ["id", "tenant_id", "name", "created_at"]),
    Slot("contact_phones", "contact_phones",
         ["contact_id", "tenant_id", "position", "raw", "normalized"]),
    Slot("calls_new", "calls", t.CALLS.names),
    Slot("calls_changed", "calls", _update_columns(t.CALLS, t.CALL_FIXED), update=True),
    Slot("call_events", "call_events", t.CALL_EVENTS.names),
    Slot("call_notified", "call_notified", t.CALL_NOTIFIED.names),
    Slot("notifications", "notifications", t.NOTIFICATIONS.names),
    Slot("activity_new", "activity", t.ACTIVITY.names),
    Slot("activity_changed", "activity", _update_columns(t.ACTIVITY, ACTIVITY_FIXED),
         update=True),
    Slot("executions", "executions", t.EXECUTIONS.names),
)
Batch = list[tuple[Slot, list[Sequence[Any]]]]


class PendingWrites:
    """The rows a unit has written and not yet sent (values already converted for the
    dialect), per slot."""

    __slots__ = ("_rows", "count")

    def __init__(self) -> None:
        self._rows: dict[str, dict[object, Sequence[Any]]] = {}
        self.count = 0

    def add(self, slot: str, values: Sequence[Any], key: object = None) -> None:
        """Queue a row; `key` (the record's id) lets a later update of it replace it."""
        rows = self._rows.get(slot)
        if rows is None:
            rows = self._rows[slot] = {}
        rows[key if key is not None else self.count] = values
        self.count += 1

    def update(self, slot: str, new_slot: str, key: object, values: Sequence[Any],
               full_values: Sequence[Any]) -> None:
        """Queue an update of the row `key`: into the queued insert of it if there is one."""
        queued = self._rows.get(new_slot)
        if queued is not None and key in queued:
            queued[key] = full_values
        else:
            self.add(slot, values, key)

    def __bool__(self) -> bool:
        return self.count > 0

    def take(self) -> Batch:
        """The queued rows per slot, in SLOTS order; the queue is empty afterwards."""
        rows, self._rows, self.count = self._rows, {}, 0
        return [(s, list(rows[s.name].values())) for s in SLOTS if rows.get(s.name)]

    def clear(self) -> None:
        self._rows, self.count = {}, 0


# --- SQLite: a TEMP view whose triggers write every table --------------------------------------

# The view's columns: every slot's columns, named slot__column.
SQLITE_VIEW_COLUMNS = [f"{s.name}__{c}" for s in SLOTS for c in s.columns]
# Slots that may carry several rows in one view statement: the rows of a child table must
# never come before the row of their parent, which these (children of the call) cannot.
_MANY_ROWS = frozenset({"call_events", "call_notified", "notifications"})
_EMPTY_ROW: list[Any] = [None] * len(SQLITE_VIEW_COLUMNS)
_OFFSET = {s.name: SQLITE_VIEW_COLUMNS.index(f"{s.name}__{s.columns[0]}") for s in SLOTS}


def sqlite_unit_writes_sql() -> list[str]:
    """The statements creating `temp.unit_writes` on the writer connection: the view, and a
    trigger per slot that runs only when the view's row carries that slot (its first column,
    a key, is not NULL), so an absent slot costs one comparison."""
    statements = ["CREATE TEMP VIEW IF NOT EXISTS unit_writes AS SELECT "
                  + ", ".join(f"NULL AS {c}" for c in SQLITE_VIEW_COLUMNS)]
    for s in SLOTS:
        new = [f"NEW.{s.name}__{c}" for c in s.columns]
        if s.update:
            sets = ", ".join(f"{c} = {v}" for c, v in zip(s.columns[1:], new[1:], strict=True))
            body = f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = {new[0]};"
        else:
            body = f"INSERT INTO {s.table} ({', '.join(s.columns)}) VALUES ({', '.join(new)});"
        # Triggers on one event fire in the reverse order of their creation in SQLite: made
        # last slot first, they run in SLOTS order (the order the foreign keys need).
        statements.append(f"CREATE TEMP TRIGGER IF NOT EXISTS unit_writes_{s.name} "
                          f"INSTEAD OF INSERT ON unit_writes WHEN {new[0]} IS NOT NULL "
                          f"BEGIN {body} END")
    return [statements[0], *reversed(statements[1:])]


SQLITE_UNIT_WRITES_INSERT = (f"INSERT INTO unit_writes ({', '.join(SQLITE_VIEW_COLUMNS)}) "
                             f"VALUES ({', '.join('?' for _ in SQLITE_VIEW_COLUMNS)})")


def sqlite_unit_rows(batch: Batch) -> list[list[Any]] | None:
    """The view's rows for a batch (the i-th row of every slot in the i-th), or None when
    it cannot go that way (several rows of a parent table: see _MANY_ROWS)."""
    if any(len(rows) > 1 and s.name not in _MANY_ROWS for s, rows in batch):
        return None
    out = []
    for i in range(max(len(rows) for _, rows in batch)):
        row = list(_EMPTY_ROW)
        for s, rows in batch:
            if i < len(rows):
                start = _OFFSET[s.name]
                row[start:start + len(s.columns)] = rows[i]
        out.append(row)
    return out


def _plain_sql(s: Slot) -> str:
    if s.update:
        sets = ", ".join(f"{c} = ?{i + 2}" for i, c in enumerate(s.columns[1:]))
        return f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = ?1"
    return s.insert_sql([f"({', '.join('?' for _ in s.columns)})"])


SQLITE_PLAIN = {s.name: _plain_sql(s) for s in SLOTS}


def sqlite_row_statements(batch: Batch) -> list[tuple[str, list[Sequence[Any]]]]:
    """The same batch as plain statements, one per slot (each with `?` marks, executemany)."""
    return [(SQLITE_PLAIN[s.name], rows) for s, rows in batch]


# --- PostgreSQL: one statement of data-modifying CTEs -------------------------------------------


def pg_unit_writes(batch: Batch) -> tuple[str, list[Any]]:
    """(the statement, its parameters) writing the whole batch."""
    args: list[Any] = []
    parts: list[str] = []

    def marks(values: Sequence[Any]) -> list[str]:
        start = len(args)
        args.extend(values)
        return [f"${start + i + 1}" for i in range(len(values))]

    for s, rows in batch:
        if s.update:
            for values in rows:
                m = marks(values)
                sets = ", ".join(f"{c} = {p}" for c, p in zip(s.columns[1:], m[1:], strict=True))
                parts.append(f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = {m[0]}")
        else:
            parts.append(s.insert_sql([f"({', '.join(marks(values))})" for values in rows]))
    if len(parts) == 1:
        return parts[0], args
    ctes = ", ".join(f"w{i} AS ({p})" for i, p in enumerate(parts))
    return f"WITH {ctes} SELECT 1", args
