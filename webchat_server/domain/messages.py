"""Messages: send (idempotent by client_id), page by seq, edit, delete, read position."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from ..db import Conn, q
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from . import staff
from .chats import require_member, title_from_text
from .limits import NO_CHARGE, Charge
from .media import Upload
from .model import message_json
from .sending import Send, SendQueue, Stored

log = logging.getLogger(__name__)


async def send(
    queue: SendQueue,
    account_id: int,
    *,
    chat_id: int | None,
    text: str,
    client_id: str | None,
    reply_to: int | None,
    upload: Upload | None,
    charge: Charge = NO_CHARGE,
    session: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a message; returns (message, created). A repeated client_id returns the first one
    (and pays no rate limit: a retry is not a new message). One database round trip: the rate
    limit is paid from this process's lease, and the send function (webchat.send_one, or
    webchat.send_messages for a batch) decides the rest (the session too, when `session` is given:
    the id the cookie names, not yet checked)."""
    refused = await charge.take()
    stored: Stored | None = None
    try:
        stored = await queue.submit(Send(
            account_id, chat_id, text, client_id, reply_to,
            title_from_text(text, upload.media_type if upload else None), upload,
            float(refused.extra["retry_after"]) if refused is not None else None, session))
    finally:
        if refused is None and (stored is None or stored.outcome != "created"):
            charge.refund()
    outcome, row = stored.outcome, stored.message
    if outcome in ("created", "duplicate"):
        assert row is not None
        return message_json(row, account_id), outcome == "created"
    if outcome == "rate_limited":
        assert refused is not None
        raise refused
    if outcome == "no_session":
        raise Unauthorized("no session: call GET /webchat/me first")
    if outcome == "not_found":
        raise NotFound()
    if outcome == "conflict":
        raise Conflict("client_id was already used for a message in another chat")
    if outcome == "bad_reply":
        raise BadInput("reply_to is not a message of this chat")
    if outcome == "sequence_behind":
        assert chat_id is not None  # a chat created by this send cannot have old messages
        await _report_seq_behind(queue.pool, chat_id)
    raise Conflict("the message could not be stored because of a conflicting row")


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


async def page(
    pool: asyncpg.Pool,
    account_id: int,
    chat_id: int,
    *,
    limit: int,
    before: int | None,
    after: int | None,
    agent: bool = False,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to limit messages oldest first, and whether more exist in the paging direction. An agent
    reads any visitor conversation, internal notes included; anyone else only chats they are in,
    without notes."""
    if not (agent and await staff.is_conversation(pool, chat_id)):
        await require_member(pool, chat_id, account_id)
    if before is not None and after is not None:
        raise BadInput("use either before or after, not both")
    if after is not None:
        rows = await pool.fetch(q("messages_after"), chat_id, after, limit + 1, agent)
        return [message_json(r, account_id) for r in rows[:limit]], len(rows) > limit
    if before is not None:
        rows = await pool.fetch(q("messages_before"), chat_id, before, limit + 1, agent)
    else:
        rows = await pool.fetch(q("messages_latest"), chat_id, limit + 1, agent)
    # the query returns the newest limit+1 oldest-first; the extra one is the oldest
    return [message_json(r, account_id) for r in rows[-limit:]] if rows else [], len(rows) > limit


async def _own_message(conn: Conn, account_id: int, message_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(q("message_get"), message_id)
    # an agent's note is the agent's own, in a conversation the agent need not have joined
    own_note = row is not None and row["visibility"] == "agents" and row["sender_id"] == account_id
    if row is None or not (own_note or await conn.fetchval(q("member_check"), row["chat_id"], account_id)):
        raise NotFound("message")
    if row["sender_id"] != account_id:
        raise Forbidden("you can only change your own messages")
    if row["deleted_at"] is not None:
        raise Conflict("message was deleted")
    return row


async def edit(pool: asyncpg.Pool, account_id: int, message_id: int, text: str,
               charge: Charge = NO_CHARGE) -> dict[str, Any]:
    async with charge.paid(), pool.acquire() as conn, conn.transaction():
        row = await _own_message(conn, account_id, message_id)
        if row["text"] == text:
            return message_json(row, account_id)
        await conn.execute(q("message_edit"), message_id, text)
        edited = await conn.fetchrow(q("message_get"), message_id)
        assert edited is not None
        return message_json(edited, account_id)


async def delete(pool: asyncpg.Pool, account_id: int, message_id: int,
                 charge: Charge = NO_CHARGE) -> dict[str, Any]:
    async with charge.paid(), pool.acquire() as conn, conn.transaction():
        await _own_message(conn, account_id, message_id)
        await conn.execute(q("message_delete"), message_id)
        row = await conn.fetchrow(q("message_get"), message_id)
        assert row is not None
        return message_json(row, account_id)


async def mark_read(pool: asyncpg.Pool, account_id: int, chat_id: int, seq: int) -> int:
    value = await pool.fetchval(q("read_update"), chat_id, account_id, seq)
    if value is None:
        raise NotFound()
    return int(value)
