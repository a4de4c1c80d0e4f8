"""The staff side: agent accounts, the inbox of visitor conversations, assignment, status, notes, handoff."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ..db import Conn, q
from ..errors import BadInput, Conflict, NotFound
from .identity import Identity, Refused, display_name
from .model import chat_json, iso, message_json

STATUSES = ("open", "resolved")
ASSIGNEES = {"any": "inbox_any", "me": "inbox_mine", "none": "inbox_unassigned"}
AUTOMATION = ("bot", "human")
# the start of the first page: later than any conversation's last activity
FIRST_PAGE = (datetime.max.replace(tzinfo=UTC), 2**63 - 1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# a conversation's page title: kept to MAX_PAGE_TITLE characters; a send with a longer one than
# MAX_PAGE_TITLE_IN is refused (413), shorter ones are cut
MAX_PAGE_TITLE = 200
MAX_PAGE_TITLE_IN = 2000
# bidi embeddings, overrides and isolates: a title must not turn the panel's text around it
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


async def sign_in(pool: asyncpg.Pool, who: Identity) -> dict[str, Any]:
    """The agent a token with `"role": "agent"` names, made on first sign-in. A guest's chats are not
    merged into it: an agent answers visitors, it is not one."""
    async with pool.acquire() as conn, conn.transaction():
        # single-use, as a visitor's identity token (README "Identity tokens")
        if (who.token_hash is not None and who.expires_at is not None
                and await conn.fetchval(q("identity_token_spend"), who.token_hash, who.expires_at) is None):
            raise Refused("identity token was used already: tokens are single-use, issue one per page view",
                          "token_used")
        row = await conn.fetchrow(q("account_upsert_agent"), who.user_id, who.name, who.email, who.avatar)
    assert row is not None
    return dict(row)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode(errors="replace")).digest()


async def create_signin(pool: asyncpg.Pool, name: str, email: str | None,
                        lifetime: float) -> tuple[dict[str, Any], str]:
    """For `webchat-server agent add`: the agent (made, or found by its email or name) and the secret
    of a one-time sign-in link valid for `lifetime` seconds. Only the secret's hash is stored."""
    external_id = f"local:{(email or name).strip().lower()}"
    token = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(q("account_upsert_agent"), external_id, name, email, None)
        assert row is not None
        await conn.execute(q("agent_signins_prune"))
        await conn.execute(q("agent_signin_create"), _hash(token), row["id"], lifetime)
    return dict(row), token


async def use_signin(pool: asyncpg.Pool, token: str) -> dict[str, Any] | None:
    """The agent of an unused, unexpired sign-in secret, which is spent by this call; else None."""
    row = await pool.fetchrow(q("agent_signin_use"), _hash(token))
    return dict(row) if row is not None else None


def parse_before(raw: str | None) -> tuple[datetime, int]:
    """An inbox page cursor: `<microseconds since the epoch>.<chat id>`, as `next_before` gives it."""
    if raw is None or raw == "":
        return FIRST_PAGE
    micros, dot, chat = raw.partition(".")
    if (not dot or not (micros + chat).isascii() or not micros.isdigit() or not chat.isdigit()
            or len(micros) > 17 or len(chat) > 18):
        raise BadInput("before must be a next_before value of an earlier page")
    try:
        # integers all the way: a float has too few digits for a microsecond (a page boundary)
        return EPOCH + int(micros) * MICROSECOND, int(chat)
    except (ValueError, OverflowError):
        raise BadInput("before is out of range") from None


def _cursor(row: asyncpg.Record) -> str:
    updated: datetime = row["updated_at"]
    return f"{(updated - EPOCH) // MICROSECOND}.{row['id']}"


def conversation_json(row: asyncpg.Record) -> dict[str, Any]:
    meta = row["metadata"] or {}
    visitor: dict[str, Any] = {"account_id": row["visitor_id"], "display_name": row["visitor_name"],
                               "kind": row["visitor_kind"], "first_seen": iso(row["visitor_since"]),
                               # the visitor's other conversations, newest first (at most 10)
                               "other_conversations": list(row["other_conversations"])}
    if row["visitor_email"]:
        visitor["email"] = row["visitor_email"]
    chat = chat_json(row)
    return {
        "chat": chat,
        "visitor": visitor,
        "assignee_id": row["assignee_id"],
        "status": row["status"],
        "automation": meta.get("automation", "bot"),
        "unread_count": row["unread_count"],
        "last_message": chat["last_message"],
        "context": meta.get("context") if isinstance(meta.get("context"), dict) else {},
    }


async def inbox(pool: asyncpg.Pool, agent_id: int, status: str, assignee: str, before: tuple[datetime, int],
                limit: int) -> tuple[list[dict[str, Any]], bool, str | None]:
    """A page of conversations, newest activity first: (conversations, has_more, next_before)."""
    args = (status, before[0], before[1], limit + 1) + ((agent_id,) if assignee == "me" else ())
    ids = await pool.fetch(q(ASSIGNEES[assignee]), *args)
    page = [r["id"] for r in ids[:limit]]
    rows = await pool.fetch(q("inbox_rows"), agent_id, page) if page else []
    more = len(ids) > limit
    return [conversation_json(r) for r in rows], more, _cursor(rows[-1]) if more and rows else None


