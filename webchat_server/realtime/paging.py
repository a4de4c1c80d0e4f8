"""Pages from the database: what a reader that fell behind reads next, by its own positions.

A reader runs its own page loop (realtime/subscriber.py) and asks a `Pages` for each page; this
module knows the queries and how a page's rows become events, and nothing of the reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

import asyncpg

from ..db import q
from .events import Event
from .kinds.messages import message_event

# a chat joined while away: replay its latest changes; older history comes from paging
RECENT_ON_JOIN = 50


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


def replay_events(positions: Mapping[int, int | None], rows: Iterable[asyncpg.Record],
                  cache: dict[tuple[int, bool], Event] | None = None) -> Iterable[Event]:
    """Events for the rows of the chats in `positions`; an insert past its chat's position is a
    new_message. Lazy: `positions` is read as each event is taken."""
    cache = {} if cache is None else cache
    for row in rows:
        chat_id = row["chat_id"]
        if chat_id not in positions:
            continue
        pos = positions[chat_id]
        is_new = pos is None or row["seq"] > pos
        ev = cache.get((row["id"], is_new))
        if ev is None:
            ev = cache[(row["id"], is_new)] = message_event(row, is_new, row["change_seq"])
        yield ev


class Pages:
    """What a paging reader asks for its next page (the subscriber's `PageSource`), the limits its
    page loop keeps, and the page loops running, so that stopping delivery ends them."""

    def __init__(self, pool: asyncpg.Pool, *, page_rows: int, stall_timeout: float, low_water: int) -> None:
        self.pool = pool
        self.page_rows = page_rows
        self.stall_timeout = stall_timeout
        self.low_water = low_water
        self.queries = 0
        self.replays = 0
        self.running: set[asyncio.Task[None]] = set()

    async def read(self, positions: Mapping[int, int | None], limit: int) -> tuple[Iterable[Event], bool]:
        """The next page after `positions` (the reader's own, read again as it takes each event):
        its events, built as the reader takes them (none past a full socket), and whether it was
        the last."""
        rows, complete = await changes_page(self.pool, dict(positions), limit)
        self.queries += 1
        return replay_events(positions, rows), complete

    def started(self, task: asyncio.Task[None]) -> None:
        """A reader started its page loop."""
        self.replays += 1
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def stop(self) -> None:
        tasks = tuple(self.running)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
