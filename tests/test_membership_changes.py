"""Memberships changed by UPDATE or TRUNCATE reach live readers like INSERT and DELETE do."""

from __future__ import annotations

from typing import Any

import asyncpg

from .conftest import Api, collect, next_event, quiet
from .realtime_helpers import add_member, insert, make_bot


async def _connected(api: Api) -> Any:
    ws = await api.ws()
    assert (await next_event(ws))["type"] == "connection"
    return ws


async def _until(ws: Any, text: str) -> list[str]:
    """Message texts up to and including `text` (a join replays the chat's recent messages first)."""
    seen: list[str] = []
    while text not in seen:
        seen.append((await collect(ws, 1))[0]["message"]["text"])
    return seen


async def test_update_that_moves_a_membership_is_a_leave_and_a_join(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("hello"))["chat_id"]
    bob, carol = await new_api(), await new_api()
    await add_member(sql, chat, bob.id)
    bot = await make_bot(sql, chat)
    bob_ws, carol_ws = await _connected(bob), await _connected(carol)
    await sql.execute("UPDATE webchat.chat_members SET account_id = $3 WHERE chat_id = $1 AND account_id = $2",
                      chat, bob.id, carol.id)
    gone = await collect(bob_ws, 1, types=("chat_updated",))
    assert gone[0]["chat"] == {"id": chat, "deleted": True}
    joined = await collect(carol_ws, 1, types=("chat_updated",))
    assert joined[0]["chat"]["id"] == chat and not joined[0]["chat"].get("deleted")
    await insert(sql, chat, bot, "after the move")
    assert await _until(carol_ws, "after the move") == ["hello", "after the move"]
    assert [e["message"]["text"] for e in await quiet(bob_ws, 0.5)] == []
    # moving a membership to another chat: a leave of the old chat, a join of the new one
    other = (await api.send("another chat of mine"))["chat_id"]
    await sql.execute("UPDATE webchat.chat_members SET chat_id = $2 WHERE chat_id = $1 AND account_id = $3",
                      chat, other, carol.id)
    moved = await collect(carol_ws, 2, types=("chat_updated",))
    assert {(e["chat"]["id"], bool(e["chat"].get("deleted"))) for e in moved} == {(chat, True), (other, False)}
    await insert(sql, chat, bot, "carol left this one")
    await insert(sql, other, api.id, "carol reads this")
    assert await _until(carol_ws, "carol reads this") == ["another chat of mine", "carol reads this"]
    for ws in (bob_ws, carol_ws):
        await ws.close()


async def test_truncate_of_members_stops_delivery(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("hello"))["chat_id"]
    bot = await make_bot(sql, chat)
    ws = await _connected(api)
    await sql.execute("TRUNCATE webchat.chat_members")
    gone = await collect(ws, 1, types=("chat_updated",))
    assert gone[0]["chat"] == {"id": chat, "deleted": True}
    await insert(sql, chat, bot, "nobody is a member now")
    assert await quiet(ws, 0.5) == []
    await ws.close()


async def test_truncate_restart_identity_does_not_leak_a_reused_chat_id(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("mine"))["chat_id"]
    ws = await _connected(api)
    await sql.execute("TRUNCATE webchat.chats, webchat.chat_members, webchat.messages RESTART IDENTITY CASCADE")
    gone = await collect(ws, 1, types=("chat_updated",))
    assert gone[0]["chat"] == {"id": chat, "deleted": True}
    stranger = await new_api()
    reused = (await stranger.send("a stranger's chat"))["chat_id"]
    assert reused == chat  # the id came back: the socket must not take the new chat for its own
    for i in range(4):
        await stranger.send(f"private {i}", reused)
    assert await quiet(ws, 0.8) == []
    await ws.close()
