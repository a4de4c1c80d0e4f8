"""One home for delivery: attach a reader, replay what it missed, fan out notifications, reconcile.

Exactly once, in order, per chat: every event that moves a reader in a chat carries the chat's
gap-free sequence (`change_seq`); a reader keeps its position per chat and takes only events past
it. So a reader may be fed from the live stream or from the database by its positions, and
switched between the two at any time, without losing or repeating anything:

- attach: subscribe before reading (register, read memberships, replay the gap, then go live);
- replay: a reader whose socket cannot take a burst pages from the database as it drains;
- fan-out: one query per batch of notifications, one serialized frame per event;
- reconcile: after the listener was away, memberships and positions are read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from ..db import q
from ..errors import DATABASE_DOWN
from .events import Event, chat_event, message_event, read_event, removed_event, typing_event
from .hub import Hub, PollWaiter, Subscriber
from .notifications import (
    ChatsChanged,
    ChatsDeleted,
    Inserted,
    Joined,
    Left,
    Notification,
    Probe,
    ReadMoved,
    Typing,
    Updated,
)

log = logging.getLogger(__name__)

# a chat joined while away: replay its latest changes; older history comes from paging
RECENT_ON_JOIN = 50
# rows one fan-out round fetches at most: a burst of thousands of rows is built and written in
# slices, so the server holds one slice of frames at a time, not the whole burst
FANOUT_SLICE = 400
# rows a shared replay after a listener outage reads before it hands readers to their own paging
SHARED_REPLAY_MAX = 5_000
# how often a paging reader's socket is checked for having drained
DRAIN_CHECK = 0.02
# rows of this process's own sends kept for their fan-out (a few seconds' worth at most)
WRITTEN_MAX = 4_096


async def changes_page(pool: asyncpg.Pool, positions: Mapping[int, int | None],
                       limit: int) -> tuple[list[asyncpg.Record], bool]:
    """Rows changed after each chat's position, per chat in change order, at most about `limit`;
    and whether that is everything (False: page on from the positions the rows move to)."""
    rows: list[asyncpg.Record] = []
    unknown = [c for c, p in positions.items() if p is None]
    if unknown:
        rows.extend(await pool.fetch(q("recent_changes"), unknown, RECENT_ON_JOIN))
    known = {c: p for c, p in positions.items() if p is not None}
    if not known:
        return rows, True
    chats = sorted(known)
    page = await pool.fetch(q("catch_up"), chats, [known[c] for c in chats], limit)
    rows.extend(page)
    return rows, len(page) < limit


def replay_events(sub: Subscriber, rows: Iterable[asyncpg.Record],
                  cache: dict[tuple[int, bool], Event] | None = None) -> Iterable[Event]:
    """Events for the rows of `sub`'s chats; an insert it has not seen is a new_message."""
    cache = {} if cache is None else cache
    for row in rows:
        chat_id = row["chat_id"]
        if chat_id not in sub.positions:
            continue
        pos = sub.positions[chat_id]
        is_new = pos is None or row["seq"] > pos
        ev = cache.get((row["id"], is_new))
        if ev is None:
            ev = cache[(row["id"], is_new)] = message_event(row, is_new, row["change_seq"])
        yield ev


@dataclass
class _Batch:
    """What one slice of notifications needs: rows fetched once, members who just joined."""

    messages: dict[int, asyncpg.Record] = field(default_factory=dict)
    chats: dict[int, asyncpg.Record] = field(default_factory=dict)
    message_ids: set[int] = field(default_factory=set)
    newest: dict[int, int] = field(default_factory=dict)  # message -> the highest seq notified for it
    chat_ids: set[int] = field(default_factory=set)
    joined: dict[int, list[Subscriber]] = field(default_factory=dict)
    announced: set[int] = field(default_factory=set)  # chats with their own 'c' event in this slice


