"""Agents' readers follow every visitor conversation without joining it: what they follow, and when more.

A visitor conversation is followed like a chat the agent is a member of (positions, replay, resume
by cursor, paging), so every delivery guarantee holds for it. At attach an agent's reader follows
its memberships, every open conversation, the resolved ones of the last day and those its cursor
names (`agent_follows_with_seq`); any other conversation is followed from its next event on, as a
member who just joined is: the chat and its recent changes first, then live events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from ..db import q
from .hub import Hub
from .kinds import Batch
from .kinds.chats import ChatsChanged, Joined
from .kinds.messages import Inserted, Updated


def note_chats(notes: Iterable[object]) -> set[int]:
    """The chats a slice of notifications is about (those a new follower would need)."""
    chats: set[int] = set()
    for note in notes:
        if isinstance(note, Inserted | Updated):
            chats.update(r.chat_id for r in note.rows)
        elif isinstance(note, ChatsChanged):
            chats.update(note.chat_ids)
        elif isinstance(note, Joined):
            chats.update(c for c, _a in note.pairs)
    return chats


async def follow_new(pool: asyncpg.Pool, hub: Hub, notes: Sequence[object], batch: Batch) -> bool:
    """Before a slice is fanned out: agents' readers start following the visitor conversations in it
    they do not follow yet (a new conversation, an old one come back to life). Returns whether it
    queried. Readers still attaching are included: their own read may predate the conversation."""
    readers = [s for s in hub.agents if not s.closed and s.only_chat is None]
    if not readers:
        return False
    wanted = {c for c in note_chats(notes) if any(c not in s.positions for s in readers)}
    if not wanted:
        return False
    for row in await pool.fetch(q("conversations_among"), list(wanted)):
        chat_id = row["id"]
        for sub in readers:
            if chat_id not in sub.positions:
                hub.subscribe(sub, chat_id, None)
                batch.joined.setdefault(chat_id, []).append(sub)
        batch.chat_ids.add(chat_id)
    return True
