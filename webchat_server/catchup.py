"""Catch-up: what changed after a reader's positions, and attaching a reader to the hub."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import asyncpg

from .db import q
from .events import Event, message_event
from .hub import Hub, Subscriber

PAGE = 2_000
# past this many missed changes a reader reloads (resync) instead of replaying them
MAX_CHANGES = 20_000
# a chat joined while away: replay its latest changes; older history comes from paging
RECENT_ON_JOIN = 50


async def changes_since(pool: asyncpg.Pool, positions: Mapping[int, int | None]) -> list[asyncpg.Record] | None:
    """Rows changed after each chat's position, per chat in change order; None if too many."""
    rows: list[asyncpg.Record] = []
    unknown = [c for c, p in positions.items() if p is None]
    if unknown:
        rows.extend(await pool.fetch(q("recent_changes"), unknown, RECENT_ON_JOIN))
    known = {c: p for c, p in positions.items() if p is not None}
    while known:
        chats = sorted(known)
        page = await pool.fetch(q("catch_up"), chats, [known[c] for c in chats], PAGE)
        rows.extend(page)
        if len(rows) > MAX_CHANGES:
            return None
        if len(page) < PAGE:
            break
        # rows come ordered by chat: chats before the last one are complete, the last one
        # continues after its last row, later ones have not started
        last = page[-1]
        known = {c: p for c, p in known.items() if c > last["chat_id"]}
        known[last["chat_id"]] = last["change_seq"]
    return rows


def deliver_changes(subs: list[Subscriber], rows: list[asyncpg.Record], hub: Hub | None = None) -> None:
    """Give catch-up rows to subscribers; each sees an insert it has not seen as new_message.

    With `hub`, this is a live fan-out (rows are offered, so subscribers still catching up buffer
    them); without, the rows are a subscriber's own catch-up and are accepted directly.
    """
    if not rows:
        return
    if hub is not None:
        hub.epoch += 1  # a fan-out too, for attach()'s "did I miss anything" check
    by_chat: dict[int, list[asyncpg.Record]] = {}
    for row in rows:
        by_chat.setdefault(row["chat_id"], []).append(row)
    cache: dict[tuple[int, bool], Event] = {}
    for sub in subs:
        give = sub.offer if hub is not None else sub.accept
        # only this subscriber's chats: after a reconnect, thousands of readers share one result
        for chat_id in [c for c in sub.positions if c in by_chat]:
            for row in by_chat[chat_id]:
                pos = sub.positions.get(chat_id)
                is_new = pos is None or row["seq"] > pos
                key = (row["id"], is_new)
                ev = cache.get(key)
                if ev is None:
                    ev = cache[key] = message_event(row, is_new, row["change_seq"])
                give(ev)


async def attach(pool: asyncpg.Pool, hub: Hub, sub: Subscriber, given: Mapping[int, int] | None,
                 only_chat: int | None = None, on_ready: Callable[[], None] | None = None) -> bool:
    """Subscribe before reading: register, read memberships, replay the gap, then go live.

    Returns False when the gap could not be replayed (the subscriber got `resync`).
    """
    epoch = hub.epoch
    hub.register(sub)
    rows = await pool.fetch(q("memberships_with_seq"), sub.account_id)
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
        hub.subscribe(sub, chat_id, pos)
    # behind if events were fanned out between the membership read and now (they may have
    # missed us), or if a position is older than the chat's last change
    last_seq = {r["chat_id"]: r["last_seq"] for r in rows}
    behind = hub.epoch != epoch or any(
        p is None or p < last_seq.get(c, p + 1) for c, p in sub.positions.items()
    )
    if on_ready is not None:
        on_ready()
    if behind:
        changes = await changes_since(pool, dict(sub.positions))
        if changes is None:
            sub.overflow("too many missed events")
            return False
        deliver_changes([sub], changes)
    sub.go_live()
    return True