async def conversation(conn: Conn | asyncpg.Pool, agent_id: int, chat_id: int) -> dict[str, Any]:
    rows = await conn.fetch(q("inbox_rows"), agent_id, [chat_id])
    if not rows:
        raise NotFound("conversation")
    return conversation_json(rows[0])


async def _lock(conn: Conn, chat_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(q("conversation_lock"), chat_id)
    if row is None:
        raise NotFound("conversation")
    return row


async def assign(pool: asyncpg.Pool, agent_id: int, chat_id: int, target: int | None) -> dict[str, Any]:
    """Claim (target = the agent), hand over (another agent) or unassign (None). The assignee joins
    the conversation and it is in human hands from then on."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, chat_id)
        if target is not None:
            if await conn.fetchval(q("agent_check"), target) is None:
                raise BadInput("agent_id is not an agent")
            await conn.execute(q("member_add"), chat_id, target)
        await conn.execute(q("conversation_assign"), chat_id, target)
        return await conversation(conn, agent_id, chat_id)


async def set_status(pool: asyncpg.Pool, agent_id: int, chat_id: int, status: str) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, chat_id)
        await conn.execute(q("conversation_status"), chat_id, status)
        return await conversation(conn, agent_id, chat_id)


async def set_automation(pool: asyncpg.Pool, agent_id: int, chat_id: int, automation: str) -> dict[str, Any]:
    """Hand a conversation back to the bot ("bot") or take it from the bot ("human")."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, chat_id)
        await conn.execute(q("conversation_automation"), chat_id, automation)
        return await conversation(conn, agent_id, chat_id)


async def before_reply(pool: asyncpg.Pool, agent_id: int, chat_id: int, reply_to: int | None) -> None:
    """An agent's public reply: the agent joins the conversation (the ordinary send then stores the
    message), claims it if nobody has, and the bot steps back. A reply never quotes a note: the
    visitor would read the note in the quote."""
    async with pool.acquire() as conn, conn.transaction():
        row = await _lock(conn, chat_id)
        if reply_to is not None:
            # checked here, before the agent joins and claims: the send refuses a quote from another
            # chat too, but only after this transaction has committed the claim
            visibility = await conn.fetchval(q("message_visibility"), reply_to, chat_id)
            if visibility is None:
                raise BadInput("reply_to is not a message of this chat")
            if visibility == "agents":
                raise BadInput("a reply to the visitor cannot quote an internal note")
        await conn.execute(q("member_add"), chat_id, agent_id)
        if row["assignee_id"] is None:
            await conn.execute(q("conversation_assign"), chat_id, agent_id)
        else:
            await conn.execute(q("conversation_automation"), chat_id, "human")


async def send_note(pool: asyncpg.Pool, agent_id: int, chat_id: int, text: str, client_id: str | None,
                    reply_to: int | None) -> tuple[dict[str, Any], bool]:
    """An internal note; (message, created). A repeated client_id returns the first note."""
    async with pool.acquire() as conn, conn.transaction():
        if client_id is not None:
            # before the chat row, in the order webchat.send_messages takes them (no deadlock)
            await conn.execute(q("note_client_lock"), agent_id, client_id)
        await _lock(conn, chat_id)
        if client_id is not None:
            row = await conn.fetchrow(q("message_by_client_id"), agent_id, client_id)
            if row is not None:
                if row["chat_id"] != chat_id:
                    raise Conflict("client_id was already used for a message in another chat")
                return message_json(row), False
        message_id = await conn.fetchval(q("note_insert"), chat_id, agent_id, text, client_id, reply_to)
        row = await conn.fetchrow(q("message_get"), message_id)
        assert row is not None
        return message_json(row), True


def page_title(raw: str | None) -> str:
    """A page title as the inbox shows it: NFC, one line (controls and runs of spaces made one
    space, bidi controls dropped), at most MAX_PAGE_TITLE characters."""
    if not raw:
        return ""
    text = "".join("" if c in BIDI_CONTROLS else " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                   for c in raw)
    return display_name(text)[:MAX_PAGE_TITLE]


def request_context(referer: str | None, language: str | None, user_agent: str | None,
                    title: str | None = None) -> dict[str, str]:
    """What the inbox shows of where a conversation started, from the first send: the page (as much
    of its URL as the browser's referrer policy sends, and the title the widget read), the first
    preferred language, the browser. Each is cut short: they are the visitor's to write."""
    context = {}
    if referer and referer.startswith(("https://", "http://")):
        context["url"] = referer[:500]
    if title := page_title(title):
        context["title"] = title
    if language:
        first = language.split(",")[0].split(";")[0].strip()
        if first and first != "*":
            context["language"] = first[:35]
    if user_agent:
        context["user_agent"] = user_agent[:300]
    return context


async def remember_context(pool: asyncpg.Pool, chat_id: int, context: dict[str, str]) -> None:
    if context:
        await pool.execute(q("conversation_context"), chat_id, context)


async def is_conversation(pool: asyncpg.Pool | Conn, chat_id: int) -> bool:
    return await pool.fetchval(q("conversation_exists"), chat_id) is not None
