"""A hostile client against reactions, replies, presence and the staff side, on a real server process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from .browser_support import IDENTITY_SECRET, ServerProcess, png
from .conftest import Api, identity_token

MakeApi = Callable[[], Awaitable[Api]]


@pytest.fixture
async def browsers(server: ServerProcess) -> AsyncIterator[MakeApi]:
    """Browser-like clients (each its own cookie jar) of the module's real server process."""
    sessions: list[aiohttp.ClientSession] = []

    async def make() -> Api:
        session = aiohttp.ClientSession(base_url=server.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return await Api(session).start()  # type: ignore[arg-type]

    yield make
    for session in sessions:
        await session.close()


async def as_agent(api: Api, sub: str) -> Api:
    r = await api.post("/webchat/identify", {"token": identity_token(sub, f"Agent {sub}", IDENTITY_SECRET,
                                                                     role="agent")})
    assert r.status == 200, await r.text()
    body = await r.json()
    api.csrf, api.account = body["csrf_token"], body["account"]
    return api


async def frames_until_pong(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Every frame up to the pong of a ping sent now: the socket is still served."""
    await ws.send_str(json.dumps({"type": "ping", "timestamp": "still-there"}))
    seen = []
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"the socket ended: {msg.type.name} {msg.data!r}"
        seen.append(json.loads(msg.data))
        if seen[-1]["type"] == "pong":
            return seen


@pytest.mark.parametrize("state", [["active"], {"active": True}, 1, None, "x" * 5000],
                         ids=["list", "object", "number", "null", "long"])
async def test_activity_frame_with_a_state_of_any_shape_is_ignored(server: ServerProcess, browsers: MakeApi,
                                                                  state: Any) -> None:
    visitor = await browsers()
    await visitor.send("hello")
    before = server.log.read_text()
    async with visitor.client.ws_connect("/ws/webchat/") as ws:
        await ws.send_str(json.dumps({"type": "activity", "state": state}))
        assert [f["type"] for f in await frames_until_pong(ws) if f["type"] == "pong"] == ["pong"]
    logged = server.log.read_text()[len(before):]
    assert "Traceback" not in logged and " 500 " not in logged, logged


async def test_agent_sees_a_visitors_attachment_without_joining(server: ServerProcess, browsers: MakeApi) -> None:
    visitor, agent, stranger = await browsers(), await browsers(), await browsers()
    await as_agent(agent, "media-agent")
    form = aiohttp.FormData()
    form.add_field("text", "my receipt")
    form.add_field("media", png(), filename="receipt.png", content_type="image/png")
    r = await visitor.post("/webchat/send/", data=form)
    assert r.status == 201, await r.text()
    url = (await r.json())["message"]["media_url"]
    # the inbox shows the message (an agent reads any conversation's history without joining)...
    chat_id = (await r.json())["chat_id"]
    assert [m["media_url"] for m in await agent.messages(chat_id)] == [url]
    # ...so its picture must load for the agent too, and still for nobody else
    r = await agent.get(url)
    assert r.status == 200 and r.content_type == "image/png", await r.text()
    r = await stranger.get(url)
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_agent_reply_refused_for_its_quote_leaves_the_conversation_alone(browsers: MakeApi) -> None:
    visitor, other, agent = await browsers(), await browsers(), await browsers()
    await as_agent(agent, "quote-agent")
    chat_id = (await visitor.send("help please"))["chat_id"]
    elsewhere = (await other.send("another conversation"))["message"]["id"]
    before = await (await agent.get(f"/webchat/inbox/{chat_id}/")).json()
    for reply_to in (elsewhere, 2**62):
        r = await agent.post("/webchat/send/", {"chat_id": chat_id, "text": "see this", "reply_to": reply_to})
        assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request", await r.text()
    # a refused reply claims nothing, joins nothing, and leaves the bot in charge
    after = await (await agent.get(f"/webchat/inbox/{chat_id}/")).json()
    assert after["conversation"]["assignee_id"] is None
    assert after["conversation"]["automation"] == before["conversation"]["automation"] == "bot"
    chat = (await (await visitor.get(f"/webchat/chats/{chat_id}/")).json())["chat"]
    assert agent.id not in [m["account_id"] for m in chat["members"]]


async def test_agent_add_keeps_a_name_on_one_line(server: ServerProcess) -> None:
    """The operator's typing (a pasted line break, a tab) reaches visitors beside every reply."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_server", "agent", "add", "Ana\n\tLima ", "--email", "ana@shop.example",
        env={**os.environ, "DATABASE_URL": server.database_url}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    conn = await asyncpg.connect(server.database_url)
    try:
        name = await conn.fetchval("SELECT display_name FROM webchat.accounts WHERE email = 'ana@shop.example'")
    finally:
        await conn.close()
    assert name == "Ana Lima"
