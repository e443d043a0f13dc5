"""A unit's acting writes, held back and sent together: `PendingWrites`, and how each database
takes them in one statement.

The rows acting writes (contacts, calls, history, notifications, activity, the execution row)
are queued by the `Tx` instead of being sent one statement each; they go out together before
the unit's next read (which must see them) and at the unit's end: one statement on
PostgreSQL, at most three on SQLite. A unit acting on one event or one call record thus costs
one read (the call's scene) and those.

- SQLite (`SQLITE_GROUPS`): SQLite has no statement writing several tables, so the writer
  connection holds narrow TEMP views over the groups of tables written together (a call,
  its history and the record of whom it rang; a call record's activity and the execution
  row; a contact and its phones): one view per combination of a group's slots that a
  statement carries, with an INSTEAD OF INSERT trigger per slot. One INSERT into the view
  (a row per row of its busiest table) writes the group, the values bound as parameters
  like any other; a group with one table's rows only takes that table's plain statement.
  So a unit's writes are at most three statements (BENCHMARKS.md, "The store written
  once").
- PostgreSQL (`pg_unit_writes`): one statement of data-modifying CTEs, one per table (and one
  per updated row), the values as parameters; or, for the batch that goes in one message
  with COMMIT (postgres_port `PgPort.commit`), one `EXECUTE` of the statement prepared for
  its shape (`PG_SHAPES`: a new call's rows) or one a row of the slot's statement, prepared
  on each of the store's connections (`pg_prepare_writes`), its values written in as
  literals (`pg_unit_script`, `pg_literal`).

Rows are kept per table in the order given; an update of a row queued for insert becomes that
insert (a statement cannot both insert a row and update it), a second update replaces the
first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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


# --- SQLite: a few narrow TEMP views whose triggers write several tables ------------------------

# Slots written together through one view, each group one statement. A view is narrow on
# purpose: SQLite's work per row grows with the view's width and its triggers (one view over
# every slot cost twice the plain INSERTs; these cost what they do). The record of whom a call
# rang goes with the call (a new call's ringing phone: one statement for the three tables,
# fewer instructions than a statement of its own); notifications, a group of one, take their
# plain statement. In the order the foreign keys need: contacts before the calls naming them,
# calls before their history, whom they rang, notifications and activity.
SQLITE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("contact", ("contacts", "contact_phones")),
    ("call", ("calls_new", "calls_changed", "call_events", "call_notified")),
    ("notify", ("notifications",)),
    ("record", ("activity_new", "activity_changed", "executions")),
)
_GROUP_OF = {slot: group for group, slots in SQLITE_GROUPS for slot in slots}
# Slots that may carry several rows in one view statement: the rows of a child never come
# before their parent's, as these have no parent in their group or follow its only row.
_MANY_ROWS = frozenset({"call_events", "call_notified", "notifications", "contact_phones"})


@dataclass(frozen=True)
class SqliteView:
    """A TEMP view carrying exactly `slots` (two or more of one group's), with a trigger per
    slot.

    One view per combination of a group's slots that a statement may carry, not one per group:
    an INSTEAD OF trigger's WHEN is evaluated inside the trigger's own program, so a trigger
    whose slot a statement leaves NULL still runs, its frame allocated, zeroed and freed (a
    call's one view ran the updated call's trigger for every new call too). Each view's
    INSERT names all of its columns, and a trigger whose slot is NULL in a row (a slot with
    fewer rows than another, see `rows`) still does nothing."""

    name: str
    slots: tuple[Slot, ...]
    columns: tuple[str, ...]  # slot__column
    insert_sql: str

    @classmethod
    def of(cls, slot_names: Sequence[str]) -> SqliteView:
        slots = tuple(s for s in SLOTS if s.name in slot_names)
        columns = tuple(f"{s.name}__{c}" for s in slots for c in s.columns)
        name = "unit_writes__" + "__".join(s.name for s in slots)
        return cls(name, slots, columns, f"INSERT INTO {name} ({', '.join(columns)}) "
                                         f"VALUES ({', '.join('?' for _ in columns)})")

    def create_sql(self) -> list[str]:
        """The view, and a trigger per slot that writes only when the row carries that slot
        (its first column, a key, is not NULL)."""
        statements = [f"CREATE TEMP VIEW IF NOT EXISTS {self.name} AS SELECT "
                      + ", ".join(f"NULL AS {c}" for c in self.columns)]
        triggers = []
        for s in self.slots:
            new = [f"NEW.{s.name}__{c}" for c in s.columns]
            if s.update:
                sets = ", ".join(f"{c} = {v}" for c, v in zip(s.columns[1:], new[1:],
                                                               strict=True))
                body = f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = {new[0]};"
            else:
                body = (f"INSERT INTO {s.table} ({', '.join(s.columns)}) "
                        f"VALUES ({', '.join(new)});")
            triggers.append(f"CREATE TEMP TRIGGER IF NOT EXISTS {self.name}_{s.name} "
                            f"INSTEAD OF INSERT ON {self.name} WHEN {new[0]} IS NOT NULL "
                            f"BEGIN {body} END")
        # Triggers on one event fire in the reverse order of their creation in SQLite: made
        # last slot first, they run in SLOTS order (the order the foreign keys need).
        return [*statements, *reversed(triggers)]

    @staticmethod
    def rows(part: Batch) -> list[Sequence[Any]] | None:
        """The rows for the view of `part`'s slots (the i-th row of every slot in the i-th,
        NULLs where a slot has fewer), or None when they cannot be lined up (see
        _MANY_ROWS)."""
        # The common case first, a row per slot: extend per slot, not a comprehension per
        # value (a call's row is some 40 values).
        one: list[Any] = []
        for _, rows in part:
            if len(rows) != 1:
                break
            one.extend(rows[0])
        else:
            return [one]
        if any(len(rows) > 1 and s.name not in _MANY_ROWS for s, rows in part):
            return None
        out: list[Sequence[Any]] = []
        for i in range(max(len(rows) for _, rows in part)):
            row: list[Any] = []
            for s, rows in part:
                row.extend(rows[i] if i < len(rows) else [None] * len(s.columns))
            out.append(row)
        return out


def _combinations(slots: Sequence[str]) -> list[tuple[str, ...]]:
    """Every choice of two or more of `slots`, each in the order given."""
    return [combo for size in range(2, len(slots) + 1)
            for combo in itertools.combinations(slots, size)]


# A view for every combination of two or more slots of a group, keyed by their names in SLOTS
# order (a batch's order); a group's slots alone take their plain statement: no view.
SQLITE_VIEWS = {combo: SqliteView.of(combo) for _, slots in SQLITE_GROUPS
                for combo in _combinations(slots)}


def sqlite_unit_writes_sql() -> list[str]:
    """The statements creating the writer connection's TEMP views and their triggers."""
    return [sql for view in SQLITE_VIEWS.values() for sql in view.create_sql()]


