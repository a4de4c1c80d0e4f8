"""Signed-in users: switch a session to a user and merge the guest's chats into it."""

from __future__ import annotations

from typing import Any

import asyncpg

from ..db import q
from .identity import Identity


async def identify(pool: asyncpg.Pool, guest: dict[str, Any], who: Identity) -> dict[str, Any]:
    """Find or create the user; a guest's memberships and messages move to it in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        user = await conn.fetchrow(q("account_upsert_user"), who.user_id, who.name, who.email, who.avatar)
        assert user is not None
        if guest["kind"] == "guest" and guest["id"] != user["id"]:
            g, u = guest["id"], user["id"]
            await conn.execute(q("merge_memberships"), g, u)
            await conn.execute(q("merge_drop_guest_memberships"), g)
            await conn.execute(q("merge_clear_clashing_client_ids"), g, u)
            await conn.execute(q("merge_messages"), g, u)
            await conn.execute(q("merge_chats_created"), g, u)
            await conn.execute(q("merge_mark_guest"), g, u)
        return dict(user)
