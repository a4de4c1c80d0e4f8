"""Real time for agents: one subscription carries every visitor conversation's events, through the
same delivery path (resume by cursor, long-poll, listener reconnect, several processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from cryptography.fernet import Fernet

from webchat_server.realtime.cursor import Keeper
from webchat_server.realtime.listener import listener_key

from .conftest import Api, collect, identity_token, next_event, quiet
from .test_scaleout import Browser, next_of, start_server
from .test_staff import as_agent, note


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"]["text"] for e in events]


async def test_an_agent_socket_carries_every_conversation_without_joining(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    earlier = await api.send("asked before the agent came")
    agent = await as_agent(await new_api())
    ws = await agent.ws()
    hello = await next_event(ws)
    assert hello["inbox"] is True
    visitor_ws = await api.ws()
    await next_event(visitor_ws)
    # an open conversation from before, and a new visitor's first message
    await api.send("still waiting", earlier["chat_id"])
    stranger = await new_api()
    first = await stranger.send("hello, first time here")
    got = await collect(ws, 2)
    assert texts(got) == ["still waiting", "hello, first time here"]
    assert got[1]["chat_id"] == first["chat_id"]
    # another agent's note reaches this agent, not the visitor
    colleague = await as_agent(await new_api(), "bo", "Bo")
    await note(colleague, first["chat_id"], "NOTE: VIP")
    assert texts(await collect(ws, 1)) == ["NOTE: VIP"]
    # the agent is in none of these chats
    assert await sql.fetchval("SELECT count(*) FROM webchat.chat_members WHERE account_id = $1", agent.id) == 0
    # a visitor's socket carries only the visitor's own conversation
    assert texts(await collect(visitor_ws, 1)) == ["still waiting"]
    assert await quiet(visitor_ws, 0.5) == []
    # and an old resolved conversation that comes back to life is followed from its next message
    await sql.execute("UPDATE webchat.chats SET status = 'resolved', updated_at = now() - interval '1 year' "
                      "WHERE id = $1", earlier["chat_id"])
    ws2 = await agent.ws()
    await next_event(ws2)
    await api.send("back after a year", earlier["chat_id"])
    # followed from that message on (what came before is history, read with GET /webchat/messages/)
    assert texts(await collect(ws2, 1)) == ["back after a year"]
    assert await quiet(ws2, 0.5) == []
    for s in (ws, ws2, visitor_ws):
        await s.close()


async def test_an_agent_resumes_by_cursor_and_long_polls(api: Api, new_api: Any) -> None:
    chat = (await api.send("one"))["chat_id"]
    agent = await as_agent(await new_api())
    keeper = Keeper()
    ws = await agent.ws()
    keeper.see(await next_event(ws))
    await api.send("two", chat)
    for ev in await collect(ws, 1):
        keeper.see(ev)
    await ws.close()
    # while the agent is away: more in the known conversation, and a new conversation
    await api.send("three", chat)
    other = await new_api()
    new_chat = (await other.send("four (new)"))["chat_id"]
    await other.send("five", new_chat)
    ws = await agent.ws(resume=True)
    await ws.send_json({"type": "resume", "cursor": keeper.value})
    keeper.see(await next_event(ws))
    got = await collect(ws, 3)
    assert sorted(texts(got)) == ["five", "four (new)", "three"]
    assert [e["message"]["text"] for e in got if e["chat_id"] == new_chat] == ["four (new)", "five"]
    assert await quiet(ws, 0.5) == []  # each once
    for ev in got:
        keeper.see(ev)
    await ws.close()
    # a long-poll from the cursor: what came since, new conversations included
    await api.send("six", chat)
    third = (await (await new_api()).send("seven (newer)"))["chat_id"]
    r = await agent.post("/webchat/poll/", {"cursor": keeper.value, "timeout": 5})
    events = (await r.json())["events"]
    seen = [e for e in events if e["type"] == "new_message"]
    while {e["message"]["text"] for e in seen} < {"six", "seven (newer)"}:
        r = await agent.post("/webchat/poll/", {"cursor": (await r.json())["cursor"], "timeout": 5})
        seen += [e for e in (await r.json())["events"] if e["type"] == "new_message"]
    assert sorted(texts(seen)) == ["seven (newer)", "six"]
    assert third in {e["chat_id"] for e in seen}


async def test_an_agent_misses_nothing_across_a_listener_reconnect(
        api: Api, new_api: Any, client: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("start"))["chat_id"]
    agent = await as_agent(await new_api())
    ws = await agent.ws()
    await next_event(ws)
    listener = client.server.app[listener_key]
    for i in range(30):
        if i == 10:
            assert await sql.fetchval("SELECT pg_terminate_backend($1)", listener.backend_pid)
        if i == 20:
            # a new conversation while the listener may be away
            await (await new_api()).send("new while away")
        await api.send(f"m{i}", chat)
    got = await collect(ws, 31, timeout=30)
    assert [t for t in texts(got) if t != "new while away"] == [f"m{i}" for i in range(30)]
    assert "new while away" in texts(got)
    assert listener.reconnects >= 1
    await ws.close()


async def test_an_agent_on_another_process_gets_every_conversation(database_url: str, tmp_path: Path) -> None:
    secret = Fernet.generate_key().decode()
    started = [await start_server(database_url, tmp_path / f"s{i}", secret) for i in range(2)]
    (pa, a), (pb, b) = started
    visitor, agent = Browser(), Browser()
    try:
        await visitor.me(a)
        await agent.me(b)
        body = await agent.post(b + "/webchat/identify", {"token": identity_token("ana", "Ana", role="agent")})
        agent.csrf = body["csrf_token"]
        ws = await agent.session.ws_connect(b + "/ws/webchat/")
        assert (await next_of(ws, "connection"))["inbox"] is True
        first = await visitor.post(a + "/webchat/send/", {"text": "via A, a new conversation"})
        ev = await next_of(ws, "new_message")
        assert ev["message"]["text"] == "via A, a new conversation" and ev["chat_id"] == first["chat_id"]
        await visitor.post(a + "/webchat/send/", {"text": "and more", "chat_id": first["chat_id"]})
        assert (await next_of(ws, "new_message"))["message"]["text"] == "and more"
        await ws.close()
    finally:
        for s in (visitor.session, agent.session):
            await s.close()
        for proc in (pa, pb):
            proc.terminate()
            await proc.wait()
