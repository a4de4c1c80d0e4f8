"""Every event the server sends: built and serialized once, then shared by every recipient."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asyncpg import Record

from ..domain.model import chat_json, message_json
from .cursor import token
from .frames import text_frame
from .protocol import TYPING_TTL_MS


@dataclass(slots=True, eq=False)
class Event:
    type: str
    chat_id: int | None
    # the chat sequence position this event moves a reader to; 0 for unsequenced events
    seq: int
    obj: dict[str, Any]
    data: bytes
    frame: bytes
    # typing is not echoed to the typist's own sessions
    skip_account: int | None = None
    # an internal note (or its edit): written only to agents' readers
    agents_only: bool = False


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def make_event(
    type_: str, chat_id: int | None, body: dict[str, Any], seq: int = 0, skip_account: int | None = None
) -> Event:
    obj: dict[str, Any] = {"type": type_, "chat_id": chat_id, **body}
    if seq and chat_id is not None:
        obj["cursor"] = token(chat_id, seq)
    data = dumps(obj)
    return Event(type_, chat_id, seq, obj, data, text_frame(data), skip_account)


def message_event(row: Record, is_new: bool, seq: int) -> Event:
    kind = "new_message" if is_new else "message_updated"
    ev = make_event(kind, row["chat_id"], {"message": message_json(row)}, seq)
    ev.agents_only = row["visibility"] == "agents"
    return ev


def resync_event(reason: str, chat_id: int | None = None) -> Event:
    return make_event("resync", chat_id, {"reason": reason})


def connection_event(account_id: int, cursor: str) -> Event:
    """A WebSocket's first frame: who you are and where you start."""
    return make_event("connection", None, {"status": "connected", "account_id": account_id, "cursor": cursor})


def chat_event(row: Record) -> Event:
    return make_event("chat_updated", row["id"], {"chat": chat_json(row)})


def removed_event(chat_id: int) -> Event:
    """A chat the reader no longer has: deleted, or the reader left or was removed."""
    return make_event("chat_updated", chat_id, {"chat": {"id": chat_id, "deleted": True}})


def read_event(chat_id: int, account_id: int, seq: int) -> Event:
    return make_event("read", chat_id, {"account_id": account_id, "seq": seq})


def typing_event(chat_id: int, account_id: int, name: str, on: bool) -> Event:
    return make_event("typing", chat_id,
                      {"is_typing": on, "user_name": name, "account_id": account_id, "ttl_ms": TYPING_TTL_MS},
                      skip_account=account_id)


def pong_event(timestamp: Any) -> Event:
    return make_event("pong", None, {"timestamp": timestamp})


def error_event(code: str, message: str, **extra: Any) -> Event:
    """A failed WebSocket request: the same code and message the HTTP API would send."""
    return make_event("error", None, {"error": {"code": code, "message": message, **extra}})