class Delivery:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, *, page_rows: int = 100, poll_page_rows: int = 200,
                 stall_timeout: float = 60.0, low_water: int = 64 * 1024) -> None:
        self.pool = pool
        self.hub = hub
        self.page_rows = page_rows
        self.poll_page_rows = poll_page_rows
        self.stall_timeout = stall_timeout
        self.low_water = low_water
        self.queries = 0
        self.replays = 0
        # Moves whenever notifications are consumed (delivered or dropped) and whenever events
        # are fanned out. A reader that sees it unchanged across its membership read knows it
        # missed nothing and may skip its replay query. Only _advance() moves it.
        self._epoch = 0
        # moves when a reconcile starts: an attach whose membership read may have run before it
        # reads again, so its memberships are never older than the listener's last return
        self._reconciles = 0
        self._tasks: set[asyncio.Task[None]] = set()
        hub.pager = self._start_replay
        # message rows this process's sends wrote, by id, until their notification arrives
        self._written: OrderedDict[int, asyncpg.Record] = OrderedDict()
        self.written_hits = 0

    def remember(self, rows: Iterable[asyncpg.Record]) -> None:
        """Rows this process has just committed (the send path hands them over): the fan-out of their
        notification then needs no fetch. A row whose notification went before it arrived is simply
        fetched as any other; the oldest entries go when WRITTEN_MAX is passed."""
        for row in rows:
            self._written[row["id"]] = row
        while len(self._written) > WRITTEN_MAX:
            self._written.popitem(last=False)

    def _advance(self) -> None:
        self._epoch += 1

    async def stop(self) -> None:
        for t in tuple(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- attach -------------------------------------------------------------------------------
    async def attach(self, sub: Subscriber, given: Mapping[int, int] | None, only_chat: int | None = None,
                     on_ready: Callable[[], None] | None = None) -> bool:
        """Subscribe before reading: register, read memberships, replay the gap, then go live.

        Returns False when the reader got `resync` instead.
        """
        epoch = self._epoch
        self.hub.register(sub)
        while True:
            reconciles = self._reconciles
            rows = await self.pool.fetch(q("memberships_with_seq"), sub.account_id)
            if reconciles == self._reconciles:
                break
        for r in rows:
            chat_id, last = r["chat_id"], r["last_seq"]
            if only_chat is not None and chat_id != only_chat:
                continue
            if given is None:
                pos: int | None = last
            elif chat_id in given:
                pos = min(given[chat_id], last)
            else:
                pos = None
            # this read decides the position, even if a join notification subscribed the reader
            # meanwhile at "no known position": nothing was written to it yet (events wait in
            # `pending` and are filtered by position when it goes live)
            sub.positions[chat_id] = pos
            self.hub.subscribe(sub, chat_id, pos)
        sub.attached = True
        # behind if events were fanned out between the membership read and now (they may have
        # missed us), or if a position is older than the chat's last change
        last_seq = {r["chat_id"]: r["last_seq"] for r in rows}
        behind = self._epoch != epoch or any(
            p is None or p < last_seq.get(c, p + 1) for c, p in sub.positions.items()
        )
        if on_ready is not None:
            on_ready()
        if not behind:
            sub.go_live()
        elif isinstance(sub, PollWaiter):
            await self._replay_page(sub, self.poll_page_rows)
        else:
            # a socket replays in the background, page by page as it drains, so its read loop
            # (pings, typing) runs meanwhile
            sub.stop_buffering()
            self._start_replay(sub)
        return not sub.closed

    # -- replay -------------------------------------------------------------------------------
    def _start_replay(self, sub: Subscriber) -> None:
        if sub.replaying or sub.closed or isinstance(sub, PollWaiter):
            return
        sub.replaying = True
        self.replays += 1
        task = asyncio.get_running_loop().create_task(self._replay(sub))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replay(self, sub: Subscriber) -> None:
        try:
            while sub.paging and not sub.closed:
                if not await self._drained(sub):
                    sub.overflow(f"the socket took nothing for {self.stall_timeout:g} s")
                    return
                if sub.closed:
                    return
                await self._replay_page(sub, self._page_limit(sub))
        except DATABASE_DOWN:
            log.warning("database unavailable while replaying to account %s", sub.account_id)
            sub.overflow("database unavailable")
        finally:
            sub.replaying = False

    def _page_limit(self, sub: Subscriber) -> int:
        """Rows that fit the room left under the high-water mark, judged by the rows sent so far,
        so a page of large rows is not fetched only to be cut short (between 10 and page_rows)."""
        room = max(getattr(sub, "high_water", 0) - sub.buffered(), 0)
        avg = sub.replayed_bytes / sub.replayed_rows if sub.replayed_rows else 0
        if not avg:
            return self.page_rows
        return max(10, min(self.page_rows, int(room / avg) + 1))

    async def _replay_page(self, sub: Subscriber, limit: int) -> None:
        """One page from the database; live events wait behind its query, so going live after the
        last page is exact (a commit the query missed is notified after the buffer opened)."""
        sub.pending = []
        rows, complete = await changes_page(self.pool, dict(sub.positions), limit)
        self.queries += 1
        for ev in replay_events(sub, rows):
            if not sub.replay(ev):
                complete = False  # the socket filled up again: the rest comes with the next page
                break
            sub.replayed_rows += 1
            sub.replayed_bytes += len(ev.frame)
        if complete and sub.pending is not None:
            sub.go_live()
        else:
            sub.stop_buffering()
            if isinstance(sub, PollWaiter):
                sub.start_paging()

    async def _drained(self, sub: Subscriber) -> bool:
        """Wait until the socket is below its low-water mark; False if it took nothing for the
        stall timeout (a reader that is slow but moving is never cut off)."""
        loop = asyncio.get_running_loop()
        last, progress = sub.buffered(), loop.time()
        while not sub.closed and sub.buffered() > self.low_water:
            await asyncio.sleep(DRAIN_CHECK)
            size, now = sub.buffered(), loop.time()
            if size < last:
                progress = now
            last = size
            if now - progress > self.stall_timeout:
                return False
        return True

    # -- fan-out ------------------------------------------------------------------------------
    async def deliver(self, notes: Sequence[Notification]) -> None:
        """Fan out a batch of notifications, in slices of at most FANOUT_SLICE message rows."""
        start, rows = 0, 0
        for i, note in enumerate(notes):
            n = len(note.rows) if isinstance(note, Inserted | Updated) else 0
            if rows and rows + n > FANOUT_SLICE:
                await self._deliver_slice(notes[start:i])
                start, rows = i, 0
            rows += n
        await self._deliver_slice(notes[start:])

    async def _deliver_slice(self, notes: Sequence[Notification]) -> None:
        if not notes:
            return
        hub = self.hub
        # These notifications are about to be delivered or, for chats nobody here listens to
        # yet, dropped: a reader attaching right now must know to run its replay query.
        self._advance()
        batch = _Batch()
        # membership first, so a chat's first events reach the members who just joined it
        for note in notes:
            HANDLERS[type(note)].prepare(self, note, batch)
        # fetch only rows someone here listens to: one query per slice, never one per reader
        # rows this process has just written (its own sends) need no fetch, unless a later change
        # of the row is in this slice too
        for message_id in list(batch.message_ids):
            row = self._written.pop(message_id, None)
            if row is not None and row["change_seq"] >= batch.newest.get(message_id, 0):
                batch.messages[message_id] = row
                batch.message_ids.discard(message_id)
                self.written_hits += 1
        if batch.message_ids:
            for row in await self.pool.fetch(q("messages_by_ids"), list(batch.message_ids)):
                batch.messages[row["id"]] = row
            self.queries += 1
        chat_ids = {c for c in batch.chat_ids if c in hub.by_chat}
        if chat_ids:
            for row in await self.pool.fetch(q("chats_by_ids"), list(chat_ids)):
                batch.chats[row["id"]] = row
            self.queries += 1
        self._advance()
        if batch.joined:
            await self._welcome(batch.joined, batch.chats, batch.announced)
        with hub.corked_writes():
            for note in notes:
                for ev in HANDLERS[type(note)].events(self, note, batch):
                    hub.publish(ev)

    async def _welcome(self, joined: Mapping[int, list[Subscriber]], chats: Mapping[int, asyncpg.Record],
                       announced: set[int]) -> None:
        """Readers that just joined chats get each chat and its recent changes, then live events."""
        for chat_id, subs in joined.items():
            # a chat created in this batch is announced by its own 'c' event
            if chat_id in chats and chat_id not in announced:
                self.hub.publish_to(subs, chat_event(chats[chat_id]))
        rows = await self.pool.fetch(q("recent_changes"), list(joined), RECENT_ON_JOIN)
        self.queries += 1
        self._offer_rows({s for subs in joined.values() for s in subs}, rows)

    def _offer_rows(self, subs: Iterable[Subscriber], rows: list[asyncpg.Record]) -> None:
        if not rows:
            return
        by_chat: dict[int, list[asyncpg.Record]] = {}
        for row in rows:
            by_chat.setdefault(row["chat_id"], []).append(row)
        cache: dict[tuple[int, bool], Event] = {}
        for sub in subs:
            # only this reader's chats: after a reconnect, thousands of readers share one result
            for chat_id in [c for c in sub.positions if c in by_chat]:
                for ev in replay_events(sub, by_chat[chat_id], cache):
                    sub.offer(ev)

    # -- reconcile ----------------------------------------------------------------------------
    async def reconcile(self) -> None:
        """After the listener was away: memberships and positions are read again, for everyone.

        Readers removed meanwhile stop receiving (and are told), readers added get the chat and
        its recent changes, and every reader gets what was committed while nobody listened.
        """
        self._advance()
        self._reconciles += 1
        hub = self.hub
        # a reader still attaching is left alone: its own membership read runs after this began
        # (attach reads again), and it replays from its own cursor. Subscribing it here, at "no
        # known position", replaced the client's cursor: it got the chat's latest changes
        # instead of everything after its cursor (a silent gap).
        subs = [s for s in hub.subscribers() if s.attached]
        if not subs:
            return
        members: dict[int, set[int]] = {}
        for r in await self.pool.fetch(q("memberships_of_accounts"), list(hub.by_account)):
            members.setdefault(r["account_id"], set()).add(r["chat_id"])
        self.queries += 1
        joined: dict[int, list[Subscriber]] = {}
        for sub in subs:
            mine = members.get(sub.account_id, set())
            only = sub.only_chat if isinstance(sub, PollWaiter) else None
            if only is not None:
                mine = mine & {only}
            for chat_id in [c for c in sub.positions if c not in mine]:
                hub.unsubscribe(sub, chat_id)
                sub.offer(removed_event(chat_id))
            for chat_id in mine - sub.positions.keys():
                hub.subscribe(sub, chat_id, None)
                joined.setdefault(chat_id, []).append(sub)
        if joined:
            chats = {r["id"]: r for r in await self.pool.fetch(q("chats_by_ids"), list(joined))}
            self.queries += 1
            await self._welcome(joined, chats, set())
        # one shared read from the oldest position per chat
        positions: dict[int, int | None] = {}
        for sub in subs:
            for chat_id, pos in sub.positions.items():
                cur = positions.get(chat_id)
                if chat_id not in positions or (pos is not None and (cur is None or pos < cur)):
                    positions[chat_id] = pos
        rows, complete = await changes_page(self.pool, positions, SHARED_REPLAY_MAX)
        self.queries += 1
        self._advance()
        if complete:
            self._offer_rows(subs, rows)
        else:
            # too much for one shared read: each reader pages on from its own positions
            for sub in subs:
                if not sub.closed:
                    if sub.pending is not None:
                        sub.stop_buffering()
                    sub.start_paging()


# -- one handler per notification kind --------------------------------------------------------
class Handler:
    """prepare: membership effects and rows to fetch; events: what to fan out, in order."""

    def prepare(self, d: Delivery, note: Notification, batch: _Batch) -> None:
        pass

    def events(self, d: Delivery, note: Notification, batch: _Batch) -> Iterable[Event]:
        return ()


class _Messages(Handler):
    def prepare(self, d: Delivery, note: Notification, batch: _Batch) -> None:
        assert isinstance(note, Inserted | Updated)
        for r in note.rows:
            if r.chat_id in d.hub.by_chat:
                batch.message_ids.add(r.message_id)
                batch.newest[r.message_id] = max(batch.newest.get(r.message_id, 0), r.seq)

    def events(self, d: Delivery, note: Notification, batch: _Batch) -> Iterable[Event]:
        assert isinstance(note, Inserted | Updated)
        for r in note.rows:
            row = batch.messages.get(r.message_id)
            # a row gone since (chat deleted) is not delivered; its chat is gone for readers too
            if row is not None and row["chat_id"] == r.chat_id:
                yield message_event(row, isinstance(note, Inserted), r.seq)


class _ChatsChanged(Handler):
    def prepare(self, d: Delivery, note: Notification, batch: _Batch) -> None:
        assert isinstance(note, ChatsChanged)
        batch.chat_ids.update(note.chat_ids)
        batch.announced.update(note.chat_ids)

    def events(self, d: Delivery, note: Notification, batch: _Batch) -> Iterable[Event]:
        assert isinstance(note, ChatsChanged)
        return [chat_event(batch.chats[c]) for c in note.chat_ids if c in batch.chats]


class _ChatsDeleted(Handler):
    def prepare(self, d: Delivery, note: Notification, batch: _Batch) -> None:
        assert isinstance(note, ChatsDeleted)
        for chat_id in note.chat_ids:
            d.hub.publish(removed_event(chat_id))
            d.hub.drop_chat(chat_id)


class _Joined(Handler):
    def prepare(self, d: Delivery, note: Notification, batch: _Batch) -> None:
        assert isinstance(note, Joined)
        for chat_id, account_id in note.pairs:
            subs = d.hub.join(account_id, chat_id)
            if subs:
                batch.joined.setdefault(chat_id, []).extend(subs)
            batch.chat_ids.add(chat_id)


class _Left(Handler):
    def prepare(self, d: Delivery, note: Notification, batch: _Batch) -> None:
        assert isinstance(note, Left)
        for chat_id, account_id in note.pairs:
            d.hub.publish_to(d.hub.leave(account_id, chat_id), removed_event(chat_id))


class _ReadMoved(Handler):
    def events(self, d: Delivery, note: Notification, batch: _Batch) -> Iterable[Event]:
        assert isinstance(note, ReadMoved)
        return [read_event(c, a, s) for c, a, s in note.rows if c in d.hub.by_chat]


class _Typing(Handler):
    def events(self, d: Delivery, note: Notification, batch: _Batch) -> Iterable[Event]:
        assert isinstance(note, Typing)
        if note.chat_id in d.hub.by_chat:
            return [typing_event(note.chat_id, note.account_id, note.name, note.on)]
        return ()


HANDLERS: dict[type[Notification], Handler] = {
    Inserted: _Messages(),
    Updated: _Messages(),
    ChatsChanged: _ChatsChanged(),
    ChatsDeleted: _ChatsDeleted(),
    Joined: _Joined(),
    Left: _Left(),
    ReadMoved: _ReadMoved(),
    Typing: _Typing(),
    Probe: Handler(),  # answered by the listener itself; never queued
}

delivery_key = web.AppKey("delivery", Delivery)
