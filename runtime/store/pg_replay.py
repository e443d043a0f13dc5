"""A unit's reads and locks on PostgreSQL, kept to be taken again with its COMMIT: `Replay`.

On a store opened with `defer=True` (postgres.py; by default units take their locks first,
which costs the server less), a unit's first attempt runs deferred (postgres_port
`PgPort(defer=True)`): it opens no transaction and takes no lock while it decides. Each
read declared pure where it is written (pure.py; nothing is inferred from its text) runs at
once on its own (READ COMMITTED, as every statement of a transaction would), returning with
its rows their fingerprints (`fingerprinted`: an md5 of each row's text); each lock is only
noted. At the end, one message does it all:

    BEGIN; <the locks, in the order the unit asked for them>;
    <each read again, under the locks taken before it, checked against its fingerprints>;
    <the unit's writes>; COMMIT

The locks are the ones the unit would have held (locks.py), taken in the same order and held to
COMMIT; a read checked under them sees everything their previous holders committed. If every
read finds what the unit saw, the unit decided on what it would have read holding the locks
from the start, and its writes go in. If one does not, `pg_temp.voip_unit_same` raises a
serialization failure (40001): the store rolls back and runs the unit again, as after a
deadlock, holding its locks from its first statement that time (so it cannot lose to the same
race twice). A unit that writes outside the queued acting writes (storage, management) takes
its transaction, its locks and its checks at its first such write (`script` before it), and
goes on as a transaction holding them.

Where every value has a literal form (writes.pg_literal) the message is the simple query
protocol's, one round trip; else the same steps go one statement each, with parameters
(`statements`). The call scene's check is prepared on each connection (`prepare_checks`) and
run with EXECUTE: sent as text it was planned for every unit, which cost the server more than
running it. The locks likewise (`prepare_locks`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.store.writes import NotLiteral, pg_literal

FINGERPRINT = "voip_unit_fp"

# Created on each of the store's connections (postgres.py `_init_connection`): a temporary
# function, so no migration and nothing in the tenant's schema. Called schema-qualified.
SAME_FUNCTION = """CREATE OR REPLACE FUNCTION pg_temp.voip_unit_same(now text[], seen text[])
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    IF now IS DISTINCT FROM seen THEN
        RAISE EXCEPTION 'what the unit read changed before it could commit'
            USING ERRCODE = 'serialization_failure';
    END IF;
END
$fn$"""

_MARK = re.compile(r"\$(\d+)")


# Per read text, made once: the same string object each time, whose hash is kept, so the
# driver's statement cache finds it without hashing kilobytes of text every unit. As many
# entries as texts declared pure (pure.py keeps each too).
_FINGERPRINTED: dict[str, str] = {}


def fingerprinted(sql: str) -> str:
    """The read with each row's fingerprint as one more column, last."""
    done = _FINGERPRINTED.get(sql)
    if done is None:
        # The newline: a read ending in a -- comment must not swallow the parenthesis.
        done = _FINGERPRINTED[sql] = (f"SELECT q.*, md5(q::text) AS {FINGERPRINT} "
                                      f"FROM ({sql}\n) AS q")
    return done


def _read_literal(value: Any) -> str:
    """A read's parameter written in, typed as the parameter would have been inferred."""
    kind = type(value)
    if kind is str:  # most of them: first, pg_literal's plain text inline
        if "'" in value or "\\" in value or "\x00" in value:
            return pg_literal(value)
        return f"E'{value}'"  # an untyped literal: the context types it
    if value is None:
        return "NULL"
    if kind is int:
        return str(value)  # an integer constant: int4 (or int8), as a parameter is typed
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is float:
        return pg_literal(value) + "::float8"
    if kind is datetime:
        return pg_literal(value) + "::timestamptz"
    if kind is bytes:
        return f"E'\\\\x{value.hex()}'::bytea"  # E'\\x..': whatever standard_conforming_strings
    return pg_literal(value)  # raises NotLiteral


def with_literals(sql: str, args: Sequence[Any]) -> str:
    """The statement with its `$n` parameters written in; NotLiteral if one cannot be."""
    return _MARK.sub(lambda m: _read_literal(args[int(m[1]) - 1]), sql)


@dataclass(slots=True)
class _Lock:
    space: int
    keys: list[str]


@dataclass(slots=True)
class _Check:
    sql: str  # rendered, $n parameters
    args: list[Any]
    prints: list[str]


def _check(sql: str, prints: str) -> str:
    # The read in FROM, not in the target list: the server copies a prepared statement's
    # target list each time EXECUTE runs it (to describe its result), and that copy of the
    # whole call scene cost about a sixth of the check (callgrind, the server's instructions).
    return (f"SELECT pg_temp.voip_unit_same(s.found, {prints}) FROM (SELECT ARRAY("
            f"SELECT md5(q::text) FROM ({sql}\n) AS q) AS found) AS s")


def check_sql(sql: str) -> str:
    """The check of a read with parameters: the read's own, then its fingerprints."""
    marks = max((int(m) for m in _MARK.findall(sql)), default=0)
    return _check(sql, f"${marks + 1}::text[]")


