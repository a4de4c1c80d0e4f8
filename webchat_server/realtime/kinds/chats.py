"""Chats created or changed ('c'), deleted ('d'), and members joining ('j') or leaving ('l')."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from asyncpg import Record

from ...domain.model import chat_json
from ..events import Event, make_event
from ..hub import Hub
from ..subscriber import Subscriber
from .registry import Batch, Kind, id_rows, register


@dataclass(frozen=True, slots=True)
class ChatsChanged:
    """c: chats created or updated."""

    chat_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ChatsDeleted:
    """d: chats deleted (their members are gone with them)."""

    chat_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Joined:
    """j: (chat_id, account_id) memberships added."""

    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Left:
    """l: (chat_id, account_id) memberships removed."""

    pairs: tuple[tuple[int, int], ...]


def chat_event(row: Record) -> Event:
    # a paging reader keeps the latest state of each chat
    return make_event("chat_updated", row["id"], {"chat": chat_json(row)}, hold=("chat_updated", row["id"]))


def removed_event(chat_id: int) -> Event:
    """A chat the reader no longer has: deleted, or the reader left or was removed."""
    return make_event("chat_updated", chat_id, {"chat": {"id": chat_id, "deleted": True}},
                      hold=("chat_updated", chat_id))


def _changed_prepare(hub: Hub, note: ChatsChanged, batch: Batch) -> None:
    batch.chat_ids.update(note.chat_ids)
    batch.announced.update(note.chat_ids)


def _changed_build(hub: Hub, note: ChatsChanged, batch: Batch) -> Iterable[Event]:
    return [chat_event(batch.chats[c]) for c in note.chat_ids if c in batch.chats]


def _deleted_prepare(hub: Hub, note: ChatsDeleted, batch: Batch) -> None:
    for chat_id in note.chat_ids:
        hub.publish(removed_event(chat_id))
        hub.drop_chat(chat_id)


def _joined_prepare(hub: Hub, note: Joined, batch: Batch) -> None:
    # membership first, so a chat's first events reach the members who just joined it
    for chat_id, account_id in note.pairs:
        subs = hub.join(account_id, chat_id)
        if subs:
            batch.joined.setdefault(chat_id, []).extend(subs)
        batch.chat_ids.add(chat_id)


def _inbox_reader(sub: Subscriber) -> bool:
    """An agent's reader of every visitor conversation (not one opened on a single chat)."""
    return sub.agent and sub.only_chat is None


def _left_prepare(hub: Hub, note: Left, batch: Batch) -> None:
    for chat_id, account_id in note.pairs:
        hub.publish_to(hub.leave(account_id, chat_id, lambda s: not _inbox_reader(s)), removed_event(chat_id))
        # an agent's inbox reader follows visitor conversations without being a member: whether it
        # keeps this one is known once the chat's row is fetched (build)
        if any(_inbox_reader(s) for s in hub.readers(account_id, chat_id)):
            batch.chat_ids.add(chat_id)


def _left_build(hub: Hub, note: Left, batch: Batch) -> Iterable[Event]:
    for chat_id, account_id in note.pairs:
        row = batch.chats.get(chat_id)
        if row is None or row["visitor_id"] is None:  # a visitor conversation stays followed by every agent
            hub.publish_to(hub.leave(account_id, chat_id, _inbox_reader), removed_event(chat_id))
    return ()


register(Kind("c", ChatsChanged, lambda n: ChatsChanged(tuple(r[0] for r in id_rows(n, "c", 1))),
              events=("chat_updated",), schema="Chat", prepare=_changed_prepare, build=_changed_build,
              example={"t": "c", "r": [[1]]}))
register(Kind("d", ChatsDeleted, lambda n: ChatsDeleted(tuple(r[0] for r in id_rows(n, "d", 1))),
              events=("chat_updated",), schema="Chat", prepare=_deleted_prepare,
              example={"t": "d", "r": [[1]]}))
register(Kind("j", Joined, lambda n: Joined(tuple((r[0], r[1]) for r in id_rows(n, "j", 2))),
              events=("chat_updated",), schema="Chat", prepare=_joined_prepare,
              example={"t": "j", "r": [[1, 2]]}))
register(Kind("l", Left, lambda n: Left(tuple((r[0], r[1]) for r in id_rows(n, "l", 2))),
              events=("chat_updated",), schema="Chat", prepare=_left_prepare, build=_left_build,
              example={"t": "l", "r": [[1, 2]]}))
