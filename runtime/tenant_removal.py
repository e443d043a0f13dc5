"""Deleting a tenant with everything it owns, and what must stop with it on this node.

The store's steps (runtime/store/editing.py) in order:

1. `close_tenant`, one unit: the tenant marked as being deleted (`deleting_at`: the API no
   longer lists or shows it, and it takes no new key, user or module), its API keys and user
   tokens revoked and its webhook tokens replaced, so from its commit on nothing of the
   tenant is accepted (the API answers 401, the old webhook URLs 404) and nothing new
   arrives; what it owns is counted then.
2. Right after that commit: the tenant's live sockets and console sessions close on every node
   (close code 4403, `tenant deleted`), this node's cached modules of the tenant are dropped
   (other nodes drop theirs on the modules trigger, PostgreSQL), and so are its sandbox
   workers (other nodes' reclaim theirs when idle, as for any tenant).
3. `delete_tenant_batch` units of at most `batch_rows` rows each, so the SQLite writer is
   never held for long by a tenant with millions of executions, then `finish_tenant`.

A deletion cut short (the process stopped, the storage failed) leaves a closed, hidden
tenant that a second DELETE finishes, and so does `resume` when a node starts. The counts
returned are those of step 1: a webhook already running when the tenant closed may still add
a row, which is deleted with the rest though not counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from runtime.hub import Credential, CredentialEnded, EndReason, Hub
from runtime.modules_cache import ModuleCache
from runtime.operations.versions import check_group
from runtime.store import Store
from sandbox.pool import SandboxPool

log = logging.getLogger("runtime.tenants")

BATCH_ROWS = 5000


@dataclass(frozen=True, slots=True)
class TenantRemoval:
    store: Store
    hub: Hub
    modules: ModuleCache
    pool: SandboxPool | None
    batch_rows: int = BATCH_ROWS

    async def counts(self, tenant_id: str) -> dict[str, int] | None:
        """What a deletion would remove, per kind; None: no such tenant. Changes nothing."""
        return await self.store.tenant_counts(tenant_id)

    async def delete(self, tenant_id: str) -> dict[str, int] | None:
        """Delete the tenant and everything it owns; the counts (as in `counts`); None: no
        such tenant."""
        closed = await self.store.write(lambda tx: tx.close_tenant(tenant_id))
        if closed is None:
            return None
        for module_id in closed.module_ids:
            self.modules.invalidate(module_id)
        if self.pool is not None:
            self.pool.drop_group(tenant_id)
            # Its checks' group too: the pool kept what it learnt of it (its load) for good.
            self.pool.drop_group(check_group(tenant_id))
        ended = [Credential("user", u) for u in closed.user_ids] + [
            Credential("api_key", k) for k in closed.key_ids]
        for credential in ended:
            await self.hub.end(CredentialEnded(credential, EndReason.TENANT_DELETED))
        batches = 0
        while await self.store.write(
                lambda tx: tx.delete_tenant_batch(tenant_id, self.batch_rows)):
            batches += 1
        await self.store.write(lambda tx: tx.finish_tenant(tenant_id))
        # Modules again: a lookup that overlapped the close may have cached one meanwhile.
        for module_id in closed.module_ids:
            self.modules.invalidate(module_id)
        log.info("tenant %s deleted (%s) in %d batch(es)", tenant_id,
                 ", ".join(f"{k} {v}" for k, v in closed.counts.items() if v), batches + 1)
        return closed.counts

    async def resume(self) -> list[str]:
        """Finish every deletion that was started and cut short; the tenants finished. Run
        when a node starts. Several nodes doing it at once only repeat each other's deletes
        (a batch finds fewer rows, the last step none)."""
        finished = []
        for tenant_id in await self.store.deleting_tenants():
            log.info("tenant %s: finishing its deletion, cut short earlier", tenant_id)
            if await self.delete(tenant_id) is not None:
                finished.append(tenant_id)
        return finished
