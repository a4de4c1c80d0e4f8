"""Typing ('y'): sent (throttled per sender) through pg_notify so it crosses processes, then delivered.

Never stored and never held for a paging reader: an indicator that lives seconds is not worth
catching up on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ...db import pool_key, q
from ...domain.limits import RateLimiter
from ...errors import NotFound
from ..events import Event, make_event
from ..hub import Hub
from ..protocol import TYPING_TTL_MS
from .registry import BadNotification, Batch, Kind, ident, register

# one bucket per (sender, chat, on/off): typing is ephemeral, so it is throttled in process
typing_limiter_key = web.AppKey("typing_limiter", RateLimiter)


@dataclass(frozen=True, slots=True)
class Typing:
    """y: someone started or stopped typing (never stored)."""

    chat_id: int
    account_id: int
    name: str
    on: bool


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


def typing_event(chat_id: int, account_id: int, name: str, on: bool) -> Event:
    # not echoed to the typist's own sessions
    return make_event("typing", chat_id,
                      {"is_typing": on, "user_name": name, "account_id": account_id, "ttl_ms": TYPING_TTL_MS},
                      skip_account=account_id)


def _decode(note: dict[str, Any]) -> Typing:
    name, on = note.get("n"), note.get("on")
    if not isinstance(name, str) or not isinstance(on, bool):
        raise BadNotification("y", "'n' must be a string and 'on' a boolean")
    return Typing(ident(note.get("c"), "y"), ident(note.get("a"), "y"), name[:100], on)


def _build(hub: Hub, note: Typing, batch: Batch) -> Iterable[Event]:
    if note.chat_id in hub.by_chat:
        return [typing_event(note.chat_id, note.account_id, note.name, note.on)]
    return ()


register(Kind("y", Typing, _decode, events=("typing",), build=_build,
              example={"t": "y", "c": 1, "a": 2, "n": "Ann", "on": True}))
