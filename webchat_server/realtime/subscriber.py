"""One reader (a WebSocket or a parked long-poll) and its lifecycle, one explicit state machine.

    ATTACHING -> REPLAYING -> LIVE <-> PAGING -> CLOSED     (PAGING -> REPLAYING: one more page)

ATTACHING: registered, memberships not read yet; live events wait in `pending`.
REPLAYING: a replay query runs; live events wait in `pending` behind it, so going live after it
  is exact.
LIVE: events are written as they are fanned out.
PAGING: the reader could not take more: live message events are dropped here and re-read from
  the database by position when it drains (per-chat seqs are gap-free, so this is exact);
  unsequenced events are held, latest per key (`Event.hold`), which bounds them.
CLOSED: nothing more, ever; any later transition is a no-op.
Every change of state goes through `_to`, which refuses one the table does not list.

The reader drives its own catch-up: it asks a `PageSource` (given by delivery; realtime/paging.py)
for one page at a time and takes it. A socket runs that page loop itself, in the background, as it
drains; a poll reads one page and answers. Nothing here calls back into delivery or paging.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from aiohttp import web

from ..errors import DATABASE_DOWN
from .events import Event, resync_event
from .protocol import CLOSE_RESYNC, CLOSE_SESSION_ENDED

log = logging.getLogger(__name__)

# live events a subscriber may buffer while one replay query runs; past it, it keeps paging
PENDING_MAX = 10_000
# how often a paging socket is checked for having drained
DRAIN_CHECK = 0.02
# a page that found the database down is read again after this, doubling up to the last
RETRY_FIRST = 0.05
RETRY_MAX = 2.0


class State(enum.Enum):
    ATTACHING = "attaching"
    REPLAYING = "replaying"
    LIVE = "live"
    PAGING = "paging"
    CLOSED = "closed"


A, R, L, P, C = State.ATTACHING, State.REPLAYING, State.LIVE, State.PAGING, State.CLOSED
# the only transitions there are (CLOSED is left by none)
TRANSITIONS: dict[State, frozenset[State]] = {
    A: frozenset({R, L, P, C}),
    R: frozenset({R, L, P, C}),
    L: frozenset({P, C}),
    P: frozenset({R, P, C}),
    C: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


class Roster(Protocol):
    """What a subscriber needs of the hub that holds it (the hub imports this module, not back)."""

    corked: list[WsSubscriber] | None
    delivered: int
    slow_consumers: int
    background: set[asyncio.Task[Any]]

    def unregister(self, sub: Subscriber) -> None: ...

    def started_paging(self, sub: Subscriber) -> None: ...


class PageSource(Protocol):
    """Where a reader that fell behind reads its pages, and the limits of a socket's page loop."""

    page_rows: int  # rows a page holds at most
    stall_timeout: float  # seconds a paging socket may take nothing before it is closed
    low_water: int  # unsent bytes a socket drains below before its next page

    async def read(self, positions: Mapping[int, int | None], limit: int) -> tuple[Iterable[Event], bool]:
        """The page after `positions` (read again as each event is taken) and whether it is the last."""
        ...

    def started(self, task: asyncio.Task[None]) -> None:
        """A socket's page loop began (it is counted, and cancelled when delivery stops)."""
        ...


