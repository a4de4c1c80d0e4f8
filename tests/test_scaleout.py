"""Two server processes on one database: events written through one reach clients of the other."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from .browser_support import free_port
from .conftest import IDENTITY_SECRET, collect

pytestmark = pytest.mark.slow


async def start_server(database_url: str, data_dir: Path, secret: str) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "WEBCHAT_PORT": str(port), "WEBCHAT_DATA_DIR": str(data_dir),
           "WEBCHAT_SECRET_KEY": secret, "WEBCHAT_IDENTITY_SECRET": IDENTITY_SECRET}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "webchat_server", "serve", env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            try:
                async with s.get(base + "/healthz") as r:
                    if r.status == 200:
                        return proc, base
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.fixture
async def two_servers(database_url: str, tmp_path: Path) -> AsyncIterator[list[str]]:
    secret = Fernet.generate_key().decode()
    started = [await start_server(database_url, tmp_path / f"s{i}", secret) for i in range(2)]
    yield [base for _, base in started]
    for proc, _ in started:
        proc.terminate()
        await proc.wait()


class Browser:
    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.id = 0

    async def me(self, base: str) -> None:
        async with self.session.get(base + "/webchat/me") as r:
            body = await r.json()
        self.csrf, self.id = body["csrf_token"], body["account"]["id"]

    async def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(url, json=body, headers={"X-CSRF-Token": self.csrf}) as r:
            assert r.status in (200, 201), await r.text()
            data: dict[str, Any] = await r.json()
            return data


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    return (await collect(ws, 1, types=(kind,)))[0]


async def test_message_and_typing_cross_processes(two_servers: list[str], sql: Any) -> None:
    a, b = two_servers
    alice, bob = Browser(), Browser()
    try:
        await alice.me(a)
        await bob.me(b)
        chat = (await alice.post(a + "/webchat/send/", {"text": "hello from A"}))["chat_id"]
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bob.id)
        bob_ws = await bob.session.ws_connect(b + "/ws/webchat/")
        await next_of(bob_ws, "connection")
        # the same session cookie works on either process: no sticky sessions
        alice_ws_b = await alice.session.ws_connect(b + "/ws/webchat/")
        await next_of(alice_ws_b, "connection")

        await alice.post(a + "/webchat/send/", {"text": "via A", "chat_id": chat})
        ev = await next_of(bob_ws, "new_message")
        assert ev["message"]["text"] == "via A" and ev["message"]["seq"] == 2
        assert (await next_of(alice_ws_b, "new_message"))["message"]["seq"] == 2

        await alice.post(a + "/webchat/typing/", {"chat_id": chat, "is_typing": True})
        ev = await next_of(bob_ws, "typing")
        assert ev["account_id"] == alice.id and ev["is_typing"] is True

        # a cursor issued by B is answered by A
        async with bob.session.get(b + "/webchat/poll/", params={"timeout": "0"}) as r:
            cursor = (await r.json())["cursor"]
        await alice.post(a + "/webchat/send/", {"text": "later", "chat_id": chat})
        async with bob.session.get(a + "/webchat/poll/", params={"cursor": cursor, "timeout": "5"}) as r:
            events = (await r.json())["events"]
        assert [e["message"]["text"] for e in events if e["type"] == "new_message"] == ["later"]
        await bob_ws.close()
        await alice_ws_b.close()
    finally:
        await alice.session.close()
        await bob.session.close()


async def test_shutdown_answers_parked_polls_and_closes_sockets(database_url: str, tmp_path: Path) -> None:
    proc, base = await start_server(database_url, tmp_path / "s", Fernet.generate_key().decode())
    browser = Browser()
    try:
        await browser.me(base)
        await browser.post(base + "/webchat/send/", {"text": "hi"})
        async with browser.session.get(base + "/webchat/poll/", params={"timeout": "0"}) as r:
            cursor = (await r.json())["cursor"]
        ws = await browser.session.ws_connect(base + "/ws/webchat/")
        await next_of(ws, "connection")

        async def parked() -> tuple[int, dict[str, Any]]:
            async with browser.session.get(base + "/webchat/poll/", params={"cursor": cursor, "timeout": "55"}) as r:
                return r.status, await r.json()

        waiting = asyncio.create_task(parked())
        await asyncio.sleep(0.5)
        proc.terminate()
        # the parked poll gets a proper answer it can resume from, not a dropped connection
        status, body = await asyncio.wait_for(waiting, 30)
        # (a chat_updated for the chat created above may still arrive on a loaded machine: it is
        # state, not a message; what matters is that no message is invented and the cursor holds)
        assert status == 200 and body["success"] and body["cursor"]
        assert [e for e in body["events"] if e["type"] != "chat_updated"] == []
        closing = await ws.receive(timeout=30)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.GOING_AWAY
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await browser.session.close()
        if proc.returncode is None:
            proc.kill()
