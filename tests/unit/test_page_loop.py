"""A socket's own page loop against a page source in memory: no database, no delivery, no pager."""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from webchat_server.realtime.events import Event, make_event
from webchat_server.realtime.hub import Hub
from webchat_server.realtime.subscriber import PageSource, State, WsSubscriber

from .fakes import live, ws_sub

REALTIME = Path(__file__).parents[2] / "webchat_server" / "realtime"


class MemoryPages:
    """Chat 1's changes, a page at a time by position; fails the first `down` reads as a database
    that is restarting would."""

    page_rows = 5
    stall_timeout = 5.0
    low_water = 0

    def __init__(self, changes: int, down: int = 0) -> None:
        self.events = [make_event("new_message", 1, {"n": seq}, seq=seq) for seq in range(1, changes + 1)]
        self.down = down
        self.reads: list[int] = []  # the limit each read was asked for
        self.loops: list[asyncio.Task[None]] = []

    async def read(self, positions: Mapping[int, int | None], limit: int) -> tuple[Iterable[Event], bool]:
        if self.down:
            self.down -= 1
            raise ConnectionRefusedError("the database is restarting")
        self.reads.append(limit)
        after = positions[1] or 0
        rest = [ev for ev in self.events if ev.seq > after]
        return rest[:limit], len(rest) <= limit

    def started(self, task: asyncio.Task[None]) -> None:
        self.loops.append(task)

    async def finished(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self.loops), 5)


def paging_socket(hub: Hub) -> WsSubscriber:
    sub, _ = ws_sub(hub)
    live(hub, sub, {1: 0})
    sub.start_paging()
    return sub


def seqs(sub: WsSubscriber) -> list[int]:
    """The changes written to the socket, in the order written."""
    return [int(n) for w in sub.transport.writes for n in re.findall(rb'"n":(\d+)', w)]  # type: ignore[attr-defined]


async def test_a_socket_pages_itself_from_any_page_source_then_goes_live() -> None:
    hub, pages = Hub(), MemoryPages(12)
    sub = paging_socket(hub)
    sub.follow(pages)
    await pages.finished()
    assert sub.state is State.LIVE and sub.positions[1] == 12
    assert seqs(sub) == list(range(1, 13))  # in order, each once
    assert len(pages.loops) == 1 and pages.reads[0] == 5 and not sub.page_loop


async def test_one_page_loop_per_socket_and_a_new_one_when_it_pages_again() -> None:
    hub, pages = Hub(), MemoryPages(3)
    sub = paging_socket(hub)
    sub.follow(pages)
    sub.follow(pages)  # already paging itself: no second loop reading the same positions
    await pages.finished()
    assert len(pages.loops) == 1 and sub.state is State.LIVE
    pages.events.append(make_event("new_message", 1, {"n": 4}, seq=4))
    sub.start_paging()  # right after its last page: the loop that ended must not be counted
    sub.follow(pages)
    await pages.finished()
    assert len(pages.loops) == 2 and sub.state is State.LIVE and seqs(sub) == [1, 2, 3, 4]


async def test_a_database_that_is_down_for_a_while_is_read_again_not_resynced() -> None:
    hub, pages = Hub(), MemoryPages(7, down=2)
    sub = paging_socket(hub)
    sub.follow(pages)
    await pages.finished()
    assert sub.state is State.LIVE and seqs(sub) == list(range(1, 8)) and hub.slow_consumers == 0


def test_a_memory_page_source_is_a_page_source() -> None:
    pages: PageSource = MemoryPages(0)  # mypy holds the fake to the protocol
    assert pages.page_rows == 5


def _imports(name: str) -> set[str]:
    tree = ast.parse((REALTIME / name).read_text())
    return {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1}


def test_attaching_goes_one_way_subscriber_knows_no_paging_and_paging_no_subscriber() -> None:
    # delivery -> hub -> subscriber, delivery -> paging: a reader is handed its page source, it
    # never reaches for one, and the page source knows nothing of readers
    assert not _imports("subscriber.py") & {"paging", "delivery", "hub"}
    assert not _imports("paging.py") & {"subscriber", "delivery", "hub"}
