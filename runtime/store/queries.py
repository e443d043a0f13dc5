"""Every read of the store, written once for both databases: `Reads` over a port.

The Store's reads (reads.py) run these on a reader (SQLite: a read-only connection in a
thread; PostgreSQL: the pool), and a unit's `Tx` (tx.py) inherits them for reads inside its
transaction. Each read is one statement, decoded by its table (tables.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

from runtime.store import tables as t
from runtime.store.dialect import Dialect, dumps, loads
from runtime.store.models import (
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallFilter,
    CallHandled,
    CallLookup,
    CallNotified,
    CallScene,
    Contact,
    Execution,
    ExecutionFilter,
    ListedExecution,
    Module,
    ModuleBinding,
    Notification,
    NotificationKind,
    ScriptVersion,
    StorageItem,
    StorageUsage,
    Tenant,
    User,
    UserToken,
)
from runtime.store.port import Port
from runtime.store.retention import UsageReads

# What a tenant key (or, for contacts, a missed call) can create, counted per owner for its cap;
# the owner is the tenant (modules, users, contacts), the module (versions, bindings) or the user
# (live tokens: revoked ones do not count).
OwnedKind = Literal["modules", "users", "versions", "bindings", "live_user_tokens", "contacts",
                    "source_bytes"]
OWNED_COUNTS: dict[str, str] = {
    "modules": "SELECT count(*) FROM modules WHERE tenant_id = $1",
    "users": "SELECT count(*) FROM users WHERE tenant_id = $1",
    "versions": "SELECT count(*) FROM script_versions WHERE module_id = $1",
    "bindings": "SELECT count(*) FROM bindings WHERE module_id = $1",
    "live_user_tokens": "SELECT count(*) FROM user_tokens WHERE user_id = $1 "
                        "AND revoked_at IS NULL",
    # Kept by triggers (migration 0012): a new contact is made on a webhook's unit, where a
    # count over a big tenant's contacts would hold the writer.
    "contacts": "SELECT COALESCE((SELECT contacts FROM contact_counts WHERE tenant_id = $1), 0)",
    # Not a count: the UTF-8 bytes of a tenant's script versions, kept per module by triggers
    # (migration 0016); a sum over at most tenant_limits.max_modules rows, read per upload.
    "source_bytes": "SELECT COALESCE(SUM(bytes), 0) FROM source_bytes WHERE tenant_id = $1",
}

R = TypeVar("R")

# `$2`: the ids as a JSON array of strings (dialect `dumps`), one parameter however many.
# CROSS JOIN keeps the ids first on SQLite (its planner otherwise walks every row of the
# tenant's, every call it ever had, checking each against the list); PostgreSQL plans it as
# any join, by its estimates.
GET_USERS = """SELECT u.* FROM {each_text}($2) j CROSS JOIN users u
    WHERE u.id = j.value AND u.tenant_id = $1"""
LIVE_TOKEN_COUNTS = """
    SELECT k.user_id, count(*) AS live
    FROM {each_text}($2) j CROSS JOIN users u CROSS JOIN user_tokens k
    WHERE u.id = j.value AND u.tenant_id = $1 AND k.user_id = u.id AND k.revoked_at IS NULL
    GROUP BY k.user_id"""
USERS_BINDINGS = """
    SELECT m.id AS module_id, m.name AS module_name, b.member_id, b.user_id
    FROM {each_text}($2) j CROSS JOIN bindings b CROSS JOIN modules m
    WHERE b.user_id = j.value AND m.id = b.module_id AND m.tenant_id = $1
    ORDER BY m.name, m.id, b.member_id"""
USERS_NOTIFIED_OF_CALLS = """
    SELECT DISTINCT n.call_id, n.user_id
    FROM {each_text}($2) j CROSS JOIN calls c CROSS JOIN call_notified n
    WHERE c.id = j.value AND c.tenant_id = $1 AND n.call_id = c.id AND n.user_id IS NOT NULL"""

Condition = tuple[str, object]  # a SQL fragment with `{0}` where its value goes, and the value


def _present(conditions: list[Condition]) -> list[Condition]:
    return [(sql, value) for sql, value in conditions if value is not None]


def call_conditions(filters: CallFilter) -> list[Condition]:
    return _present([
        ("module_id = {0}", filters.module_id),
        ("state = {0}", filters.state.value if filters.state is not None else None),
        ("direction = {0}", filters.direction),
        ("created_at >= {0}", filters.since),
        ("(client_phone_normalized = {0} OR client_phone = {0} OR src_phone = {0} "
         "OR dst_phone = {0})", filters.phone),
        ("answered_user_id = {0}", filters.answered_user_id),
    ])


def execution_conditions(filters: ExecutionFilter) -> list[Condition]:
    return _present([
        ("module_id = {0}", filters.module_id),
        ("outcome = {0}", filters.outcome.value if filters.outcome is not None else None),
        ("function = {0}", filters.function),
        ("version_id = {0}", filters.version_id),
        ("created_at >= {0}", filters.since),
        ("created_at < {0}", filters.until),
    ])


def id_marks(first: int, ids: Sequence[str]) -> str:
    """`$first, $first+1, ...`: one placeholder per id, for an `IN (...)` list."""
    return ", ".join(f"${i}" for i in range(first, first + len(ids)))


def where_clause(d: Dialect, tenant_id: str, conditions: list[Condition]
                 ) -> tuple[str, list[object]]:
    """(`tenant_id = $1 AND ...`, the parameters in order), times converted for `d`."""
    params: list[object] = [tenant_id]
    parts = ["tenant_id = $1"]
    for sql, value in conditions:
        params.append(d.time_in(value) if isinstance(value, datetime) else value)
        parts.append(sql.format(f"${len(params)}"))
    return " AND ".join(parts), params


# Statements used by more than one operation.
CONTACTS_SELECT = "SELECT c.*, {phones} AS phones FROM contacts c"
NUMBERS = """module_id = $1 AND direction = $2 AND src_phone = $3 AND src_phone_ext {same} $4
    AND dst_phone = $5 AND dst_phone_ext {same} $6"""
FIND_CALL_BY_PROVIDER_ID = """SELECT * FROM calls WHERE module_id = $1
    AND provider_call_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"""
FIND_OPEN_CALL = f"""SELECT * FROM calls WHERE {NUMBERS} AND state <> 'ended'
    ORDER BY created_at DESC, id DESC LIMIT 1"""
FIND_ENDED_CALL = f"""SELECT * FROM calls WHERE {NUMBERS} AND state = 'ended'
    AND ended_at >= $7 ORDER BY ended_at DESC, id DESC LIMIT 1"""


# The most history rows a webhook's call scene reads. Every webhook of a call read all of
# its history and decoded each row in the event loop every tenant shares: a webhook caller
# repeating one event at the webhook rate (500 a second) gave a call 100,000 rows in minutes,
# and each further webhook of it then held the loop for 1.5 s. A real call has tens. The
# rows that are not repeats come first: a repeat is the same event (kind and numbers) as an
# earlier row of the call, so the checks made on the history (repeat, rang before, answer
# reported, the same record) answer as on the whole history while the call's other rows fit.
SCENE_HISTORY_ROWS = 1000


def _scene_sql(d: Dialect, extra_column: str | None) -> str:
    """One statement reading a `CallScene` (see `CallLookup` for the choice of the call);
    `extra_column` is the locking hook's (locks.py), which may use the chosen call
    (`chosen.id`).

    The call is chosen once, in a one-row subquery of the FROM clause that the other columns
    read: its OFFSET keeps it from being merged into them (SQLite and PostgreSQL alike), so its
    lookups run once. (A MATERIALIZED CTE did the same at the price of a temporary table
    opened, filled and scanned for every webhook.) What hangs on the call is read only when a
    call was chosen (CASE): for a new call, most webhooks' first, the four subqueries would
    open their cursors and seek NULL for nothing.

    The ended call is looked for only with a time to look from ($8; most events' lookups
    have none): `ended_at >= NULL` matches nothing, but SQLite still seeks the index for it,
    where `$8 IS NOT NULL`, which reads no table, is tested once before the lookup starts.
    (After `ended_at >= $8`, which gives PostgreSQL the parameter's type.)"""
    def rows(table: t.Table[Any], alias: str, where: str, order: str, limit: str = "") -> str:
        return (f"(SELECT {{agg}}({{as_json}}(o)) FROM (SELECT {table.json_object(alias, d)} "
                f"AS o FROM {table.name} {alias} WHERE {where} ORDER BY {order}{limit}) s)")

    history_order = "(e.effect = 'repeat'), e.received_at, e.id"
    # Of whom the call rang, the users (each told of each state once: as many as the module
    # binds at most) and the operator's phone of this webhook ($11), the one phone acting
    # asks about. A phone nobody is bound to leaves a row each, and a caller sending one
    # call's start at a new number each time gave a call 100,000: read whole, each further
    # webhook of it held every tenant's event loop for a second.
    notified_where = "n.call_id = chosen.id AND (n.user_id IS NOT NULL OR n.phone = $11)"
    history_limit = f" LIMIT {SCENE_HISTORY_ROWS}"
    hanging = f"""
        CASE WHEN chosen.id IS NOT NULL THEN
            (SELECT {t.CALLS.json_object('c', d)} FROM calls c WHERE c.id = chosen.id) END
            AS call,
        CASE WHEN chosen.id IS NOT NULL THEN
            {rows(t.CALL_EVENTS, 'e', 'e.call_id = chosen.id', history_order, history_limit)} END
            AS history,
        CASE WHEN chosen.id IS NOT NULL THEN
            {rows(t.CALL_NOTIFIED, 'n', notified_where, 'n.{insert_order}')} END
            AS notified,
        CASE WHEN chosen.id IS NOT NULL THEN
            (SELECT {t.ACTIVITY.json_object('a', d)} FROM activity a WHERE a.call_id = chosen.id)
            END AS activity,"""
    return f"""SELECT{hanging}
        (SELECT {t.contact_json_object('ct', d)} FROM contacts ct WHERE ct.id = (
            SELECT min(contact_id) FROM contact_phones WHERE tenant_id = $9
            AND normalized = $10)) AS contact,
        (SELECT user_id FROM bindings WHERE module_id = $1 AND member_id = $11) AS bound_user
        {"" if extra_column is None else f", {extra_column} AS hook"}
    FROM (SELECT COALESCE(
        (SELECT id FROM calls WHERE module_id = $1 AND provider_call_id = $7
         ORDER BY created_at DESC, id DESC LIMIT 1),
        (SELECT id FROM (SELECT id, provider_call_id FROM calls WHERE {NUMBERS}
         AND state <> 'ended' ORDER BY created_at DESC, id DESC LIMIT 1) o
         WHERE $7 IS NULL OR o.provider_call_id IS NULL),
        (SELECT id FROM (SELECT id, provider_call_id FROM calls WHERE {NUMBERS}
         AND state = 'ended' AND ended_at >= $8 AND $8 IS NOT NULL
         ORDER BY ended_at DESC, id DESC LIMIT 1) e
         WHERE $7 IS NULL OR e.provider_call_id IS NULL)) AS id LIMIT 1 OFFSET 0) chosen"""


_SCENES: dict[tuple[str, str | None], str] = {}


def scene_sql(d: Dialect, extra_column: str | None = None) -> str:
    """The call scene's statement for the dialect (with the locking hook's column), built
    once rather than for each webhook."""
    sql = _SCENES.get((d.name, extra_column))
    if sql is None:
        sql = _SCENES[d.name, extra_column] = _scene_sql(d, extra_column)
    return sql


def _json(value: Any) -> Any:
    """A JSON value of the scene's row, as its text (as both drivers hand it over), or
    already parsed."""
    return loads(value) if isinstance(value, str) else value


def scene_args(lookup: CallLookup, d: Dialect) -> list[Any]:
    # lookup.numbers written out (its property builds a tuple to be unpacked): every webhook.
    ended_since = lookup.ended_since
    return [lookup.module_id, lookup.direction, lookup.src_phone, lookup.src_phone_ext,
            lookup.dst_phone, lookup.dst_phone_ext, lookup.provider_call_id,
            None if ended_since is None else d.time_in(ended_since), lookup.tenant_id,
            lookup.client_phone, lookup.operator_phone]


def like_text(text: str) -> str:
    """`text` matched as it is by LIKE ... ESCAPE '\\' (its % and _ are no wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Reads(UsageReads):
    """Read queries over a port (see the module doc)."""

    def __init__(self, port: Port) -> None:
        self._port = port
        self._d = port.dialect

    async def _one(self, table: t.Table[R], sql: str, args: Sequence[Any]) -> R | None:
        row = await self._port.one(sql, args)
        return None if row is None else table.decode(row, self._d)

    async def _all(self, table: t.Table[R], sql: str, args: Sequence[Any]) -> list[R]:
        d = self._d
        return [table.decode(r, d) for r in await self._port.all(sql, args)]

    # --- tenants and credentials ----------------------------------------------------------------

    # A tenant marked `deleting_at` is being deleted (runtime/tenant_removal.py): to the API
    # and to every create it no longer exists; only the deletion's own steps still see it.

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return await self._one(t.TENANTS, "SELECT * FROM tenants WHERE id = $1 "
                                          "AND deleting_at IS NULL", [tenant_id])

    async def tenant_exists(self, tenant_id: str) -> bool:
        """Whether the tenant row is there, being deleted or not."""
        return await self._port.one("SELECT id FROM tenants WHERE id = $1",
                                    [tenant_id]) is not None

    async def deleting_tenants(self) -> list[str]:
        """The tenants whose deletion was started and not finished, the oldest first."""
        rows = await self._port.all("SELECT id FROM tenants WHERE deleting_at IS NOT NULL "
                                    "ORDER BY deleting_at, id", [])
        return [r["id"] for r in rows]

    async def ping(self) -> None:
        """A round trip to the database, for the health probe: it raises what the database
        raises."""
        await self._port.value("SELECT 1", [])

    async def list_tenants(self, limit: int, offset: int) -> list[Tenant]:
        return await self._all(t.TENANTS,
                               "SELECT * FROM tenants WHERE deleting_at IS NULL "
                               "ORDER BY id LIMIT $1 OFFSET $2",
                               [limit, offset])

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        return await self._one(t.API_KEYS, "SELECT * FROM api_keys WHERE key_hash = $1 "
                               "AND revoked_at IS NULL", [key_hash])

    async def list_api_keys(self, tenant_id: str, limit: int | None = None, offset: int = 0
                            ) -> list[ApiKey]:
        return await self._all(t.API_KEYS, "SELECT * FROM api_keys WHERE tenant_id = $1 "
                               "ORDER BY id DESC LIMIT $2 OFFSET $3",
                               [tenant_id, _no_more_than(limit), offset])

    async def find_user_token(self, token_hash: str) -> tuple[UserToken, User] | None:
        row = await self._port.one("""
            SELECT user_tokens.*, users.tenant_id, users.name, users.email,
                   users.created_at AS user_created_at
            FROM user_tokens JOIN users ON users.id = user_tokens.user_id
            WHERE user_tokens.token_hash = $1 AND user_tokens.revoked_at IS NULL""",
                                   [token_hash])
        if row is None:
            return None
        return t.USER_TOKENS.decode(row, self._d), User(
            id=row["user_id"], tenant_id=row["tenant_id"], name=row["name"],
            email=row["email"], created_at=self._d.time_out(row["user_created_at"]))

    async def count_owned(self, kind: OwnedKind, owner_id: str) -> int:
        """How many of `kind` the owner has (a tenant's modules or users, a module's versions
        or bindings, a user's live tokens): what its cap (operations/caps.py) is checked
        against."""
        count = await self._port.value(OWNED_COUNTS[kind], [owner_id])
        return int(count or 0)

    async def list_user_tokens(self, tenant_id: str, user_id: str, limit: int | None = None,
                               offset: int = 0) -> list[UserToken] | None:
        if await self.get_user(tenant_id, user_id) is None:
            return None
        return await self._all(t.USER_TOKENS, "SELECT * FROM user_tokens WHERE user_id = $1 "
                               "ORDER BY id DESC LIMIT $2 OFFSET $3",
                               [user_id, _no_more_than(limit), offset])

    async def live_token_counts(self, tenant_id: str, user_ids: Sequence[str]
                                ) -> dict[str, int]:
        ids = sorted(set(user_ids))
        if not ids:
            return {}
        rows = await self._port.all(LIVE_TOKEN_COUNTS, [tenant_id, dumps(ids)])
        return {str(row["user_id"]): int(row["live"]) for row in rows}

    async def signed_out_sessions(self, now: datetime) -> list[tuple[str, datetime]]:
        d = self._d
        rows = await self._port.all(
            "SELECT session_id, expires_at FROM console_signed_out WHERE expires_at >= $1 "
            "ORDER BY expires_at", [d.time_in(now)])
        return [(row["session_id"], d.time_out(row["expires_at"])) for row in rows]

    async def find_user_by_token(self, token_hash: str) -> User | None:
        return await self._one(t.USERS, """
            SELECT users.* FROM user_tokens JOIN users ON users.id = user_tokens.user_id
            WHERE user_tokens.token_hash = $1 AND user_tokens.revoked_at IS NULL""",
                               [token_hash])

    # --- modules and versions -------------------------------------------------------------------

    async def list_modules(self, tenant_id: str, limit: int, offset: int) -> list[Module]:
        return await self._all(t.MODULES, "SELECT * FROM modules WHERE tenant_id = $1 "
                               "ORDER BY name LIMIT $2 OFFSET $3", [tenant_id, limit, offset])

    async def get_module(self, tenant_id: str, module_id: str) -> Module | None:
        return await self._one(t.MODULES, "SELECT * FROM modules WHERE id = $1 "
                               "AND tenant_id = $2", [module_id, tenant_id])

    async def get_module_by_name(self, tenant_id: str, name: str) -> Module | None:
        return await self._one(t.MODULES, "SELECT * FROM modules WHERE tenant_id = $1 "
                               "AND name = $2", [tenant_id, name])

    async def get_module_by_webhook_token(self, token: str) -> Module | None:
        return await self._one(t.MODULES, "SELECT * FROM modules WHERE webhook_token = $1",
                               [token])

    async def list_versions(self, tenant_id: str, module_id: str, limit: int, offset: int
                            ) -> list[ScriptVersion]:
        return await self._all(t.VERSIONS, """
            SELECT v.* FROM script_versions v JOIN modules m ON m.id = v.module_id
            WHERE v.module_id = $1 AND m.tenant_id = $2
            ORDER BY v.number DESC LIMIT $3 OFFSET $4""", [module_id, tenant_id, limit, offset])

    async def get_version(self, tenant_id: str, module_id: str, version_id: str
                          ) -> ScriptVersion | None:
        return await self._one(t.VERSIONS, """
            SELECT v.* FROM script_versions v JOIN modules m ON m.id = v.module_id
            WHERE v.id = $1 AND v.module_id = $2 AND m.tenant_id = $3""",
                               [version_id, module_id, tenant_id])

    async def get_active_version(self, tenant_id: str, module_id: str) -> ScriptVersion | None:
        return await self._one(t.VERSIONS, """
            SELECT v.* FROM modules m JOIN script_versions v ON v.id = m.active_version_id
            WHERE m.id = $1 AND m.tenant_id = $2""", [module_id, tenant_id])

    async def active_version_numbers(self, tenant_id: str) -> dict[str, int]:
        rows = await self._port.all("""
            SELECT m.id, v.number FROM modules m JOIN script_versions v
            ON v.id = m.active_version_id AND v.module_id = m.id
            WHERE m.tenant_id = $1""", [tenant_id])
        return {str(row["id"]): int(row["number"]) for row in rows}

    async def version_by_number(self, module_id: str, number: int) -> ScriptVersion | None:
        return await self._one(t.VERSIONS,
                               "SELECT * FROM script_versions WHERE module_id = $1 "
                               "AND number = $2", [module_id, number])

    # --- users and bindings ---------------------------------------------------------------------

    async def list_users(self, tenant_id: str, limit: int, offset: int) -> list[User]:
        return await self._all(t.USERS,
                               "SELECT * FROM users WHERE tenant_id = $1 ORDER BY name "
                               "LIMIT $2 OFFSET $3", [tenant_id, limit, offset])

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        return await self._one(t.USERS,
                               "SELECT * FROM users WHERE id = $1 AND tenant_id = $2",
                               [user_id, tenant_id])

    async def get_users(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, User]:
        ids = sorted(set(user_ids))
        if not ids:
            return {}
        # The ids as one JSON array parameter: one statement text whatever their number (a
        # module's bindings can name 20,000 users, past what one statement may have as
        # parameters, and each count would be a statement of its own to prepare and cache).
        users = await self._all(t.USERS, GET_USERS, [tenant_id, dumps(ids)])
        return {user.id: user for user in users}

    async def get_user_by_name(self, tenant_id: str, name: str) -> User | None:
        return await self._one(t.USERS,
                               "SELECT * FROM users WHERE tenant_id = $1 AND name = $2",
                               [tenant_id, name])

    async def list_bindings(self, tenant_id: str, module_id: str, limit: int | None = None,
                            offset: int = 0) -> list[Binding] | None:
        # No row: no such module (for this tenant); one row of NULLs: a module without any (or
        # a page past its last). The page is taken before the join, so that one stays apart.
        rows = await self._port.all("""
            SELECT b.* FROM modules m LEFT JOIN (
                SELECT * FROM bindings WHERE module_id = $1 ORDER BY member_id LIMIT $3 OFFSET $4
            ) b ON b.module_id = m.id
            WHERE m.id = $1 AND m.tenant_id = $2 ORDER BY b.member_id""",
            [module_id, tenant_id, _no_more_than(limit), offset])
        if not rows:
            return None
        return [t.BINDINGS.decode(r, self._d) for r in rows if r["member_id"] is not None]

    async def dial_bindings(self, tenant_id: str, module_ids: Sequence[str] | None,
                            per_module: int, total: int, user_id: str | None
                            ) -> list[ModuleBinding]:
        # Each user once per module, at their first extension; a module's first `per_module`
        # of those by extension; by module name, then extension; the first `total` of all.
        # Only these modules' bindings are read (None: every module of the tenant's).
        ids = sorted(set(module_ids or ()))
        if module_ids is not None and not ids:
            return []
        among = f"AND id IN ({id_marks(6, ids)})" if module_ids is not None else ""
        rows = await self._port.all(f"""
            SELECT m.id AS module_id, m.name AS module_name, r.member_id, r.user_id
            FROM (SELECT f.module_id, f.user_id, f.member_id, ROW_NUMBER() OVER (
                      PARTITION BY f.module_id ORDER BY f.member_id) AS n
                  FROM (SELECT b.module_id, b.user_id, min(b.member_id) AS member_id
                        FROM bindings b
                        WHERE b.module_id IN (SELECT id FROM modules WHERE tenant_id = $1
                                              {among})
                        AND (CAST($2 AS TEXT) IS NULL OR b.user_id = $2)
                        GROUP BY b.module_id, b.user_id) f) r
            JOIN modules m ON m.id = r.module_id
            WHERE r.n <= $3 AND m.tenant_id = $4
            ORDER BY m.name, m.id, r.member_id LIMIT $5""",
            [tenant_id, user_id, per_module, tenant_id, total, *ids])
        return [ModuleBinding(str(r["module_id"]), str(r["module_name"]), str(r["member_id"]),
                              str(r["user_id"])) for r in rows]

    async def tenant_bindings(self, tenant_id: str, modules_limit: int,
                              user_id: str | None) -> list[ModuleBinding]:
        # The first `modules_limit` modules by name, as list_modules pages them; in that
        # order, each module's by member id.
        rows = await self._port.all("""
            SELECT m.id AS module_id, m.name AS module_name, b.member_id, b.user_id
            FROM (SELECT id, name FROM modules WHERE tenant_id = $1 ORDER BY name LIMIT $2) m
            JOIN bindings b ON b.module_id = m.id
            WHERE (CAST($3 AS TEXT) IS NULL OR b.user_id = $3)
            ORDER BY m.name, m.id, b.member_id""",
            [tenant_id, modules_limit, user_id])
        return [ModuleBinding(str(r["module_id"]), str(r["module_name"]), str(r["member_id"]),
                              str(r["user_id"])) for r in rows]

    async def users_bindings(self, tenant_id: str, user_ids: Sequence[str]
                             ) -> list[ModuleBinding]:
        ids = sorted(set(user_ids))
        if not ids:
            return []
        rows = await self._port.all(USERS_BINDINGS, [tenant_id, dumps(ids)])
        return [ModuleBinding(str(r["module_id"]), str(r["module_name"]), str(r["member_id"]),
                              str(r["user_id"])) for r in rows]

    async def find_bound_user(self, module_id: str, member_id: str) -> str | None:
        user_id: str | None = await self._port.value(
            "SELECT user_id FROM bindings WHERE module_id = $1 AND member_id = $2",
            [module_id, member_id])
        return user_id

    # --- contacts -------------------------------------------------------------------------------

    async def _contacts(self, sql: str, args: Sequence[Any]) -> list[Contact]:
        d = self._d
        return [t.decode_contact(r, d) for r in await self._port.all(sql, args)]

    async def get_contact(self, tenant_id: str, contact_id: str) -> Contact | None:
        found = await self._contacts(
            f"{CONTACTS_SELECT} WHERE c.id = $1 AND c.tenant_id = $2",
                                     [contact_id, tenant_id])
        return found[0] if found else None

    async def get_contacts(self, tenant_id: str, contact_ids: Sequence[str]
                           ) -> dict[str, Contact]:
        ids = sorted(set(contact_ids))
        if not ids:
            return {}
        found = await self._contacts(f"{CONTACTS_SELECT} WHERE c.tenant_id = $1 "
                                     f"AND c.id IN ({id_marks(2, ids)})", [tenant_id, *ids])
        return {contact.id: contact for contact in found}

    async def first_contacts_by_phones(self, tenant_id: str, numbers: Sequence[str]
                                       ) -> dict[str, Contact]:
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        # The oldest contact of each number (ids grow with time, as find_contacts_by_phone's
        # ORDER BY c.id relies on), then those contacts with all their numbers.
        rows = await self._port.all(f"""
            SELECT normalized, min(contact_id) AS contact_id FROM contact_phones
            WHERE tenant_id = $1 AND normalized IN ({id_marks(2, wanted)})
            GROUP BY normalized""", [tenant_id, *wanted])
        firsts = {str(row["normalized"]): str(row["contact_id"]) for row in rows}
        if not firsts:
            return {}
        ids = sorted(set(firsts.values()))
        contacts = {contact.id: contact for contact in await self._contacts(
            f"{CONTACTS_SELECT} WHERE c.tenant_id = $1 AND c.id IN ({id_marks(2, ids)})",
            [tenant_id, *ids])}
        return {number: contacts[cid] for number, cid in firsts.items() if cid in contacts}

    async def list_contacts(self, tenant_id: str, limit: int, offset: int) -> list[Contact]:
        return await self._contacts(f"{CONTACTS_SELECT} WHERE c.tenant_id = $1 "
                                    "ORDER BY c.id DESC LIMIT $2 OFFSET $3",
                                    [tenant_id, limit, offset])

    async def search_contacts(self, tenant_id: str, words: str, digits: Sequence[str],
                              normalized: str | None, limit: int, offset: int) -> list[Contact]:
        # A name holding `words` (any case), or a number holding one of `digits` (in its E.164
        # form or as it was typed), or the number `normalized` itself; newest first, as
        # list_contacts. An empty `words` matches nothing.
        return await self._contacts(f"""{CONTACTS_SELECT} WHERE c.tenant_id = $1 AND (
            ($2 <> '' AND {{fold}}(c.name) LIKE '%' || $2 || '%' ESCAPE '\\')
            OR c.id IN (SELECT p.contact_id FROM contact_phones p WHERE p.tenant_id = $1 AND (
                p.normalized = $4 OR EXISTS (SELECT 1 FROM {{each_text}}($3) d
                    WHERE p.normalized LIKE '%' || d.value || '%'
                       OR p.raw LIKE '%' || d.value || '%'))))
            ORDER BY c.id DESC LIMIT $5 OFFSET $6""",
            [tenant_id, like_text(words.lower()),
             dumps([d for d in digits if d.isascii() and d.isdigit()]), normalized, limit,
             offset])

    async def find_contacts_by_phone(self, tenant_id: str, normalized: str) -> list[Contact]:
        return await self._contacts(f"""{CONTACTS_SELECT} WHERE c.id IN (
            SELECT contact_id FROM contact_phones WHERE tenant_id = $1 AND normalized = $2)
            ORDER BY c.id""", [tenant_id, normalized])

    async def first_contact_by_phone(self, tenant_id: str, normalized: str) -> Contact | None:
        found = await self._contacts(f"""{CONTACTS_SELECT} WHERE c.id = (
            SELECT min(contact_id) FROM contact_phones WHERE tenant_id = $1
            AND normalized = $2)""", [tenant_id, normalized])
        return found[0] if found else None

    # --- calls ----------------------------------------------------------------------------------

    async def get_call(self, tenant_id: str, call_id: str) -> Call | None:
        return await self._one(t.CALLS,
                               "SELECT * FROM calls WHERE id = $1 AND tenant_id = $2",
                               [call_id, tenant_id])

    async def get_calls(self, tenant_id: str, call_ids: Sequence[str]) -> dict[str, Call]:
        ids = sorted(set(call_ids))
        if not ids:
            return {}
        calls = await self._all(t.CALLS, "SELECT * FROM calls WHERE tenant_id = $1 "
                                f"AND id IN ({id_marks(2, ids)})", [tenant_id, *ids])
        return {call.id: call for call in calls}

    async def list_calls(self, tenant_id: str, filters: CallFilter, limit: int, offset: int
                         ) -> list[Call]:
        where, params = where_clause(self._d, tenant_id, call_conditions(filters))
        n = len(params)
        return await self._all(t.CALLS, f"SELECT * FROM calls WHERE {where} ORDER BY "
                               f"created_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                               [*params, limit, offset])

    async def recent_calls_by_phones(self, tenant_id: str, numbers: Sequence[str], limit: int
                                     ) -> dict[str, list[Call]]:
        wanted = sorted(set(numbers))
        if not wanted or limit <= 0:
            return {n: [] for n in wanted}
        # One bounded subquery per number, as list_calls(phone=...) runs it (same indexes, same
        # order), joined in one statement: a page of cards costs one read, not one per card.
        parts = []
        for i in range(len(wanted)):
            mark = f"${i + 3}"
            parts.append(f"""SELECT * FROM (SELECT {mark} AS for_phone, calls.* FROM calls
                WHERE tenant_id = $1 AND (client_phone_normalized = {mark}
                OR client_phone = {mark} OR src_phone = {mark} OR dst_phone = {mark})
                ORDER BY created_at DESC, id DESC LIMIT $2) AS p{i}""")
        rows = await self._port.all(" UNION ALL ".join(parts),
                                    [tenant_id, limit, *wanted])
        found: dict[str, list[Call]] = {n: [] for n in wanted}
        d = self._d
        for row in rows:
            found[str(row["for_phone"])].append(t.CALLS.decode(row, d))
        for calls in found.values():  # UNION ALL keeps no order between its parts' rows
            calls.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return found

    async def find_call_by_provider_id(self, module_id: str, provider_call_id: str
                                       ) -> Call | None:
        return await self._one(t.CALLS, FIND_CALL_BY_PROVIDER_ID, [module_id, provider_call_id])

    async def find_open_call(self, module_id: str, direction: str, src_phone: str,
                             src_phone_ext: str | None, dst_phone: str,
                             dst_phone_ext: str | None) -> Call | None:
        return await self._one(t.CALLS, FIND_OPEN_CALL, [
            module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext])

    async def find_ended_call(self, module_id: str, direction: str, src_phone: str,
                              src_phone_ext: str | None, dst_phone: str,
                              dst_phone_ext: str | None, ended_since: datetime) -> Call | None:
        return await self._one(t.CALLS, FIND_ENDED_CALL, [
            module_id, direction, src_phone, src_phone_ext, dst_phone, dst_phone_ext,
            self._d.time_in(ended_since)])

    async def list_call_history(self, call_id: str) -> list[CallEventRecord]:
        return await self._all(t.CALL_EVENTS, "SELECT * FROM call_events WHERE call_id = $1 "
                               "ORDER BY received_at, id", [call_id])

    async def list_call_events(self, tenant_id: str, call_id: str, limit: int | None = None,
                               offset: int = 0) -> list[CallEventRecord]:
        args: list[object] = [call_id, tenant_id]
        if limit is None and not offset:
            page = ""
        else:  # SQLite's "no limit" is -1, PostgreSQL's NULL: a number both take
            page = " LIMIT $3 OFFSET $4"
            args += [2**63 - 1 if limit is None else limit, offset]
        return await self._all(t.CALL_EVENTS, f"""
            SELECT e.* FROM call_events e JOIN calls c ON c.id = e.call_id
            WHERE e.call_id = $1 AND c.tenant_id = $2 ORDER BY e.received_at, e.id{page}""",
                               args)

    async def user_was_notified(self, tenant_id: str, user_id: str, call_id: str) -> bool:
        row = await self._port.one("""
            SELECT 1 FROM call_notified n JOIN calls c ON c.id = n.call_id
            WHERE n.call_id = $1 AND n.user_id = $2 AND c.tenant_id = $3 LIMIT 1""",
                                   [call_id, user_id, tenant_id])
        return row is not None

    async def notified_of(self, tenant_id: str, user_id: str, call_ids: Sequence[str]
                          ) -> set[str]:
        ids = sorted(set(call_ids))
        if not ids:
            return set()
        rows = await self._port.all(f"""
            SELECT DISTINCT n.call_id FROM call_notified n JOIN calls c ON c.id = n.call_id
            WHERE n.user_id = $1 AND c.tenant_id = $2 AND n.call_id IN ({id_marks(3, ids)})""",
                                    [user_id, tenant_id, *ids])
        return {str(row["call_id"]) for row in rows}

    async def users_notified(self, tenant_id: str, call_id: str) -> set[str]:
        rows = await self._port.all("""
            SELECT DISTINCT n.user_id FROM call_notified n JOIN calls c ON c.id = n.call_id
            WHERE n.call_id = $1 AND c.tenant_id = $2 AND n.user_id IS NOT NULL""",
                                    [call_id, tenant_id])
        return {str(row["user_id"]) for row in rows}

    async def users_notified_of_calls(self, tenant_id: str, call_ids: Sequence[str]
                                      ) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {call_id: set() for call_id in sorted(set(call_ids))}
        if not found:
            return found
        rows = await self._port.all(USERS_NOTIFIED_OF_CALLS, [tenant_id, dumps(sorted(found))])
        for row in rows:
            found[str(row["call_id"])].add(str(row["user_id"]))
        return found

    async def rang_for(self, tenant_id: str, user_id: str, call_ids: Sequence[str]
                       ) -> dict[str, CallNotified]:
        ids = sorted(set(call_ids))
        if not ids:
            return {}
        rows = await self._all(t.CALL_NOTIFIED, f"""
            SELECT n.* FROM call_notified n JOIN calls c ON c.id = n.call_id
            WHERE n.user_id = $1 AND c.tenant_id = $2 AND n.kind = $3
            AND n.call_id IN ({id_marks(4, ids)})""",
                               [user_id, tenant_id, NotificationKind.RINGING.value, *ids])
        rang: dict[str, CallNotified] = {}
        for row in rows:
            if row.call_id not in rang or row.created_at < rang[row.call_id].created_at:
                rang[row.call_id] = row
        return rang

    async def handled_calls(self, tenant_id: str, call_ids: Sequence[str]
                            ) -> dict[str, CallHandled]:
        if not call_ids:
            return {}
        rows = await self._all(t.CALL_HANDLED,
                               "SELECT * FROM call_handled WHERE tenant_id = $1 "
                               f"AND call_id IN ({id_marks(2, call_ids)})",
                               [tenant_id, *call_ids])
        return {row.call_id: row for row in rows}

    async def list_call_notified(self, call_id: str, *, users_only: bool = False
                                 ) -> list[CallNotified]:
        users = " AND user_id IS NOT NULL" if users_only else ""
        return await self._all(t.CALL_NOTIFIED,
                               f"SELECT * FROM call_notified WHERE call_id = $1{users} "
                               "ORDER BY {insert_order}", [call_id])

    async def read_call_scene(self, lookup: CallLookup, extra_column: str | None = None,
                              extra_args: Sequence[Any] = ()) -> CallScene:
        d = self._d
        args = scene_args(lookup, d)
        if extra_args:
            args.extend(extra_args)
        row = await self._port.one(scene_sql(d, extra_column), args)
        # By position, in the statement's order: call, history, notified, activity, contact,
        # bound_user. A call not found (a new call: most webhooks) leaves them NULL, or an
        # empty array for SQLite's aggregates, and decodes nothing.
        call, history, notified, activity, contact = row[0], row[1], row[2], row[3], row[4]
        return CallScene(
            None if call is None else t.CALLS.decode(_json(call), d, from_json=True),
            () if history is None or history == "[]" else tuple(
                t.CALL_EVENTS.decode(r, d, from_json=True) for r in _json(history)),
            () if notified is None or notified == "[]" else tuple(
                t.CALL_NOTIFIED.decode(r, d, from_json=True) for r in _json(notified)),
            None if activity is None else t.ACTIVITY.decode(_json(activity), d,
                                                            from_json=True),
            None if contact is None else t.decode_contact(_json(contact), d, from_json=True),
            row[5],
        )

    # --- activity -------------------------------------------------------------------------------

    async def get_activity_by_call(self, call_id: str) -> ActivityEntry | None:
        return await self._one(t.ACTIVITY, "SELECT * FROM activity WHERE call_id = $1",
                               [call_id])

    async def get_activity_for_call(self, tenant_id: str, call_id: str
                                    ) -> ActivityEntry | None:
        return await self._one(t.ACTIVITY, "SELECT * FROM activity WHERE call_id = $1 "
                               "AND tenant_id = $2", [call_id, tenant_id])

    async def list_activity(self, tenant_id: str, contact_id: str, limit: int, offset: int
                            ) -> list[ActivityEntry]:
        return await self._all(t.ACTIVITY, """
            SELECT * FROM activity WHERE tenant_id = $1 AND contact_id = $2
            ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4""",
                               [tenant_id, contact_id, limit, offset])

    # --- executions and notifications -----------------------------------------------------------

    async def get_execution(self, tenant_id: str, execution_id: str) -> Execution | None:
        return await self._one(t.EXECUTIONS, "SELECT * FROM executions WHERE id = $1 "
                               "AND tenant_id = $2", [execution_id, tenant_id])

    def _executions_sql(self, tenant_id: str, filters: ExecutionFilter, limit: int,
                        offset: int, columns: str) -> tuple[str, list[Any]]:
        where, params = where_clause(self._d, tenant_id, execution_conditions(filters))
        n = len(params)
        return (f"SELECT {columns} FROM executions WHERE {where} ORDER BY "
                f"created_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                [*params, limit, offset])

    async def list_executions(self, tenant_id: str, filters: ExecutionFilter, limit: int,
                              offset: int) -> list[Execution]:
        return await self._all(t.EXECUTIONS, *self._executions_sql(
            tenant_id, filters, limit, offset, "*"))

    async def list_execution_summaries(self, tenant_id: str, filters: ExecutionFilter,
                                       limit: int, offset: int) -> list[ListedExecution]:
        return await self._all(t.EXECUTION_SUMMARIES, *self._executions_sql(
            tenant_id, filters, limit, offset, t.EXECUTION_SUMMARY_COLUMNS))

    async def list_notifications(self, tenant_id: str, user_id: str, after_id: str | None,
                                 since: datetime | None, limit: int, newest: bool = False,
                                 upto_id: str | None = None, offset: int = 0
                                 ) -> list[Notification]:
        # An unknown after_id is ignored: its subquery yields no seq, so the bound is 0.
        where = ["tenant_id = $1", "user_id = $2", "seq > COALESCE((SELECT seq FROM "
                 "notifications WHERE id = $3 AND user_id = $2), 0)"]
        params: list[object] = [tenant_id, user_id, after_id]
        if upto_id is not None:  # an unknown one bounds nothing in: no rows
            params.append(upto_id)
            where.append(f"seq <= (SELECT seq FROM notifications WHERE id = ${len(params)} "
                         "AND user_id = $2)")
        if since is not None:
            params.append(self._d.time_in(since))
            where.append(f"created_at >= ${len(params)}")
        params.extend((limit, offset))
        sql = (f"SELECT * FROM notifications WHERE {' AND '.join(where)} "
               f"ORDER BY seq {'DESC' if newest else ''} LIMIT ${len(params) - 1} "
               f"OFFSET ${len(params)}")
        if newest:  # the newest `limit`, handed back oldest first like the others
            sql = f"SELECT * FROM ({sql}) AS newest ORDER BY seq"
        return await self._all(t.NOTIFICATIONS, sql, params)

    async def get_notification(self, user_id: str, notification_id: str) -> Notification | None:
        return await self._one(t.NOTIFICATIONS, "SELECT * FROM notifications WHERE id = $1 "
                               "AND user_id = $2", [notification_id, user_id])

    # --- storage --------------------------------------------------------------------------------

    async def storage_get(self, module_id: str, key: str, now: datetime) -> StorageItem | None:
        return await self._one(t.STORAGE, """
            SELECT * FROM storage WHERE module_id = $1 AND key = $2
            AND (expires_at IS NULL OR expires_at > $3)""",
                               [module_id, self._d.key_in(key), self._d.time_in(now)])

    async def storage_usage(self, module_id: str) -> StorageUsage:
        row = await self._port.one(
            "SELECT keys, bytes FROM storage_usage WHERE module_id = $1",
                                   [module_id])
        return StorageUsage(0, 0) if row is None else StorageUsage(row["keys"], row["bytes"])


# LIMIT for "all of them": both SQLite and PostgreSQL take a LIMIT with an OFFSET this way
# (SQLite has no OFFSET without a LIMIT; PostgreSQL refuses SQLite's -1).
_ALL_ROWS: Final = 2**63 - 1


def _no_more_than(limit: int | None) -> int:
    return _ALL_ROWS if limit is None else limit
