"""Ending a session (sign-out, sign-in as someone) closes its sockets and parked polls in every process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import asyncpg
from aiohttp import ClientSession, DummyCookieJar
from aiohttp.test_utils import TestClient

from webchat_server.app import create_app
from webchat_server.http.auth import COOKIE_NAME
from webchat_server.settings import Settings

from .conftest import Api, next_event
from .realtime_helpers import insert, make_bot
from .test_identity import cookie_of


async def _closed(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> bool:
    """True once the server closes the socket; False if a message arrives or nothing happens."""
    try:
        while True:
            msg = await ws.receive(timeout=timeout)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return True
            if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "new_message":
                return False
    except TimeoutError:
        return False


async def test_logout_closes_the_sessions_sockets_and_polls_in_every_process(
        api: Api, settings: Settings, aiohttp_client: Any, sql: asyncpg.Connection) -> None:
    assert (await api.identify("u-leaver", "Lee")).status == 200
    chat = (await api.send("private"))["chat_id"]
    bot = await make_bot(sql, chat)
    cookie, csrf = cookie_of(api), api.csrf
    other: TestClient[Any, Any] = await aiohttp_client(create_app(settings))  # a second server process
    here = await api.ws()
    assert (await next_event(here))["type"] == "connection"
    async with ClientSession(cookie_jar=DummyCookieJar(), headers={"Cookie": f"{COOKIE_NAME}={cookie}"}) as s:
        there = await s.ws_connect(other.make_url("/ws/webchat/"))
        assert (await next_event(there))["type"] == "connection"
        start = await (await s.get(other.make_url("/webchat/poll/"), params={"timeout": "0"})).json()
        parked = asyncio.create_task(s.post(other.make_url("/webchat/poll/"), json={
            "cursor": start["cursor"], "timeout": 50}, headers={"X-CSRF-Token": csrf}))
        await asyncio.sleep(0.5)
        assert not parked.done()
        r = await api.post("/webchat/logout")
        assert r.status == 200
        assert await _closed(here) and await _closed(there)
        answer = await asyncio.wait_for(parked, 10)  # answered now, not after its 50 s
        assert answer.status in (200, 401)
        await insert(sql, chat, bot, "after logout")
        # the old cookie cannot open anything again
        async with s.get(other.make_url("/webchat/poll/"), params={"timeout": "0"}) as again:
            assert again.status == 401


async def test_signing_in_as_someone_else_closes_the_guests_socket(
        api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("as a guest"))["chat_id"]
    ws = await api.ws()
    assert (await next_event(ws))["type"] == "connection"
    assert (await api.identify("u-someone", "Sam")).status == 200
    assert await _closed(ws)
    bot = await make_bot(sql, chat)
    await insert(sql, chat, bot, "for Sam now")
    me = (await (await api.get("/webchat/me")).json())["account"]["id"]
    fresh = await api.ws()  # a new socket is the signed-in user's
    assert (await next_event(fresh))["account_id"] == me
    await fresh.close()
