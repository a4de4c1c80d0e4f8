"""One home for delivery: attach a reader, replay what it missed, fan out notifications, reconcile.

Exactly once, in order, per chat: every event that moves a reader in a chat carries the chat's
gap-free sequence (`change_seq`); a reader keeps its position per chat and takes only events past
it. So a reader may be fed from the live stream or from the database by its positions, and
switched between the two at any time, without losing or repeating anything:

- attach: subscribe before reading (register, read memberships, replay the gap, then go live);
- replay: a reader whose socket cannot take a burst pages from the database as it drains: it
  runs its own page loop (realtime/subscriber.py) and reads each page from the `Pages` given here
  (realtime/paging.py); the hub lists the sockets that started paging, and delivery hands each
  of them the pages after every step;
- fan-out: one query per batch of notifications, one serialized frame per event; what each
  notification means is its kind's (realtime/kinds/);
- reconcile: after the listener was away, memberships and positions are read again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

import asyncpg
from aiohttp import web

from ..db import q
from . import agents
from .events import Event
from .hub import Hub
from .kinds import Batch, kind_of
from .kinds.chats import chat_event, removed_event
from .paging import RECENT_ON_JOIN, Pages, changes_page, replay_events
from .subscriber import PollWaiter, Subscriber

# rows one fan-out round fetches at most: a burst of thousands of rows is built and written in
# slices, so the server holds one slice of frames at a time, not the whole burst
FANOUT_SLICE = 400
# rows a shared replay after a listener outage reads before it hands readers to their own paging
SHARED_REPLAY_MAX = 5_000
# rows of this process's own sends kept for their fan-out (a few seconds' worth at most)
WRITTEN_MAX = 4_096


class Delivery:
    def __init__(self, pool: asyncpg.Pool, hub: Hub, *, page_rows: int = 100, poll_page_rows: int = 200,
                 stall_timeout: float = 60.0, low_water: int = 64 * 1024) -> None:
        self.pool = pool
        self.hub = hub
        self.poll_page_rows = poll_page_rows
        self.pages = Pages(pool, page_rows=page_rows, stall_timeout=stall_timeout, low_water=low_water)
        self.own_queries = 0
        # Moves whenever notifications are consumed (delivered or dropped) and whenever events
        # are fanned out. A reader that sees it unchanged across its membership read knows it
        # missed nothing and may skip its replay query. Only _advance() moves it.
        self._epoch = 0
        # moves when a reconcile starts: an attach whose membership read may have run before it
        # reads again, so its memberships are never older than the listener's last return
        self._reconciles = 0
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

    @property
    def queries(self) -> int:
        return self.own_queries + self.pages.queries

    @property
    def replays(self) -> int:
        return self.pages.replays

    def _advance(self) -> None:
        self._epoch += 1

    def _page_new(self) -> None:
        """Page the sockets that stopped taking live frames in what just ran."""
        if self.hub.newly_paging:
            for sub in self.hub.take_paging():
                sub.follow(self.pages)

    async def stop(self) -> None:
        await self.pages.stop()

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
            if sub.agent:
                rows = await self.pool.fetch(q("agent_follows_with_seq"), sub.account_id, list(given or ()))
            else:
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
        sub.positions_read()
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
            await sub.read_page(self.pages, self.poll_page_rows)
        else:
            # a socket replays in the background, page by page as it drains, so its read loop
            # (pings, typing) runs meanwhile
            sub.stop_buffering()
            sub.follow(self.pages)
        self._page_new()
        return not sub.closed

    # -- fan-out ------------------------------------------------------------------------------
    async def deliver(self, notes: Sequence[object]) -> None:
        """Fan out a batch of notifications, in slices of at most FANOUT_SLICE message rows."""
        for part in _slices(notes):
            await self._deliver_slice(part)

    async def _deliver_slice(self, notes: Sequence[object]) -> None:
        if not notes:
            return
        hub = self.hub
        # These notifications are about to be delivered or, for chats nobody here listens to
        # yet, dropped: a reader attaching right now must know to run its replay query.
        self._advance()
        batch = Batch()
        # agents' readers start following the visitor conversations they do not follow yet
        if await agents.follow_new(self.pool, hub, notes):
            self.own_queries += 1
        # membership first, so a chat's first events reach the members who just joined it
        for note in notes:
            kind_of(note).prepare(hub, note, batch)
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
            self.own_queries += 1
        chat_ids = {c for c in batch.chat_ids if c in hub.by_chat}
        if chat_ids:
            for row in await self.pool.fetch(q("chats_by_ids"), list(chat_ids)):
                batch.chats[row["id"]] = row
            self.own_queries += 1
        if batch.readers:
            # read receipts: whose position only their own sessions may see
            batch.private_readers = {r["id"] for r in await self.pool.fetch(q("readers_not_sharing"),
                                                                             list(batch.readers))}
            self.own_queries += 1
        self._advance()
        if batch.joined:
            await self._welcome(batch.joined, batch.chats, batch.announced)
        with hub.corked_writes():
            for note in notes:
                for ev in kind_of(note).build(hub, note, batch):
                    hub.publish(ev)
        self._page_new()

    async def _welcome(self, joined: Mapping[int, list[Subscriber]], chats: Mapping[int, asyncpg.Record],
                       announced: set[int]) -> None:
        """Readers that just joined chats get each chat and its recent changes, then live events."""
        for chat_id, subs in joined.items():
            # a chat created in this batch is announced by its own 'c' event
            if chat_id in chats and chat_id not in announced:
                self.hub.publish_to(subs, chat_event(chats[chat_id]))
        rows = await self.pool.fetch(q("recent_changes"), list(joined), RECENT_ON_JOIN)
        self.own_queries += 1
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
                for ev in replay_events(sub.positions, by_chat[chat_id], cache):
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
            self._page_new()
            return
        members: dict[int, set[int]] = {}
        for r in await self.pool.fetch(q("memberships_of_accounts"), list(hub.by_account)):
            members.setdefault(r["account_id"], set()).add(r["chat_id"])
        self.own_queries += 1
        followed: set[int] = set()
        if any(s.agent for s in subs):
            followed = {r["id"] for r in await self.pool.fetch(q("conversations_followed"))}
            self.own_queries += 1
        joined: dict[int, list[Subscriber]] = {}
        for sub in subs:
            mine = members.get(sub.account_id, set())
            if sub.agent and sub.only_chat is None:
                # an agent keeps every conversation it follows (a deleted one just has no rows)
                mine = mine | followed | sub.positions.keys()
            if sub.only_chat is not None:
                mine = mine & {sub.only_chat}
            for chat_id in [c for c in sub.positions if c not in mine]:
                hub.unsubscribe(sub, chat_id)
                sub.offer(removed_event(chat_id))
            for chat_id in mine - sub.positions.keys():
                hub.subscribe(sub, chat_id, None)
                joined.setdefault(chat_id, []).append(sub)
        if joined:
            chats = {r["id"]: r for r in await self.pool.fetch(q("chats_by_ids"), list(joined))}
            self.own_queries += 1
            await self._welcome(joined, chats, set())
        # one shared read from the oldest position per chat
        positions: dict[int, int | None] = {}
        for sub in subs:
            for chat_id, pos in sub.positions.items():
                cur = positions.get(chat_id)
                if chat_id not in positions or (pos is not None and (cur is None or pos < cur)):
                    positions[chat_id] = pos
        rows, complete = await changes_page(self.pool, positions, SHARED_REPLAY_MAX)
        self.own_queries += 1
        self._advance()
        if complete:
            self._offer_rows(subs, rows)
        else:
            # too much for one shared read: each reader pages on from its own positions
            for sub in subs:
                if sub.buffering:
                    sub.stop_buffering()
                sub.start_paging()
        self._page_new()


def _slices(notes: Sequence[object]) -> Iterable[Sequence[object]]:
    """Consecutive runs of notes with at most FANOUT_SLICE message rows each (a note is never split)."""
    start, rows = 0, 0
    for i, note in enumerate(notes):
        n = kind_of(note).rows(note)
        if rows and rows + n > FANOUT_SLICE:
            yield notes[start:i]
            start, rows = i, 0
        rows += n
    if start < len(notes):
        yield notes[start:]


delivery_key = web.AppKey("delivery", Delivery)
