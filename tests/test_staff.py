"""The staff side: agents, the inbox API, internal notes on every path, handoff from bots."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import asyncpg

from webchat_server.realtime.cursor import Keeper as CursorKeeper

from .conftest import Api, collect, identity_token, next_event, quiet

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
    assert (await inbox(agent))["conversations"][0]["chat"]["id"] == chats[0]

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


# -- internal notes never reach a visitor ------------------------------------------------------

async def test_notes_never_reach_the_visitor_on_any_path(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    visitor = api
    chat_id = await conversation(visitor)
    agent = await as_agent(await new_api())
    # an old cursor, from before anything below
    first = await visitor.ws()
    keeper = CursorKeeper()
    keeper.see(await next_event(first))
    old_cursor = keeper.value
    await first.close()

    claimed = await agent.post(f"/webchat/inbox/{chat_id}/assign", {"agent_id": "me"})
    assert claimed.status == 200
    live = await visitor.ws()
    await next_event(live)  # connection
    agent_ws = await agent.ws()
    await next_event(agent_ws)

    secret = await note(agent, chat_id, "NOTE: this customer is on the old plan")
    # by SQL, as an integration would write it
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, visibility) "
                      "VALUES ($1, $2, 'NOTE BY SQL', 'agents')", chat_id, agent.id)
    # a public reply quoting the note is refused; by SQL the quote is dropped
    r = await agent.post("/webchat/send/", {"text": "hi", "chat_id": chat_id, "reply_to": secret["id"]})
    assert r.status == 400
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, reply_to_id) "
                      "VALUES ($1, $2, 'quoting by SQL', $3)", chat_id, agent.id, secret["id"])
    # the visitor replying to a note's id (guessed) quotes nothing
    guessed = (await visitor.send("re", chat_id, reply_to=secret["id"]))["message"]
    assert guessed["reply_to"] is None
    # an edit of the note
    r = await agent.patch(f"/webchat/messages/{secret['id']}/", {"text": "NOTE: edited"})
    assert r.status == 200, await r.text()
    reply = (await agent.send("Happy to help!", chat_id))["message"]
    assert reply["sender_name"] == "Ana (Support)" and reply["sender_kind"] == "agent"

    def public(texts: list[str]) -> None:
        assert not [t for t in texts if "NOTE" in t], texts

    # WebSocket, live: the visitor gets the public messages and nothing else
    got = await collect(live, 3, types=("new_message", "message_updated"))
    assert [e["message"]["text"] for e in got] == ["quoting by SQL", "re", "Happy to help!"]
    assert got[0]["message"]["reply_to"] is None
    public([e["message"]["text"] for e in await quiet(live, 0.5, ("new_message", "message_updated"))])
    # the agent's socket has the notes and the edit
    agent_got = await collect(agent_ws, 6, types=("new_message", "message_updated"))
    assert [e["message"]["text"] for e in agent_got][:2] == ["NOTE: this customer is on the old plan", "NOTE BY SQL"]
    assert any(e["type"] == "message_updated" and e["message"]["internal"] for e in agent_got)

    # WebSocket resuming from an old cursor
    resumed = await visitor.ws(old_cursor)
    await next_event(resumed)
    replayed = await collect(resumed, 3, types=("new_message",))
    public([e["message"]["text"] for e in replayed])
    public([e["message"]["text"] for e in await quiet(resumed, 0.5, ("new_message", "message_updated"))])
    # long-poll from the old cursor, and the seed's form
    r = await visitor.get("/webchat/poll/", cursor=old_cursor, timeout=0)
    events = (await r.json())["events"]
    assert events and not [e for e in events if "message" in e and (e["message"]["internal"]
                                                                     or "NOTE" in e["message"]["text"])]
    r = await visitor.get("/webchat/poll/", chat_id=chat_id, last_message_id=0, timeout=0)
    public([m["text"] for m in (await r.json())["messages"]])
    r = await visitor.get("/webchat/poll/", chat_id=chat_id, last_message_id=secret["id"], timeout=0)
    assert r.status == 400  # a note's id is no message of the visitor's
    # REST history, chat list preview and unread count
    history = await visitor.messages(chat_id)
    public([m["text"] for m in history])
    assert len(history) == 4
    await agent.post(f"/webchat/inbox/{chat_id}/status", {"status": "resolved"})
    await note(agent, chat_id, "NOTE: last word")
    chats = (await (await visitor.get("/webchat/chats/")).json())["chats"]
    assert chats[0]["last_message"]["text"] == "Happy to help!"
    # unread: the two public messages from the service side, none of the notes
    assert chats[0]["unread_count"] == 2
    # the chat_updated the status change sent carries the public preview only
    updates = await quiet(live, 0.5, ("chat_updated",))
    public([(u["chat"].get("last_message") or {}).get("text", "") for u in updates])
    # the agent sees everything
    agent_history = [m["text"] for m in await agent.messages(chat_id)]
    assert "NOTE: edited" in agent_history and "NOTE BY SQL" in agent_history and "NOTE: last word" in agent_history
    for ws in (live, agent_ws, resumed):
        await ws.close()


async def test_a_note_is_idempotent_and_only_in_conversations(api: Api, new_api: Any) -> None:
    chat_id = await conversation(api)
    agent = await as_agent(await new_api())
    a = await note(agent, chat_id, "once", client_id="n-1")
    r = await agent.post("/webchat/send/", {"text": "once", "chat_id": chat_id, "internal": True, "client_id": "n-1"})
    assert r.status == 200 and (await r.json())["message"]["id"] == a["id"]
    own = (await agent.send("an agent's own chat"))["chat_id"]
    r = await agent.post("/webchat/send/", {"text": "x", "chat_id": own, "internal": True})
    assert r.status == 404
    # the note did not make the agent a member, nor claim the conversation
    assert (await inbox(agent))["conversations"][0]["assignee_id"] is None


# -- handoff -----------------------------------------------------------------------------------

async def test_the_bot_steps_back_when_an_agent_takes_over_and_back_in_when_handed_back(
        api: Api, new_api: Any, database_url: str, sql: asyncpg.Connection) -> None:
    from webchat_server.bot import DemoBot

    bot = DemoBot(database_url, reply_delay=0.05)
    running = asyncio.create_task(bot.run())
    try:
        for _ in range(200):  # until it is LISTENing
            if bot.bot_id:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        ws = await api.ws()
        await next_event(ws)
        chat_id = await conversation(api, "hello")
        answers = await collect(ws, 2)
        assert answers[1]["message"]["sender_kind"] == "bot"
        agent = await as_agent(await new_api())
        listed = (await inbox(agent))["conversations"][0]
        assert listed["automation"] == "bot"

        # an agent's reply (without claiming first) takes the conversation from the bot
        await agent.send("Hi, I'm Ana, a human.", chat_id)
        meta = await sql.fetchval("SELECT metadata->>'automation' FROM webchat.chats WHERE id = $1", chat_id)
        assert meta == "human"
        listed = (await inbox(agent))["conversations"][0]
        assert listed["assignee_id"] == agent.id and listed["automation"] == "human"
        await api.send("help", chat_id)  # the bot would answer this one
        # hand back: the bot answers the next message, and that is the first thing it says
        r = await agent.post(f"/webchat/inbox/{chat_id}/automation", {"automation": "bot"})
        assert (await r.json())["conversation"]["automation"] == "bot"
        await api.send("hello", chat_id)
        got = await collect(ws, 4)
        senders = [(e["message"]["sender_kind"], e["message"]["text"]) for e in got]
        assert senders[0] == ("agent", "Hi, I'm Ana, a human.")
        assert senders[1:3] == [("guest", "help"), ("guest", "hello")]
        assert senders[3][0] == "bot" and senders[3][1].startswith("Hello ")
        # claiming takes it from the bot too
        await agent.post(f"/webchat/inbox/{chat_id}/assign", {"agent_id": None})
        await agent.post(f"/webchat/inbox/{chat_id}/automation", {"automation": "bot"})
        r = await agent.post(f"/webchat/inbox/{chat_id}/assign", {"agent_id": "me"})
        assert (await r.json())["conversation"]["automation"] == "human"
        await ws.close()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


# -- agents without a backend: a one-time sign-in link ----------------------------------------

async def test_agent_add_prints_a_one_time_link(api: Api, new_api: Any, database_url: str,
                                                sql: asyncpg.Connection) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "WEBCHAT_PUBLIC_URL": "https://chat.shop.example"}

    async def add(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "webchat_server", "agent", "add", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        link = out.decode().split()[-1]
        assert link.startswith("https://chat.shop.example/inbox/#signin="), out
        return link.partition("#signin=")[2]

    token = await add("Ana Lima", "--email", "ana@shop.example")
    r = await api.post("/webchat/agent/signin", {"token": token})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["account"]["kind"] == "agent" and body["account"]["display_name"] == "Ana Lima"
    api.csrf = body["csrf_token"]
    assert (await api.get("/webchat/inbox/")).status == 200
    # once only
    again = await new_api()
    r = await again.post("/webchat/agent/signin", {"token": token})
    assert r.status == 403 and (await r.json())["error"]["code"] == "bad_signin_link"
    assert (await again.get("/webchat/inbox/")).status == 404
    # the same agent again (found by email), and a link that expired
    token2 = await add("Ana Lima", "--email", "ana@shop.example")
    assert await sql.fetchval("SELECT count(*) FROM webchat.accounts WHERE kind = 'agent'") == 1
    await sql.execute("UPDATE webchat.agent_signins SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
    r = await again.post("/webchat/agent/signin", {"token": token2})
    assert r.status == 403
    for bad in ({}, {"token": 5}, {"token": "x" * 300}):
        assert (await again.post("/webchat/agent/signin", bad)).status == 400


async def test_a_conversation_remembers_where_it_started(api: Api, new_api: Any) -> None:
    r = await api.client.post("/webchat/send/", json={"text": "hi"}, headers={
        "X-CSRF-Token": api.csrf, "Referer": "https://shop.example/cakes?id=7",
        "Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"})
    assert r.status == 201
    chat_id = (await r.json())["chat_id"]
    await api.client.post("/webchat/send/", json={"text": "again", "chat_id": chat_id},
                          headers={"X-CSRF-Token": api.csrf, "Referer": "https://elsewhere/"})
    agent = await as_agent(await new_api())
    listed = (await inbox(agent))["conversations"]
    context = listed[0]["context"]
    # the visitor's other conversations are named beside each
    second = (await api.send("another question"))["chat_id"]
    listed = (await inbox(agent))["conversations"]
    assert listed[0]["visitor"]["other_conversations"] == [chat_id]
    assert listed[1]["visitor"]["other_conversations"] == [second]
    assert context == {"url": "https://shop.example/cakes?id=7", "language": "pt-BR",
                       "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
