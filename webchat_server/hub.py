"""Who listens to what: chat -> live sockets and poll waiters, with bounded buffers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from .events import Event, resync_event

log = logging.getLogger(__name__)

# events a subscriber may buffer while its catch-up query runs, and a poll waiter may hold
PENDING_MAX = 10_000


class Subscriber:
    """One WebSocket or one parked long-poll; tracks its per-chat positions to drop duplicates."""

    kind = "subscriber"
    # thousands of these live at once: no per-instance __dict__
    __slots__ = ("account_id", "closed", "hub", "pending", "positions")

    def __init__(self, hub: Hub, account_id: int) -> None:
        self.hub = hub
        self.account_id = account_id
        # chat -> highest sequence delivered; None = joined without a known position
        self.positions: dict[int, int | None] = {}
        # live events are held here until the catch-up has been delivered (subscribe before read)
        self.pending: list[Event] | None = []
        self.closed = False

    def offer(self, ev: Event) -> None:
        if self.closed or ev.skip_account == self.account_id:
            return
        if self.pending is not None:
            self.pending.append(ev)
            if len(self.pending) > PENDING_MAX:
                self.overflow("too many events while catching up")
            return
        self.accept(ev)

    def accept(self, ev: Event) -> None:
        """Deliver unless already delivered: a (chat, seq) goes out at most once."""
        if ev.seq:
            pos = self.positions.get(ev.chat_id)  # type: ignore[arg-type]
            if pos is not None and ev.seq <= pos:
                return
            self.positions[ev.chat_id] = ev.seq  # type: ignore[index]
        self.push(ev)

    def go_live(self) -> None:
        pending, self.pending = self.pending or [], None
        for ev in pending:
            if self.closed:
                break
            self.accept(ev)

    def push(self, ev: Event) -> None:
        raise NotImplementedError

    def overflow(self, reason: str) -> None:
        raise NotImplementedError


class WsSubscriber(Subscriber):
    """Writes prebuilt frames straight to the socket's transport: no task or queue per event.

    The transport's write buffer is the bounded queue: past `limit` bytes the peer is not
    reading, so it gets `resync` and is closed rather than silently losing events.
    """

    kind = "ws"
    __slots__ = ("limit", "transport", "ws")

    def __init__(self, hub: Hub, account_id: int, ws: web.WebSocketResponse, transport: asyncio.Transport,
                 limit: int) -> None:
        super().__init__(hub, account_id)
        self.ws = ws
        self.transport = transport
        self.limit = limit

    def push(self, ev: Event) -> None:
        t = self.transport
        if t.is_closing():
            self.closed = True
            return
        if t.get_write_buffer_size() > self.limit:
            self.overflow("slow consumer")
            return
        t.write(ev.frame)
        self.hub.delivered += 1

    def overflow(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.slow_consumers += 1
        self.hub.unregister(self)
        if not self.transport.is_closing():
            self.transport.write(resync_event(reason).frame)
        log.info("closing WebSocket of account %s: %s", self.account_id, reason)
        task = asyncio.get_running_loop().create_task(self._close())
        self.hub.background.add(task)
        task.add_done_callback(self.hub.background.discard)

    async def _close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=4008, message=b"resync"), 2.0)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self.transport.abort()


class PollWaiter(Subscriber):
    """A parked long-poll request: collects events and wakes its handler on the first one."""

    kind = "poll"
    __slots__ = ("events", "only_chat", "resynced", "wake")

    def __init__(self, hub: Hub, account_id: int, only_chat: int | None = None) -> None:
        super().__init__(hub, account_id)
        self.events: list[Event] = []
        self.wake = asyncio.Event()
        self.only_chat = only_chat
        self.resynced = False

    def push(self, ev: Event) -> None:
        if self.only_chat is not None and ev.chat_id != self.only_chat:
            return
        self.events.append(ev)
        self.hub.delivered += 1
        self.wake.set()
        if len(self.events) > PENDING_MAX:
            self.overflow("too many events for one poll")

    def overflow(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.resynced = True
        self.events = [resync_event(reason)]
        self.wake.set()


class Hub:
    def __init__(self) -> None:
        self.by_chat: dict[int, set[Subscriber]] = {}
        self.by_account: dict[int, set[Subscriber]] = {}
        # bumped whenever notifications are consumed (delivered or dropped) and whenever an event
        # is fanned out; a subscriber that saw it unchanged across its membership read knows it
        # missed nothing and can skip the catch-up query
        self.epoch = 0
        self.delivered = 0
        self.slow_consumers = 0
        self.background: set[asyncio.Task[Any]] = set()

    # -- registration -------------------------------------------------------------------------
    def register(self, sub: Subscriber) -> None:
        self.by_account.setdefault(sub.account_id, set()).add(sub)

    def subscribe(self, sub: Subscriber, chat_id: int, position: int | None) -> None:
        if chat_id not in sub.positions:
            sub.positions[chat_id] = position
        self.by_chat.setdefault(chat_id, set()).add(sub)

    def unregister(self, sub: Subscriber) -> None:
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
            if chat_id not in sub.positions:
                self.subscribe(sub, chat_id, None)
                added.append(sub)
        return added

    def leave(self, account_id: int, chat_id: int) -> list[Subscriber]:
        gone = []
        chat_subs = self.by_chat.get(chat_id, set())
        for sub in tuple(self.by_account.get(account_id, ())):
            if chat_id in sub.positions:
                del sub.positions[chat_id]
                chat_subs.discard(sub)
                gone.append(sub)
        if not chat_subs:
            self.by_chat.pop(chat_id, None)
        return gone

    def drop_chat(self, chat_id: int) -> None:
        """A deleted chat: nobody here listens to it any more."""
        for sub in self.by_chat.pop(chat_id, ()):
            sub.positions.pop(chat_id, None)

    # -- fan-out ------------------------------------------------------------------------------
    def publish(self, ev: Event) -> None:
        if ev.chat_id is None:
            return
        self.epoch += 1
        subs = self.by_chat.get(ev.chat_id)
        if subs:
            # a copy: an overflowing subscriber unregisters itself mid-loop
            for sub in tuple(subs):
                sub.offer(ev)

    def publish_to(self, subs: Iterable[Subscriber], ev: Event) -> None:
        self.epoch += 1
        for sub in tuple(subs):
            sub.offer(ev)

    def release_waiters(self) -> None:
        """Answer every parked long-poll now (with what it has, maybe nothing) so a shutting-down
        server is not held open for up to a poll timeout; clients poll again from their cursor."""
        for sub in self.subscribers():
            if isinstance(sub, PollWaiter):
                sub.closed = True  # nothing more arrives; the seed-form loop stops on this too
                sub.wake.set()

    def resync_all(self, reason: str) -> None:
        for sub in self.subscribers():
            sub.overflow(reason)
