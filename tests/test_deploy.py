"""Deployment: deploy/nginx.conf with TLS in front of two servers, and Gunicorn workers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from cryptography.fernet import Fernet

from .browser_support import CHROMIUM_ARGS, IDENTITY_SECRET, ServerProcess, chromium_path
from .deploy_support import Nginx, client_ssl, make_cert


class Visitor:
    """A browser-like client of the proxy: its own cookie jar, CSRF token and verified TLS."""

    def __init__(self, base: str, cert: Path | None = None) -> None:
        self.base = base
        self.ssl = client_ssl(cert) if cert else None
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             connector=aiohttp.TCPConnector(ssl=self.ssl or True))
        self.csrf = ""
        self.id = 0
        self.set_cookie = ""

    async def start(self) -> Visitor:
        async with self.session.get(self.base + "/webchat/me") as r:
            assert r.status == 200, await r.text()
            self.set_cookie = r.headers.get("Set-Cookie", "")
            body = await r.json()
        self.csrf, self.id = body["csrf_token"], body["account"]["id"]
        return self

    async def send(self, text: str, chat_id: int | None = None, client_id: str | None = None) -> dict[str, Any]:
        async with self.session.post(self.base + "/webchat/send/",
                                     json={"text": text, "chat_id": chat_id, "client_id": client_id},
                                     headers={"X-CSRF-Token": self.csrf}) as r:
            assert r.status in (200, 201), await r.text()
            data: dict[str, Any] = await r.json()
            return data

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def proxied(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Nginx, list[ServerProcess], Path]]:
    """nginx (deploy/nginx.conf) on a free HTTPS port in front of two server processes."""
    secret = Fernet.generate_key().decode()
    env = {"WEBCHAT_SECRET_KEY": secret, "WEBCHAT_IDENTITY_SECRET": IDENTITY_SECRET,
           "WEBCHAT_TRUSTED_PROXIES": "127.0.0.1", "WEBCHAT_SENDS_PER_MINUTE": "100000"}
    servers = [ServerProcess(database_url, tmp_path / f"s{i}", env) for i in range(2)]
    for s in servers:
        await asyncio.to_thread(s.start)
    cert, key = make_cert(tmp_path / "tls")
    nginx = Nginx(tmp_path / "nginx", [s.port for s in servers], cert, key)
    await asyncio.to_thread(nginx.start)
    yield nginx, servers, cert
    nginx.stop()
    for s in servers:
        await asyncio.to_thread(s.stop)


def widget_through_proxy(base: str) -> str:
    """Headless Chromium opens the demo page through the proxy and chats with the widget."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(base + "/")
            expect(page.locator("webchat-status")).to_have_attribute("status", "live")
            box = page.locator("webchat-composer textarea")
            box.fill("hello through nginx")
            box.press("Enter")
            expect(page.locator("webchat-message .bubble", has_text="hello through nginx")).to_have_count(1)
            return str(page.evaluate("location.protocol"))
        finally:
            browser.close()


async def test_chat_through_nginx_with_tls(proxied: tuple[Nginx, list[ServerProcess], Path], sql: Any) -> None:
    nginx, _servers, cert = proxied
    alice, bob, idle = Visitor(nginx.base, cert), Visitor(nginx.base, cert), Visitor(nginx.base, cert)
    try:
        for v in (alice, bob, idle):
            await v.start()
        # the session cookie is Secure over HTTPS: the server believes nginx's X-Forwarded-Proto
        assert "secure" in [p.strip().lower() for p in alice.set_cookie.split(";")], alice.set_cookie

        # a long poll held 50 s through the proxy returns normally (nginx waits 75 s)
        async with idle.session.get(nginx.base + "/webchat/poll/", params={"timeout": "0"}) as r:
            cursor = (await r.json())["cursor"]

        async def long_poll() -> tuple[int, Any]:
            async with idle.session.get(nginx.base + "/webchat/poll/",
                                        params={"cursor": cursor, "timeout": "50"}) as r:
                return r.status, await r.json()

        held = asyncio.create_task(long_poll())

        # chat over wss:// through the proxy
        chat = (await alice.send("hello"))["chat_id"]
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bob.id)
        ws = await bob.session.ws_connect(nginx.base.replace("https://", "wss://") + "/ws/webchat/")
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "connection"
        await alice.send("over wss", chat)
        while (ev := await ws.receive_json(timeout=10))["type"] != "new_message":
            pass
        assert ev["message"]["text"] == "over wss" and ev["message"]["sender_id"] == alice.id
        # a browser keeps reading (and so answers the server's heartbeat pings): so does bob
        frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def read() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frames.put_nowait(msg.json())

        reader = asyncio.create_task(read())

        # the widget page loads and chats through the proxy in headless Chromium, meanwhile
        protocol = await asyncio.to_thread(widget_through_proxy, nginx.base)
        assert protocol == "https:"

        # static files are compressed on the way out
        async with alice.session.get(nginx.base + "/web/components/webchat-app.js",
                                     headers={"Accept-Encoding": "gzip"}, auto_decompress=False) as r:
            assert r.status == 200 and r.headers.get("Content-Encoding") == "gzip"

        status, body = await held
        assert status == 200 and body["success"] is True and body["events"] == []

        # bob's socket stayed open through the proxy while it was quiet all that time
        assert not ws.closed
        await ws.send_json({"type": "ping", "timestamp": 1})
        while (await asyncio.wait_for(frames.get(), 10))["type"] != "pong":
            pass
        await ws.close()
        await reader
    finally:
        for v in (alice, bob, idle):
            await v.close()


