"""The one LISTEN connection per process: batching, fan-out, health probe, reconnect + catch-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from typing import Any

import asyncpg
from prometheus_client import Histogram

from .catchup import changes_since, deliver_changes
from .db import q
from .events import Event, make_event, message_event
from .hub import Hub
from .model import chat_json

log = logging.getLogger(__name__)

CHANNEL = "webchat"
_CATCH_UP = object()  # queued after a reconnect so it runs in order with notifications


class Listener:
    def __init__(self, url: str, pool: asyncpg.Pool, hub: Hub, probe_interval: float = 5.0) -> None:
        self.url = url
        self.pool = pool
        self.hub = hub
        self.probe_interval = probe_interval
        self.connected = False
        self.healthy = False
        self.last_probe_ok = 0.0
        self.reconnects = 0
        self.notifications = 0
        self.batches = 0
        self.queries = 0
        self._queue: list[Any] = []
        self._wake = asyncio.Event()
        self._dead = asyncio.Event()
        self._probe_nonce = ""
        self._probe_seen = asyncio.Event()
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
                    # LISTEN is active again: whatever committed while we were away is now read
                    # from the table, in order with the notifications that follow
                    self._queue.append(_CATCH_UP)
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
                self.queries += 1
                await asyncio.wait_for(self._probe_seen.wait(), timeout=max(self.probe_interval, 1.0))
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                if self._dead.is_set() or conn.is_closed():
                    return
                log.warning("listener probe failed: %r", e)
                self.healthy = False
                return
            self.healthy = True
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
            note = json.loads(str(payload))
        except ValueError:
            log.warning("ignoring malformed notification %r", str(payload)[:200])
            return
        if note.get("t") == "p":
            if note.get("n") == self._probe_nonce:
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
                self.batches += 1
                if oldest is not None:
                    self.delivery_seconds.observe(time.monotonic() - oldest)

    async def _process(self, batch: list[Any]) -> None:
        start = 0
        for i, note in enumerate(batch):
            if note is _CATCH_UP:
                await self._process_notes(batch[start:i])
                await self._catch_up_all()
                start = i + 1
        await self._process_notes(batch[start:])

    async def _catch_up_all(self) -> None:
        subs = self.hub.subscribers()
        positions: dict[int, int | None] = {}
        for sub in subs:
            for chat_id, pos in sub.positions.items():
                if chat_id not in positions:
                    positions[chat_id] = pos
                else:
                    cur = positions[chat_id]
                    positions[chat_id] = None if cur is None or pos is None else min(cur, pos)
        if not positions:
            return
        rows = await changes_since(self.pool, positions)
        self.queries += 1
        if rows is None:
            self.hub.resync_all("too many events missed during a database outage")
            return
        deliver_changes(subs, rows, self.hub)

    async def _process_notes(self, notes: list[dict[str, Any]]) -> None:
        if not notes:
            return
        hub = self.hub
        # These notifications are about to be delivered or, for chats nobody here listens to yet,
        # dropped. A subscriber attaching right now may be about to listen to one of those chats
        # with a membership snapshot taken just before the commit: bumping the epoch tells it to
        # run its catch-up query. (Publishing bumps it too, but a dropped notification publishes
        # nothing.)
        hub.epoch += 1
        chat_ids: set[int] = set()
        joined: dict[int, list[Any]] = {}
        # membership first, so a chat's first events reach the members who just joined it
        for note in notes:
            t = note.get("t")
            rows = note.get("r", ())
            if t == "c":
                chat_ids.update(r[0] for r in rows)
            elif t == "j":
                for chat_id, account_id in rows:
                    for sub in hub.join(account_id, chat_id):
                        joined.setdefault(chat_id, []).append(sub)
                    chat_ids.add(chat_id)
            elif t == "l":
                for chat_id, account_id in rows:
                    gone = hub.leave(account_id, chat_id)
                    hub.publish_to(gone, removed_event(chat_id))
            elif t == "d":
                for (chat_id,) in rows:
                    hub.publish(removed_event(chat_id))
                    hub.drop_chat(chat_id)
        # fetch only rows someone here listens to: one query per batch, never one per subscriber
        message_ids = {
            r[1] for n in notes if n.get("t") in ("m", "u") for r in n["r"] if r[0] in hub.by_chat
        }
        messages: dict[int, asyncpg.Record] = {}
        chats: dict[int, asyncpg.Record] = {}
        if message_ids:
            for row in await self.pool.fetch(q("messages_by_ids"), list(message_ids)):
                messages[row["id"]] = row
            self.queries += 1
        chat_ids = {c for c in chat_ids if c in hub.by_chat}
        if chat_ids:
            for row in await self.pool.fetch(q("chats_by_ids"), list(chat_ids)):
                chats[row["id"]] = row
            self.queries += 1
        if joined:
            recent = await changes_since(self.pool, dict.fromkeys(joined))
            self.queries += 1
            changed = {r[0] for n in notes if n.get("t") == "c" for r in n["r"]}
            for chat_id, subs in joined.items():
                # a chat created in this batch is announced by its own 'c' event below
                if chat_id in chats and chat_id not in changed:
                    hub.publish_to(subs, make_event("chat_updated", chat_id, {"chat": chat_json(chats[chat_id])}))
            deliver_changes([s for subs in joined.values() for s in subs], recent or [], hub)
        for note in notes:
            for ev in self._events(note, messages, chats):
                hub.publish(ev)

    def _events(self, note: dict[str, Any], messages: dict[int, asyncpg.Record],
                chats: dict[int, asyncpg.Record]) -> list[Event]:
        t = note.get("t")
        if t in ("m", "u"):
            out = []
            for chat_id, message_id, seq, _sender in note["r"]:
                row = messages.get(message_id)
                if row is not None:
                    out.append(message_event(row, t == "m", seq))
                else:
                    # the row is gone (chat deleted since); the position still advances
                    log.debug("message %s of chat %s vanished before delivery", message_id, chat_id)
            return out
        if t == "c":
            return [
                make_event("chat_updated", r[0], {"chat": chat_json(chats[r[0]])}) for r in note["r"] if r[0] in chats
            ]
        if t == "r":
            return [
                make_event("read", chat_id, {"account_id": account_id, "seq": seq})
                for chat_id, account_id, seq in note["r"]
                if chat_id in self.hub.by_chat
            ]
        if t == "y" and note["c"] in self.hub.by_chat:
            return [
                make_event(
                    "typing",
                    note["c"],
                    {"is_typing": bool(note["on"]), "user_name": note["n"], "account_id": note["a"], "ttl_ms": 6000},
                    skip_account=note["a"],
                )
            ]
        return []



def removed_event(chat_id: int) -> Event:
    """A chat the reader no longer has: deleted, or the reader left it."""
    return make_event("chat_updated", chat_id, {"chat": {"id": chat_id, "deleted": True}})
