"""Who listens to what: chat -> live sockets and poll waiters, each with bounded memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from weakref import WeakSet

from aiohttp import web

from .events import Event, resync_event
from .protocol import CLOSE_RESYNC

log = logging.getLogger(__name__)

# live events a subscriber may buffer while one replay query runs; past it, it keeps paging
PENDING_MAX = 10_000


class Subscriber:
    """One WebSocket or one parked long-poll; tracks its per-chat positions to drop duplicates.

    Three states. Live: events are written as they are fanned out. Buffering (`pending` is a
    list): a replay query is running, live events wait behind it. Paging (`paging`): the socket
    could not take more, so live message events are dropped here and re-read from the database
    by position when it drains (per-chat seqs are gap-free, so this is exact); unsequenced events
    (chat updates, read positions) are held, latest per key, which bounds them by the chat count.
    """

    kind = "subscriber"
    # thousands of these live at once: no per-instance __dict__
    __slots__ = ("account_id", "agent", "attached", "closed", "held", "hub", "paging", "pending", "positions",
                 "replayed_bytes", "replayed_rows", "replaying")

    def __init__(self, hub: Hub, account_id: int) -> None:
        self.hub = hub
        self.account_id = account_id
        # chat -> highest sequence delivered; None = joined without a known position
        self.positions: dict[int, int | None] = {}
        self.pending: list[Event] | None = []
        self.paging = False
        self.held: dict[tuple[str, int | None, Any], Event] | None = None  # made when first needed
        self.replaying = False  # a replay task runs for it (owned by delivery)
        self.replayed_rows = self.replayed_bytes = 0  # sizes the next page
        self.closed = False
        # set by delivery once attach has read its memberships and set its positions; until then
        # only attach sets its positions (a reconcile leaves it alone)
        self.attached = False
        # an agent's reader also takes internal notes; set by the view from the account's kind
        self.agent = False

    def offer(self, ev: Event) -> None:
        if self.closed or ev.skip_account == self.account_id:
            return
        if self.pending is not None:
            self.pending.append(ev)
            if len(self.pending) > PENDING_MAX:
                self.stop_buffering()
            return
        if self.paging:
            self._hold(ev)
            return
        self.accept(ev)

    def _hold(self, ev: Event) -> None:
        # sequenced events are read again from the database; typing is ephemeral
        if ev.seq or ev.type == "typing":
            return
        key = (ev.type, ev.chat_id, ev.obj.get("account_id"))
        if self.held is None:
            self.held = {}
        self.held.pop(key, None)
        self.held[key] = ev

    def accept(self, ev: Event) -> None:
        """A live event: taken now, or, if the reader cannot take it, the reader starts paging."""
        if not self.replay(ev):
            self.start_paging()
            self._hold(ev)

    def replay(self, ev: Event) -> bool:
        """Deliver unless already delivered: a (chat, seq) goes out at most once, in order.

        Returns False (and delivers nothing) when the reader cannot take it now.
        """
        if ev.seq:
            if ev.chat_id not in self.positions:
                return True  # a chat it left meanwhile
            pos = self.positions[ev.chat_id]
            if pos is not None and ev.seq <= pos:
                return True
        if ev.agents_only and not self.agent:
            # every path to a reader (live, replay, paging, a poll) passes here: a note is never
            # written to a visitor, and the reader moves past it as if it had been
            if ev.seq:
                self.positions[ev.chat_id] = ev.seq  # type: ignore[index]
            return True
        if not self.write(ev):
            return False
        if ev.seq:
            self.positions[ev.chat_id] = ev.seq  # type: ignore[index]
        return True

    def stop_buffering(self) -> None:
        """Give up the live events buffered behind a replay query: page instead."""
        pending, self.pending = self.pending or [], None
        self.paging = True
        for ev in pending:
            self._hold(ev)

    def start_paging(self) -> None:
        if self.closed:
            return
        self.paging = True
        self.hub.paging_started += 1
        if self.hub.pager is not None:
            self.hub.pager(self)

    def go_live(self) -> None:
        """After the last replayed page: held and buffered events, then live frames."""
        pending, self.pending = self.pending or [], None
        held, self.held = self.held or {}, None
        self.paging = False
        for ev in (*held.values(), *pending):
            if self.closed:
                break
            self.offer(ev)

    def buffered(self) -> int:
        """Bytes written but not yet taken by the reader."""
        return 0

    def write(self, ev: Event) -> bool:
        raise NotImplementedError

    def overflow(self, reason: str) -> None:
        raise NotImplementedError


class WsSubscriber(Subscriber):
    """Writes prebuilt frames straight to the socket's transport: no task or queue per event.

    The transport's write buffer is the only queue; past `high_water` bytes the subscriber stops
    taking live frames and pages from the database as the socket drains.
    """

    kind = "ws"
    __slots__ = ("corked", "corked_bytes", "high_water", "transport", "ws")

    def __init__(self, hub: Hub, account_id: int, ws: web.WebSocketResponse, transport: asyncio.Transport,
                 high_water: int) -> None:
        super().__init__(hub, account_id)
        self.ws = ws
        self.transport = transport
        self.high_water = high_water
        # frames taken while the hub is corked, written with one call when it uncorks
        self.corked: list[bytes] = []
        self.corked_bytes = 0

    def buffered(self) -> int:
        t = self.transport
        return 0 if t.is_closing() else t.get_write_buffer_size() + self.corked_bytes

    def write(self, ev: Event) -> bool:
        t = self.transport
        if t.is_closing():
            # the frame would be dropped: never move a position for it; the socket is gone, so is
            # this subscriber (the client resumes from its own cursor)
            self.closed = True
            self.hub.unregister(self)
            return False
        if t.get_write_buffer_size() + self.corked_bytes > self.high_water:
            return False
        if self.hub.corked is not None:
            if not self.corked:
                self.hub.corked.append(self)
            self.corked.append(ev.frame)
            self.corked_bytes += len(ev.frame)
        else:
            t.write(ev.frame)
        self.hub.delivered += 1
        return True

    def flush(self) -> None:
        frames, self.corked, self.corked_bytes = self.corked, [], 0
        if frames and not self.transport.is_closing():
            # one send() for the whole batch: the fan-out's cost was one system call per frame
            self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def overflow(self, reason: str) -> None:
        if self.closed:
            return
        self.flush()
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
            await asyncio.wait_for(self.ws.close(code=CLOSE_RESYNC, message=b"resync"), 2.0)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self.transport.abort()


class PollWaiter(Subscriber):
    """A parked long-poll request: collects events and wakes its handler on the first one.

    Past `max_bytes` it takes nothing more and answers; its cursor stops at the last event it
    took, so the next poll continues from the database where this one stopped.
    """

    kind = "poll"
    __slots__ = ("events", "max_bytes", "only_chat", "resynced", "size", "wake")

    def __init__(self, hub: Hub, account_id: int, only_chat: int | None = None, max_bytes: int = 256 * 1024) -> None:
        super().__init__(hub, account_id)
        self.events: list[Event] = []
        self.wake = asyncio.Event()
        self.only_chat = only_chat
        self.resynced = False
        self.size = 0
        self.max_bytes = max_bytes

    def write(self, ev: Event) -> bool:
        if self.only_chat is not None and ev.chat_id != self.only_chat:
            return True
        if self.size >= self.max_bytes:
            return False
        self.events.append(ev)
        self.size += len(ev.data)
        self.hub.delivered += 1
        self.wake.set()
        return True

    def start_paging(self) -> None:
        # a poll answers now; the client's next poll pages on from its cursor
        self.paging = True
        self.wake.set()

    def answer(self) -> list[Event]:
        """What this poll returns: its events, then what was held for it."""
        return [*self.events, *(self.held or {}).values()]

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
        self.delivered = 0
        self.slow_consumers = 0
        self.paging_started = 0
        self.background: set[asyncio.Task[Any]] = set()
        # set by delivery: starts replaying a subscriber that stopped taking live frames
        self.pager: Callable[[Subscriber], None] | None = None
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

    # -- registration -------------------------------------------------------------------------
    def register(self, sub: Subscriber) -> None:
        self.by_account.setdefault(sub.account_id, set()).add(sub)

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
            if chat_id not in sub.positions and (not isinstance(sub, PollWaiter) or sub.only_chat is None):
                self.subscribe(sub, chat_id, None)
                added.append(sub)
        return added

    def leave(self, account_id: int, chat_id: int) -> list[Subscriber]:
        gone = [s for s in tuple(self.by_account.get(account_id, ())) if chat_id in s.positions]
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
            if isinstance(sub, PollWaiter):
                sub.closed = True  # nothing more arrives; the seed-form loop stops on this too
                sub.wake.set()

    def resync_all(self, reason: str) -> None:
        for sub in self.subscribers():
            sub.overflow(reason)

hub_key = web.AppKey("hub", Hub)


class OpenSockets:
    """The open WebSockets, closed with GOING_AWAY on shutdown."""

    def __init__(self) -> None:
        self.items: WeakSet[web.WebSocketResponse] = WeakSet()


sockets_key = web.AppKey("sockets", OpenSockets)
