"""Guest retention: old guests with nothing to lose are deleted, with their empty chats; the rest stay."""

from __future__ import annotations

from typing import Any

import asyncpg

from webchat_server.db import pool_key
from webchat_server.domain.accounts import delete_expired_guests

from .conftest import Api


async def test_old_guests_with_nothing_to_lose_are_deleted(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    writer = api  # sent a message: kept
    await writer.send("I wrote something")
    reader = await new_api()  # only reads a chat with messages (a bot's, say): kept
    chat_with_messages = (await writer.send("hello reader"))["chat_id"]
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)",
                      chat_with_messages, reader.id)
    idle = await new_api()  # opened "New chat" and never wrote: deleted, with its empty chat
    r = await idle.post("/webchat/chats/", {"title": "New chat"})
    empty_chat = (await r.json())["chat"]["id"]
    flood = [await new_api() for _ in range(5)]  # made and never used again: deleted
    young = await new_api()  # as idle, but recent: kept
    old = [writer.id, reader.id, idle.id, *(f.id for f in flood)]
    await sql.execute("UPDATE webchat.accounts SET created_at = now() - interval '40 days' WHERE id = ANY($1)", old)

    deleted = await delete_expired_guests(api.client.server.app[pool_key], 30)
    assert deleted == 6
    left = {r["id"] for r in await sql.fetch("SELECT id FROM webchat.accounts WHERE kind = 'guest'")}
    assert left == {writer.id, reader.id, young.id}
    assert await sql.fetchval("SELECT count(*) FROM webchat.chats WHERE id = $1", empty_chat) == 0
    assert await sql.fetchval("SELECT count(*) FROM webchat.chats WHERE id = $1", chat_with_messages) == 1
    # a deleted guest's cookie starts a new guest, as any unknown session does
    r = await idle.get("/webchat/me")
    assert r.status == 200 and (await r.json())["account"]["id"] not in (idle.id, *left)
    assert await delete_expired_guests(api.client.server.app[pool_key], 30) == 0
