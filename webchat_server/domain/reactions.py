"""Reactions: one emoji of mine on a message, added or removed idempotently, by members and agents."""

from __future__ import annotations

from functools import cache
from typing import Any

import asyncpg
import emoji

from ..db import q
from ..errors import BadInput, Conflict, NotFound
from .limits import NO_CHARGE, Charge
from .model import message_json

# distinct emoji on one message: bounds the message JSON every member is sent on each change
MAX_KINDS = 20
VS16 = "\ufe0f"


@cache
def _fully_qualified() -> dict[str, str]:
    # one spelling per emoji: "❤" and "❤️", or the picker's "👍️" and "👍", are one reaction
    # components (skin tone and hair swatches) are emoji too, and the picker's search finds them
    keep = {emoji.STATUS["fully_qualified"], emoji.STATUS["component"]}
    return {e.replace(VS16, ""): e for e, data in emoji.EMOJI_DATA.items() if data["status"] in keep}


def parse_emoji(raw: str) -> str:
    """The fully-qualified form of one emoji sequence (skin tones, ZWJ sequences, flags, keycaps);
    BadInput for anything else: text, two emoji, a joiner."""
    if len(raw) > 32:
        raise BadInput("a reaction is one emoji", reason="bad_emoji")
    found = _fully_qualified().get(raw.replace(VS16, ""))
    if found is None:
        raise BadInput("a reaction is one emoji", reason="bad_emoji")
    return found


async def add(pool: asyncpg.Pool, account_id: int, message_id: int, raw: str,
              charge: Charge = NO_CHARGE) -> tuple[dict[str, Any], bool]:
    """Add my reaction; (message, whether it is new). 404 unless a member of the message's chat or an
    agent in a visitor conversation (agents answer those without joining)."""
    value = parse_emoji(raw)
    async with charge.paid():
        row = await pool.fetchrow(q("reaction_add"), message_id, account_id, value, MAX_KINDS)
        assert row is not None
        if not row["found"]:
            raise NotFound("message")
        if row["deleted"]:
            raise Conflict("message was deleted")
        if not row["added"] and not row["existed"]:
            raise Conflict(f"a message takes at most {MAX_KINDS} different reactions", reason="too_many_reactions")
    message = await pool.fetchrow(q("message_get"), message_id)
    assert message is not None
    return message_json(message, account_id), bool(row["added"])


async def remove(pool: asyncpg.Pool, account_id: int, message_id: int, raw: str,
                 charge: Charge = NO_CHARGE) -> None:
    """Remove my reaction (nothing to remove is fine). 404 unless a member of the message's chat or an
    agent in a visitor conversation."""
    value = parse_emoji(raw)
    async with charge.paid():
        found = await pool.fetchval(q("reaction_remove"), message_id, account_id, value)
    if not found:
        raise NotFound("message")
