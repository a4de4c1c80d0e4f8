"""Presence: online / away / offline, told only to accounts that share a chat, coalesced, with an
off switch. Stated times: a status change reaches partners within OFFLINE_GRACE + COALESCE + a tick
(about 11 s); the waits below are generous so a loaded machine does not fail them."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientWebSocketResponse

from webchat_server.app import create_app

from .conftest import Api, next_event, quiet
from .test_scaleout import Browser, two_servers  # noqa: F401 - a fixture

# each test waits for statuses to change (seconds), and one starts two server processes
pytestmark = pytest.mark.slow

WAIT = 30.0  # far above the ~11 s a change takes, for loaded machines


async def _share(a: Api, b: Api, sql: asyncpg.Connection) -> int:
    chat: int = (await a.send("hi"))["chat_id"]
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, b.id)
    return chat


async def _presence(ws: ClientWebSocketResponse, account: int, status: str) -> dict[str, Any]:
    """The next presence event about `account` with `status` (earlier ones are skipped)."""
    # one deadline for the whole wait (the server's pings would restart a per-frame timeout)
    async with asyncio.timeout(WAIT):
        while True:
            ev = await next_event(ws, WAIT)
            if ev["type"] == "presence" and ev["account_id"] == account and ev["status"] == status:
                return ev


async def _member(api: Api, chat: int, account: int) -> dict[str, Any]:
    members = (await (await api.get(f"/webchat/chats/{chat}/")).json())["chat"]["members"]
    found: dict[str, Any] = next(m for m in members if m["account_id"] == account)
    return found


async def test_online_away_offline_reach_partners_only(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    bob, eve = await new_api(), await new_api()
    chat = await _share(api, bob, sql)
    await eve.send("my own chat")
    alice_ws, eve_ws = await api.ws(), await eve.ws()
    bob_ws = await bob.ws()
    ev = await _presence(alice_ws, bob.id, "online")
    assert ev["chat_id"] is None and set(ev) >= {"type", "account_id", "status", "last_seen_at"}
    assert (await _member(api, chat, bob.id))["presence"]["status"] == "online"
    # the page says it is hidden: away
    await bob_ws.send_json({"type": "activity", "state": "hidden"})
    await _presence(alice_ws, bob.id, "away")
    # gone: offline, with when it was last seen, and that is written to the database
    await bob_ws.close()
    ev = await _presence(alice_ws, bob.id, "offline")
    assert ev["last_seen_at"]
    member = await _member(api, chat, bob.id)
    assert member["presence"]["status"] == "offline" and member["presence"]["last_seen_at"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while await sql.fetchval("SELECT last_seen_at FROM webchat.accounts WHERE id = $1", bob.id) is None:
        assert loop.time() < deadline, "last_seen_at was not written"
        await asyncio.sleep(0.2)
    # a stranger heard nothing of Bob
    assert [e for e in await quiet(eve_ws, 0.5, types=("presence",)) if e["account_id"] == bob.id] == []
    for ws in (alice_ws, eve_ws):
        await ws.close()


async def test_a_quick_reconnect_is_not_offline(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    bob = await new_api()
    await _share(api, bob, sql)
    alice_ws = await api.ws()
    bob_ws = await bob.ws()
    await _presence(alice_ws, bob.id, "online")
    await bob_ws.close()
    bob_ws = await bob.ws()  # a reload: back well within the grace
    events = await quiet(alice_ws, 12.0, types=("presence",))
    assert [e["status"] for e in events if e["account_id"] == bob.id] == []
    await bob_ws.close()
    await alice_ws.close()


async def test_presence_off(settings: Any, aiohttp_client: Any, sql: asyncpg.Connection) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(settings, presence=False)))
    alice = await Api(client).start()
    bob = await Api(await aiohttp_client(client.server)).start()
    chat = await _share(alice, bob, sql)
    alice_ws = await alice.ws()
    bob_ws = await bob.ws()
    await bob_ws.send_json({"type": "activity", "state": "active"})
    assert await quiet(alice_ws, 8.0, types=("presence",)) == []
    assert (await _member(alice, chat, bob.id))["presence"] == {"status": "offline", "last_seen_at": None}
    await bob_ws.close()
    await asyncio.sleep(0)
    assert await sql.fetchval("SELECT last_seen_at FROM webchat.accounts WHERE id = $1", bob.id) is None
    await alice_ws.close()


async def test_presence_crosses_processes(two_servers: list[str], sql: asyncpg.Connection) -> None:  # noqa: F811
    """Bob connects to one process, Alice and Eve (a stranger) to the other."""
    a, b = two_servers
    alice, bob, eve = Browser(), Browser(), Browser()
    try:
        await alice.me(a)
        await bob.me(b)
        await eve.me(a)
        chat = (await alice.post(a + "/webchat/send/", {"text": "hi"}))["chat_id"]
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bob.id)
        await eve.post(a + "/webchat/send/", {"text": "my own"})
        alice_ws = await alice.session.ws_connect(a.replace("http", "ws") + "/ws/webchat/")
        eve_ws = await eve.session.ws_connect(a.replace("http", "ws") + "/ws/webchat/")
        bob_ws = await bob.session.ws_connect(b.replace("http", "ws") + "/ws/webchat/")
        await _presence(alice_ws, bob.id, "online")
        # the process Alice is on knows it too, for the chat list
        async with alice.session.get(f"{a}/webchat/chats/{chat}/") as r:
            members = (await r.json())["chat"]["members"]
        assert next(m for m in members if m["account_id"] == bob.id)["presence"]["status"] == "online"
        await bob_ws.close()
        ev = await _presence(alice_ws, bob.id, "offline")
        assert ev["last_seen_at"]
        assert [e for e in await quiet(eve_ws, 0.5, types=("presence",)) if e["account_id"] == bob.id] == []
        await alice_ws.close()
        await eve_ws.close()
    finally:
        for person in (alice, bob, eve):
            await person.session.close()
