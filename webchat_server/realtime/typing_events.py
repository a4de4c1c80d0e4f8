"""Typing indicators: throttled per sender, sent through pg_notify so they cross processes."""

from __future__ import annotations

from aiohttp import web

from ..db import pool_key, q
from ..domain.limits import RateLimiter
from ..errors import NotFound

# one bucket per (sender, chat, on/off): typing is ephemeral, so it is throttled in process
typing_limiter_key = web.AppKey("typing_limiter", RateLimiter)


async def send_typing(app: web.Application, account_id: int, chat_id: int, is_typing: bool) -> bool:
    """Returns False when throttled (dropped). A non-member gets 404."""
    # one "typing" per second per sender and chat is plenty for an indicator that lives 6 s;
    # "stopped typing" has its own bucket so it is never swallowed by the "typing" throttle
    if not app[typing_limiter_key].allow((account_id, chat_id, is_typing)):
        return False
    sent = await app[pool_key].fetchval(q("typing"), chat_id, account_id, is_typing)
    if not sent:
        raise NotFound()
    return True
