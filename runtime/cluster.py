"""Several service nodes on one PostgreSQL database: what crosses between them, and how.

Started by the app only when the store is a `PostgresStore` (SQLite is one node by nature).
Each node holds one dedicated connection that LISTENs on two channels of its deployment
(`PostgresStore.channel`: named after the schema, so deployments sharing a database stay apart):

- **notify**: live notifications. `Hub.publish` delivers on this node, then calls `Hub.relay`,
  which is `Cluster.relay` here: the message goes to every node in a NOTIFY whose payload is
  `{"n": node id, "u": user id, "m": message}`. A payload that would reach PostgreSQL's 8000-byte
  limit goes as a reference instead (`"ref"`: the notification's id), and the receiving node
  loads the stored notification. A node ignores payloads carrying its own id (it delivered
  them already). Sends are queued and go out in batches, one statement per batch, so a webhook
  never waits for them.
- **notify** also carries ended credentials (a revoked token or key, a deleted user, a
  signed-out console session): `{"n": node id, "e": {"k": kind, "i": id, "r": reason}}`.
  `Hub.end` closes this node's sockets, then calls `Hub.relay_ended` (`Cluster.relay_ended`);
  the other nodes call `Hub.end_local`, closing theirs.
- **modules**: module changes. A trigger on modules, script_versions and bindings
  (migrations_pg/0001_init.sql) NOTIFYs the module id when a change commits, whichever node or
  tool wrote it; every node then calls `ModuleCache.invalidate(module_id)`.

The listening connection is watched: when it drops (or stops answering a ping), the node stops
caching modules until it is back (`ModuleCache.read_through`: invalidations sent meanwhile are
lost, and a listener that cannot come back, PostgreSQL refusing new sessions while the units'
ones work, left the node serving modules changed elsewhere for as long as it lasted), says so
in /healthz (`away_since`), reconnects with backoff and then has every live socket re-read its
credential (`Hub.recheck_all`), since ended credentials sent meanwhile are lost too.
Notifications sent meanwhile are not lost for good: they are stored, and a client reconnecting
with `?after=` catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from runtime.hub import CREDENTIAL_KINDS, Credential, CredentialEnded, EndReason, Hub
from runtime.modules_cache import ModuleCache
from runtime.store import Store
from runtime.store.errors import storage_unavailable
from runtime.store.models import to_json, utc_now
from runtime.store.postgres import PostgresStore

log = logging.getLogger("runtime.cluster")

# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7999
MAX_BATCH = 200
RELAY_ATTEMPTS = 4  # a batch's NOTIFY, when the database connection was lost
RELAY_PAUSE = 0.1  # seconds before the 2nd attempt; twice that before the 3rd, ...
LISTENER_NAME = "voip-runtime-listener"
# At close: for the last relays to go out, then for the cancelled tasks to end.
CLOSE_WAIT_SECONDS = 2.0


def listener_name(schema: str) -> str:
    """The listening connection's application_name (pg_stat_activity): ours, and which
    deployment's."""
    return f"{LISTENER_NAME} {schema}"[:63]


