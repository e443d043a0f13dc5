"""`pure(sql)`: a statement declared, where it is written, to only read.

A unit's first attempt on PostgreSQL runs before its transaction begins (pg_replay.py): a
statement declared pure may run then, on its own, and is run again under the unit's locks
with its COMMIT, checked to find what it found. Any other statement, a SELECT included,
begins the transaction first (postgres_port.py), so a statement that does something (takes
a lock it must keep, bumps a sequence, sets a setting, notifies) can never run outside it.
Nothing is inferred from the text: a read not declared pure merely costs its unit the early
BEGIN (one round trip), never correctness. SQLite ignores the declaration.

Declaring is a promise the declarer keeps; `pure` refuses the mistakes it can see: a data
modifying statement, a row lock (`FOR UPDATE`, the dialect's `{for_update}`), or a function
with an effect that outlives the statement. One effect is allowed: the call scene's column
taking transaction-level advisory locks (locks.NOTIFY_SCENE_COLUMN). Outside a transaction
those end with the statement (the read only waited for them), and the check at COMMIT takes
them again, in the transaction, where they count.
"""

from __future__ import annotations

import re


class PureRead(str):
    """The text of a statement declared pure (a `str`, so every port takes it as it is)."""

    __slots__ = ()


_REFUSED = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|NEXTVAL|SETVAL|SET_CONFIG|PG_NOTIFY|LISTEN|"
    r"PG_ADVISORY_LOCK\w*|PG_TRY_ADVISORY\w*|PG_ADVISORY_UNLOCK\w*|LO_\w+|DBLINK\w*)\b"
    r"|FOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)|\{for_update\}",
    re.IGNORECASE)
_READ = re.compile(r"\s*(SELECT|WITH|VALUES)\b", re.IGNORECASE)
_DECLARED: dict[str, PureRead] = {}


def pure(sql: str) -> PureRead:
    """`sql` declared a pure read; ValueError if it plainly is not one (see the module doc).
    Checked once per text: statements built at call time cost a dict lookup after that."""
    declared = _DECLARED.get(sql)
    if declared is not None:
        return declared
    if _READ.match(sql) is None:
        raise ValueError(f"not a read, cannot be declared pure: {sql[:80]!r}")
    found = _REFUSED.search(sql)
    if found is not None:
        raise ValueError(f"{found[0]!r} in a statement declared pure: {sql[:80]!r}")
    declared = _DECLARED[sql] = PureRead(sql)
    return declared


def is_pure(sql: str) -> bool:
    """Whether `sql` was declared pure (the port's test, on the statement as written)."""
    return type(sql) is PureRead


def declared() -> frozenset[PureRead]:
    """Every statement declared pure so far (what may run before a unit's transaction)."""
    return frozenset(_DECLARED.values())


__all__ = ["PureRead", "declared", "is_pure", "pure"]