def sqlite_statements(batch: Batch) -> list[tuple[str, list[Sequence[Any]]]]:
    """The batch as SQLite statements, in order: one per group (through its view when the
    group has rows of several tables, else the plain statement of its one table), each with
    its rows for executemany. (A batch is in SLOTS order, where each group's slots are
    next to each other: one pass gathers a group's.)"""
    out: list[tuple[str, list[Sequence[Any]]]] = []
    group = ""
    part: Batch = []
    for item in batch:
        slot_group = _GROUP_OF[item[0].name]
        if slot_group == group:
            part.append(item)
            continue
        if part:
            _group_statements(out, part)
        group, part = slot_group, [item]
    if part:
        _group_statements(out, part)
    return out


def _group_statements(out: list[tuple[str, list[Sequence[Any]]]], part: Batch) -> None:
    if len(part) == 1:
        slot, rows = part[0]
        out.append((SQLITE_PLAIN[slot.name], rows))
        return
    lined_up = SqliteView.rows(part)
    if lined_up is None:
        out.extend((SQLITE_PLAIN[s.name], rows) for s, rows in part)
    else:
        out.append((SQLITE_VIEWS[tuple([s.name for s, _ in part])].insert_sql, lined_up))


def _plain_sql(s: Slot) -> str:
    if s.update:
        sets = ", ".join(f"{c} = ?{i + 2}" for i, c in enumerate(s.columns[1:]))
        return f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = ?1"
    return s.insert_sql([f"({', '.join('?' for _ in s.columns)})"])