# Reads whose check each connection prepares (`prepare_checks`): planning the call's scene
# costs the server several times what running it does, once per unit if sent as text.
_PREPARED: dict[str, str] = {}
# Reads checked by a lighter statement when a column is NULL in each of their rows: read ->
# (the column, the lighter read). The server sets up every subquery of a statement each time
# it runs it, reached or not: the call's scene with no call found was checked by setting up
# all that hangs on a call, for a new call each webhook's first.
_LIGHTER: dict[str, tuple[str, str]] = {}


def prepare_checks(reads: Sequence[str],
                   lighter: Mapping[str, tuple[str, str]] | None = None) -> str:
    """The PREPARE statements of the checks of these (rendered) reads, for a connection to
    run once: a message then checks each with EXECUTE and its values written in.

    `lighter`: read -> (column, lighter read). Where each row a read returned has `column`
    NULL, its check runs the lighter read instead, which takes the same parameters and must
    return the same rows as the read whenever the read's rows have `column` NULL, and other
    rows whenever they would not (so its fingerprints differ: the unit runs again)."""
    everything = list(reads)
    for sql, (column, light) in (lighter or {}).items():
        _LIGHTER[sql] = (column, light)
        everything.append(light)
    for sql in everything:
        _PREPARED.setdefault(sql, f"voip_unit_check_{len(_PREPARED)}")
    return "; ".join(f"PREPARE {_PREPARED[sql]} AS {check_sql(sql)}" for sql in everything)


# A unit's locks are taken by EXECUTEs of statements each connection prepares for up to this
# many keys at once (`prepare_locks`); more keys go as a statement of their own. Sent as
# text, the locks' SELECT was parsed, analysed and planned for every unit: about 40% of what
# the server spent on taking them (callgrind).
PREPARED_LOCKS = 4


def locks_name(keys: int) -> str:
    return f"voip_unit_locks_{keys}"


def prepare_locks() -> str:
    """The PREPARE statements of the locks on 1..PREPARED_LOCKS keys of one space, each
    `pg_advisory_xact_lock(space, hashtext(key))` in the order given, for a connection to run
    once."""
    return "; ".join(
        f"PREPARE {locks_name(n)}(int, {', '.join(['text'] * n)}) AS SELECT "
        + ", ".join(f"pg_advisory_xact_lock($1, hashtext(${i + 2}))" for i in range(n))
        for n in range(1, PREPARED_LOCKS + 1))


def _prints_literal(prints: list[str]) -> str:
    # md5 digests are hex digits: nothing to escape.
    return "ARRAY[" + ", ".join(f"'{p}'" for p in prints) + "]::text[]"


@dataclass(slots=True)
class Replay:
    items: list[_Lock | _Check] = field(default_factory=list)

    def lock(self, space: int, keys: Sequence[str]) -> None:
        self.items.append(_Lock(space, list(keys)))

    def read(self, sql: str, args: Sequence[Any], rows: Sequence[Any]) -> None:
        light = _LIGHTER.get(sql)
        if light is not None and rows and all(r[light[0]] is None for r in rows):
            sql = light[1]  # the same rows while nothing changed (`prepare_checks`)
        self.items.append(_Check(sql, list(args), [r[FINGERPRINT] for r in rows]))

    def script(self) -> str:
        """The locks and checks as statements with their values written in, `;`-separated.
        Raises NotLiteral when a value cannot be written so."""
        parts = []
        for item in self.items:
            if isinstance(item, _Lock) and len(item.keys) <= PREPARED_LOCKS:
                keys = ", ".join([pg_literal(k) for k in item.keys])
                parts.append(f"EXECUTE {locks_name(len(item.keys))}({int(item.space)}, {keys})")
            elif isinstance(item, _Lock):
                space = int(item.space)
                parts.append("SELECT " + ", ".join([
                    f"pg_advisory_xact_lock({space}, hashtext({pg_literal(k)}))"
                    for k in item.keys]))
            elif (name := _PREPARED.get(item.sql)) is not None:
                values = [_read_literal(v) for v in item.args]
                parts.append(f"EXECUTE {name}({', '.join(values)}, "
                             f"{_prints_literal(item.prints)})")
            else:
                parts.append(_check(with_literals(item.sql, item.args),
                                    _prints_literal(item.prints)))
        return "; ".join(parts)

    def statements(self, lock_sql: str) -> list[tuple[str, list[Any]]]:
        """The same, one statement each with parameters (`lock_sql`: the port's statement
        taking locks on `($1, $2::text[])` in order)."""
        out: list[tuple[str, list[Any]]] = []
        for item in self.items:
            if isinstance(item, _Lock):
                out.append((lock_sql, [item.space, item.keys]))
            else:
                out.append((check_sql(item.sql), [*item.args, item.prints]))
        return out


__all__ = ["FINGERPRINT", "SAME_FUNCTION", "NotLiteral", "Replay", "fingerprinted",
           "locks_name", "prepare_locks", "with_literals"]
