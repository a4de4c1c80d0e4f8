"""Small fakes for the unit floor: a transport that records writes, a pool that answers named queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from webchat_server.db import q
from webchat_server.realtime.hub import Hub
from webchat_server.realtime.subscriber import PollWaiter, WsSubscriber


class FakeTransport:
    """Records each write (a call is one system call on a real socket); `room` bytes fit unread."""

    def __init__(self, room: int = 1 << 30) -> None:
        self.writes: list[bytes] = []
        self.room = room
        self.buffer = 0
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.buffer += len(data)

    def get_write_buffer_size(self) -> int:
        return max(0, self.buffer - self.room)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted = self.closing = True

    def drain(self) -> None:
        """The reader took everything."""
        self.buffer = 0


class FakePool:
    """Answers fetch() for the named queries it was given; counts every call by name."""

    def __init__(self, **answers: Callable[..., list[Any]]) -> None:
        self.by_sql = {q(name): (name, fn) for name, fn in answers.items()}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if sql not in self.by_sql:
            raise AssertionError(f"unexpected query: {sql[:80]}")
        name, fn = self.by_sql[sql]
        self.calls.append((name, args))
        return fn(*args)

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def message_row(id: int, chat_id: int, seq: int, change_seq: int | None = None, text: str = "hi",
                sender_id: int = 7, deleted: bool = False, **over: Any) -> dict[str, Any]:
    row = {"id": id, "chat_id": chat_id, "seq": seq, "change_seq": change_seq or seq, "text": text,
           "sender_id": sender_id, "sender_name": "Ann", "sender_kind": "guest", "created_at": NOW,
           "media_type": None, "media_id": None, "client_id": None, "reply_to_id": None, "edited_at": None,
           "deleted_at": NOW if deleted else None}
    row.update(over)
    return row


def chat_row(id: int, title: str = "t") -> dict[str, Any]:
    return {"id": id, "title": title, "archived_at": None, "last_seq": 0, "last_message": None,
            "updated_at": NOW, "created_at": NOW, "created_by": None}


class FakeWs:
    async def close(self, code: int = 1000, message: bytes = b"") -> bool:
        return True


def ws_sub(hub: Hub, account_id: int = 1, room: int = 1 << 30,
           high_water: int = 1 << 20) -> tuple[WsSubscriber, FakeTransport]:
    t = FakeTransport(room)
    return WsSubscriber(hub, account_id, FakeWs(), t, high_water), t  # type: ignore[arg-type]


def live(hub: Hub, sub: Any, positions: dict[int, int | None]) -> Any:
    """Registered, subscribed at these positions, live."""
    hub.register(sub)
    for chat_id, pos in positions.items():
        hub.subscribe(sub, chat_id, pos)
    sub.go_live()
    return sub


def poll(hub: Hub, account_id: int = 1, **kw: Any) -> PollWaiter:
    return PollWaiter(hub, account_id, **kw)


class FakeDb:
    """Messages, chats and memberships in memory, answering the queries delivery runs."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.members: dict[int, set[int]] = {}  # account -> chats
        self.not_sharing: set[int] = set()  # accounts that turned read receipts off
        self.pool = FakePool(
            messages_by_ids=lambda ids: [self.messages[i] for i in ids if i in self.messages],
            chats_by_ids=lambda ids: [self.chats[i] for i in ids if i in self.chats],
            memberships_with_seq=lambda account: [{"chat_id": c, "last_seq": self.last_seq(c)}
                                                  for c in sorted(self.members.get(account, ()))],
            memberships_of_accounts=lambda accounts: [{"account_id": a, "chat_id": c} for a in accounts
                                                      for c in sorted(self.members.get(a, ()))],
            readers_not_sharing=lambda ids: [{"id": a} for a in ids if a in self.not_sharing],
            catch_up=self._catch_up,
            recent_changes=self._recent,
        )

    def last_seq(self, chat_id: int) -> int:
        return max((m["change_seq"] for m in self.messages.values() if m["chat_id"] == chat_id), default=0)

    def add(self, chat_id: int, text: str = "hi", sender_id: int = 7) -> dict[str, Any]:
        """A message written now: the chat's next seq."""
        self.chats.setdefault(chat_id, chat_row(chat_id))
        seq = self.last_seq(chat_id) + 1
        row = message_row(len(self.messages) + 1, chat_id, seq, text=text, sender_id=sender_id)
        self.messages[row["id"]] = row
        return row

    def _catch_up(self, chats: list[int], positions: list[int], limit: int) -> list[dict[str, Any]]:
        pos = dict(zip(chats, positions, strict=True))
        rows = [m for m in self.messages.values() if m["chat_id"] in pos and m["change_seq"] > pos[m["chat_id"]]]
        return sorted(rows, key=lambda m: (m["chat_id"], m["change_seq"]))[:limit]

    def _recent(self, chats: list[int], n: int) -> list[dict[str, Any]]:
        out = []
        for c in sorted(chats):
            rows = sorted((m for m in self.messages.values() if m["chat_id"] == c), key=lambda m: m["change_seq"])
            out.extend(rows[-n:])
        return out