SQLITE_PLAIN = {s.name: _plain_sql(s) for s in SLOTS}


# --- PostgreSQL: one statement of data-modifying CTEs -------------------------------------------


def _pg_statement(batch: Batch, marks: Callable[[Sequence[Any]], list[str]]) -> str:
    """The batch as one statement, each value written by `marks` (a parameter or a literal)."""
    parts: list[str] = []
    for s, rows in batch:
        if s.update:
            for values in rows:
                m = marks(values)
                sets = ", ".join(f"{c} = {p}" for c, p in zip(s.columns[1:], m[1:], strict=True))
                parts.append(f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = {m[0]}")
        else:
            parts.append(s.insert_sql([f"({', '.join(marks(values))})" for values in rows]))
    if len(parts) == 1:
        return parts[0]
    ctes = ", ".join(f"w{i} AS ({p})" for i, p in enumerate(parts))
    return f"WITH {ctes} SELECT 1"


def pg_unit_writes(batch: Batch) -> tuple[str, list[Any]]:
    """(the statement, its parameters) writing the whole batch."""
    args: list[Any] = []

    def marks(values: Sequence[Any]) -> list[str]:
        start = len(args)
        args.extend(values)
        return [f"${start + i + 1}" for i in range(len(values))]

    return _pg_statement(batch, marks), args


class NotLiteral(TypeError):
    """A value `pg_literal` does not write (the caller sends it as a parameter instead)."""


def pg_literal(value: Any) -> str:
    """A value as PostgreSQL literal text that means exactly that value whatever it holds.

    Text goes in an escape string (E'...'), where a backslash and a quote are the only
    characters with a meaning; both are doubled, so a value cannot end the literal, whatever
    `standard_conforming_strings` says. NUL, which a statement's text cannot hold, is U+FFFD
    as in every parameter (postgres_port). Other values are written as their input text, an
    untyped literal the column's type reads (an INSERT's or UPDATE's target column, or the
    prepared statement's parameter going in it, gives it its type). Anything else (a naive
    time, bytes, ...) raises NotLiteral.
    """
    kind = type(value)
    if kind is str:
        # Most text holds none of the three characters: three scans, no copies.
        if "'" in value or "\\" in value or "\x00" in value:
            return _escaped(value)
        return f"E'{value}'"
    if value is None:
        return "NULL"
    if kind is bool:
        return "'true'" if value else "'false'"
    if kind is int or kind is float:
        return f"'{value!r}'"  # float: 'inf' and 'nan' are float8's input too
    if kind is datetime and value.tzinfo is not None:
        return f"'{value.isoformat()}'"
    raise NotLiteral(f"no literal for a {kind.__name__}")


def _escaped(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _row_literals(values: Sequence[Any], times: dict[datetime, str]) -> str:
    """A row's values as `pg_literal` writes them, comma-separated. `times`: the literals of
    the UTC times written so far in this message (a unit stamps its rows with one time or a
    few, and `isoformat` cost more than the rest of a row's values together)."""
    out = []
    for value in values:
        # pg_literal's, the commonest kinds inline (a call per value cost more than them).
        kind = type(value)
        if kind is str:
            if "'" in value or "\\" in value or "\x00" in value:
                out.append(_escaped(value))
            else:
                out.append(f"E'{value}'")
        elif value is None:
            out.append("NULL")
        elif kind is datetime and value.tzinfo is UTC:
            text = times.get(value)
            if text is None:
                text = times[value] = f"'{value.isoformat()}'"
            out.append(text)
        else:
            out.append(pg_literal(value))
    return ", ".join(out)


# Each slot's one-row statement, prepared on each of the store's connections (postgres.py
# `_init_connection`): sent as text, the batch's statement was parsed, analysed and planned
# for every unit, which cost the server more than inserting its rows.
PG_PREPARED = {s.name: f"voip_write_{s.name}" for s in SLOTS}


def _pg_one_row_sql(s: Slot) -> str:
    marks = [f"${i + 1}" for i in range(len(s.columns))]
    if s.update:
        sets = ", ".join(f"{c} = {m}" for c, m in zip(s.columns[1:], marks[1:], strict=True))
        return f"UPDATE {s.table} SET {sets} WHERE {s.columns[0]} = $1"
    return s.insert_sql([f"({', '.join(marks)})"])


Shape = tuple[tuple[str, int], ...]  # a batch's (slot name, rows) in order

# Batches of these shapes go as one EXECUTE of a statement of data-modifying CTEs, prepared
# on each connection like the slots' own: a webhook opening a call writes the call, its first
# event, whom it rang and the execution row, and the server spent about 57,000 instructions
# (callgrind, a twentieth of the writes) on running four statements where one does the same
# (each its own portal, executor set-up, end-of-statement trigger queue). A statement's
# foreign keys are checked at its end, when every row of the batch is in.
PG_SHAPES: dict[Shape, str] = {
    (("calls_new", 1), ("call_events", 1), ("call_notified", 1), ("executions", 1)):
        "voip_write_new_call",
}


def _pg_shape_sql(shape: Shape) -> str:
    """The shape's statement: its inserts of one row each, the last one the statement's own
    (not a CTE under a SELECT: one node fewer to set up each time)."""
    slots = {s.name: s for s in SLOTS}
    count = itertools.count(1)
    parts = []
    for name, rows in shape:
        slot = slots[name]
        assert not slot.update and rows == 1, "a shape inserts one row of each slot"
        parts.append(slot.insert_sql([f"({', '.join(f'${next(count)}' for _ in slot.columns)})"]))
    *ctes, last = parts
    return f"WITH {', '.join(f'w{i} AS ({p})' for i, p in enumerate(ctes))} {last}"


def pg_prepare_writes() -> str:
    """The PREPARE statements of every slot's one-row statement and of each shape's
    (`PG_SHAPES`), their parameters typed by the columns they go in, as a literal in the
    statement was, for a connection to run once."""
    return "; ".join([f"PREPARE {PG_PREPARED[s.name]} AS {_pg_one_row_sql(s)}" for s in SLOTS]
                     + [f"PREPARE {name} AS {_pg_shape_sql(shape)}"
                        for shape, name in PG_SHAPES.items()])


def pg_unit_script(batch: Batch, *, prepared: bool) -> str:
    """The batch with its values written in (`pg_literal`), to go in one message with other
    statements (the simple query protocol takes no parameters). `prepared` (the connection
    has run `pg_prepare_writes`): one EXECUTE of its shape's statement (`PG_SHAPES`), or an
    EXECUTE of its slot's statement a row, in SLOTS order, the order the foreign keys need
    (each statement's are checked at its end); else one
    statement of data-modifying CTEs, as `pg_unit_writes`. Raises NotLiteral when a value
    cannot be written so."""
    if prepared:
        times: dict[datetime, str] = {}
        shape = PG_SHAPES.get(tuple([(s.name, len(rows)) for s, rows in batch]))
        if shape is not None:
            values = ", ".join([_row_literals(row, times) for _, rows in batch for row in rows])
            return f"EXECUTE {shape}({values})"
        return "; ".join([f"EXECUTE {PG_PREPARED[s.name]}({_row_literals(values, times)})"
                          for s, rows in batch for values in rows])

    def marks(values: Sequence[Any]) -> list[str]:
        return [pg_literal(v) for v in values]

    return _pg_statement(batch, marks)
