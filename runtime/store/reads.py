"""The Store's reads, written once: each forwards to the same-named query of `Reads`
(queries.py), run by the backend's `_read` (SQLite: on a reader thread's read-only connection;
PostgreSQL: on the pool).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from runtime.store import editing
from runtime.store.base import DEFAULT_LIMIT, Store
from runtime.store.models import (
    ActivityEntry,
    ApiKey,
    Binding,
    Call,
    CallEventRecord,
    CallFilter,
    CallHandled,
    CallNotified,
    Contact,
    Execution,
    ExecutionFilter,
    ListedExecution,
    Module,
    ModuleBinding,
    Notification,
    ScriptVersion,
    StorageItem,
    StorageUsage,
    Tenant,
    User,
    UserToken,
)
from runtime.store.queries import OwnedKind, Reads
from runtime.store.retention import ModuleHealth, Usage

Query = Callable[..., Coroutine[Any, Any, Any]]


class QueryReads(Store):
    @abc.abstractmethod
    async def _read(self, query: Query, *args: Any) -> Any:
        """Run `query(reads, *args)`: `query` is a method of `Reads`, unbound."""

    async def probe(self) -> None:
        await self._read(Reads.ping)

    async def tenant_counts(self, tenant_id: str) -> dict[str, int] | None:
        read: dict[str, int] | None = await self._read(editing.tenant_counts, tenant_id)
        return read

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        read: Tenant | None = await self._read(Reads.get_tenant, tenant_id)
        return read

    async def list_tenants(self, limit: int = DEFAULT_LIMIT, offset: int = 0) -> list[Tenant]:
        read: list[Tenant] = await self._read(Reads.list_tenants, limit, offset)
        return read

    async def deleting_tenants(self) -> list[str]:
        read: list[str] = await self._read(Reads.deleting_tenants)
        return read

    async def signed_out_sessions(self, now: datetime) -> list[tuple[str, datetime]]:
        read: list[tuple[str, datetime]] = await self._read(Reads.signed_out_sessions, now)
        return read

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        read: ApiKey | None = await self._read(Reads.find_api_key, key_hash)
        return read

    async def list_api_keys(self, tenant_id: str, limit: int | None = None, offset: int = 0
                            ) -> list[ApiKey]:
        read: list[ApiKey] = await self._read(Reads.list_api_keys, tenant_id, limit, offset)
        return read

    async def find_user_by_token(self, token_hash: str) -> User | None:
        read: User | None = await self._read(Reads.find_user_by_token, token_hash)
        return read

    async def find_user_token(self, token_hash: str) -> tuple[UserToken, User] | None:
        read: tuple[UserToken, User] | None = await self._read(Reads.find_user_token,
                                                                token_hash)
        return read

    async def count_owned(self, kind: OwnedKind, owner_id: str) -> int:
        read: int = await self._read(Reads.count_owned, kind, owner_id)
        return read

    async def list_user_tokens(self, tenant_id: str, user_id: str, limit: int | None = None,
                               offset: int = 0) -> list[UserToken] | None:
        read: list[UserToken] | None = await self._read(Reads.list_user_tokens, tenant_id,
                                                        user_id, limit, offset)
        return read

    async def list_modules(
        self, tenant_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[Module]:
        read: list[Module] = await self._read(Reads.list_modules, tenant_id, limit, offset)
        return read

    async def get_module(self, tenant_id: str, module_id: str) -> Module | None:
        read: Module | None = await self._read(Reads.get_module, tenant_id, module_id)
        return read

    async def get_module_by_name(self, tenant_id: str, name: str) -> Module | None:
        read: Module | None = await self._read(Reads.get_module_by_name, tenant_id, name)
        return read

    async def get_module_by_webhook_token(self, token: str) -> Module | None:
        read: Module | None = await self._read(Reads.get_module_by_webhook_token, token)
        return read

    async def list_versions(
        self, tenant_id: str, module_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[ScriptVersion]:
        read: list[ScriptVersion] = await self._read(
            Reads.list_versions, tenant_id, module_id, limit, offset
        )
        return read

    async def get_version(
        self, tenant_id: str, module_id: str, version_id: str
    ) -> ScriptVersion | None:
        read: ScriptVersion | None = await self._read(
            Reads.get_version, tenant_id, module_id, version_id
        )
        return read

    async def get_active_version(self, tenant_id: str, module_id: str) -> ScriptVersion | None:
        read: ScriptVersion | None = await self._read(
            Reads.get_active_version, tenant_id, module_id
        )
        return read

    async def active_version_numbers(self, tenant_id: str) -> dict[str, int]:
        read: dict[str, int] = await self._read(Reads.active_version_numbers, tenant_id)
        return read

    async def list_users(
        self, tenant_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[User]:
        read: list[User] = await self._read(Reads.list_users, tenant_id, limit, offset)
        return read

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        read: User | None = await self._read(Reads.get_user, tenant_id, user_id)
        return read

    async def get_users(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, User]:
        read: dict[str, User] = await self._read(Reads.get_users, tenant_id, user_ids)
        return read

    async def get_user_by_name(self, tenant_id: str, name: str) -> User | None:
        read: User | None = await self._read(Reads.get_user_by_name, tenant_id, name)
        return read

    async def list_bindings(self, tenant_id: str, module_id: str, limit: int | None = None,
                            offset: int = 0) -> list[Binding] | None:
        read: list[Binding] | None = await self._read(Reads.list_bindings, tenant_id, module_id,
                                                      limit, offset)
        return read

    async def dial_bindings(self, tenant_id: str, module_ids: Sequence[str] | None,
                            per_module: int, total: int, user_id: str | None = None
                            ) -> list[ModuleBinding]:
        read: list[ModuleBinding] = await self._read(Reads.dial_bindings, tenant_id, module_ids,
                                                     per_module, total, user_id)
        return read

    async def tenant_bindings(self, tenant_id: str, modules_limit: int,
                              user_id: str | None = None) -> list[ModuleBinding]:
        read: list[ModuleBinding] = await self._read(Reads.tenant_bindings, tenant_id,
                                                     modules_limit, user_id)
        return read

    async def users_bindings(self, tenant_id: str, user_ids: Sequence[str]
                             ) -> list[ModuleBinding]:
        read: list[ModuleBinding] = await self._read(Reads.users_bindings, tenant_id,
                                                     tuple(user_ids))
        return read

    async def live_token_counts(self, tenant_id: str, user_ids: Sequence[str]
                                ) -> dict[str, int]:
        read: dict[str, int] = await self._read(Reads.live_token_counts, tenant_id,
                                                tuple(user_ids))
        return read

    async def get_contact(self, tenant_id: str, contact_id: str) -> Contact | None:
        read: Contact | None = await self._read(Reads.get_contact, tenant_id, contact_id)
        return read

    async def get_contacts(self, tenant_id: str, contact_ids: Sequence[str]
                           ) -> dict[str, Contact]:
        read: dict[str, Contact] = await self._read(Reads.get_contacts, tenant_id, contact_ids)
        return read

    async def first_contacts_by_phones(self, tenant_id: str, numbers: Sequence[str]
                                       ) -> dict[str, Contact]:
        read: dict[str, Contact] = await self._read(Reads.first_contacts_by_phones, tenant_id,
                                                    numbers)
        return read

    async def list_contacts(
        self, tenant_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[Contact]:
        read: list[Contact] = await self._read(Reads.list_contacts, tenant_id, limit, offset)
        return read

    async def search_contacts(self, tenant_id: str, words: str, digits: Sequence[str],
                              normalized: str | None, limit: int = DEFAULT_LIMIT,
                              offset: int = 0) -> list[Contact]:
        read: list[Contact] = await self._read(Reads.search_contacts, tenant_id, words, digits,
                                               normalized, limit, offset)
        return read

    async def find_contacts_by_phone(self, tenant_id: str, normalized: str) -> list[Contact]:
        read: list[Contact] = await self._read(
            Reads.find_contacts_by_phone, tenant_id, normalized
        )
        return read

    async def list_calls(
        self,
        tenant_id: str,
        filters: CallFilter | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[Call]:
        read: list[Call] = await self._read(
            Reads.list_calls, tenant_id, filters or CallFilter(), limit, offset
        )
        return read

    async def get_call(self, tenant_id: str, call_id: str) -> Call | None:
        read: Call | None = await self._read(Reads.get_call, tenant_id, call_id)
        return read

    async def get_calls(self, tenant_id: str, call_ids: Sequence[str]) -> dict[str, Call]:
        read: dict[str, Call] = await self._read(Reads.get_calls, tenant_id, call_ids)
        return read

    async def recent_calls_by_phones(self, tenant_id: str, numbers: Sequence[str], limit: int
                                     ) -> dict[str, list[Call]]:
        read: dict[str, list[Call]] = await self._read(Reads.recent_calls_by_phones, tenant_id,
                                                       numbers, limit)
        return read

    async def list_call_events(self, tenant_id: str, call_id: str, limit: int | None = None,
                               offset: int = 0) -> list[CallEventRecord]:
        read: list[CallEventRecord] = await self._read(Reads.list_call_events, tenant_id, call_id,
                                                       limit, offset)
        return read

    async def notified_of(self, tenant_id: str, user_id: str, call_ids: Sequence[str]
                          ) -> set[str]:
        read: set[str] = await self._read(Reads.notified_of, tenant_id, user_id, call_ids)
        return read

    async def users_notified(self, tenant_id: str, call_id: str) -> set[str]:
        read: set[str] = await self._read(Reads.users_notified, tenant_id, call_id)
        return read

    async def users_notified_of_calls(self, tenant_id: str, call_ids: Sequence[str]
                                      ) -> dict[str, set[str]]:
        read: dict[str, set[str]] = await self._read(Reads.users_notified_of_calls, tenant_id,
                                                     tuple(call_ids))
        return read

    async def rang_for(self, tenant_id: str, user_id: str, call_ids: Sequence[str]
                       ) -> dict[str, CallNotified]:
        read: dict[str, CallNotified] = await self._read(Reads.rang_for, tenant_id, user_id,
                                                         tuple(call_ids))
        return read

    async def user_was_notified(self, tenant_id: str, user_id: str, call_id: str) -> bool:
        read: bool = await self._read(Reads.user_was_notified, tenant_id, user_id, call_id)
        return read

    async def handled_calls(self, tenant_id: str, call_ids: Sequence[str]
                            ) -> dict[str, CallHandled]:
        read: dict[str, CallHandled] = await self._read(Reads.handled_calls, tenant_id,
                                                        tuple(call_ids))
        return read

    async def list_activity(
        self, tenant_id: str, contact_id: str, limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> list[ActivityEntry]:
        read: list[ActivityEntry] = await self._read(
            Reads.list_activity, tenant_id, contact_id, limit, offset
        )
        return read

    async def get_activity_for_call(self, tenant_id: str, call_id: str) -> ActivityEntry | None:
        read: ActivityEntry | None = await self._read(
            Reads.get_activity_for_call, tenant_id, call_id
        )
        return read

    async def list_executions(
        self,
        tenant_id: str,
        filters: ExecutionFilter | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[Execution]:
        read: list[Execution] = await self._read(
            Reads.list_executions, tenant_id, filters or ExecutionFilter(), limit, offset
        )
        return read

    async def list_execution_summaries(
        self,
        tenant_id: str,
        filters: ExecutionFilter | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> list[ListedExecution]:
        read: list[ListedExecution] = await self._read(
            Reads.list_execution_summaries, tenant_id, filters or ExecutionFilter(), limit,
            offset
        )
        return read

    async def get_execution(self, tenant_id: str, execution_id: str) -> Execution | None:
        read: Execution | None = await self._read(Reads.get_execution, tenant_id, execution_id)
        return read

    async def list_notifications(
        self,
        tenant_id: str,
        user_id: str,
        *,
        after_id: str | None = None,
        since: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        newest: bool = False,
        upto_id: str | None = None,
        offset: int = 0,
    ) -> list[Notification]:
        read: list[Notification] = await self._read(
            Reads.list_notifications, tenant_id, user_id, after_id, since, limit, newest,
            upto_id, offset,
        )
        return read

    async def storage_get(self, module_id: str, key: str, now: datetime) -> StorageItem | None:
        read: StorageItem | None = await self._read(Reads.storage_get, module_id, key, now)
        return read

    async def storage_usage(self, module_id: str) -> StorageUsage:
        read: StorageUsage = await self._read(Reads.storage_usage, module_id)
        return read

    async def module_health(self, tenant_id: str, now: datetime) -> dict[str, ModuleHealth]:
        read: dict[str, ModuleHealth] = await self._read(Reads.module_health, tenant_id, now)
        return read

    async def usage(self, tenant_id: str, now: datetime, days: int) -> Usage:
        read: Usage = await self._read(Reads.usage, tenant_id, now, days)
        return read
