"""Agents' readers follow every visitor conversation without joining it: what they follow, and when more.

A visitor conversation is followed like a chat the agent is a member of (positions, replay, resume
by cursor, paging), so every delivery guarantee holds for it. At attach an agent's reader follows
its memberships, every open conversation, the resolved ones of the last day and those its cursor
names (`agent_follows_with_seq`). Any other conversation (a new visitor's, an old one come back to
life) is followed from the first message notification that names it, at the position just before
that message: everything from there on comes, live or replayed, exactly once, and nothing before
it is replayed (that is history, read with GET /webchat/messages/).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from ..db import q
from .hub import Hub
from .kinds.messages import Inserted, Updated

# chats found not to be visitor conversations (agents' or bots' own), so their next messages cost no
# look-up. A chat becomes one later only if SQL sets its created_by to a visitor: agents' readers
# then follow it from their next connection. Bounded (cleared when full).
NOT_CONVERSATIONS_MAX = 10_000


def first_positions(notes: Iterable[object]) -> dict[int, int]:
    """Per chat, the position just before the first message change these notifications carry."""
    start: dict[int, int] = {}
    for note in notes:
        if isinstance(note, Inserted | Updated):
            for r in note.rows:
                if r.chat_id not in start or r.seq - 1 < start[r.chat_id]:
                    start[r.chat_id] = r.seq - 1
    return start


async def follow_new(pool: asyncpg.Pool, hub: Hub, notes: Sequence[object]) -> bool:
    """Before a slice is fanned out: agents' readers start following the visitor conversations in it
    they do not follow yet. Returns whether it queried. Readers still attaching are included: their
    own read may predate the message (attach then decides the chats its read found)."""
    readers = [s for s in hub.agents if not s.closed and s.only_chat is None]
    if not readers:
        return False
    start = first_positions(notes)
    wanted = [c for c in start if c not in hub.not_conversations and any(c not in s.positions for s in readers)]
    if not wanted:
        return False
    found = {row["id"] for row in await pool.fetch(q("conversations_among"), wanted)}
    if len(hub.not_conversations) > NOT_CONVERSATIONS_MAX:
        hub.not_conversations.clear()
    hub.not_conversations.update(c for c in wanted if c not in found)
    for chat_id in found:
        for sub in readers:
            if chat_id not in sub.positions:
                hub.subscribe(sub, chat_id, start[chat_id])
    return True
