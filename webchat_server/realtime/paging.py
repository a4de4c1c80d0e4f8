"""Paging: a reader fed from the database by its positions, page by page as its socket drains.

Owned by delivery: it starts a pager for the readers the hub lists as newly paging, and for a
socket whose first catch-up is more than one page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

import asyncpg

from ..db import q
from ..errors import DATABASE_DOWN
from .events import Event
from .kinds.messages import message_event
from .subscriber import PollWaiter, State, Subscriber, WsSubscriber

log = logging.getLogger(__name__)

# a chat joined while away: replay its latest changes; older history comes from paging
RECENT_ON_JOIN = 50
# how often a paging reader's socket is checked for having drained
DRAIN_CHECK = 0.02


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


class Pager:
    """One background task per paging socket; a parked poll pages by answering instead."""

    def __init__(self, pool: asyncpg.Pool, *, page_rows: int, stall_timeout: float, low_water: int) -> None:
        self.pool = pool
        self.page_rows = page_rows
        self.stall_timeout = stall_timeout
        self.low_water = low_water
        self.queries = 0
        self.replays = 0
        self._tasks: dict[Subscriber, asyncio.Task[None]] = {}

    def follow(self, subs: Iterable[Subscriber]) -> None:
        """Page each of these sockets in the background until it is live again."""
        for sub in subs:
            if sub in self._tasks or sub.closed or isinstance(sub, PollWaiter):
                continue
            self.replays += 1
            task = asyncio.get_running_loop().create_task(self._replay(sub))
            self._tasks[sub] = task

    async def stop(self) -> None:
        tasks = tuple(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _replay(self, sub: Subscriber) -> None:
        try:
            while sub.state is State.PAGING:
                if not await self._drained(sub):
                    sub.overflow(f"the socket took nothing for {self.stall_timeout:g} s")
                    return
                if sub.closed:
                    return
                await self.fetch_page(sub, self._page_limit(sub))
        except DATABASE_DOWN:
            log.warning("database unavailable while replaying to account %s", sub.account_id)
            sub.overflow("database unavailable")
        finally:
            # at once, not in a done callback: a reader that starts paging again right after its
            # last page must find no task here, or nobody would page it
            self._tasks.pop(sub, None)

    def _page_limit(self, sub: Subscriber) -> int:
        """Rows that fit the room left under the high-water mark, judged by the rows sent so far,
        so a page of large rows is not fetched only to be cut short (between 10 and page_rows)."""
        high_water = sub.high_water if isinstance(sub, WsSubscriber) else 0
        room = max(high_water - sub.buffered(), 0)
        avg = sub.replayed_bytes / sub.replayed_rows if sub.replayed_rows else 0
        if not avg:
            return self.page_rows
        return max(10, min(self.page_rows, int(room / avg) + 1))

    async def fetch_page(self, sub: Subscriber, limit: int) -> None:
        """One page from the database; live events wait behind its query, so going live after the
        last page is exact (a commit the query missed is notified after the buffer opened)."""
        sub.begin_page()
        rows, complete = await changes_page(self.pool, dict(sub.positions), limit)
        self.queries += 1
        events = replay_events(sub, rows)  # built as the reader takes them: none past a full socket
        sub.take_page(events, complete)

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
