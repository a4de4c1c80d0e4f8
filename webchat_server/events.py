"""The event envelope: built and serialized once, then shared by every recipient."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asyncpg import Record

from .cursor import token
from .model import message_json
from .wsframe import text_frame


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
    return make_event(kind, row["chat_id"], {"message": message_json(row)}, seq)


def resync_event(reason: str, chat_id: int | None = None) -> Event:
    return make_event("resync", chat_id, {"reason": reason})
