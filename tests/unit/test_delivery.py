"""Delivery against an in-memory database: fan-out, the written-row cache, attach, paging, reconcile."""

from __future__ import annotations

import asyncio
from typing import Any

from webchat_server.realtime.delivery import FANOUT_SLICE, Delivery
from webchat_server.realtime.hub import Hub
from webchat_server.realtime.kinds.chats import ChatsChanged, ChatsDeleted, Joined, Left
from webchat_server.realtime.kinds.messages import Inserted, MessageRow, Updated
from webchat_server.realtime.kinds.reads import ReadMoved
from webchat_server.realtime.kinds.typing import Typing
from webchat_server.realtime.subscriber import State

from .fakes import FakeDb, live, poll, ws_sub


def setup() -> tuple[FakeDb, Hub, Delivery]:
    db, hub = FakeDb(), Hub()
    return db, hub, Delivery(db.pool, hub, page_rows=5, poll_page_rows=5, low_water=0)  # type: ignore[arg-type]


def inserted(*rows: dict[str, Any]) -> Inserted:
    return Inserted(tuple(MessageRow(r["chat_id"], r["id"], r["seq"], r["sender_id"]) for r in rows))


def texts(sub: Any) -> list[str]:
    return [e.obj["message"]["text"] for e in sub.events if "message" in e.obj]


async def test_one_fetch_per_slice_for_every_reader() -> None:
    db, hub, d = setup()
    readers = [live(hub, poll(hub, a), {1: 0}) for a in (1, 2, 3)]
    rows = [db.add(1, f"m{i}") for i in range(3)]
    await d.deliver([inserted(r) for r in rows])
    assert db.pool.count("messages_by_ids") == 1
    assert all(texts(r) == ["m0", "m1", "m2"] for r in readers)
    assert readers[0].events[0] is readers[1].events[0]  # one event object, shared


async def test_chats_nobody_here_reads_cost_no_query() -> None:
    db, hub, d = setup()
    live(hub, poll(hub), {2: 0})
    await d.deliver([inserted(db.add(1)), ChatsChanged((1,)), ReadMoved(((1, 5, 1),)), Typing(1, 5, "x", True)])
    assert db.pool.calls == []


async def test_the_rows_this_process_wrote_are_not_fetched() -> None:
    db, hub, d = setup()
    sub = live(hub, poll(hub), {1: 0})
    row = db.add(1, "mine")
    d.remember([row])  # type: ignore[list-item]
    await d.deliver([inserted(row)])
    assert db.pool.calls == [] and d.written_hits == 1 and texts(sub) == ["mine"]


async def test_a_later_change_in_the_same_slice_is_fetched() -> None:
    db, hub, d = setup()
    sub = live(hub, poll(hub), {1: 0})
    row = db.add(1, "first")
    d.remember([dict(row)])  # type: ignore[list-item]
    db.messages[row["id"]] = {**row, "text": "edited", "change_seq": 2}
    await d.deliver([inserted(row), Updated((MessageRow(1, row["id"], 2, 7),))])
    assert db.pool.count("messages_by_ids") == 1 and d.written_hits == 0
    assert [e.type for e in sub.events] == ["new_message", "message_updated"]
    assert texts(sub) == ["edited", "edited"]


async def test_a_burst_is_fetched_in_slices() -> None:
    db, hub, d = setup()
    live(hub, poll(hub, max_bytes=1 << 30), {1: 0})
    first = [db.add(1) for _ in range(FANOUT_SLICE)]
    second = [db.add(1) for _ in range(3)]
    await d.deliver([inserted(*first), inserted(*second)])
    assert db.pool.count("messages_by_ids") == 2


async def test_a_socket_gets_one_write_per_slice() -> None:
    db, hub, d = setup()
    sub, t = ws_sub(hub)
    live(hub, sub, {1: 0})
    await d.deliver([inserted(db.add(1)), inserted(db.add(1)), inserted(db.add(1))])
    assert len(t.writes) == 1 and t.writes[0].count(b'"new_message"') == 3


async def test_a_row_gone_since_is_not_delivered() -> None:
    db, hub, d = setup()
    sub = live(hub, poll(hub), {1: 0})
    row = db.add(1)
    del db.messages[row["id"]]
    await d.deliver([inserted(row)])
    assert sub.events == []


async def test_chat_changed_and_deleted() -> None:
    db, hub, d = setup()
    db.add(1)
    sub = live(hub, poll(hub), {1: 0})
    await d.deliver([ChatsChanged((1,))])
    await d.deliver([ChatsDeleted((1,))])
    assert [e.obj["chat"].get("deleted", False) for e in sub.events] == [False, True]
    assert 1 not in hub.by_chat and 1 not in sub.positions


async def test_a_joined_reader_gets_the_chat_its_recent_changes_then_live() -> None:
    db, hub, d = setup()
    old = db.add(1, "before")
    sub = live(hub, poll(hub, 5), {})
    db.members[5] = {1}
    new = db.add(1, "after")
    await d.deliver([Joined(((1, 5),)), inserted(new)])
    assert [e.type for e in sub.events] == ["chat_updated", "new_message", "new_message"]
    assert texts(sub) == ["before", "after"] and old["seq"] < new["seq"]


