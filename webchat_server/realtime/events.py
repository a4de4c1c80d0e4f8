"""An event as the server sends it: built and serialized once, then shared by every recipient.

The kinds that come from the database build theirs in realtime/kinds/; here are the server's own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .cursor import token
from .frames import text_frame

# the event types the server makes itself; every other type belongs to a registered kind
SERVER_EVENTS = ("connection", "pong", "resync", "error")


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
    # how a paging reader keeps it: the latest event per key is held (None: dropped, because it
    # is sequenced and read again from the database, or ephemeral)
    hold: tuple[Any, ...] | None = None
    # an internal note (or its edit): written only to agents' readers
    agents_only: bool = False
    # only this account's sessions get it (the read position of one that does not share receipts)
    only_account: int | None = None


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def make_event(type_: str, chat_id: int | None, body: dict[str, Any], seq: int = 0,
               skip_account: int | None = None, hold: tuple[Any, ...] | None = None,
               only_account: int | None = None) -> Event:
    obj: dict[str, Any] = {"type": type_, "chat_id": chat_id, **body}
    if seq and chat_id is not None:
        obj["cursor"] = token(chat_id, seq)
    data = dumps(obj)
    return Event(type_, chat_id, seq, obj, data, text_frame(data), skip_account, hold, only_account=only_account)


def resync_event(reason: str, chat_id: int | None = None) -> Event:
    return make_event("resync", chat_id, {"reason": reason})


def connection_event(account_id: int, cursor: str, inbox: bool = False) -> Event:
    """A WebSocket's first frame: who you are and where you start; `inbox`: an agent's socket, which
    carries every visitor conversation's events."""
    body: dict[str, Any] = {"status": "connected", "account_id": account_id, "cursor": cursor}
    if inbox:
        body["inbox"] = True
    return make_event("connection", None, body)


def pong_event(timestamp: Any) -> Event:
    return make_event("pong", None, {"timestamp": timestamp})


def error_event(code: str, message: str, **extra: Any) -> Event:
    """A failed WebSocket request: the same code and message the HTTP API would send."""
    return make_event("error", None, {"error": {"code": code, "message": message, **extra}})