class Subscriber:
    """Tracks its per-chat positions to drop duplicates; see the module's state machine."""

    kind = "subscriber"
    # a poll for one chat only (the seed form); None for every chat of the account
    only_chat: int | None = None
    # thousands of these live at once: no per-instance __dict__
    __slots__ = ("account_id", "agent", "held", "hub", "paged", "pending", "positions", "replayed_bytes",
                 "replayed_rows", "sid", "state")

    def __init__(self, hub: Roster, account_id: int) -> None:
        self.hub = hub
        self.account_id = account_id
        # chat -> highest sequence delivered; None = joined without a known position
        self.positions: dict[int, int | None] = {}
        self.state = State.ATTACHING
        self.pending: list[Event] = []  # live events behind a query (ATTACHING, REPLAYING)
        self.held: dict[tuple[Any, ...], Event] | None = None  # made when first needed
        self.paged = False  # REPLAYING one more page of a paging reader (not its first catch-up)
        self.replayed_rows = self.replayed_bytes = 0  # sizes the next page
        # the session id that opened it: when that session ends (sign-out, sign-in as someone),
        # the reader ends too (kinds/sessions.py)
        self.sid: str | None = None
        # an agent's reader: it also takes internal notes, and follows every visitor conversation
        # without being a member (set by the view, from the account's kind, before attach)
        self.agent = False

    # -- the state machine --------------------------------------------------------------------
    def _to(self, new: State) -> bool:
        """Move to `new`; False when closed (the caller's work is moot), raises when not allowed."""
        old = self.state
        if old is State.CLOSED:
            return False
        if new not in TRANSITIONS[old]:
            raise IllegalTransition(f"{self.kind} subscriber: {old.value} -> {new.value}")
        self.state = new
        if new is not State.REPLAYING:
            self.paged = new is State.PAGING
        return True

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def attached(self) -> bool:
        """Attach has read its memberships and set its positions; until then only attach sets
        them (a reconcile leaves it alone)."""
        return self.state is not State.ATTACHING

    @property
    def paging(self) -> bool:
        """Dropping live message events: paging, or reading one more page for it."""
        return self.state is State.PAGING or (self.state is State.REPLAYING and self.paged)

    @property
    def buffering(self) -> bool:
        return self.state in (State.ATTACHING, State.REPLAYING)

    def close(self) -> None:
        self._to(State.CLOSED)

    def positions_read(self) -> None:
        """Attach read the memberships; live events keep waiting until it decides."""
        self._to(State.REPLAYING)

    def begin_page(self) -> None:
        """A replay query starts: live events wait behind it (those waiting already are in it)."""
        if self._to(State.REPLAYING):
            self.pending = []

    def go_live(self) -> None:
        """After the last replayed page: held and buffered events, then live frames."""
        pending, self.pending = self.pending, []
        held, self.held = self.held or {}, None
        if not self._to(State.LIVE):
            return
        for ev in (*held.values(), *pending):
            if self.closed:
                break
            self.offer(ev)

    def stop_buffering(self) -> None:
        """Give up the live events buffered behind a replay query: page instead."""
        pending, self.pending = self.pending, []
        if self._to(State.PAGING):
            for ev in pending:
                self._hold(ev)

    def take_page(self, events: Iterable[Event], complete: bool) -> None:
        """A page read from the database: replayed in order, then live if it was the last one."""
        for ev in events:
            if not self.replay(ev):
                complete = False  # the reader filled up again: the rest comes with the next page
                break
            self.replayed_rows += 1
            self.replayed_bytes += len(ev.frame)
        if complete and self.buffering:
            self.go_live()
        else:
            self.stop_buffering()
            self.paged_out()

    def paged_out(self) -> None:
        """After a page that was not the last: a socket's page loop reads the next one."""

    async def read_page(self, pages: PageSource, limit: int) -> None:
        """One page from the database; live events wait behind its query, so going live after the
        last page is exact (a commit the query missed is notified after the buffer opened)."""
        self.begin_page()
        events, complete = await pages.read(self.positions, limit)
        self.take_page(events, complete)

    def follow(self, pages: PageSource) -> None:
        """Page from `pages` until live again. A poll pages by answering: its next request reads on."""

    def start_paging(self) -> None:
        """The reader cannot take live frames: the hub lists it, and delivery has it follow its pages."""
        if self._to(State.PAGING):
            self.hub.started_paging(self)

    # -- events -------------------------------------------------------------------------------
    def offer(self, ev: Event) -> None:
        if ev.skip_account == self.account_id:
            return
        if ev.only_account is not None and ev.only_account != self.account_id:
            return
        state = self.state
        if state is State.LIVE:
            self.accept(ev)
        elif state is State.PAGING:
            self._hold(ev)
        elif state is not State.CLOSED:
            self.pending.append(ev)
            if len(self.pending) > PENDING_MAX:
                self.stop_buffering()

    def _hold(self, ev: Event) -> None:
        if ev.hold is None:
            return
        if self.held is None:
            self.held = {}
        self.held.pop(ev.hold, None)
        self.held[ev.hold] = ev

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

    def buffered(self) -> int:
        """Bytes written but not yet taken by the reader."""
        return 0

    def write(self, ev: Event) -> bool:
        raise NotImplementedError

    def overflow(self, reason: str) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """The server is stopping: a parked poll answers now; a socket is closed elsewhere."""

    def end_session(self) -> None:
        """Its session was signed out or into another account: it must not receive another event."""
        self.close()
        self.hub.unregister(self)


