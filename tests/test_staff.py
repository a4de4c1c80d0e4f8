"""The staff side: agents, the inbox API, internal notes on every path, handoff from bots."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from .conftest import Api, collect, identity_token, next_event, quiet
from .realtime_helpers import CursorKeeper, make_bot

OTHER_SECRET = "another-site-secret-of-at-least-32-bytes!"


async def as_agent(api: Api, sub: str = "ana", name: str = "Ana (Support)") -> Api:
    r = await api.post("/webchat/identify", {"token": identity_token(sub, name, role="agent")})
    assert r.status == 200, await r.text()
    body = await r.json()
    api.csrf, api.account = body["csrf_token"], body["account"]
    assert api.account["kind"] == "agent"
    return api


async def conversation(visitor: Api, text: str = "Hello, is anyone there?") -> int:
    return int((await visitor.send(text))["chat_id"])


async def inbox(agent: Api, **params: Any) -> dict[str, Any]:
    r = await agent.get("/webchat/inbox/", **params)
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


async def note(agent: Api, chat_id: int, text: str, **extra: Any) -> dict[str, Any]:
    r = await agent.post("/webchat/send/", {"text": text, "chat_id": chat_id, "internal": True, **extra})
    assert r.status == 201, await r.text()
    message: dict[str, Any] = (await r.json())["message"]
    assert message["internal"] is True
    return message


# -- who may ---------------------------------------------------------------------------------

async def test_only_agents_reach_the_inbox(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat_id = await conversation(api)
    paths = [("get", "/webchat/inbox/", None), ("get", f"/webchat/inbox/{chat_id}/", None),
             ("post", f"/webchat/inbox/{chat_id}/assign", {"agent_id": "me"}),
             ("post", f"/webchat/inbox/{chat_id}/status", {"status": "resolved"}),
             ("post", f"/webchat/inbox/{chat_id}/automation", {"automation": "human"})]

    async def refused(who: Api) -> None:
        for method, path, body in paths:
            r = await (who.get(path) if method == "get" else who.post(path, body))
            assert r.status == 404, (path, r.status, await r.text())
        r = await who.post("/webchat/send/", {"text": "psst", "chat_id": chat_id, "internal": True})
        assert r.status == 404

    # a guest, the visitor who started the conversation
    await refused(api)
    # a signed-in visitor
    user = await new_api()
    assert (await user.identify("u1", "Ursula")).status == 200
    await refused(user)
    # a visitor who forges the role claim: unsigned, or signed with another site's secret
    forger = await new_api()
    for token in (identity_token("ana", "Ana", secret=OTHER_SECRET, role="agent"),
                  identity_token("ana", "Ana", role="admin")):
        r = await forger.post("/webchat/identify", {"token": token})
        assert r.status == 403, await r.text()
    await refused(forger)
    # nothing changed
    assert await sql.fetchval("SELECT count(*) FROM webchat.accounts WHERE kind = 'agent'") == 0
    assert await sql.fetchval("SELECT assignee_id FROM webchat.chats WHERE id = $1", chat_id) is None


async def test_agent_token_makes_an_agent_separate_from_a_user(api: Api, new_api: Any) -> None:
    user = await new_api()
    assert (await user.identify("ana", "Ana")).status == 200
    agent = await as_agent(api, "ana", "Ana (Support)")
    assert agent.account["id"] != user.account["id"]
    assert agent.account["display_name"] == "Ana (Support)"
    assert (await inbox(agent))["conversations"] == []


# -- the inbox -------------------------------------------------------------------------------

async def test_inbox_lists_filters_claims_resolves(api: Api, new_api: Any) -> None:
    visitors = [await new_api() for _ in range(3)]
    chats = [await conversation(v, f"question {i}") for i, v in enumerate(visitors)]
    agent = await as_agent(await new_api())
    other = await as_agent(await new_api(), "bo", "Bo")

    listed = await inbox(agent)
    # newest activity first
    assert [c["chat"]["id"] for c in listed["conversations"]] == chats[::-1]
    first = listed["conversations"][-1]
    assert first["visitor"]["account_id"] == visitors[0].id
    assert first["status"] == "open" and first["assignee_id"] is None and first["unread_count"] == 1
    assert first["last_message"]["text"] == "question 0"

    # activity moves a conversation up
    await visitors[0].send("still there?", chats[0])
    assert [c["chat"]["id"] for c in (await inbox(agent))["conversations"]][0] == chats[0]

    # claim, hand over
    r = await agent.post(f"/webchat/inbox/{chats[0]}/assign", {"agent_id": "me"})
    assert r.status == 200 and (await r.json())["conversation"]["assignee_id"] == agent.id
    assert [c["chat"]["id"] for c in (await inbox(agent, assignee="me"))["conversations"]] == [chats[0]]
    assert chats[0] not in [c["chat"]["id"] for c in (await inbox(agent, assignee="none"))["conversations"]]
    r = await agent.post(f"/webchat/inbox/{chats[0]}/assign", {"agent_id": other.id})
    assert (await r.json())["conversation"]["assignee_id"] == other.id
    assert (await inbox(agent, assignee="me"))["conversations"] == []
    assert [c["chat"]["id"] for c in (await inbox(other, assignee="me"))["conversations"]] == [chats[0]]
    # only agents can be assigned
    r = await agent.post(f"/webchat/inbox/{chats[0]}/assign", {"agent_id": visitors[1].id})
    assert r.status == 400

    # resolve, then the visitor writes again: open again
    r = await agent.post(f"/webchat/inbox/{chats[1]}/status", {"status": "resolved"})
    assert (await r.json())["conversation"]["status"] == "resolved"
    assert [c["chat"]["id"] for c in (await inbox(agent, status="resolved"))["conversations"]] == [chats[1]]
    assert chats[1] not in [c["chat"]["id"] for c in (await inbox(agent))["conversations"]]
    await visitors[1].send("one more thing", chats[1])
    assert (await inbox(agent, status="resolved"))["conversations"] == []
    # reopen by hand
    await agent.post(f"/webchat/inbox/{chats[2]}/status", {"status": "resolved"})
    r = await agent.post(f"/webchat/inbox/{chats[2]}/status", {"status": "open"})
    assert (await r.json())["conversation"]["status"] == "open"


async def test_inbox_pages_and_bad_input(api: Api, new_api: Any) -> None:
    for i in range(5):
        await conversation(await new_api(), f"q{i}")
    agent = await as_agent(api)
    seen: list[int] = []
    before = None
    while True:
        page = await inbox(agent, limit=2, **({"before": before} if before else {}))
        seen += [c["chat"]["id"] for c in page["conversations"]]
        if not page["has_more"]:
            break
        before = page["next_before"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    for params in ({"status": "closed"}, {"assignee": "you"}, {"before": "yesterday"}, {"limit": "0"},
                   {"before": "123456789012345678901.1"}, {"before": "1.2.3"}):
        r = await agent.get("/webchat/inbox/", **params)
        assert r.status == 400, (params, await r.text())
    for body in ({}, {"agent_id": "someone"}, {"agent_id": True}):
        r = await agent.post("/webchat/inbox/1/assign", body)
        assert r.status in (400, 404), body
    r = await agent.post("/webchat/inbox/999999/status", {"status": "open"})
    assert r.status == 404


async def test_a_chat_between_agents_or_bots_is_not_a_conversation(api: Api, sql: asyncpg.Connection) -> None:
    agent = await as_agent(api)
    own = await agent.send("a chat an agent started")
    bot = await sql.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'B') RETURNING id")
    by_bot = await sql.fetchval("INSERT INTO webchat.chats (title, created_by) VALUES ('x', $1) RETURNING id", bot)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'hi')", by_bot, bot)
    assert (await inbox(agent))["conversations"] == []
    r = await agent.post(f"/webchat/inbox/{own['chat_id']}/assign", {"agent_id": "me"})
    assert r.status == 404
