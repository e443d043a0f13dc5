"""The store interface: `Tx` (domain operations inside one transaction) and `Store`.

Nothing above this file may know which database is underneath. SQLite (`sqlite.py`) is the
embedded default; PostgreSQL (`postgres.py`) is for several nodes. Both run the same `Tx`
implementation (`tx.SqlTx`) and the same reads (`queries.Reads`); they differ in how a unit
is committed (group commit on one writer; a pooled transaction per unit) and in locking.

Unit of work
------------
Every write goes through a *unit*: `async def unit(tx: Tx) -> T`.

    effects = await store.write(lambda tx: act(tx, ctx, result))
    would_be = await store.dry_run(lambda tx: act(tx, ctx, result))

`write` returns once the unit's changes are durably committed (group commit: the backend may
commit many units together with one sync, each in its own savepoint). If the unit raises, its
changes alone are rolled back and `write` raises the same exception; other units committed in the
same batch are unaffected. `dry_run` runs the unit the same way and then rolls it back: it
returns what the unit returned and leaves nothing behind.

A unit's inserts of calls, history, notifications, contacts, activity and its execution row
are queued and sent as one statement before its next read and when it returns, so a
constraint they break raises from that read or from `write` itself, not from the insert.

Rules for units: await only `tx` methods (a unit holds the single writer while it runs, so any
other await stalls every writer); never call `store.write` inside a unit (it raises
`NestedWrite` rather than deadlock); do not keep `tx` after the unit returns; change nothing
but through `tx`, since a backend may roll a unit back and run it again (PostgreSQL does when
two nodes raced for the same call). If the caller of `write` is cancelled after its unit
started, the unit may still commit.

Tenancy: every read and write that takes `tenant_id` returns None / False (or raises NotFound
for a referenced record) when the id belongs to another tenant, exactly as if it did not exist.

Lists take `limit` and `offset` and return newest first unless said otherwise.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol, TypeVar

from runtime.store.editing import ClosedTenant
from runtime.store.health import StorageHealth
from runtime.store.models import (
    JSON,
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
    ContactPhone,
    DialClaim,
    Execution,
    ExecutionFilter,
    ListedExecution,
    Module,
    ModuleBinding,
    ModulePatch,
    NewModule,
    Notification,
    ScriptVersion,
    StorageItem,
    StorageLimits,
    StorageUsage,
    StoreStats,
    Tenant,
    User,
    UserToken,
)
from runtime.store.queries import OwnedKind
from runtime.store.retention import ModuleHealth, Usage

T = TypeVar("T")

DEFAULT_LIMIT = 100


class Tx(Protocol):
    """Domain operations inside one write transaction (`store.write(unit)` hands one out).

    Two groups: the primitives the acting logic composes (find/insert/update of calls, history,
    contacts, activity, notifications, storage), and the management writes behind the API,
    which validate tenancy themselves.
    """

    # --- calls and their history (acting) -------------------------------------------------

    async def call_scene(self, lookup: CallLookup) -> CallScene:
        """Everything acting reads about one event or call record, in one statement: the
        call `lookup` describes, its history, notified users and activity, the client's
        contact and the operator's user. Locks the call's keys first (PostgreSQL)."""
        ...

    async def find_call_by_provider_id(self, module_id: str, provider_call_id: str) -> (
        Call | None
    ):
        """The module's latest call with this callId, in any state."""
        ...

    async def find_open_call(
        self, module_id: str, direction: str, src_phone: str, src_phone_ext: str | None,
        dst_phone: str, dst_phone_ext: str | None,
    ) -> Call | None:
        """The module's latest call with exactly these numbers that has not ended."""
        ...

    async def find_ended_call(
        self, module_id: str, direction: str, src_phone: str, src_phone_ext: str | None,
        dst_phone: str, dst_phone_ext: str | None, ended_since: datetime,
    ) -> Call | None:
        """The module's latest call with exactly these numbers that ended at/after a moment."""
        ...

    async def insert_call(self, call: Call) -> None: ...

    async def update_call(self, call: Call) -> None:
        """Write every mutable field of `call` (matched by id)."""
        ...

    async def list_call_history(self, call_id: str) -> list[CallEventRecord]:
        """The call's history, oldest first."""
        ...

    async def insert_call_event(self, record: CallEventRecord) -> None: ...

    async def list_call_notified(self, call_id: str, *, users_only: bool = False
                                 ) -> list[CallNotified]:
        """Phones rung and users notified for the call, oldest first; with `users_only`,
        the rows naming a user (not each phone nobody is bound to: a call may have
        thousands)."""
        ...

    async def insert_call_notified(self, row: CallNotified) -> None: ...

    async def find_bound_user(self, module_id: str, member_id: str) -> str | None:
        """The user id bound to a telephony member id in the module, if any."""
        ...

    async def insert_notification(self, notification: Notification) -> None: ...

    # --- contacts and activity (acting) ---------------------------------------------------

    async def find_contact_by_phone(self, tenant_id: str, normalized: str) -> Contact | None:
        """The tenant's oldest contact with this E.164 number."""
        ...

    async def still_no_contact(self, tenant_id: str, normalized: str) -> None:
        """Before writing a client's call and activity without a contact for a number
        `find_contact_by_phone` (or the call's scene) found none: where units run at once,
        make sure none was made meanwhile (else the unit is run again, and finds it)."""
        ...

    async def insert_contact(self, contact: Contact) -> None: ...

    async def get_activity_by_call(self, call_id: str) -> ActivityEntry | None: ...

    async def insert_activity(self, entry: ActivityEntry) -> None: ...

    async def update_activity(self, entry: ActivityEntry) -> None:
        """Write `contact_id`, `data` and `updated_at` of the entry (matched by id)."""
        ...

    # --- module storage -------------------------------------------------------------------

    async def storage_set(
        self, module_id: str, key: str, value: JSON, *, expires_at: datetime | None,
        now: datetime, limits: StorageLimits,
    ) -> StorageItem:
        """Set a key; raises StorageLimitExceeded (and changes nothing) beyond a limit."""
        ...

    async def storage_delete(self, module_id: str, key: str) -> bool:
        """Delete a key; False when it was absent."""
        ...

    async def purge_expired_storage(self, now: datetime, module_id: str | None = None) -> int:
        """Delete expired keys (of one module, or all); returns how many."""
        ...

    # --- executions -----------------------------------------------------------------------

    async def insert_execution(self, execution: Execution) -> None:
        """Store an execution-log row; logs and request are capped here."""
        ...

    # --- retention (runtime/retention.py; one bounded batch per call) ---------------------

    async def retention_turn(self) -> bool:
        """Whether this unit may do retention work now; call first (PostgreSQL: one node)."""
        ...

    async def retention_module_ids(self, until: datetime, before: datetime,
                                   keep: int | None, keep_bytes: int | None) -> list[str]:
        """The ids of the modules with executions to roll up before `until` or to prune
        (before `before`, beyond `keep` rows or `keep_bytes` bytes), of every tenant."""
        ...

    async def roll_up_usage(self, module_id: str, until: datetime, limit: int) -> int:
        """Count up to `limit` of the module's executions before `until` into usage slots."""
        ...

    async def prune_executions(self, module_id: str, before: datetime, keep: int | None,
                               limit: int, keep_bytes: int | None = None) -> int:
        """Delete up to `limit` rolled-up executions older than `before`, beyond `keep` or
        beyond `keep_bytes` bytes of captured text (the oldest go)."""
        ...

    async def prune_usage(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` usage slots and storage snapshots older than `before`."""
        ...

    async def snapshot_storage(self, day: date) -> int:
        """Keep every module's storage in use now as its figure for `day`."""
        ...

    async def prune_notifications(self, before: datetime, limit: int) -> int: ...

    async def prune_call_events(self, before: datetime, limit: int) -> int: ...

    async def retention_tenant_ids(self, before: datetime) -> list[str]:
        """The ids of the tenants with calls created and last changed before `before`."""
        ...

    async def prune_calls(self, tenant_id: str, before: datetime, limit: int) -> int:
        """Delete up to `limit` of the tenant's calls last changed before `before`, with
        their history, notifications and activity."""
        ...

    async def prune_dial_once(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` claimed call forms posted before `before`."""
        ...

    async def release_free_pages(self, at_least: int, limit: int) -> int:
        """SQLite: give up to `limit` free pages of the file back while more than `at_least`
        bytes and an eighth of the file are free (0 on PostgreSQL)."""
        ...

    async def prune_signed_out(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` kept sign-outs of console sessions expired by `now`."""
        ...

    async def prune_revoked_credentials(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` user tokens and API keys each revoked before `before` (an API
        key named by a stored version as its author stays)."""
        ...

    async def prune_expired_storage(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` storage keys expired by `now`, of any modules."""
        ...

    # --- management (API) -----------------------------------------------------------------

    async def count_owned(self, kind: OwnedKind, owner_id: str) -> int:
        """How many of `kind` the owner has (queries.OWNED_COUNTS), for its cap
        (operations/caps.py). Holds the owner's cap lock to COMMIT (PostgreSQL; SQLite's one
        writer serialises units anyway): count, then create, in one unit, and no other unit
        creates one meanwhile."""
        ...

    async def list_bindings(self, tenant_id: str, module_id: str, limit: int | None = None,
                            offset: int = 0) -> list[Binding] | None:
        """By member id; None: no such module."""
        ...

    async def get_module(self, tenant_id: str, module_id: str) -> Module | None: ...

    async def create_tenant(self, name: str) -> Tenant: ...

    async def create_api_key(self, tenant_id: str) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once). NotFound for an unknown tenant."""
        ...

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool: ...

    async def create_module(self, tenant_id: str, new: NewModule) -> Module:
        """Conflict when the tenant already has a module of that name."""
        ...

    async def update_module(
        self, tenant_id: str, module_id: str, patch: ModulePatch
    ) -> Module | None: ...

    async def rotate_webhook_token(self, tenant_id: str, module_id: str) -> Module | None: ...

    async def delete_module(self, tenant_id: str, module_id: str) -> bool: ...

    async def add_version(
        self, tenant_id: str, module_id: str, source: str, *,
        created_by_key_id: str | None = None, base_version_id: str | None = None,
        activate: bool = True,
    ) -> ScriptVersion | None:
        """Store the next numbered version (None: no such module); activate it by default."""
        ...

    async def activate_version(
        self, tenant_id: str, module_id: str, version_id: str
    ) -> Module | None:
        """Make a version of the module active; None when module or version is unknown."""
        ...

    async def rollback_version(self, tenant_id: str, module_id: str) -> Module | None:
        """Activate the version numbered just below the active one.

        None: no such module. Conflict: no active version, or it is the first one.
        """
        ...

    async def create_user(self, tenant_id: str, name: str, email: str | None = None) -> User:
        """NotFound for an unknown tenant; Conflict when the name is taken."""
        ...

    async def create_user_token(
        self, tenant_id: str, user_id: str
    ) -> tuple[UserToken, str] | None: ...

    async def revoke_user_token(self, tenant_id: str, user_id: str, token_id: str) -> bool:
        """False when the token is not this user's, the user not the tenant's, or the token
        was revoked already."""
        ...

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        """Delete the user with its tokens and bindings. Its notifications and the calls'
        record of whom they rang stay, naming no user (user_id NULL). False: no such user."""
        ...

    async def set_bindings(
        self, tenant_id: str, module_id: str, bindings: Mapping[str, str | None], *,
        replace: bool = False,
    ) -> list[Binding] | None:
        """Bind member ids to user ids (None unbinds); `replace` drops all others first.

        Returns the module's bindings after the change; None: no such module; NotFound when
        a user id is not the tenant's.
        """
        ...

    async def create_contacts(
        self, tenant_id: str, contacts: Sequence[tuple[str, Sequence[ContactPhone]]], *,
        indexed: bool = True,
    ) -> list[Contact]:
        """Create contacts from (name, phones); callers normalise phones (acting.contact_phones).
        PhoneTaken when another contact has one of the numbers (naming the item when
        `indexed`: a bulk create, even of one); Conflict when two of the new ones would share
        one. The calls of their numbers that no contact had, and those calls' activity, become
        theirs (editing.adopt_calls)."""
        ...

    # --- editing and deleting (editing.py) ------------------------------------------------

    async def update_contact(
        self, tenant_id: str, contact_id: str, name: str | None,
        phones: Sequence[ContactPhone] | None,
    ) -> Contact | None:
        """New name and/or phones (None: unchanged); PhoneTaken for a number newly given
        that another contact has; None: no such contact. The calls of a number newly given
        that no contact had become the contact's, with their activity."""
        ...

    async def merge_contacts(self, tenant_id: str, into_id: str, other_id: str
                             ) -> Contact | None:
        """`other` into `into`: numbers joined, activity and calls re-pointed, `other`
        deleted. None: either is not the tenant's."""
        ...

    async def delete_contact(self, tenant_id: str, contact_id: str) -> bool:
        """Its calls and activity stay, linked to no contact."""
        ...

    async def tenant_counts(self, tenant_id: str) -> dict[str, int] | None:
        """What the tenant owns per kind (editing.TENANT_KINDS); None: no such tenant."""
        ...

    async def close_tenant(self, tenant_id: str) -> ClosedTenant | None:
        """First step of deleting a tenant: it is marked as being deleted (hidden, refusing
        new work), its credentials end, its webhook tokens change; the counts. None: no such
        tenant. A tenant marked already is closed again (a resumed deletion)."""
        ...

    async def delete_tenant_batch(self, tenant_id: str, limit: int) -> int:
        """At most `limit` rows of the tenant's big tables; 0 when none are left."""
        ...

    async def finish_tenant(self, tenant_id: str) -> bool:
        """The tenant row and all that is left of it."""
        ...

    async def mark_call_handled(self, tenant_id: str, call_id: str, user_id: str
                                ) -> CallHandled | None:
        """Mark the call handled by the user, now; a call marked already keeps its first mark
        (returned as it is). None: no such call in the tenant."""
        ...

    # --- click-to-call's once-only rule (runtime/console/dial_once.py) ----------------------

    async def claim_dial(self, tenant_id: str, form_key: str) -> DialClaim:
        """Claim a posted call form, now: the first claim of a key places the call; a later
        one gets the first's answer (None while it is being placed)."""
        ...

    async def settle_dial(self, form_key: str, answer: JSON) -> None:
        """Keep the answer of a claimed form; None: placing failed, the claim goes (so posting
        the form again dials)."""
        ...

    # --- console sessions signed out (runtime/console/session.py) ---------------------------

    async def keep_signed_out(self, session_id: str, expires_at: datetime, *, owner: str = "",
                              keep_per_owner: int | None = None) -> None:
        """Keep a console session's sign-out until `expires_at`, when it would have expired
        anyway (a second sign-out of it changes nothing). With an `owner` (the credential the
        session was opened with) and `keep_per_owner`: the owner's older sign-outs past that
        many become one row `<owner>.*` expiring with the latest of them (its sessions
        expiring by then are out; runtime/console/signed_out.py)."""
        ...


class Store(abc.ABC):
    """The storage layer: group-committed units of work, reads for the API, and shortcuts.

    Lifecycle: a backend's `open(...)` classmethod creates it (applying migrations);
    `await store.close()` drains queued writes, then closes. After close every call raises
    StoreClosed.
    """

    # --- units of work --------------------------------------------------------------------

    @functools.cached_property
    def health(self) -> StorageHealth:
        """Whether writes go through now; each backend's `write` runs under `health.watch`."""
        return StorageHealth()

    @abc.abstractmethod
    async def write(self, unit: Callable[[Tx], Awaitable[T]]) -> T:
        """Run the unit in a transaction; return its value once durably committed.

        StorageUnavailable when the database cannot take the write now (nothing committed)."""

    @abc.abstractmethod
    async def probe(self) -> None:
        """A cheap round trip to the database (`health.refresh` runs it on an idle node);
        raises what the database raises when it cannot answer, StoreClosed after close."""

    @abc.abstractmethod
    async def dry_run(self, unit: Callable[[Tx], Awaitable[T]]) -> T:
        """Run the unit in a transaction and roll it back; return its value."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Group-commit counters (batches, units) since open."""

    # --- reads: tenants and credentials -----------------------------------------------------

    @abc.abstractmethod
    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    @abc.abstractmethod
    async def list_tenants(self, limit: int = DEFAULT_LIMIT, offset: int = 0) -> list[Tenant]: ...

    @abc.abstractmethod
    async def deleting_tenants(self) -> list[str]:
        """The ids of the tenants whose deletion started and did not finish (the process
        stopped, the storage failed), the oldest first; `get_tenant` and `list_tenants` do
        not show them."""

    @abc.abstractmethod
    async def signed_out_sessions(self, now: datetime) -> list[tuple[str, datetime]]:
        """(session id, when it would have expired) of the console sessions signed out that
        have not expired by `now`, the soonest to expire first."""

    @abc.abstractmethod
    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The unrevoked key with this sha256 (ids.hash_secret); its tenant_id authorises."""

    @abc.abstractmethod
    async def list_api_keys(self, tenant_id: str, limit: int | None = None, offset: int = 0
                            ) -> list[ApiKey]:
        """Newest first; all of them unless `limit` says otherwise."""

    @abc.abstractmethod
    async def find_user_by_token(self, token_hash: str) -> User | None:
        """The user owning the unrevoked user token with this sha256."""

    @abc.abstractmethod
    async def find_user_token(self, token_hash: str) -> tuple[UserToken, User] | None:
        """The unrevoked user token with this sha256, and its user."""

    @abc.abstractmethod
    async def count_owned(self, kind: OwnedKind, owner_id: str) -> int:
        """How many of `kind` the owner has (queries.OWNED_COUNTS), for its cap."""

    @abc.abstractmethod
    async def list_user_tokens(self, tenant_id: str, user_id: str, limit: int | None = None,
                               offset: int = 0) -> list[UserToken] | None:
        """The user's tokens, revoked ones too, newest first; None: no such user."""

    # --- reads: modules and versions --------------------------------------------------------

    @abc.abstractmethod
    async def list_modules(
        self, tenant_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[Module]:
        """The tenant's modules by name."""

    @abc.abstractmethod
    async def get_module(self, tenant_id: str, module_id: str) -> Module | None: ...

    @abc.abstractmethod
    async def get_module_by_name(self, tenant_id: str, name: str) -> Module | None: ...

    @abc.abstractmethod
    async def get_module_by_webhook_token(self, token: str) -> Module | None:
        """Not tenant-scoped: the webhook token is the provider's credential."""

    @abc.abstractmethod
    async def list_versions(
        self, tenant_id: str, module_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[ScriptVersion]:
        """Newest (highest number) first."""

    @abc.abstractmethod
    async def get_version(
        self, tenant_id: str, module_id: str, version_id: str
    ) -> ScriptVersion | None: ...

    @abc.abstractmethod
    async def get_active_version(self, tenant_id: str, module_id: str) -> ScriptVersion | None: ...

    @abc.abstractmethod
    async def active_version_numbers(self, tenant_id: str) -> dict[str, int]:
        """Module id -> the number of its active version, for every module of the tenant
        that has one, in one read (the sources are not read)."""

    # --- reads: users and bindings ----------------------------------------------------------

    @abc.abstractmethod
    async def list_users(
        self, tenant_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[User]:
        """By name."""

    @abc.abstractmethod
    async def get_user(self, tenant_id: str, user_id: str) -> User | None: ...

    @abc.abstractmethod
    async def get_users(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, User]:
        """The tenant's users of these ids, by id, in one read (unknown ids are left out)."""

    @abc.abstractmethod
    async def get_user_by_name(self, tenant_id: str, name: str) -> User | None: ...

    @abc.abstractmethod
    async def list_bindings(self, tenant_id: str, module_id: str, limit: int | None = None,
                            offset: int = 0) -> list[Binding] | None:
        """By member id, all of them unless `limit` says otherwise; None: no such module."""

    @abc.abstractmethod
    async def dial_bindings(self, tenant_id: str, module_ids: Sequence[str] | None,
                            per_module: int, total: int, user_id: str | None = None
                            ) -> list[ModuleBinding]:
        """The lines a "Call" menu offers, in one read of these modules' bindings only (None:
        all the tenant's modules): each user (the given one's only, if any) once per module
        at their first extension, a module's first `per_module` by extension, ordered by
        module name then extension, the first `total` of them all."""

    @abc.abstractmethod
    async def tenant_bindings(self, tenant_id: str, modules_limit: int,
                              user_id: str | None = None) -> list[ModuleBinding]:
        """The bindings of the tenant's first `modules_limit` modules by name (the user's
        only, if given), each with its module's name, by module then member id: one read."""

    @abc.abstractmethod
    async def users_bindings(self, tenant_id: str, user_ids: Sequence[str]
                             ) -> list[ModuleBinding]:
        """The bindings of these users (the tenant's), each with its module's name, by module
        then member id: one read, whatever their number (a page of users, not every binding
        of every module)."""

    @abc.abstractmethod
    async def live_token_counts(self, tenant_id: str, user_ids: Sequence[str]
                                ) -> dict[str, int]:
        """User id -> how many of their tokens are not revoked, for these users of the tenant
        in one read (a user without any is left out)."""

    # --- reads: contacts, calls, activity ---------------------------------------------------

    @abc.abstractmethod
    async def get_contact(self, tenant_id: str, contact_id: str) -> Contact | None: ...

    @abc.abstractmethod
    async def get_contacts(self, tenant_id: str, contact_ids: Sequence[str]
                           ) -> dict[str, Contact]:
        """The tenant's contacts of these ids, by id, in one read (unknown ids are left out)."""

    @abc.abstractmethod
    async def list_contacts(
        self, tenant_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[Contact]: ...

    @abc.abstractmethod
    async def first_contacts_by_phones(self, tenant_id: str, numbers: Sequence[str]
                                       ) -> dict[str, Contact]:
        """E.164 number -> the oldest contact having it (as `find_contacts_by_phone(...)[0]`),
        for all these numbers in one read (numbers nobody has are left out)."""

    @abc.abstractmethod
    async def search_contacts(self, tenant_id: str, words: str, digits: Sequence[str],
                              normalized: str | None, limit: int = DEFAULT_LIMIT,
                              offset: int = 0) -> list[Contact]:
        """The contacts whose name holds `words` in any case, or one of whose numbers holds
        one of `digits` (strings of digits: E.164 or as typed) or is `normalized`; newest
        first, as list_contacts. An empty `words` (no `digits`, a None `normalized`) matches
        nothing by that part."""

    @abc.abstractmethod
    async def find_contacts_by_phone(self, tenant_id: str, normalized: str) -> list[Contact]:
        """Contacts having this E.164 number, oldest first."""

    @abc.abstractmethod
    async def list_calls(
        self, tenant_id: str, filters: CallFilter | None = None, limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[Call]: ...

    @abc.abstractmethod
    async def get_call(self, tenant_id: str, call_id: str) -> Call | None: ...

    @abc.abstractmethod
    async def get_calls(self, tenant_id: str, call_ids: Sequence[str]) -> dict[str, Call]:
        """The tenant's calls of these ids, by id, in one read (unknown ids are left out):
        for pages listing many calls, which would otherwise read them one by one."""

    @abc.abstractmethod
    async def recent_calls_by_phones(self, tenant_id: str, numbers: Sequence[str], limit: int
                                     ) -> dict[str, list[Call]]:
        """Number -> its newest `limit` calls (as `list_calls(CallFilter(phone=number), limit)`
        reads them, newest first), for all these numbers in one read."""

    @abc.abstractmethod
    async def list_call_events(self, tenant_id: str, call_id: str, limit: int | None = None,
                               offset: int = 0) -> list[CallEventRecord]:
        """The call's history, oldest first (empty for another tenant's call): `limit` rows
        from `offset`, or all of them after `offset` when `limit` is None."""

    @abc.abstractmethod
    async def notified_of(self, tenant_id: str, user_id: str, call_ids: Sequence[str]
                          ) -> set[str]:
        """Which of these calls of the tenant the user was notified of, in one read."""

    @abc.abstractmethod
    async def users_notified(self, tenant_id: str, call_id: str) -> set[str]:
        """The users the tenant's call rang, was answered or ended at (empty for another
        tenant's call)."""

    @abc.abstractmethod
    async def users_notified_of_calls(self, tenant_id: str, call_ids: Sequence[str]
                                      ) -> dict[str, set[str]]:
        """Call id -> `users_notified(call id)`, for all these calls of the tenant in one read
        (an empty set for a call that notified nobody or is not the tenant's)."""

    @abc.abstractmethod
    async def rang_for(self, tenant_id: str, user_id: str, call_ids: Sequence[str]
                       ) -> dict[str, CallNotified]:
        """Which of these calls of the tenant rang for the user: call id -> the first time it
        did (when, and at which of their phones), in one read."""

    @abc.abstractmethod
    async def user_was_notified(self, tenant_id: str, user_id: str, call_id: str) -> bool:
        """Whether the call rang, was answered or ended at this user (they were notified)."""

    @abc.abstractmethod
    async def handled_calls(self, tenant_id: str, call_ids: Sequence[str]
                            ) -> dict[str, CallHandled]:
        """Which of these calls were marked handled (call id -> the mark)."""

    @abc.abstractmethod
    async def list_activity(
        self, tenant_id: str, contact_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[ActivityEntry]: ...

    @abc.abstractmethod
    async def get_activity_for_call(self, tenant_id: str, call_id: str) -> ActivityEntry | None:
        ...

    @abc.abstractmethod
    async def tenant_counts(self, tenant_id: str) -> dict[str, int] | None:
        """What deleting the tenant would remove, per kind (editing.TENANT_KINDS); None: no
        such tenant."""

    # --- reads: executions, notifications, storage -----------------------------------------

    @abc.abstractmethod
    async def list_executions(
        self, tenant_id: str, filters: ExecutionFilter | None = None,
        limit: int = DEFAULT_LIMIT, offset: int = 0,
    ) -> list[Execution]: ...

    @abc.abstractmethod
    async def list_execution_summaries(
        self, tenant_id: str, filters: ExecutionFilter | None = None,
        limit: int = DEFAULT_LIMIT, offset: int = 0,
    ) -> list[ListedExecution]:
        """`list_executions` as lists show it: without the rows' big columns (logs, request,
        result, effects), never read; `has_request` says whether a request is stored (the
        detail reads the whole row)."""

    @abc.abstractmethod
    async def get_execution(self, tenant_id: str, execution_id: str) -> Execution | None: ...

    @abc.abstractmethod
    async def list_notifications(
        self, tenant_id: str, user_id: str, *, after_id: str | None = None,
        since: datetime | None = None, limit: int = DEFAULT_LIMIT, newest: bool = False,
        upto_id: str | None = None, offset: int = 0,
    ) -> list[Notification]:
        """A user's notifications, OLDEST first, after a given one and/or at/after a time;
        the first `offset` of those skipped (the API's pages).

        For a reconnecting client: pass the id of the last notification it saw. An unknown
        `after_id` is ignored (the client then gets what `since` selects). `newest`: when more
        than `limit` match, the newest `limit` of them (still oldest first) instead of the
        oldest, for a page showing what is going on now. `upto_id`: only those up to and
        including that one (none when it is unknown), for a live socket filling the gap before
        a notification that arrived ahead of earlier ones (runtime/live_socket.py).
        """

    @abc.abstractmethod
    async def storage_get(self, module_id: str, key: str, now: datetime) -> StorageItem | None:
        """A live (unexpired) key; module ids come from a trusted lookup, not from a tenant."""

    @abc.abstractmethod
    async def storage_usage(self, module_id: str) -> StorageUsage: ...

    # --- reads: usage and health (store/retention.py) ---------------------------------------

    @abc.abstractmethod
    async def module_health(self, tenant_id: str, now: datetime) -> dict[str, ModuleHealth]:
        """Per module of the tenant: webhooks and failures in the last hour and day, and the
        last failure."""

    @abc.abstractmethod
    async def usage(self, tenant_id: str, now: datetime, days: int) -> Usage:
        """The tenant's executions, failures, CPU and fetches per UTC day, newest first."""

    # --- write shortcuts: one unit each ----------------------------------------------------

    async def create_tenant(self, name: str) -> Tenant:
        return await self.write(lambda tx: tx.create_tenant(name))

    async def create_api_key(self, tenant_id: str) -> tuple[ApiKey, str]:
        return await self.write(lambda tx: tx.create_api_key(tenant_id))

    async def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        return await self.write(lambda tx: tx.revoke_api_key(tenant_id, key_id))

    async def create_module(self, tenant_id: str, new: NewModule) -> Module:
        return await self.write(lambda tx: tx.create_module(tenant_id, new))

    async def update_module(
        self, tenant_id: str, module_id: str, patch: ModulePatch
    ) -> Module | None:
        return await self.write(lambda tx: tx.update_module(tenant_id, module_id, patch))

    async def rotate_webhook_token(self, tenant_id: str, module_id: str) -> Module | None:
        return await self.write(lambda tx: tx.rotate_webhook_token(tenant_id, module_id))

    async def delete_module(self, tenant_id: str, module_id: str) -> bool:
        return await self.write(lambda tx: tx.delete_module(tenant_id, module_id))

    async def add_version(
        self, tenant_id: str, module_id: str, source: str, *,
        created_by_key_id: str | None = None, base_version_id: str | None = None,
        activate: bool = True,
    ) -> ScriptVersion | None:
        return await self.write(lambda tx: tx.add_version(
            tenant_id, module_id, source, created_by_key_id=created_by_key_id,
            base_version_id=base_version_id, activate=activate,
        ))

    async def activate_version(
        self, tenant_id: str, module_id: str, version_id: str
    ) -> Module | None:
        return await self.write(lambda tx: tx.activate_version(tenant_id, module_id, version_id))

    async def rollback_version(self, tenant_id: str, module_id: str) -> Module | None:
        return await self.write(lambda tx: tx.rollback_version(tenant_id, module_id))

    async def create_user(self, tenant_id: str, name: str, email: str | None = None) -> User:
        return await self.write(lambda tx: tx.create_user(tenant_id, name, email))

    async def create_user_token(
        self, tenant_id: str, user_id: str
    ) -> tuple[UserToken, str] | None:
        return await self.write(lambda tx: tx.create_user_token(tenant_id, user_id))

    async def revoke_user_token(self, tenant_id: str, user_id: str, token_id: str) -> bool:
        return await self.write(lambda tx: tx.revoke_user_token(tenant_id, user_id, token_id))

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        return await self.write(lambda tx: tx.delete_user(tenant_id, user_id))

    async def set_bindings(
        self, tenant_id: str, module_id: str, bindings: Mapping[str, str | None], *,
        replace: bool = False,
    ) -> list[Binding] | None:
        return await self.write(
            lambda tx: tx.set_bindings(tenant_id, module_id, bindings, replace=replace)
        )

    async def create_contact(
        self, tenant_id: str, name: str, phones: Sequence[ContactPhone] = ()
    ) -> Contact:
        [contact] = await self.write(
            lambda tx: tx.create_contacts(tenant_id, [(name, phones)], indexed=False))
        return contact

    async def create_contacts(
        self, tenant_id: str, contacts: Sequence[tuple[str, Sequence[ContactPhone]]]
    ) -> list[Contact]:
        return await self.write(lambda tx: tx.create_contacts(tenant_id, contacts))

    async def record_execution(self, execution: Execution) -> None:
        """For executions that change nothing else (failures, other functions)."""
        await self.write(lambda tx: tx.insert_execution(execution))

    async def purge_expired_storage(self, now: datetime) -> int:
        return await self.write(lambda tx: tx.purge_expired_storage(now))

    # --- editing and deleting: one unit each -----------------------------------------------

    async def update_contact(
        self, tenant_id: str, contact_id: str, name: str | None,
        phones: Sequence[ContactPhone] | None,
    ) -> Contact | None:
        return await self.write(
            lambda tx: tx.update_contact(tenant_id, contact_id, name, phones))

    async def merge_contacts(self, tenant_id: str, into_id: str, other_id: str
                             ) -> Contact | None:
        return await self.write(lambda tx: tx.merge_contacts(tenant_id, into_id, other_id))

    async def delete_contact(self, tenant_id: str, contact_id: str) -> bool:
        return await self.write(lambda tx: tx.delete_contact(tenant_id, contact_id))