class WsSubscriber(Subscriber):
    """Writes prebuilt frames straight to the socket's transport: no task or queue per event.

    The transport's write buffer is the only queue; past `high_water` bytes the subscriber stops
    taking live frames and pages from the database as the socket drains.
    """

    kind = "ws"
    __slots__ = ("corked", "corked_bytes", "high_water", "page_loop", "transport", "ws")

    def __init__(self, hub: Roster, account_id: int, ws: web.WebSocketResponse, transport: asyncio.Transport,
                 high_water: int) -> None:
        super().__init__(hub, account_id)
        self.ws = ws
        self.transport = transport
        self.high_water = high_water
        # frames taken while the hub is corked, written with one call when it uncorks
        self.corked: list[bytes] = []
        self.corked_bytes = 0
        # its page loop runs: cleared by the loop itself as it ends, not by a done callback, so a
        # socket that starts paging again right after its last page always gets a new loop
        self.page_loop = False

    def buffered(self) -> int:
        t = self.transport
        return 0 if t.is_closing() else t.get_write_buffer_size() + self.corked_bytes

    def write(self, ev: Event) -> bool:
        t = self.transport
        if t.is_closing():
            # the frame would be dropped: never move a position for it; the socket is gone, so is
            # this subscriber (the client resumes from its own cursor)
            self.close()
            self.hub.unregister(self)
            return False
        if t.get_write_buffer_size() + self.corked_bytes > self.high_water:
            return False
        corked = self.hub.corked
        if corked is not None:
            if not self.corked:
                corked.append(self)
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

    # -- paging -------------------------------------------------------------------------------
    def follow(self, pages: PageSource) -> None:
        if self.page_loop or self.closed:
            return
        self.page_loop = True
        pages.started(asyncio.get_running_loop().create_task(self._page_on(pages)))

    async def _page_on(self, pages: PageSource) -> None:
        """Page by page as the socket drains, until a page was the last (live) or it closes."""
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        backoff = RETRY_FIRST
        try:
            while self.state is State.PAGING:
                if not await self._drained(pages.low_water, pages.stall_timeout):
                    self.overflow(f"the socket took nothing for {pages.stall_timeout:g} s")
                    return
                if self.closed:
                    return
                try:
                    await self.read_page(pages, self._page_limit(pages.page_rows))
                    failing_since, backoff = None, RETRY_FIRST
                except DATABASE_DOWN as e:
                    # Postgres restarting (or PgBouncer between logins): the page is read again
                    # from the same positions once it answers. Only a database gone for as long
                    # as a stalled socket is allowed ends in resync.
                    failing_since = failing_since if failing_since is not None else loop.time()
                    if loop.time() - failing_since > pages.stall_timeout:
                        log.warning("database unavailable for %g s while paging account %s: %s",
                                    pages.stall_timeout, self.account_id, e.__class__.__name__)
                        self.overflow("database unavailable")
                        return
                    if self.buffering:
                        self.stop_buffering()  # back to paging; live events it buffered are held
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, RETRY_MAX)
        finally:
            self.page_loop = False

    def _page_limit(self, page_rows: int) -> int:
        """Rows that fit the room left under the high-water mark, judged by the rows sent so far,
        so a page of large rows is not fetched only to be cut short (between 10 and page_rows)."""
        room = max(self.high_water - self.buffered(), 0)
        avg = self.replayed_bytes / self.replayed_rows if self.replayed_rows else 0
        if not avg:
            return page_rows
        return max(10, min(page_rows, int(room / avg) + 1))

    async def _drained(self, low_water: int, stall_timeout: float) -> bool:
        """Wait until the socket is below `low_water`; False if it took nothing for `stall_timeout`
        (a reader that is slow but moving is never cut off)."""
        loop = asyncio.get_running_loop()
        last, progress = self.buffered(), loop.time()
        while not self.closed and self.buffered() > low_water:
            await asyncio.sleep(DRAIN_CHECK)
            size, now = self.buffered(), loop.time()
            if size < last:
                progress = now
            last = size
            if now - progress > stall_timeout:
                return False
        return True

    # -- closing ------------------------------------------------------------------------------
    def overflow(self, reason: str) -> None:
        if self.closed:
            return
        self.flush()
        self.close()
        self.hub.slow_consumers += 1
        self.hub.unregister(self)
        if not self.transport.is_closing():
            self.transport.write(resync_event(reason).frame)
        log.info("closing WebSocket of account %s: %s", self.account_id, reason)
        task = asyncio.get_running_loop().create_task(self._close())
        self.hub.background.add(task)
        task.add_done_callback(self.hub.background.discard)

    def end_session(self) -> None:
        if self.closed:
            return
        self.flush()
        self.close()
        self.hub.unregister(self)
        log.info("closing WebSocket of account %s: its session ended", self.account_id)
        task = asyncio.get_running_loop().create_task(self._close(CLOSE_SESSION_ENDED, b"session ended"))
        self.hub.background.add(task)
        task.add_done_callback(self.hub.background.discard)

    async def _close(self, code: int = CLOSE_RESYNC, message: bytes = b"resync") -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), 2.0)
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

    def __init__(self, hub: Roster, account_id: int, only_chat: int | None = None, max_bytes: int = 256 * 1024) -> None:
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
        if self._to(State.PAGING):
            self.wake.set()

    def paged_out(self) -> None:
        self.start_paging()

    def answer(self) -> list[Event]:
        """What this poll returns: its events, then what was held for it."""
        return [*self.events, *(self.held or {}).values()]

    def overflow(self, reason: str) -> None:
        if self.closed:
            return
        self.close()
        self.resynced = True
        self.events = [resync_event(reason)]
        self.wake.set()

    def release(self) -> None:
        self.close()  # nothing more arrives; the seed-form loop stops on this too
        self.wake.set()

    def end_session(self) -> None:
        # answered now with what it holds; the client's next request with that cookie is a 401
        self.release()
        self.hub.unregister(self)
