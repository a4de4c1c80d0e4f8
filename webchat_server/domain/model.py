"""JSON shapes of messages, chats and accounts as clients see them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


# The Message as clients see it, one row a field: its name, its JSON schema (the OpenAPI Message
# schema is made from these) and how it is read from a row (and whether the message is deleted).
# The README's "Message JSON" list names the same fields in the same order (a test holds them).
_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_SEQ = {"type": "integer", "minimum": 0}
_TIME = {"type": "string", "format": "date-time"}
_KIND = {"enum": ["guest", "user", "bot", "agent"]}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _media_url(row: Row, deleted: bool) -> str | None:
    media_id = row["media_id"]
    return f"/webchat/media/{media_id}" if media_id and not deleted else None


MESSAGE_FIELDS: tuple[tuple[str, dict[str, Any], Callable[[Row, bool], Any]], ...] = (
    ("id", _ID, lambda r, d: r["id"]),
    ("chat_id", _ID, lambda r, d: r["chat_id"]),
    ("seq", _SEQ, lambda r, d: r["seq"]),
    ("change_seq", _SEQ, lambda r, d: r["change_seq"]),
    ("text", {"type": "string"}, lambda r, d: "" if d else r["text"]),
    ("sender_id", _ID, lambda r, d: r["sender_id"]),
    ("sender_name", {"type": "string"}, lambda r, d: r["sender_name"]),
    ("sender_kind", _KIND, lambda r, d: r["sender_kind"]),
    ("is_outgoing", {"type": "boolean"}, lambda r, d: r["sender_kind"] in SERVICE_KINDS),
    ("timestamp", _TIME, lambda r, d: iso(r["created_at"])),
    ("media_type", _null({"enum": ["image", "audio"]}), lambda r, d: None if d else r["media_type"]),
    ("media_url", _null({"type": "string"}), _media_url),
    ("client_id", _null({"type": "string"}), lambda r, d: r["client_id"]),
    ("reply_to", _null(_ID), lambda r, d: r["reply_to_id"]),
    ("edited_at", _null(_TIME), lambda r, d: iso(r["edited_at"])),
    ("deleted", {"type": "boolean"}, lambda r, d: d),
)


def message_json(row: Row) -> dict[str, Any]:
    deleted = row["deleted_at"] is not None
    return {name: read(row, deleted) for name, _schema, read in MESSAGE_FIELDS}


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
    }
