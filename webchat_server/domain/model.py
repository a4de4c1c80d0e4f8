"""JSON shapes of messages and chats as clients see them (DESIGN.md section 3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

# asyncpg records and plain dicts (from to_jsonb) are read the same way
Row = Mapping[str, Any] | asyncpg.Record

SERVICE_KINDS = frozenset({"bot", "agent"})


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    # rows that came through to_jsonb() carry timestamps as strings already
    return str(value)


def message_json(row: Row) -> dict[str, Any]:
    deleted = row["deleted_at"] is not None
    media_id = row["media_id"]
    return {
        "id": row["id"],
        "chat_id": row["chat_id"],
        "seq": row["seq"],
        "change_seq": row["change_seq"],
        "text": "" if deleted else row["text"],
        "sender_id": row["sender_id"],
        "sender_name": row["sender_name"],
        "sender_kind": row["sender_kind"],
        "is_outgoing": row["sender_kind"] in SERVICE_KINDS,
        "timestamp": iso(row["created_at"]),
        "media_type": None if deleted else row["media_type"],
        "media_url": f"/webchat/media/{media_id}" if media_id and not deleted else None,
        "client_id": row["client_id"],
        "reply_to": row["reply_to_id"],
        "edited_at": iso(row["edited_at"]),
        "deleted": deleted,
    }


def chat_json(row: Row) -> dict[str, Any]:
    last = row.get("last_message")
    chat: dict[str, Any] = {
        "id": row["id"],
        "title": row["title"],
        "is_archived": row["archived_at"] is not None,
        "archived_at": iso(row["archived_at"]),
        "last_seq": row["last_seq"],
        "last_message": message_json(last) if last else None,
        "updated_at": iso(row["updated_at"]),
        "created_at": iso(row["created_at"]),
        "created_by": row["created_by"],
    }
    if "unread_count" in row:
        chat["unread_count"] = row["unread_count"]
        chat["last_read_seq"] = row["last_read_seq"]
    return chat


def account_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "display_name": row["display_name"],
        "external_id": row["external_id"],
        # from the identity token's optional claims; null for guests
        "email": row.get("email"),
        "avatar": row.get("avatar_url"),
        # whether the other members of its chats see how far it has read
        "share_read_receipts": row.get("share_read_receipts", True),
    }
