"""The one LISTEN connection per process: receive, decode and batch notifications, probe health."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from collections import Counter
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import Histogram

from .delivery import Delivery
from .hub import Hub
from .kinds import BadNotification, decode
from .kinds.probe import Probe
from .protocol import CHANNEL

log = logging.getLogger(__name__)

_RECONCILE = object()  # queued after a reconnect so it runs in order with notifications


class Listener:
    def __init__(self, url: str, pool: asyncpg.Pool, hub: Hub, probe_interval: float = 5.0,
                 delivery: Delivery | None = None) -> None:
        self.url = url
        self.pool = pool
        self.hub = hub
        self.delivery = delivery or Delivery(pool, hub)
        self.probe_interval = probe_interval
        self.connected = False
        self.healthy = False
        self.last_probe_ok = 0.0
        self.reconnects = 0
        self.notifications = 0
        # payloads that are not one of the known kinds, by the kind they claimed
        self.rejected: Counter[str] = Counter()
        self.batches = 0
        self.probe_queries = 0
        self._queue: list[Any] = []
        self._wake = asyncio.Event()
        self._dead = asyncio.Event()
        self._probe_nonce = ""
        self._probe_seen = asyncio.Event()
        # set once whatever happened while the listener was away has been reconciled
        self._reconciled = asyncio.Event()
        self._reconciled.set()
        self._conn: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._listening = asyncio.Event()
        # arrival of the oldest notification not yet taken for processing (None: queue has none)
        self._oldest: float | None = None
        # observed once per batch, not per socket; registered by metrics.Metrics
        self.delivery_seconds = Histogram(
            "webchat_delivery_seconds", "From a NOTIFY's arrival until its events are handed to every local reader",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=None)

    @property
    def queries(self) -> int:
        return self.probe_queries + self.delivery.queries

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, wait: float = 10.0) -> None:
        self._tasks = [
            asyncio.create_task(self._connect_loop(), name="webchat-listener"),
            asyncio.create_task(self._process_loop(), name="webchat-fanout"),
        ]
        # serve only once LISTEN is active, so nothing committed after start-up is missed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait)

    async def stop(self) -> None:
        self._stopping = True
        self._dead.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.delivery.stop()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close(timeout=2)

    @property
    def queue_size(self) -> int:
        return len(self._queue)

    @property
    def backend_pid(self) -> int | None:
        return self._conn.get_server_pid() if self._conn is not None and not self._conn.is_closed() else None

    # -- connection ---------------------------------------------------------------------------
    async def _connect_loop(self) -> None:
        backoff = 0.05
        first = True
        while not self._stopping:
            try:
                conn = await asyncpg.connect(self.url)
            except (OSError, asyncpg.PostgresError, TimeoutError) as e:
                log.warning("listener cannot connect: %s", e)
                await asyncio.sleep(random.uniform(0, backoff))
                backoff = min(backoff * 2, 5.0)
                continue
            self._conn = conn
            self._dead.clear()
            conn.add_termination_listener(lambda _c: self._dead.set())
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                if not first:
                    self.reconnects += 1
                    # LISTEN is active again: memberships and whatever committed while we were
                    # away are now read from the tables, in order with the notifications that follow
                    self._reconciled.clear()
                    self._queue.append(_RECONCILE)
                    self._wake.set()
                first = False
                self.connected = True
                self._listening.set()
                backoff = 0.05
                await self._watch(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
                log.warning("listener connection lost: %s", e)
            finally:
                self.connected = False
                self.healthy = False
                if not conn.is_closed():
                    conn.terminate()
            if not self._stopping:
                log.warning("listener reconnecting")
                await asyncio.sleep(random.uniform(0, backoff))

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Probe with a self-NOTIFY until the connection is dead or the probe goes unanswered."""
        while not self._stopping:
            self._probe_nonce = secrets.token_hex(8)
            self._probe_seen.clear()
            try:
                await self.pool.execute(
                    "SELECT pg_notify($1, $2)", CHANNEL, json.dumps({"t": "p", "n": self._probe_nonce})
                )
                self.probe_queries += 1
                await asyncio.wait_for(self._probe_seen.wait(), timeout=max(self.probe_interval, 1.0))
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                if self._dead.is_set() or conn.is_closed():
                    return
                log.warning("listener probe failed: %r", e)
                self.healthy = False
                return
            # healthy only once what happened while we were away has been reconciled
            self.healthy = self._reconciled.is_set()
            if self.healthy:
                self.last_probe_ok = time.time()
            try:
                await asyncio.wait_for(self._dead.wait(), timeout=self.probe_interval)
                return
            except TimeoutError:
                if conn.is_closed():
                    return

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.notifications += 1
        try:
            note = decode(str(payload))
        except BadNotification as e:
            # any database user can NOTIFY: a bad payload is counted and skipped, never acted on
            self.rejected[e.kind] += 1
            if self.rejected[e.kind] == 1:
                log.warning("ignoring a malformed notification (%s): %r; later ones of this kind are "
                            "only counted in webchat_notifications_rejected_total", e, str(payload)[:200])
            return
        if isinstance(note, Probe):
            if note.nonce == self._probe_nonce:
                self._probe_seen.set()
            return
        if self._oldest is None:
            self._oldest = time.monotonic()
        self._queue.append(note)
        self._wake.set()

    # -- processing ---------------------------------------------------------------------------
    async def _process_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                oldest, self._oldest = self._oldest, None
                try:
                    await self._process(batch)
                except Exception:
                    # we cannot prove who missed what: everyone reloads
                    log.exception("failed to process a notification batch; sending resync")
                    self.hub.resync_all("server error while delivering events")
                    self._reconciled.set()
                self.batches += 1
                if oldest is not None:
                    self.delivery_seconds.observe(time.monotonic() - oldest)

    async def _process(self, batch: list[Any]) -> None:
        notes: list[object] = []
        for item in batch:
            if item is _RECONCILE:
                await self.delivery.deliver(notes)
                notes = []
                await self.delivery.reconcile()
                self._reconciled.set()
            else:
                notes.append(item)
        await self.delivery.deliver(notes)

listener_key = web.AppKey("listener", Listener)
