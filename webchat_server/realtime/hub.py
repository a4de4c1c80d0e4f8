"""Who listens to what: chat -> live sockets and poll waiters, each with bounded memory.

The hub holds subscribers and fans events out to them; it never calls into delivery. A socket
that starts paging is listed here; delivery takes the list and hands each the pages to read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from weakref import WeakSet

from aiohttp import web

from .events import Event
from .subscriber import Subscriber, WsSubscriber


class Hub:
    def __init__(self) -> None:
        self.by_chat: dict[int, set[Subscriber]] = {}
        self.by_account: dict[int, set[Subscriber]] = {}
        # agents' readers: they follow every visitor conversation (realtime/agents.py)
        self.agents: set[Subscriber] = set()
        # chats known not to be visitor conversations (realtime/agents.py)
        self.not_conversations: set[int] = set()
        self.delivered = 0
        self.slow_consumers = 0
        self.paging_started = 0
        self.background: set[asyncio.Task[Any]] = set()
        # sockets that stopped taking live frames since delivery last looked (it pages them)
        self.newly_paging: list[Subscriber] = []
        # while not None (see corked_writes), sockets collect their frames and are listed here
        self.corked: list[WsSubscriber] | None = None

    @contextlib.contextmanager
    def corked_writes(self) -> Iterator[None]:
        """Frames published inside go to each socket in one write at the end: a batch of k messages
        costs each socket one system call, not k. Only around code that does not await."""
        if self.corked is not None:
            yield
            return
        self.corked = []
        try:
            yield
        finally:
            subs, self.corked = self.corked, None
            for sub in subs:
                sub.flush()

    def started_paging(self, sub: Subscriber) -> None:
        self.paging_started += 1
        self.newly_paging.append(sub)

    def take_paging(self) -> list[Subscriber]:
        subs, self.newly_paging = self.newly_paging, []
        return subs

    # -- registration -------------------------------------------------------------------------
    def register(self, sub: Subscriber) -> None:
        self.by_account.setdefault(sub.account_id, set()).add(sub)
        if sub.agent:
            self.agents.add(sub)

    def subscribe(self, sub: Subscriber, chat_id: int, position: int | None) -> None:
        if chat_id not in sub.positions:
            sub.positions[chat_id] = position
        self.by_chat.setdefault(chat_id, set()).add(sub)

    def unsubscribe(self, sub: Subscriber, chat_id: int) -> None:
        sub.positions.pop(chat_id, None)
        chat_subs = self.by_chat.get(chat_id)
        if chat_subs is not None:
            chat_subs.discard(sub)
            if not chat_subs:
                del self.by_chat[chat_id]

    def unregister(self, sub: Subscriber) -> None:
        self.agents.discard(sub)
        subs = self.by_account.get(sub.account_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.by_account[sub.account_id]
        for chat_id in sub.positions:
            chat_subs = self.by_chat.get(chat_id)
            if chat_subs is not None:
                chat_subs.discard(sub)
                if not chat_subs:
                    del self.by_chat[chat_id]

    def subscribers(self) -> list[Subscriber]:
        return [s for subs in self.by_account.values() for s in subs]

    def count(self, kind: str) -> int:
        return sum(1 for s in self.subscribers() if s.kind == kind)

    # -- membership changes -------------------------------------------------------------------
    def join(self, account_id: int, chat_id: int) -> list[Subscriber]:
        """Subscribe the account's live sessions to a chat it joined; returns the new ones."""
        added = []
        for sub in tuple(self.by_account.get(account_id, ())):
            if chat_id not in sub.positions and sub.only_chat is None:
                self.subscribe(sub, chat_id, None)
                added.append(sub)
        return added

    def readers(self, account_id: int, chat_id: int) -> list[Subscriber]:
        """The account's subscribers that follow the chat."""
        return [s for s in self.by_account.get(account_id, ()) if chat_id in s.positions]

    def leave(self, account_id: int, chat_id: int,
              which: Callable[[Subscriber], bool] | None = None) -> list[Subscriber]:
        """Unsubscribe the account's readers of the chat (those `which` picks); returns them."""
        gone = [s for s in self.readers(account_id, chat_id) if which is None or which(s)]
        for sub in gone:
            self.unsubscribe(sub, chat_id)
        return gone

    def drop_chat(self, chat_id: int) -> None:
        """A deleted chat: nobody here listens to it any more."""
        for sub in self.by_chat.pop(chat_id, ()):
            sub.positions.pop(chat_id, None)

    # -- fan-out ------------------------------------------------------------------------------
    def publish(self, ev: Event) -> None:
        subs = self.by_chat.get(ev.chat_id) if ev.chat_id is not None else None
        if subs:
            # a copy: a closing subscriber unregisters itself mid-loop
            for sub in tuple(subs):
                sub.offer(ev)

    def publish_to(self, subs: Iterable[Subscriber], ev: Event) -> None:
        for sub in tuple(subs):
            sub.offer(ev)

    def release_waiters(self) -> None:
        """Answer every parked long-poll now (with what it has, maybe nothing) so a shutting-down
        server is not held open for up to a poll timeout; clients poll again from their cursor."""
        for sub in self.subscribers():
            sub.release()

    def resync_all(self, reason: str) -> None:
        for sub in self.subscribers():
            sub.overflow(reason)


hub_key = web.AppKey("hub", Hub)


class OpenSockets:
    """The open WebSockets, closed with GOING_AWAY on shutdown."""

    def __init__(self) -> None:
        self.items: WeakSet[web.WebSocketResponse] = WeakSet()


sockets_key = web.AppKey("sockets", OpenSockets)
