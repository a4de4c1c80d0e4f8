"""The subscriber lifecycle: one state, transitions from one table, every guarantee of the old flags."""

from __future__ import annotations

import pytest

from webchat_server.realtime.events import Event, make_event
from webchat_server.realtime.hub import Hub
from webchat_server.realtime.kinds.chats import chat_event, removed_event
from webchat_server.realtime.kinds.messages import message_event
from webchat_server.realtime.kinds.reads import read_event
from webchat_server.realtime.kinds.typing import typing_event
from webchat_server.realtime.subscriber import PENDING_MAX, TRANSITIONS, IllegalTransition, State

from .fakes import chat_row, live, message_row, poll, ws_sub


def msg(chat: int, seq: int, id: int | None = None) -> Event:
    return message_event(message_row(id or seq, chat, seq), True, seq)  # type: ignore[arg-type]


def seqs(sub: object) -> list[int]:
    return [e.seq for e in sub.events]  # type: ignore[attr-defined]


def test_a_new_subscriber_is_attaching_and_buffers() -> None:
    hub = Hub()
    sub = poll(hub)
    assert sub.state is State.ATTACHING and not sub.attached and not sub.paging and sub.buffering
    sub.positions[1] = 0
    sub.offer(msg(1, 1))
    assert sub.events == [] and len(sub.pending) == 1


def test_attach_then_live_delivers_what_waited_in_order_once() -> None:
    hub = Hub()
    sub = poll(hub)
    hub.register(sub)
    hub.subscribe(sub, 1, 0)
    for s in (1, 2, 2, 3):
        sub.offer(msg(1, s))
    sub.positions_read()
    assert sub.state is State.REPLAYING and sub.attached
    sub.go_live()
    assert sub.state is State.LIVE and seqs(sub) == [1, 2, 3]


def test_live_drops_what_it_already_has() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 5})
    sub.offer(msg(1, 4))
    sub.offer(msg(1, 5))
    sub.offer(msg(1, 6))
    assert seqs(sub) == [6] and sub.positions[1] == 6


def test_events_of_a_chat_it_left_are_skipped() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0})
    hub.unsubscribe(sub, 1)
    assert sub.replay(msg(1, 1)) and sub.events == []


def test_typing_is_not_echoed_to_the_typist() -> None:
    hub = Hub()
    mine, other = live(hub, poll(hub, 1), {1: 0}), live(hub, poll(hub, 2), {1: 0})
    hub.publish(typing_event(1, 1, "Ann", True))
    assert mine.events == [] and [e.type for e in other.events] == ["typing"]


def test_a_full_socket_starts_paging_and_the_hub_lists_it_for_delivery() -> None:
    hub = Hub()
    sub, t = ws_sub(hub, room=0, high_water=100)
    live(hub, sub, {1: 0})
    big = make_event("new_message", 1, {"x": "y" * 200}, seq=1)
    hub.publish(big)  # written: the buffer was empty
    hub.publish(make_event("new_message", 1, {"x": "z"}, seq=2))  # over the high-water mark now
    assert sub.state is State.PAGING and sub.paging
    assert sub.positions[1] == 1  # the dropped event is read again from the database later
    assert hub.paging_started == 1 and hub.take_paging() == [sub] and hub.take_paging() == []
    assert len(t.writes) == 1


def test_paging_holds_the_latest_unsequenced_event_per_key_and_drops_sequenced_and_typing() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0, 2: 0})
    sub.start_paging()
    sub.offer(msg(1, 1))
    sub.offer(typing_event(1, 9, "Bo", True))
    sub.offer(chat_event(chat_row(1, "old")))  # type: ignore[arg-type]
    sub.offer(chat_event(chat_row(1, "new")))  # type: ignore[arg-type]
    sub.offer(chat_event(chat_row(2, "two")))  # type: ignore[arg-type]
    sub.offer(read_event(1, 7, 3))
    sub.offer(read_event(1, 8, 4))  # another reader: its own key
    sub.offer(read_event(1, 7, 5))
    assert sub.held is not None
    held = list(sub.held.values())
    assert [(e.type, e.chat_id) for e in held] == [("chat_updated", 1), ("chat_updated", 2), ("read", 1), ("read", 1)]
    assert held[0].obj["chat"]["title"] == "new"
    assert sorted((e.obj["account_id"], e.obj["seq"]) for e in held if e.type == "read") == [(7, 5), (8, 4)]
    assert sub.answer() == held  # a poll answers with what was held


def test_a_removal_replaces_the_held_chat() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0})
    sub.start_paging()
    sub.offer(chat_event(chat_row(1)))  # type: ignore[arg-type]
    sub.offer(removed_event(1))
    assert sub.held is not None and [e.obj["chat"].get("deleted") for e in sub.held.values()] == [True]


