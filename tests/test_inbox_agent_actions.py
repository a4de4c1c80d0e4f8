"""What an agent does in a visitor conversation it has not joined (react, type), where the
conversation started (the page title), and an agent's reader kept when SQL removes its membership."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from aiohttp import FormData

from .browser_support import png
from .conftest import Api, collect, next_event, quiet
from .realtime_helpers import add_member
from .test_reactions import path, put
from .test_staff import as_agent, conversation, inbox, note


async def members(sql: asyncpg.Connection, chat_id: int) -> set[int]:
    return {r["account_id"] for r in await sql.fetch(
        "SELECT account_id FROM webchat.chat_members WHERE chat_id = $1", chat_id)}


async def test_an_agent_reacts_in_a_conversation_it_has_not_joined(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    sent = await api.send("Do you deliver on Sundays?")
    chat_id, mid = sent["chat_id"], sent["message"]["id"]
    visitor_ws = await api.ws()
    await next_event(visitor_ws)
    agent = await as_agent(await new_api())
    status, body = await put(agent, mid, "👍")
    assert status == 201, body
    assert body["message"]["reactions"][0]["account_ids"] == [agent.id]
    # the visitor sees it live, by the agent's name
    [ev] = await collect(visitor_ws, 1, types=("message_updated",))
    assert ev["message"]["reactions"][0]["by"] == ["Ana"]
    # reacting is not answering: the agent did not join, nor claim
    assert agent.id not in await members(sql, chat_id)
    assert (await inbox(agent))["conversations"][0]["assignee_id"] is None
    # and takes it back
    r = await agent.client.delete(path(mid, "👍"), headers={"X-CSRF-Token": agent.csrf})
    assert r.status == 204, await r.text()
    [ev] = await collect(visitor_ws, 1, types=("message_updated",))
    assert ev["message"]["reactions"] == []
    # an agent reacts to a note too (agents only see it); a visitor still reacts to nothing it is not in
    secret = await note(agent, chat_id, "VIP customer")
    assert (await put(agent, secret["id"], "👀"))[0] == 201
    stranger = await new_api()
    assert (await put(stranger, mid, "👍"))[0] == 404
    assert (await put(api, secret["id"], "👍"))[0] == 404
    # a chat that is not a visitor conversation (two signed-in users, say) stays members only
    own = await new_api()
    own_chat = (await own.send("just us"))["chat_id"]
    await sql.execute("UPDATE webchat.chats SET visitor_id = NULL WHERE id = $1", own_chat)
    own_mid = (await own.messages(own_chat))[0]["id"]
    assert (await put(agent, own_mid, "👍"))[0] == 404
    await visitor_ws.close()


async def test_an_agent_types_in_a_conversation_it_has_not_joined(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat_id = await conversation(api)
    visitor_ws = await api.ws()
    await next_event(visitor_ws)
    agent = await as_agent(await new_api())
    # by REST
    r = await agent.post("/webchat/typing/", {"chat_id": chat_id, "is_typing": True})
    assert r.status == 200, await r.text()
    assert (await r.json())["sent"] is True
    [ev] = await collect(visitor_ws, 1, types=("typing",))
    assert ev["chat_id"] == chat_id and ev["is_typing"] is True and ev["user_name"] == "Ana (Support)"
    # and by the agent's inbox socket
    ws = await agent.ws()
    assert (await next_event(ws))["inbox"] is True
    await ws.send_str(json.dumps({"type": "typing", "chat_id": chat_id, "is_typing": False}))
    [ev] = await collect(visitor_ws, 1, types=("typing",))
    assert ev["is_typing"] is False and ev["account_id"] == agent.id
    assert agent.id not in await members(sql, chat_id)
    # a visitor types in nobody else's conversation; an agent in no chat that is not a visitor's
    stranger = await new_api()
    assert (await stranger.post("/webchat/typing/", {"chat_id": chat_id})).status == 404
    own = await new_api()
    own_chat = (await own.send("just us"))["chat_id"]
    await sql.execute("UPDATE webchat.chats SET visitor_id = NULL WHERE id = $1", own_chat)
    assert (await agent.post("/webchat/typing/", {"chat_id": own_chat})).status == 404
    await ws.close()
    await visitor_ws.close()


async def test_a_conversation_remembers_the_title_of_its_page(api: Api, new_api: Any) -> None:
    r = await api.client.post("/webchat/send/", json={
        "text": "hi", "page_title": "  Caf\u0065\u0301  \u2014 Fernwood\nBakery \u202e!  "}, headers={
        "X-CSRF-Token": api.csrf, "Referer": "https://shop.example/cafe"})
    assert r.status == 201, await r.text()
    chat_id = (await r.json())["chat_id"]
    # later sends do not change where it started
    await api.send("again", chat_id, page_title="Checkout")
    agent = await as_agent(await new_api())
    context = (await inbox(agent))["conversations"][0]["context"]
    # NFC, one line, no bidi override
    assert context["title"] == "Caf\u00e9 \u2014 Fernwood Bakery !"
    assert context["url"] == "https://shop.example/cafe"
    one = await agent.get(f"/webchat/inbox/{chat_id}/")
    assert (await one.json())["conversation"]["context"]["title"] == context["title"]
    # a long title is cut; a title with a first upload too (multipart)
    other = await new_api()
    await other.send("hello", page_title="x" * 1500)
    form = FormData()
    form.add_field("text", "a photo")
    form.add_field("page_title", "Gallery \u00b7 Fernwood")
    form.add_field("media", png(), filename="x.png", content_type="application/octet-stream")
    third = await new_api()
    r = await third.client.post("/webchat/send/", data=form, headers={"X-CSRF-Token": third.csrf})
    assert r.status == 201, await r.text()
    listed = {c["visitor"]["account_id"]: c["context"] for c in (await inbox(agent))["conversations"]}
    assert listed[other.id]["title"] == "x" * 200
    assert listed[third.id]["title"] == "Gallery \u00b7 Fernwood"
    # not text: 400; far too long: 413; and nothing was made
    for bad, status in ((5, 400), (["a"], 400), ("\ud800", 400), ("y" * 2001, 413)):
        r = await (await new_api()).post("/webchat/send/", {"text": "hi", "page_title": bad})
        assert r.status == status, (bad, await r.text())
    # a page without a title has none
    plain = await new_api()
    await plain.send("no title")
    listed = {c["visitor"]["account_id"]: c["context"] for c in (await inbox(agent))["conversations"]}
    assert "title" not in listed[plain.id]


async def events_until_message(ws: Any) -> list[dict[str, Any]]:
    """The events a socket gets up to and including its next new_message."""
    got: list[dict[str, Any]] = []
    while not got or got[-1]["type"] != "new_message":
        got.append(await next_event(ws, 10.0))
    return got


async def test_an_agent_removed_from_a_conversation_by_sql_keeps_following_it(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat_id = await conversation(api)
    agent = await as_agent(await new_api())
    r = await agent.post(f"/webchat/inbox/{chat_id}/assign", {"agent_id": "me"})
    assert r.status == 200, await r.text()
    ws = await agent.ws()
    assert (await next_event(ws))["inbox"] is True
    await sql.execute("DELETE FROM webchat.chat_members WHERE chat_id = $1 AND account_id = $2", chat_id, agent.id)
    # no "chat gone" for a conversation every agent follows, and its next message still comes
    await api.send("are you still there?", chat_id)
    # (a chat_updated of the claim may still arrive first: the listener can pass it on after the
    # socket attached; what must not come is the "deleted" one)
    before = await events_until_message(ws)
    assert before[-1]["message"]["text"] == "are you still there?"
    assert not [e for e in before if e["type"] == "chat_updated" and e["chat"].get("deleted")], before
    # a chat that is not a visitor conversation is left as a member leaves it
    own = await new_api()
    own_chat = (await own.send("agents only"))["chat_id"]
    # followed as every new conversation is; then it stops being a visitor's, and the agent joins it
    assert [e["message"]["text"] for e in await collect(ws, 1)] == ["agents only"]
    await sql.execute("UPDATE webchat.chats SET visitor_id = NULL WHERE id = $1", own_chat)
    await add_member(sql, own_chat, agent.id)
    await own.send("for the agent", own_chat)
    assert [e["message"]["text"] for e in await collect(ws, 1)] == ["for the agent"]
    await sql.execute("DELETE FROM webchat.chat_members WHERE chat_id = $1 AND account_id = $2", own_chat, agent.id)
    # the changes before (visitor_id, the join) may each send a chat_updated first
    while not (gone := (await collect(ws, 1, types=("chat_updated",)))[0])["chat"].get("deleted"):
        pass
    assert gone["chat"] == {"id": own_chat, "deleted": True}
    await own.send("not for the agent any more", own_chat)
    assert await quiet(ws, 0.5) == []
    await ws.close()
