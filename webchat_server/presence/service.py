"""The presence ticker: turns connections into statuses, tells other processes, writes last-seen
rarely, and sends coalesced `presence` events to the accounts that share a chat.

Once a second it looks at the hub's connected accounts (no hook in the hot path, no per-heartbeat
work: a page's "active" arrives at most once a minute). Per tick it makes at most one NOTIFY batch,
one read (who shares a chat with the accounts whose status is due) and one write (last_seen_at).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..db import q
from ..errors import DATABASE_DOWN
from ..realtime.protocol import CHANNEL
from .book import CODES, NAMES, OFFLINE, ONLINE, REFRESH, Book

log = logging.getLogger(__name__)

TICK = 1.0
COALESCE = 5.0  # at most one presence event per account per this many seconds
WRITE_EVERY = 60.0  # last_seen_at at most once a minute per account
NOTIFY_ROWS = 250  # rows per NOTIFY payload (each row ~30 bytes: well under the 8000-byte limit)
CODE = "pr"  # the NOTIFY kind


class Hub(Protocol):
    by_account: dict[int, Any]
    by_chat: dict[int, Any]

    def publish_to(self, subs: Iterable[Any], ev: Any) -> None: ...


class EventMaker(Protocol):
    def __call__(self, account_id: int, body: dict[str, Any]) -> Any: ...


@dataclass
class Counters:
    notifies: int = 0  # NOTIFY payloads sent
    events: int = 0  # presence events written to subscribers
    writes: int = 0  # UPDATE statements of last_seen_at
    rows_written: int = 0


class Presence:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, make_event: EventMaker,
                 is_polling: Any = lambda sub: False) -> None:
        self.pool = pool
        self.hub = hub
        self.make_event = make_event
        self.is_polling = is_polling
        self.book = Book()
        self.token = secrets.token_hex(6)  # this process, in NOTIFY payloads
        self.counters = Counters()
        self._emitted: dict[int, tuple[int, float]] = {}  # account -> (status sent, when)
        self._pending: set[int] = set()  # accounts whose status may have changed
        self._written: dict[int, float] = {}  # account -> when last_seen_at was last written
        self._final: dict[int, float] = {}  # account -> last seen (epoch) still to write
        self._next_refresh = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- what clients see ---------------------------------------------------------------------
    def json(self, account_id: int, stored_last_seen: Any) -> dict[str, Any]:
        return self.book.json(account_id, stored_last_seen)

    def page_said(self, sub: Any, state: str) -> None:
        self.book.page_said(sub, state, time.monotonic())

    # -- other processes ----------------------------------------------------------------------
    def heard(self, process: str, rows: Iterable[tuple[int, int, int]]) -> None:
        """A presence NOTIFY (our own come back too: they are skipped)."""
        if process == self.token:
            return
        now = time.monotonic()
        for account, status, last_seen in rows:
            self.book.heard(process, account, status, float(last_seen), now)
            self._pending.add(account)

    async def _announce(self, rows: list[list[int]]) -> None:
        for i in range(0, len(rows), NOTIFY_ROWS):
            payload = json.dumps({"t": CODE, "x": self.token, "r": rows[i:i + NOTIFY_ROWS]}, separators=(",", ":"))
            await self.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            self.counters.notifies += 1

    # -- the tick -----------------------------------------------------------------------------
    async def tick(self) -> None:
        now, wall = time.monotonic(), time.time()
        connected: dict[int, int] = {}
        for account, subs in self.hub.by_account.items():
            status = OFFLINE
            for sub in subs:
                status = max(status, self.book.connection_status(sub, now, self.is_polling(sub)))
                if status == ONLINE:
                    break
            if status != OFFLINE:
                connected[account] = status
        if len(self.book.activity) > 2 * sum(len(subs) for subs in self.hub.by_account.values()) + 100:
            self.book.prune({sub for subs in self.hub.by_account.values() for sub in subs})
        changed = self.book.observe(connected, now, wall)
        rows = [[a, s, int(self.book.last_seen.get(a, 0)) if s == OFFLINE else 0] for a, s in changed.items()]
        if now >= self._next_refresh:
            # repeated, so other processes keep believing it (and forget it if this one dies)
            self._next_refresh = now + REFRESH
            rows.extend([a, s, 0] for a, s in self.book.local.items() if a not in changed)
        for account, status in changed.items():
            self._pending.add(account)
            if status == OFFLINE:
                self._final[account] = self.book.last_seen.get(account, wall)
        self._pending.update(self.book.expire(now))
        if rows:
            await self._announce(rows)
        await self._emit(now)
        await self._write(now, wall)

    async def _emit(self, now: float) -> None:
        due = []
        for account in list(self._pending):
            sent = self._emitted.get(account)
            if sent is not None and now - sent[1] < COALESCE:
                continue  # stays pending: the latest status goes out once the 5 s are over
            self._pending.discard(account)
            status = self.book.status(account)
            if sent is None or sent[0] != status:
                due.append(account)
        if not due or not self.hub.by_chat:
            for account in due:
                self._emitted[account] = (self.book.status(account), now)
            return
        rows = await self.pool.fetch(q("presence_partners"), due, list(self.hub.by_chat))
        chats: dict[int, list[int]] = {}
        for r in rows:
            chats.setdefault(r["account_id"], []).append(r["chat_id"])
        for account in due:
            status = self.book.status(account)
            self._emitted[account] = (status, now)
            subs = {s for c in chats.get(account, ()) for s in self.hub.by_chat.get(c, ()) if s.account_id != account}
            if subs:
                ev = self.make_event(account, self.book.json(account))
                self.hub.publish_to(subs, ev)
                self.counters.events += len(subs)
        # forget accounts long offline, so the maps hold only what is live
        for account in [a for a, (s, t) in self._emitted.items() if s == OFFLINE and now - t > 600]:
            del self._emitted[account]

    async def _write(self, now: float, wall: float) -> None:
        ids: list[int] = []
        times: list[float] = []
        for account in self.book.local:
            if now - self._written.get(account, -WRITE_EVERY) >= WRITE_EVERY:
                ids.append(account)
                times.append(wall)
        for account, seen in list(self._final.items()):
            if account in self.book.local:
                del self._final[account]  # back online: the connected write covers it
            elif now - self._written.get(account, -WRITE_EVERY) >= WRITE_EVERY:
                del self._final[account]
                ids.append(account)
                times.append(seen)
        for account in [a for a, t in self._written.items()
                        if now - t >= WRITE_EVERY and a not in self.book.local and a not in self._final]:
            del self._written[account]
        if not ids:
            return
        await self.pool.execute(q("presence_last_seen"), ids, times)
        for account in ids:
            self._written[account] = now
        self.counters.writes += 1
        self.counters.rows_written += len(ids)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except DATABASE_DOWN:
                log.warning("presence tick failed: the database is unavailable")
            except Exception:  # a bug here must not stop presence for good
                log.exception("presence tick failed")
            await asyncio.sleep(TICK)

    async def stop(self) -> None:
        """Tell the others this process's accounts are gone, and write their last-seen."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        wall = time.time()
        accounts = list(self.book.local)
        with contextlib.suppress(*DATABASE_DOWN):
            if accounts:
                await self._announce([[a, CODES["offline"], int(wall)] for a in accounts])
                await self.pool.execute(q("presence_last_seen"), accounts, [wall] * len(accounts))


