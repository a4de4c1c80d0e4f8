"""Helpers shared by the real-time tests: SQL writers (the cursor keeper is webchat_server.realtime.cursor.Keeper)."""

from __future__ import annotations

import asyncpg


async def make_bot(sql: asyncpg.Connection, chat_id: int, name: str = "Bot") -> int:
    bot: int = await sql.fetchval(
        "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', $1) RETURNING id", name)
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat_id, bot)
    return bot


async def insert(sql: asyncpg.Connection, chat_id: int, sender: int, text: str) -> None:
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                      chat_id, sender, text)


async def add_member(sql: asyncpg.Connection, chat_id: int, account_id: int) -> None:
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat_id, account_id)