async def test_a_left_reader_is_told_and_hears_no_more() -> None:
    db, hub, d = setup()
    sub = live(hub, poll(hub, 5), {1: 0})
    await d.deliver([Left(((1, 5),)), inserted(db.add(1))])
    assert [(e.type, e.obj["chat"]["deleted"]) for e in sub.events] == [("chat_updated", True)]


async def test_read_and_typing_reach_the_chats_readers() -> None:
    _db, hub, d = setup()
    a, b = live(hub, poll(hub, 1), {1: 0}), live(hub, poll(hub, 2), {1: 0})
    await d.deliver([ReadMoved(((1, 2, 3),)), Typing(1, 2, "Bo", True)])
    assert [e.type for e in a.events] == ["read", "typing"] and [e.type for e in b.events] == ["read"]


async def test_attach_with_nothing_missed_goes_live_with_one_query() -> None:
    db, hub, d = setup()
    db.add(1)
    db.members[1] = {1}
    sub = poll(hub, 1)
    assert await d.attach(sub, None)
    assert sub.state is State.LIVE and sub.positions == {1: 1}
    assert [n for n, _ in db.pool.calls] == ["memberships_with_seq"]


async def test_attach_behind_replays_a_poll_from_its_cursor() -> None:
    db, hub, d = setup()
    for i in range(3):
        db.add(1, f"m{i}")
    db.members[1] = {1}
    sub = poll(hub, 1)
    assert await d.attach(sub, {1: 1})
    assert texts(sub) == ["m1", "m2"] and sub.state is State.LIVE


async def test_attach_far_behind_pages_a_poll_by_answering() -> None:
    db, hub, d = setup()
    for i in range(12):
        db.add(1, f"m{i}")
    db.members[1] = {1}
    sub = poll(hub, 1)
    await d.attach(sub, {1: 0})
    assert texts(sub) == [f"m{i}" for i in range(5)] and sub.paging and sub.positions[1] == 5


async def test_attach_only_one_chat() -> None:
    db, hub, d = setup()
    db.add(1)
    db.add(2)
    db.members[1] = {1, 2}
    sub = poll(hub, 1, only_chat=2)
    await d.attach(sub, {2: 0}, only_chat=2)
    assert list(sub.positions) == [2] and [e.chat_id for e in sub.events] == [2]


async def _pages_done(d: Delivery) -> None:
    for _ in range(200):
        if not d.pages.running:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the page loops did not finish")


async def test_a_socket_far_behind_pages_in_the_background_then_goes_live() -> None:
    db, hub, d = setup()
    for i in range(12):
        db.add(1, f"m{i}")
    db.members[1] = {1}
    sub, t = ws_sub(hub, 1)
    assert await d.attach(sub, {1: 0})
    assert sub.paging and d.replays == 1
    await _pages_done(d)
    assert sub.state is State.LIVE and sub.positions[1] == 12
    assert b"".join(t.writes).count(b'"new_message"') == 12
    assert db.pool.count("catch_up") == 2  # a first page of 5, then at least 10 (sized by the rows sent)


async def test_a_socket_that_fills_during_a_fan_out_is_paged_by_delivery() -> None:
    db, hub, d = setup()
    sub, t = ws_sub(hub, 1, room=0, high_water=1)
    live(hub, sub, {1: 0})
    rows = [db.add(1, f"m{i}") for i in range(4)]
    await d.deliver([inserted(*rows)])
    assert sub.paging and d.replays == 1 and hub.newly_paging == []
    t.drain()
    sub.high_water = 1 << 20
    await _pages_done(d)
    assert sub.state is State.LIVE and sub.positions[1] == 4
    assert b"".join(t.writes).count(b'"new_message"') == 4


async def test_a_socket_that_takes_nothing_is_closed_with_resync() -> None:
    db, hub, d = setup()
    d.pages.stall_timeout = 0.05
    sub, t = ws_sub(hub, 1, room=0, high_water=1)
    live(hub, sub, {1: 0})
    await d.deliver([inserted(db.add(1)), inserted(db.add(1))])
    await _pages_done(d)
    assert sub.closed and hub.slow_consumers == 1 and b'"resync"' in t.writes[-1]
    for task in list(hub.background):
        await task


async def test_reconcile_reads_memberships_again_and_replays_what_was_missed() -> None:
    db, hub, d = setup()
    db.add(1, "seen")
    sub = live(hub, poll(hub, 1), {1: 1, 2: 0})
    db.members[1] = {1, 3}  # left chat 2, joined chat 3 while the listener was away
    db.add(1, "missed")
    db.add(3, "in three")
    await d.reconcile()
    got = [(e.type, e.chat_id) for e in sub.events]
    assert ("chat_updated", 2) in got and ("chat_updated", 3) in got
    assert sorted(texts(sub)) == ["in three", "missed"]
    assert 2 not in sub.positions


async def test_reconcile_leaves_a_reader_still_attaching_alone() -> None:
    db, hub, d = setup()
    sub = poll(hub, 1)
    hub.register(sub)
    await d.reconcile()
    assert sub.state is State.ATTACHING and db.pool.calls == []
