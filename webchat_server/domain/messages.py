"""Messages: send (idempotent by client_id), page by seq, edit, delete, read position."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from ..db import Conn, q
from ..errors import BadInput, Conflict, Forbidden, NotFound
from .chats import create_chat_in, require_member, title_from_text
from .limits import NO_CHARGE, Charge
from .media import Upload
from .model import message_json

log = logging.getLogger(__name__)


async def send(
    pool: asyncpg.Pool,
    account_id: int,
    *,
    chat_id: int | None,
    text: str,
    client_id: str | None,
    reply_to: int | None,
    upload: Upload | None,
    charge: Charge = NO_CHARGE,
) -> tuple[dict[str, Any], bool]:
    """Store a message; returns (message, created). A repeated client_id returns the first one
    (and pays no rate limit: a retry is not a new message)."""
    if client_id is not None:
        existing = await pool.fetchrow(q("message_by_client_id"), account_id, client_id)
        if existing is not None:
            return _same_send(existing, chat_id), False
    try:
        async with pool.acquire() as conn, conn.transaction():
            await charge.take(conn)
            if chat_id is None:
                title = title_from_text(text, upload.media_type if upload else None)
                chat_id = await create_chat_in(conn, account_id, title)
            else:
                await require_member(conn, chat_id, account_id)
            if reply_to is not None and await conn.fetchval(q("message_in_chat"), reply_to, chat_id) is None:
                raise BadInput("reply_to is not a message of this chat")
            media_id = None
            if upload is not None:
                media_id = await conn.fetchval(
                    q("media_insert"), chat_id, account_id, upload.content_type, len(upload.data), upload.data
                )
            row = await conn.fetchrow(
                q("message_insert"),
                chat_id,
                account_id,
                text,
                client_id,
                media_id,
                upload.media_type if upload else None,
                reply_to,
            )
            assert row is not None
            if row["seq"] == 1:
                await conn.execute(q("chat_title_from_first_message"), chat_id,
                                   title_from_text(text, upload.media_type if upload else None))
    except asyncpg.UniqueViolationError as e:
        if e.constraint_name == "messages_chat_seq":
            assert chat_id is not None  # a chat created by this send cannot have old messages
            await _report_seq_behind(pool, chat_id)
        # a concurrent retry with the same client_id won; the whole transaction (and the chat's
        # seq bump) rolled back, so there is no gap
        existing = None
        if client_id is not None:
            existing = await pool.fetchrow(q("message_by_client_id"), account_id, client_id)
        if existing is None:
            raise Conflict("the message could not be stored because of a conflicting row") from e
        return _same_send(existing, chat_id), False
    return message_json(row), True


async def _report_seq_behind(pool: asyncpg.Pool, chat_id: int) -> None:
    """chats.last_seq is behind the chat's messages (someone rewound it by hand): every insert
    takes a seq that exists. Not the client's fault and not transient, so no 500 and no 503:
    a 409 that says so, and an ERROR in the log that tells the operator how to repair it. The
    server does not repair it itself: which rows are right is the operator's call."""
    row = await pool.fetchrow(
        "SELECT c.last_seq, (SELECT max(greatest(m.seq, m.change_seq)) FROM webchat.messages m"
        " WHERE m.chat_id = c.id) AS max_seq FROM webchat.chats c WHERE c.id = $1", chat_id)
    last_seq, max_seq = (row["last_seq"], row["max_seq"]) if row else (None, None)
    log.error(
        "data problem in chat %s: webchat.chats.last_seq is %s but its messages already use seq %s, "
        "so every new message collides (was last_seq changed by hand?). Repair with: UPDATE webchat.chats "
        "SET last_seq = (SELECT max(greatest(seq, change_seq)) FROM webchat.messages WHERE chat_id = %s) "
        "WHERE id = %s", chat_id, last_seq, max_seq, chat_id, chat_id)
    raise Conflict("this chat's message sequence is inconsistent in the database, so the message was not "
                   "stored; the operator has been told in the server log", reason="sequence_conflict")


def _same_send(row: asyncpg.Record, chat_id: int | None) -> dict[str, Any]:
    if chat_id is not None and row["chat_id"] != chat_id:
        raise Conflict("client_id was already used for a message in another chat")
    return message_json(row)


async def page(
    pool: asyncpg.Pool,
    account_id: int,
    chat_id: int,
    *,
    limit: int,
    before: int | None,
    after: int | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to limit messages oldest first, and whether more exist in the paging direction."""
    await require_member(pool, chat_id, account_id)
    if before is not None and after is not None:
        raise BadInput("use either before or after, not both")
    if after is not None:
        rows = await pool.fetch(q("messages_after"), chat_id, after, limit + 1)
        return [message_json(r) for r in rows[:limit]], len(rows) > limit
    if before is not None:
        rows = await pool.fetch(q("messages_before"), chat_id, before, limit + 1)
    else:
        rows = await pool.fetch(q("messages_latest"), chat_id, limit + 1)
    # the query returns the newest limit+1 oldest-first; the extra one is the oldest
    return [message_json(r) for r in rows[-limit:]] if rows else [], len(rows) > limit


async def _own_message(conn: Conn, account_id: int, message_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(q("message_get"), message_id)
    if row is None or not await conn.fetchval(q("member_check"), row["chat_id"], account_id):
        raise NotFound("message")
    if row["sender_id"] != account_id:
        raise Forbidden("you can only change your own messages")
    if row["deleted_at"] is not None:
        raise Conflict("message was deleted")
    return row


async def edit(pool: asyncpg.Pool, account_id: int, message_id: int, text: str,
               charge: Charge = NO_CHARGE) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await charge.take(conn)
        row = await _own_message(conn, account_id, message_id)
        if row["text"] == text:
            return message_json(row)
        await conn.execute(q("message_edit"), message_id, text)
        edited = await conn.fetchrow(q("message_get"), message_id)
        assert edited is not None
        return message_json(edited)


async def delete(pool: asyncpg.Pool, account_id: int, message_id: int,
                 charge: Charge = NO_CHARGE) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await charge.take(conn)
        await _own_message(conn, account_id, message_id)
        await conn.execute(q("message_delete"), message_id)
        row = await conn.fetchrow(q("message_get"), message_id)
        assert row is not None
        return message_json(row)


async def mark_read(pool: asyncpg.Pool, account_id: int, chat_id: int, seq: int) -> int:
    value = await pool.fetchval(q("read_update"), chat_id, account_id, seq)
    if value is None:
        raise NotFound()
    return int(value)
