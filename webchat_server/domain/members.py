"""The members of a chat as clients see them: who they are, how far they have read, their presence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import iso

# (account_id, last_seen_at from the database) -> {"status": ..., "last_seen_at": ...}
PresenceOf = Callable[[int, str | None], dict[str, Any]]


def stored_presence(account_id: int, last_seen_at: str | None) -> dict[str, Any]:
    """Presence from the database alone (presence off, or nobody connected here knows better)."""
    return {"status": "offline", "last_seen_at": iso(last_seen_at)}


def members_json(raw: list[dict[str, Any]] | None, presence: PresenceOf = stored_presence) -> list[dict[str, Any]]:
    """The members as the chat list query aggregates them (to_jsonb), with presence filled in."""
    out = []
    for m in raw or ():
        member = {
            "account_id": m["account_id"],
            "display_name": m["display_name"],
            "kind": m["kind"],
            # null when the member does not share read receipts (its own entry always has it)
            "last_read_seq": m["last_read_seq"],
            "presence": presence(m["account_id"], m["last_seen_at"]),
        }
        if m.get("avatar_url"):
            member["avatar_url"] = m["avatar_url"]
        out.append(member)
    return out
