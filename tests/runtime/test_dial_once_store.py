"""Click-to-call's claims in the store (runtime/console/dial_once.py), on both backends: the
first claim of a posted call form places the call, a later one gets its answer (or waits
while it is placed), a failed placing frees the form, a node started anew (another store on
the same database) sees all of it, and the retention task deletes claims once no console
session could post them again."""

from __future__ import annotations

from datetime import timedelta

from runtime.console.session import LIFETIME_SECONDS
from runtime.retention import DIAL_FORMS_KEPT, Pruner
from runtime.store import Store
from runtime.store.models import DialClaim, utc_now
from tests.runtime.conftest import Backend
from tests.runtime.test_retention import config

ANSWER = {"execution_id": "exe_1", "from": "101", "to": "+79161234567"}


async def test_a_form_is_placed_once_and_its_answer_outlives_the_node(
        store: Store, backend: Backend) -> None:
    tenant = await store.create_tenant("acme")
    assert await store.write(lambda tx: tx.claim_dial(tenant.id, "k1")) == DialClaim(True)
    # Posted again while the first is still placing the call: nothing to answer yet.
    assert await store.write(lambda tx: tx.claim_dial(tenant.id, "k1")) == DialClaim(False)
    await store.write(lambda tx: tx.settle_dial("k1", ANSWER))
    assert await store.write(lambda tx: tx.claim_dial(tenant.id, "k1")) == DialClaim(
        False, ANSWER)

    # A failed placing frees its form: posting it again dials.
    assert (await store.write(lambda tx: tx.claim_dial(tenant.id, "k2"))).claimed
    await store.write(lambda tx: tx.settle_dial("k2", None))
    assert (await store.write(lambda tx: tx.claim_dial(tenant.id, "k2"))).claimed

    other_node = await backend.open()  # another node, or this one after a restart
    assert await other_node.write(lambda tx: tx.claim_dial(tenant.id, "k1")) == DialClaim(
        False, ANSWER)
    assert await other_node.write(lambda tx: tx.claim_dial(tenant.id, "k2")) == DialClaim(
        False)


async def test_retention_deletes_claims_once_no_session_could_post_them(store: Store) -> None:
    assert timedelta(seconds=LIFETIME_SECONDS) == DIAL_FORMS_KEPT
    tenant = await store.create_tenant("acme")
    for key in ("k1", "k2"):
        await store.write(lambda tx, k=key: tx.claim_dial(tenant.id, k))  # type: ignore[misc]
    await store.write(lambda tx: tx.settle_dial("k1", ANSWER))
    soon = utc_now() + DIAL_FORMS_KEPT - timedelta(minutes=1)
    report = await Pruner(store, config(), clock=lambda: soon).run_pass()
    assert "dial_forms" not in report.deleted
    assert await store.write(lambda tx: tx.claim_dial(tenant.id, "k1")) == DialClaim(
        False, ANSWER)

    later = utc_now() + DIAL_FORMS_KEPT + timedelta(minutes=1)
    report = await Pruner(store, config(batch_rows=10), clock=lambda: later).run_pass()
    assert report.deleted["dial_forms"] == 2
    assert (await store.write(lambda tx: tx.claim_dial(tenant.id, "k1"))).claimed


async def test_a_deleted_tenant_takes_its_claims(store: Store, backend: Backend) -> None:
    tenant = await store.create_tenant("acme")
    await store.write(lambda tx: tx.claim_dial(tenant.id, "k1"))
    await store.write(lambda tx: tx.close_tenant(tenant.id))
    while await store.write(lambda tx: tx.delete_tenant_batch(tenant.id, 100)):
        pass
    assert await store.write(lambda tx: tx.finish_tenant(tenant.id))
    assert await backend.count("dial_once") == 0