def children(pid: int) -> set[int]:
    return {c.pid for c in psutil.Process(pid).children() if c.status() != psutil.STATUS_ZOMBIE}


async def until(predicate: Any, seconds: float = 30) -> None:
    """Wait for a condition the test cannot await directly (bounded; never a timing assertion)."""
    for _ in range(int(seconds / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_workers_share_one_database_replace_the_dead_and_drain(database_url: str, tmp_path: Path,
                                                                      sql: Any) -> None:
    env = {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(), "WEBCHAT_IDENTITY_SECRET": IDENTITY_SECRET}
    server = ServerProcess(database_url, tmp_path / "w", env, ("--workers", "2"))
    await asyncio.to_thread(server.start)
    assert server.proc is not None
    master = server.proc
    alice, bob = Visitor(server.base), Visitor(server.base)
    try:
        await until(lambda: len(children(master.pid)) == 2)
        first = children(master.pid)
        # a worker that dies is replaced by the master; the service goes on
        victim = min(first)
        psutil.Process(victim).kill()
        await until(lambda: len(children(master.pid)) == 2 and victim not in children(master.pid))
        async with alice.session.get(server.base + "/readyz") as r:
            assert r.status == 200, await r.text()
        await alice.start()
        await bob.start()
        chat = (await alice.send("hello"))["chat_id"]
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bob.id)
        # each worker has its own LISTEN: whichever worker holds bob's socket, alice's send reaches it
        sockets = [await bob.session.ws_connect(server.base.replace("http", "ws") + "/ws/webchat/")
                   for _ in range(4)]
        for ws in sockets:
            assert (await ws.receive_json(timeout=10))["type"] == "connection"
        async with bob.session.get(server.base + "/webchat/poll/", params={"timeout": "0"}) as r:
            cursor = (await r.json())["cursor"]
        await alice.send("to every worker", chat)
        for ws in sockets:
            while (ev := await ws.receive_json(timeout=10))["type"] != "new_message":
                pass
            assert ev["message"]["text"] == "to every worker"

        # SIGTERM to the master drains every worker: parked polls answered, sockets GOING_AWAY
        async with bob.session.get(server.base + "/webchat/poll/", params={"timeout": "0", "cursor": cursor}) as r:
            cursor = (await r.json())["cursor"]

        async def parked() -> int:
            async with bob.session.get(server.base + "/webchat/poll/",
                                       params={"cursor": cursor, "timeout": "50"}) as r:
                assert (await r.json())["success"] is True
                return r.status

        polls = [asyncio.create_task(parked()) for _ in range(4)]
        await asyncio.sleep(1)  # let the polls park (if one has not yet, it is answered all the same)
        workers = children(master.pid)
        master.send_signal(signal.SIGTERM)
        assert await asyncio.gather(*polls) == [200] * 4
        for ws in sockets:
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.GOING_AWAY
        assert await asyncio.to_thread(master.wait, 30) == 0
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                       for p in workers)
    finally:
        server.proc = None if server.proc is not None and server.proc.poll() is not None else server.proc
        await asyncio.to_thread(server.stop)
        await alice.close()
        await bob.close()
