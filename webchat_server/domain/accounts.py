"""Accounts: switch a session to a signed-in user (merging the guest's chats), and guest retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from ..db import pool_key, q
from ..errors import DATABASE_DOWN
from ..settings import settings_key
from .identity import Identity, Refused

log = logging.getLogger(__name__)
# how often expired guests are looked for, and how many are deleted per transaction
RETENTION_EVERY = 3600.0
RETENTION_BATCH = 1000


async def identify(pool: asyncpg.Pool, guest: dict[str, Any], who: Identity, sid: str | None) -> dict[str, Any]:
    """Find or create the user; a guest's memberships and messages move to it in one transaction.

    The token is spent in the same transaction (single-use: a replay from another browser, or
    after logout, is refused), and the session must not have been signed in or out meanwhile (a
    second tab's sign-in of the same cookie). The guest row is locked: of two sign-ins of one guest
    at once, only the first takes its chats; before, both users read the guest's chat."""
    async with pool.acquire() as conn, conn.transaction():
        if (who.token_hash is not None and who.expires_at is not None
                and await conn.fetchval(q("identity_token_spend"), who.token_hash, who.expires_at) is None):
            raise Refused("identity token was used already: tokens are single-use, issue one per page view",
                              "token_used")
        if sid is not None and await conn.fetchval(q("session_revoked"), sid):
            raise Refused("this session was signed in or out meanwhile (another tab?): reload", "session_ended")
        user = await conn.fetchrow(q("account_upsert_user"), who.user_id, who.name, who.email, who.avatar)
        assert user is not None
        locked = await conn.fetchrow(q("guest_lock"), guest["id"]) if guest["kind"] == "guest" else None
        if locked is not None and locked["merged_into"] is None and guest["id"] != user["id"]:
            g, u = guest["id"], user["id"]
            await conn.execute(q("merge_memberships"), g, u)
            await conn.execute(q("merge_drop_guest_memberships"), g)
            await conn.execute(q("merge_clear_clashing_client_ids"), g, u)
            await conn.execute(q("merge_messages"), g, u)
            await conn.execute(q("merge_reactions"), g, u)
            await conn.execute(q("merge_chats_created"), g, u)
            await conn.execute(q("merge_mark_guest"), g, u)
        return dict(user)


async def delete_expired_guests(pool: asyncpg.Pool, older_than_days: float) -> int:
    """Delete guests made more than `older_than_days` ago that have nothing to lose (no message sent,
    no chat with messages) and their empty chats; returns how many. Their cookies then start a new
    guest, as a cookie of a deleted account does."""
    deleted = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            ids = [r["id"] for r in await conn.fetch(q("guests_expired"), older_than_days * 86400.0, RETENTION_BATCH)]
            if ids:
                await conn.execute(q("guests_expired_chats"), ids)
                await conn.execute(q("guests_delete"), ids)
        deleted += len(ids)
        if len(ids) < RETENTION_BATCH:
            return deleted


async def guest_retention(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: hourly, delete guests older than WEBCHAT_GUEST_RETENTION_DAYS with nothing to lose."""
    days = app[settings_key].guest_retention_days

    async def loop() -> None:
        while True:
            try:
                n = await delete_expired_guests(app[pool_key], days)
                if n:
                    log.info("deleted %d guests older than %g days that had sent nothing", n, days)
            except DATABASE_DOWN as e:
                log.warning("could not delete expired guests: %s: %s", e.__class__.__name__, e)
            await asyncio.sleep(RETENTION_EVERY)

    task = asyncio.create_task(loop()) if days > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