def test_a_page_then_live_releases_held_then_buffered() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0})
    sub.start_paging()
    sub.offer(chat_event(chat_row(1)))  # type: ignore[arg-type]
    sub.begin_page()
    assert sub.state is State.REPLAYING and sub.paging  # still paging, with a query running
    sub.offer(msg(1, 1))  # waits behind the query
    sub.go_live()
    assert [e.type for e in sub.events] == ["chat_updated", "new_message"] and not sub.paging


def test_too_many_buffered_events_turn_into_paging() -> None:
    hub = Hub()
    sub = poll(hub)
    hub.register(sub)
    hub.subscribe(sub, 1, 0)
    sub.positions_read()
    for s in range(PENDING_MAX + 1):
        sub.offer(msg(1, s + 1))
    assert sub.state is State.PAGING and sub.pending == []


def test_stop_buffering_keeps_only_what_is_held() -> None:
    hub = Hub()
    sub = poll(hub)
    sub.positions[1] = 0
    sub.offer(msg(1, 1))
    sub.offer(read_event(1, 2, 1))
    sub.stop_buffering()
    assert sub.state is State.PAGING and sub.held is not None and [e.type for e in sub.held.values()] == ["read"]


def test_closed_is_final_and_takes_nothing() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0})
    sub.close()
    for step in (sub.go_live, sub.start_paging, sub.stop_buffering, sub.begin_page, sub.positions_read, sub.close):
        step()
        assert sub.state is State.CLOSED
    sub.offer(msg(1, 1))
    assert sub.events == []


@pytest.mark.parametrize(("start", "step"), [
    (State.LIVE, "positions_read"),
    (State.LIVE, "begin_page"),
    (State.PAGING, "go_live"),
    (State.LIVE, "go_live"),
])
def test_illegal_transitions_raise(start: State, step: str) -> None:
    hub = Hub()
    sub = poll(hub)
    sub.state = start
    with pytest.raises(IllegalTransition):
        getattr(sub, step)()


def test_the_table_reaches_every_state_and_closed_leads_nowhere() -> None:
    reached = {s for targets in TRANSITIONS.values() for s in targets}
    assert reached == set(State) - {State.ATTACHING}
    assert TRANSITIONS[State.CLOSED] == frozenset()
    assert all(State.CLOSED in t for s, t in TRANSITIONS.items() if s is not State.CLOSED)


def test_a_poll_pages_by_answering() -> None:
    hub = Hub()
    sub = live(hub, poll(hub, max_bytes=10), {1: 0})
    sub.offer(msg(1, 1))
    sub.offer(msg(1, 2))  # over max_bytes: the poll answers now, the next one pages on
    assert seqs(sub) == [1] and sub.paging and sub.wake.is_set()
    assert hub.take_paging() == []  # nothing for delivery to page: the client polls again


def test_a_poll_overflow_answers_resync() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0})
    sub.overflow("boom")
    assert sub.closed and sub.resynced and [e.type for e in sub.events] == ["resync"]


def test_release_answers_parked_polls() -> None:
    hub = Hub()
    sub = live(hub, poll(hub), {1: 0})
    hub.release_waiters()
    assert sub.closed and sub.wake.is_set()


def test_a_socket_that_closed_unregisters_and_moves_no_position() -> None:
    hub = Hub()
    sub, t = ws_sub(hub)
    live(hub, sub, {1: 0})
    t.closing = True
    hub.publish(msg(1, 1))
    assert sub.closed and sub.positions[1] == 0 and hub.by_chat == {} and hub.by_account == {}


async def test_a_socket_overflow_writes_resync_and_closes() -> None:
    hub = Hub()
    sub, t = ws_sub(hub)
    live(hub, sub, {1: 0})
    sub.overflow("stalled")
    assert sub.closed and hub.slow_consumers == 1 and b'"resync"' in t.writes[-1]
    for task in list(hub.background):
        await task
    assert t.aborted


def test_corked_writes_make_one_write_per_socket() -> None:
    hub = Hub()
    a, ta = ws_sub(hub, 1)
    b, tb = ws_sub(hub, 2)
    live(hub, a, {1: 0})
    live(hub, b, {1: 0})
    with hub.corked_writes():
        for s in (1, 2, 3):
            hub.publish(msg(1, s))
        assert ta.writes == [] and tb.writes == []
    assert len(ta.writes) == 1 and len(tb.writes) == 1 and ta.writes[0].count(b"new_message") == 3
    assert hub.delivered == 6


def test_join_skips_a_single_chat_poll() -> None:
    hub = Hub()
    everything = live(hub, poll(hub, 1), {})
    one = live(hub, poll(hub, 1, only_chat=5), {5: 0})
    assert hub.join(1, 9) == [everything] and 9 not in one.positions
    assert hub.leave(1, 9) == [everything] and 9 not in hub.by_chat
