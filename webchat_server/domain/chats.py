"""Chats and membership: list, create, rename, archive, delete."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..db import Conn, Executor, q
from ..errors import Forbidden, NotFound
from .limits import NO_CHARGE, Charge
from .members import PresenceOf, members_json, stored_presence
from .model import chat_json


async def is_member(conn: Executor, chat_id: int, account_id: int) -> bool:
    return await conn.fetchval(q("member_check"), chat_id, account_id) is not None


async def require_member(conn: Executor, chat_id: int, account_id: int) -> None:
    # 404, not 403: a chat you are not in does not exist for you
    if not await is_member(conn, chat_id, account_id):
        raise NotFound()


def _viewer_chat_json(row: asyncpg.Record, viewer: int, presence: PresenceOf) -> dict[str, Any]:
    chat = chat_json(row, viewer)
    chat["members"] = members_json(row["members"], presence)
    return chat


async def list_chats(pool: asyncpg.Pool, account_id: int,
                     presence: PresenceOf = stored_presence) -> list[dict[str, Any]]:
    rows = await pool.fetch(q("chats_for_account"), account_id, None)
    return [_viewer_chat_json(r, account_id, presence) for r in rows]


async def get_chat(conn: Executor, account_id: int, chat_id: int,
                   presence: PresenceOf = stored_presence) -> dict[str, Any]:
    row = await conn.fetchrow(q("chats_for_account"), account_id, chat_id)
    if row is None:
        raise NotFound()
    return _viewer_chat_json(row, account_id, presence)


async def create_chat_in(conn: Conn, account_id: int, title: str) -> int:
    chat_id: int = await conn.fetchval(q("chat_create"), title, account_id)
    await conn.execute(q("member_add"), chat_id, account_id)
    return chat_id


async def create_chat(pool: asyncpg.Pool, account_id: int, title: str, charge: Charge = NO_CHARGE) -> dict[str, Any]:
    async with charge.paid(), pool.acquire() as conn, conn.transaction():
        chat_id = await create_chat_in(conn, account_id, title)
        return await get_chat(conn, account_id, chat_id)


async def update_chat(
    pool: asyncpg.Pool, account_id: int, chat_id: int, title: str | None, archived: bool | None
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await require_member(conn, chat_id, account_id)
        if title is not None or archived is not None:
            await conn.execute(q("chat_update"), chat_id, title, archived)
        return await get_chat(conn, account_id, chat_id)


async def delete_chat(pool: asyncpg.Pool, account_id: int, chat_id: int, hard: bool) -> dict[str, Any] | None:
    """Archive (default) or delete for good; only the creator may hard-delete a shared chat."""
    if not hard:
        return await update_chat(pool, account_id, chat_id, None, True)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(q("chat_lock_for_member"), chat_id, account_id)
        if row is None:
            raise NotFound()
        if row["created_by"] is not None and row["created_by"] != account_id:
            raise Forbidden("only the chat's creator can delete it")
        await conn.execute(q("chat_delete"), chat_id)
    return None


def title_from_text(text: str, media_type: str | None) -> str:
    line = " ".join(text.split())
    if line:
        return line if len(line) <= 60 else line[:59].rstrip() + "…"
    if media_type == "image":
        return "Image"
    if media_type == "audio":
        return "Voice message"
    return "New chat"
