"""Read receipts: members with their read positions in chat JSON, and an account that stops sharing."""

from __future__ import annotations

from typing import Any

import asyncpg

from .conftest import Api, next_event, quiet


async def _shared_chat(api: Api, other: Api, sql: asyncpg.Connection) -> int:
    chat: int = (await api.send("hello"))["chat_id"]
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, other.id)
    return chat


async def _members(api: Api, chat: int) -> dict[int, dict[str, Any]]:
    one = (await (await api.get(f"/webchat/chats/{chat}/")).json())["chat"]["members"]
    listed = [c for c in (await (await api.get("/webchat/chats/")).json())["chats"] if c["id"] == chat]
    assert listed[0]["members"] == one
    return {m["account_id"]: m for m in one}


async def test_chat_json_lists_members_with_read_positions(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    bob = await new_api()
    chat = await _shared_chat(api, bob, sql)
    await api.send("second", chat)
    assert (await bob.post("/webchat/read/", {"chat_id": chat, "seq": 2})).status == 200
    members = await _members(api, chat)
    assert set(members) == {api.id, bob.id}
    assert members[bob.id]["last_read_seq"] == 2 and members[api.id]["last_read_seq"] == 0
    assert members[bob.id]["kind"] == "guest" and members[bob.id]["display_name"].startswith("Guest ")
    assert members[bob.id]["presence"]["status"] in ("online", "away", "offline")


async def test_sharing_off_hides_the_position_from_others_only(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    bob = await new_api()
    chat = await _shared_chat(api, bob, sql)
    r = await bob.patch("/webchat/me", {"share_read_receipts": False})
    assert r.status == 200 and (await r.json())["account"]["share_read_receipts"] is False
    assert (await (await bob.get("/webchat/me")).json())["account"]["share_read_receipts"] is False
    assert await sql.fetchval("SELECT share_read_receipts FROM webchat.accounts WHERE id = $1", bob.id) is False
    await bob.post("/webchat/read/", {"chat_id": chat, "seq": 1})
    assert (await _members(api, chat))[bob.id]["last_read_seq"] is None
    assert (await _members(bob, chat))[bob.id]["last_read_seq"] == 1  # its own position, always
    await bob.patch("/webchat/me", {"share_read_receipts": True})
    assert (await _members(api, chat))[bob.id]["last_read_seq"] == 1


async def test_me_update_refuses_bad_input(api: Api, client: Any) -> None:
    assert (await api.patch("/webchat/me", {"share_read_receipts": "maybe"})).status == 400
    assert (await api.patch("/webchat/me", [1])).status == 400
    assert (await api.patch("/webchat/me", {})).status == 200
    # no session: 401; no CSRF header: 403
    assert (await client.patch("/webchat/me", json={"share_read_receipts": False})).status in (401, 403)


async def test_read_events_reach_members_and_stay_private_when_not_shared(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    bob, eve = await new_api(), await new_api()
    chat = await _shared_chat(api, bob, sql)
    await api.send("two", chat)
    await eve.send("elsewhere")
    alice_ws, eve_ws, bob_ws = await api.ws(), await eve.ws(), await bob.ws()
    assert (await bob.post("/webchat/read/", {"chat_id": chat, "seq": 1})).status == 200
    ev = await next_event(alice_ws, skip=("chat_updated", "connection", "presence"))
    assert (ev["type"], ev["chat_id"], ev["account_id"], ev["seq"]) == ("read", chat, bob.id, 1)
    # not sharing: Alice hears nothing, Bob's own sessions still do (their unread counts)
    await bob.patch("/webchat/me", {"share_read_receipts": False})
    assert (await bob.post("/webchat/read/", {"chat_id": chat, "seq": 2})).status == 200
    own = await next_event(bob_ws)
    while own["type"] != "read" or own["seq"] != 2:
        own = await next_event(bob_ws)
    assert own["account_id"] == bob.id
    assert await quiet(alice_ws, 1.0, types=("read",)) == []
    # a stranger never hears of anyone's reads
    assert [e for e in await quiet(eve_ws, 0.5, types=("read",)) if e["chat_id"] == chat] == []
    for ws in (alice_ws, eve_ws, bob_ws):
        await ws.close()