class PresenceMetrics(Collector):
    """/metrics: what presence costs (read when scraped)."""

    def __init__(self, presence: Presence) -> None:
        self.presence = presence

    def collect(self) -> Iterator[Metric]:
        c = self.presence.counters
        yield GaugeMetricFamily("webchat_presence_online", "Accounts online or away (all processes)",
                                sum(1 for a in {*self.presence.book.local, *self.presence.book.remote}
                                    if self.presence.book.status(a) != OFFLINE))
        yield CounterMetricFamily("webchat_presence_events", "Presence events written to readers", c.events)
        yield CounterMetricFamily("webchat_presence_notifies", "Presence NOTIFY payloads sent", c.notifies)
        yield CounterMetricFamily("webchat_presence_writes", "Statements writing last_seen_at", c.writes)
        yield CounterMetricFamily("webchat_presence_rows_written", "Accounts whose last_seen_at was written",
                                  c.rows_written)


def decode_rows(note: dict[str, Any]) -> tuple[str, tuple[tuple[int, int, int], ...]]:
    """A presence payload's process token and rows; ValueError when it is not one."""
    process, rows = note.get("x"), note.get("r")
    if not isinstance(process, str) or len(process) > 40 or not isinstance(rows, list) or not rows:
        raise ValueError("'x' must be a string and 'r' a non-empty list")
    out = []
    for row in rows:
        if (not isinstance(row, list) or len(row) != 3 or any(type(v) is not int for v in row)
                or not 0 <= row[1] < len(NAMES) or row[0] < 1 or row[2] < 0):
            raise ValueError("a row is not [account_id, status 0-2, last_seen epoch]")
        out.append((row[0], row[1], row[2]))
    return process, tuple(out)
