"""Helpers shared by the real-time tests: a client-side cursor keeper and SQL writers."""

from __future__ import annotations

from typing import Any

import asyncpg


class CursorKeeper:
    """What a client keeps to resume: the last full cursor plus the newest token per chat."""

    def __init__(self) -> None:
        self.base = ""
        self.tokens: dict[int, str] = {}

    def see(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "connection":
            self.base, self.tokens = ev["cursor"], {}
        elif ev.get("cursor") and ev.get("chat_id") is not None:
            self.tokens[ev["chat_id"]] = ev["cursor"]

    def reset(self, cursor: str) -> None:
        self.base, self.tokens = cursor, {}

    @property
    def value(self) -> str:
        return ",".join([self.base, *self.tokens.values()])


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
