"""JSON shapes of messages, chats and accounts as clients see them."""

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


# The Message as clients see it, one row a field: its name and its JSON schema (the OpenAPI
# Message schema is made from these). message_json writes the same fields in the same order, by
# hand because it runs once per message per process on the fan-out path (a loop over this table
# cost a quarter more per event); the README's "Message JSON" list names them too. A unit test
# holds all three to this table.
_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_SEQ = {"type": "integer", "minimum": 0}
_TIME = {"type": "string", "format": "date-time"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


MESSAGE_FIELDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("id", _ID),
    ("chat_id", _ID),
    ("seq", _SEQ),
    ("change_seq", _SEQ),
    ("text", _STR),
    ("sender_id", _ID),
    ("sender_name", _STR),
    ("sender_kind", {"enum": ["guest", "user", "bot", "agent"]}),
    ("is_outgoing", _BOOL),
    ("timestamp", _TIME),
    ("media_type", _null({"enum": ["image", "audio"]})),
    ("media_url", _null(_STR)),
    # the media with what is known of it; type "voice" for a recording from the microphone button
    # (duration_ms: the container's, or the recorder's where the container states none, as in WebM)
    ("media", _null({"type": "object", "required": ["type", "url", "content_type", "size", "duration_ms", "waveform"],
                     "properties": {"type": {"enum": ["image", "audio", "voice"]}, "url": _STR,
                                    "content_type": _null(_STR), "size": _null({"type": "integer", "minimum": 0}),
                                    "duration_ms": _null({"type": "integer", "minimum": 0}),
                                    "waveform": _null({"type": "array", "maxItems": 128,
                                                       "items": {"type": "integer", "minimum": 0, "maximum": 255}})}})),
    ("client_id", _null(_STR)),
    ("reply_to", _null(_ID)),
    ("edited_at", _null(_TIME)),
    ("deleted", _BOOL),
    ("internal", _BOOL),
    # reactions: `mine` is per requester in HTTP answers, false in events (one frame for every
    # member: readers compare account_ids with their own id); at most 20 different emoji
    ("reactions", {"type": "array", "maxItems": 20, "items": {
        "type": "object", "required": ["emoji", "count", "mine", "by", "account_ids"],
        "properties": {"emoji": _STR, "count": {"type": "integer", "minimum": 1}, "mine": _BOOL,
                       "by": {"type": "array", "maxItems": 10, "items": _STR},
                       "account_ids": {"type": "array", "items": _ID}}}}),
    # the message this one replies to (reply_to), as it is now
    ("quote", _null({"type": "object", "required": ["id", "sender_name", "text", "deleted"],
                     "properties": {"id": _ID, "sender_name": _STR, "text": {"type": "string", "maxLength": 140},
                                    "deleted": _BOOL, "media_type": _null({"enum": ["image", "audio"]})}})),
)


def reactions_json(raw: Any, viewer: int | None) -> list[dict[str, Any]]:
    """The view's reactions with `mine` for the account that asks. Events are one frame for every
    member, so they are built with no viewer (mine is false) and readers use account_ids."""
    return [{"emoji": r["emoji"], "count": r["count"], "mine": viewer is not None and viewer in r["account_ids"],
             "by": r["by"], "account_ids": r["account_ids"]} for r in raw or ()]


def media_json(media_id: int, media_type: str, info: Mapping[str, Any] | None) -> dict[str, Any]:
    """A message's `media`; rows not read from message_view (hand-made ones) carry no media_info."""
    info = info or {}
    return {"type": "voice" if info.get("voice") else media_type, "url": f"/webchat/media/{media_id}",
            "content_type": info.get("content_type"), "size": info.get("size"),
            "duration_ms": info.get("duration_ms"), "waveform": info.get("waveform")}


def message_json(row: Row, viewer: int | None = None) -> dict[str, Any]:
    deleted = row["deleted_at"] is not None
    media_id = row["media_id"]
    # rows not read from message_view (the unit tests' hand-made ones) have no quote or reactions
    quote = row.get("quote")
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
        "media": media_json(media_id, row["media_type"], row.get("media_info")) if media_id and not deleted else None,
        "client_id": row["client_id"],
        "reply_to": row["reply_to_id"],
        "edited_at": iso(row["edited_at"]),
        "deleted": deleted,
        # an internal note: only agents ever get it (README "Answer your visitors")
        "internal": row.get("visibility") == "agents",
        "reactions": [] if deleted else reactions_json(row.get("reactions"), viewer),
        "quote": None if deleted or not quote else quote,
    }


def chat_json(row: Row, viewer: int | None = None) -> dict[str, Any]:
    last = row.get("last_message")
    chat: dict[str, Any] = {
        "id": row["id"],
        "title": row["title"],
        "is_archived": row["archived_at"] is not None,
        "archived_at": iso(row["archived_at"]),
        "last_seq": row["last_seq"],
        "last_message": message_json(last, viewer) if last else None,
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