class Cluster:
    def __init__(self, store: PostgresStore, hub: Hub, modules: ModuleCache, *,
                 check_interval: float = 5.0, max_backoff: float = 5.0) -> None:
        self.store = store
        self.hub = hub
        self.modules = modules
        self.node_id = uuid.uuid4().hex
        self.notify_channel = store.channel("notify")
        self.modules_channel = store.channel("modules")
        self.check_interval = check_interval
        self.max_backoff = max_backoff
        self.reconnects = 0
        # Since when the listener is away (None: listening): this node cannot hear the others.
        self.away_since: datetime | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (the first connection must succeed: a node that cannot listen would serve
        stale modules), then relay this node's notifications."""
        await self._listen()
        self._spawn(self._watch(), "cluster-watch")
        self._spawn(self._send(), "cluster-send")
        self.hub.relay = self.relay
        self.hub.relay_ended = self.relay_ended

    async def close(self) -> None:
        """Send what is queued, stop the tasks, close the listener: each bounded, since a hung
        database must not hold a stopping node (the store's close is bounded too).

        Not `asyncio.wait_for`: on its timeout it waits for the cancelled coroutine to end,
        and a statement cancelled on a server that does not answer never does (asyncpg
        returns a connection to its pool only after the server acknowledged the cancel
        request, on a connection of its own that the hung server never serves either)."""
        self._closing = True
        if self.hub.relay == self.relay:
            self.hub.relay = None
        if self.hub.relay_ended == self.relay_ended:
            self.hub.relay_ended = None
        flushing = asyncio.get_running_loop().create_task(self._flush(), name="cluster-flush")
        await asyncio.wait({flushing}, timeout=CLOSE_WAIT_SECONDS)
        tasks = [flushing, *self._tasks]
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: each logs its own failures
        if stuck:
            log.warning("closing: %s still waiting for PostgreSQL after %g s were left behind",
                        ", ".join(sorted(task.get_name() for task in stuck)),
                        CLOSE_WAIT_SECONDS)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), timeout=CLOSE_WAIT_SECONDS)

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- listening ------------------------------------------------------------------------

    async def _listen(self) -> None:
        conn = await self.store.connect(listener_name(self.store.schema))
        try:
            await conn.add_listener(self.notify_channel, self._on_notify)
            await conn.add_listener(self.modules_channel, self._on_module)
        except BaseException:
            conn.terminate()
            raise
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self._conn = conn

    async def _alive(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=self.check_interval)
        except Exception:  # whatever the driver raises (see _watch): a connection to replace
            return False
        return True

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=self.check_interval)
            if not self._lost.is_set() and await self._alive():
                continue
            log.warning("the cluster listener lost its connection; reconnecting")
            self.away_since = utc_now()
            # Changes announced while it is away are lost: read every module from the database.
            self.modules.read_through()
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
            backoff = 0.1
            while True:
                try:
                    await self._listen()
                    break
                except Exception as error:
                    # Whatever the driver raises (asyncpg's own InternalClientError, not an
                    # InterfaceError, when a session is killed during its LISTEN): this task
                    # must not end, or the node silently stops hearing the others. (A
                    # timeout's text is empty: its name says it.)
                    log.warning("cluster listener: cannot reconnect (%s); retrying in %.1fs",
                                str(error) or type(error).__name__, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
            self.reconnects += 1
            self.away_since = None
            self.modules.cache_again()
            # Ended credentials sent while it was away are lost too: every open socket looks
            # its credential up again.
            self.hub.recheck_all()
            log.info("the cluster listener is back")

    def _on_module(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.modules.invalidate(str(payload))

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            data = json.loads(str(payload))
            node = data["n"]
            if node == self.node_id:
                return  # ours: delivered on this node when it was published
            if "e" in data:
                self.hub.end_local(parse_ended(data["e"]))
                return
            user_id = data["u"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed cluster notification: %.200r", payload)
            return
        if "m" in data:
            self.hub.deliver_local(user_id, data["m"])
        elif "ref" in data:
            self._spawn(self._deliver_stored(user_id, str(data["ref"])), "cluster-load")

    async def _deliver_stored(self, user_id: str, notification_id: str) -> None:
        try:
            notification = await self.store.get_notification(user_id, notification_id)
        except Exception:
            log.exception("loading notification %s for another node's relay", notification_id)
            return
        if notification is not None:
            self.hub.deliver_local(user_id, {"type": "notification", **to_json(notification)})

    # --- relaying -------------------------------------------------------------------------

    async def relay(self, user_id: str, message: dict[str, Any]) -> None:
        """`Hub.relay`: queue the message for the other nodes (never waits for the database)."""
        payload = json.dumps({"n": self.node_id, "u": user_id, "m": message},
                             separators=(",", ":"), ensure_ascii=False)
        if len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            if message.get("type") != "notification" or not isinstance(message.get("id"), str):
                log.warning("a live message too large to relay was not sent to other nodes")
                return
            payload = json.dumps({"n": self.node_id, "u": user_id, "ref": message["id"]})
        self._outbox.put_nowait(payload)

    async def relay_ended(self, ended: CredentialEnded) -> None:
        """`Hub.relay_ended`: queue the ended credential for the other nodes."""
        self._outbox.put_nowait(json.dumps({"n": self.node_id, "e": {
            "k": ended.credential.kind, "i": ended.credential.id, "r": ended.reason.name}}))

    async def _send(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < MAX_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            await self._send_batch(batch)

    async def _send_batch(self, batch: list[str]) -> None:
        """NOTIFY one batch; a connection the server dropped (a restart, a failover, a killed
        session) is retried a few times, since the pool's next connection usually works at
        once: without it, a database blip would silently lose live calls on other nodes."""
        for attempt in range(1, RELAY_ATTEMPTS + 1):
            try:
                await self.store.notify(self.notify_channel, batch)
                return
            except Exception as error:
                unavailable = storage_unavailable(error)
                if unavailable is None:
                    # Stored anyway: the other nodes' clients catch up on reconnect.
                    log.exception("relaying %d notification(s) to other nodes failed",
                                  len(batch))
                    return
                if attempt == RELAY_ATTEMPTS:
                    # Expected while the database is away: one line, no traceback.
                    log.warning("relaying %d notification(s) to other nodes failed: %s",
                                len(batch), unavailable)
                    return
            await asyncio.sleep(RELAY_PAUSE * attempt)

    async def _flush(self) -> None:
        """Send what is queued (at close)."""
        batch = []
        while not self._outbox.empty():
            batch.append(self._outbox.get_nowait())
        if batch:
            with contextlib.suppress(Exception):
                await self.store.notify(self.notify_channel, batch)


def parse_ended(data: object) -> CredentialEnded:
    """An ended credential from another node's payload; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    kind, credential_id, reason = data.get("k"), data.get("i"), data.get("r")
    if kind not in CREDENTIAL_KINDS or not isinstance(credential_id, str) \
            or not isinstance(reason, str) or reason not in EndReason.__members__:
        raise ValueError(f"not an ended credential: {data!r:.200}")
    return CredentialEnded(Credential(kind, credential_id), EndReason[reason])


async def start_cluster(store: Store, hub: Hub, modules: ModuleCache) -> Cluster | None:
    """A started `Cluster` when the store is PostgreSQL; None otherwise (nothing to share)."""
    if not isinstance(store, PostgresStore):
        return None
    cluster = Cluster(store, hub, modules)
    await cluster.start()
    return cluster
