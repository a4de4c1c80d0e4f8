"""Deployment: deploy/nginx.conf with TLS in front of two servers, and Gunicorn workers."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from cryptography.fernet import Fernet

from webchat_server.realtime.cursor import Keeper

from .browser_support import CHROMIUM_ARGS, IDENTITY_SECRET, ServerProcess, chromium_path
from .deploy_support import Nginx, client_ssl, make_cert
from .realtime_helpers import make_bot

pytestmark = pytest.mark.slow


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
        # the new worker is ready once its listener's first probe came back (until then its
        # /readyz says 503 "degraded", which is right); the shared socket may route to either
        for _ in range(300):
            async with alice.session.get(server.base + "/readyz") as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.1)
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


class Reader:
    """One of the chatting clients: reads the chat live over wss:// or by long polls through nginx,
    reconnecting (to whichever process nginx picks) and resuming by cursor whenever it is cut off."""

    def __init__(self, visitor: Visitor, mode: str) -> None:
        self.v, self.mode = visitor, mode
        self.got: list[int] = []
        self.keeper = Keeper()
        self.cursor: str | None = None
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.reconnects = 0
        self.errors: list[str] = []
        self.resyncs = 0

    def see(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "new_message":
            self.got.append(ev["message"]["id"])
        elif ev["type"] == "resync":
            self.resyncs += 1

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                await (self._ws() if self.mode == "ws" else self._poll())
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
                self.errors.append(type(e).__name__)
            if not self.stop.is_set():
                self.reconnects += 1
                await asyncio.sleep(0.2)

    async def _ws(self) -> None:
        url = self.v.base.replace("https://", "wss://") + "/ws/webchat/"
        params = {"cursor": self.keeper.value} if self.ready.is_set() else {}
        async with self.v.session.ws_connect(url, params=params, heartbeat=10) as ws:
            stopping = asyncio.create_task(self.stop.wait())
            try:
                while True:
                    receiving = asyncio.create_task(ws.receive())
                    await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not receiving.done():
                        receiving.cancel()
                        return
                    msg = receiving.result()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return  # closed (GOING_AWAY while a process drains): reconnect, resume
                    ev = msg.json()
                    self.keeper.see(ev)
                    self.see(ev)
                    self.ready.set()
            finally:
                stopping.cancel()

    async def _poll(self) -> None:
        while not self.stop.is_set():
            params = {"timeout": "5", "cursor": self.cursor} if self.cursor else {"timeout": "0"}
            async with self.v.session.get(self.v.base + "/webchat/poll/", params=params) as r:
                if r.status != 200:
                    self.errors.append(f"HTTP {r.status}")
                    return
                body = await r.json()
            for ev in body["events"]:
                self.see(ev)
            self.cursor = body["cursor"]
            self.ready.set()


class Writer:
    """Sends through the proxy with a client_id, retrying the same id until acknowledged."""

    def __init__(self, visitor: Visitor, chat_id: int, name: str) -> None:
        self.v, self.chat_id, self.name = visitor, chat_id, name
        self.acked: list[int] = []
        self.sent = 0
        self.retries = 0
        self.stop = asyncio.Event()

    async def run(self, interval: float) -> None:
        while not self.stop.is_set():
            self.sent += 1
            client_id = f"{self.name}-{self.sent}"
            while True:
                try:
                    async with self.v.session.post(
                            self.v.base + "/webchat/send/", headers={"X-CSRF-Token": self.v.csrf},
                            json={"text": client_id, "chat_id": self.chat_id, "client_id": client_id}) as r:
                        if r.status in (200, 201):
                            self.acked.append((await r.json())["message"]["id"])
                            break
                except (aiohttp.ClientError, ConnectionError):
                    pass
                self.retries += 1
                await asyncio.sleep(0.2)
            await asyncio.sleep(interval)


async def test_rolling_restart_behind_nginx_loses_nothing(proxied: tuple[Nginx, list[ServerProcess], Path],
                                                          sql: Any) -> None:
    nginx, servers, cert = proxied
    visitors = [Visitor(nginx.base, cert) for _ in range(50)]
    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(0, 50, 10):
            await asyncio.gather(*(v.start() for v in visitors[i:i + 10]))
        chat = (await visitors[0].send("start"))["chat_id"]
        bot = await make_bot(sql, chat, "SQL writer")
        await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT $1, unnest($2::bigint[])"
                          " ON CONFLICT DO NOTHING", chat, [v.id for v in visitors])
        readers = [Reader(v, "ws" if i % 2 == 0 else "poll") for i, v in enumerate(visitors)]
        tasks += [asyncio.create_task(r.run()) for r in readers]
        for r in readers:
            await asyncio.wait_for(r.ready.wait(), 30)

        writers = [Writer(v, chat, f"api{i}") for i, v in enumerate(visitors[:8])]
        tasks += [asyncio.create_task(w.run(1.0)) for w in writers]
        sql_acked: list[int] = []
        stop_sql = asyncio.Event()

        async def sql_writer() -> None:
            n = 0
            while not stop_sql.is_set():
                n += 1
                sql_acked.append(await sql.fetchval(
                    "INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3) RETURNING id",
                    chat, bot, f"sql-{n}"))
                await asyncio.sleep(0.25)

        tasks.append(asyncio.create_task(sql_writer()))
        exit_codes = []
        await asyncio.sleep(3)
        for server in servers:  # one at a time: SIGTERM, wait for the drain, start it again
            proc = server.proc
            assert proc is not None
            await asyncio.to_thread(server.stop)
            exit_codes.append(proc.returncode)
            await asyncio.sleep(1)  # traffic runs on the other process alone for a while
            await asyncio.to_thread(server.start)
            # nginx skips a server for fail_timeout (5 s) after a refused connection: give it
            # that long to come back into rotation before its partner goes down
            await asyncio.sleep(6)
        for w in writers:
            w.stop.set()
        stop_sql.set()
        await asyncio.gather(*tasks[len(readers):])
        acked = [m for w in writers for m in w.acked] + sql_acked
        expected = set(acked)
        await until(lambda: all(expected <= set(r.got) for r in readers), 60)
        for r in readers:
            r.stop.set()
        await asyncio.gather(*tasks[:len(readers)])
        report = {
            "clients": len(readers),
            "websocket_clients": sum(r.mode == "ws" for r in readers),
            "poll_clients": sum(r.mode == "poll" for r in readers),
            "sent": sum(w.sent for w in writers) + len(sql_acked),
            "acknowledged": len(acked),
            "acknowledged_api": len(acked) - len(sql_acked),
            "acknowledged_sql": len(sql_acked),
            "expected_deliveries": len(expected) * len(readers),
            "delivered": sum(len(expected & set(r.got)) for r in readers),
            "duplicates": sum(len(r.got) - len(set(r.got)) for r in readers),
            "missing": sum(len(expected - set(r.got)) for r in readers),
            "resyncs": sum(r.resyncs for r in readers),
            "send_retries": sum(w.retries for w in writers),
            "reconnects_ws": sum(r.reconnects for r in readers if r.mode == "ws"),
            "repolls_after_error": sum(r.reconnects for r in readers if r.mode == "poll"),
            "client_errors": sorted({e for r in readers for e in r.errors}),
            "server_exit_codes": exit_codes,
        }
        print("rolling restart:", json.dumps(report))
        assert len(set(acked)) == len(acked)  # a retried client_id never made a second message
        assert report["duplicates"] == 0 and report["missing"] == 0 and report["resyncs"] == 0, report
        assert report["delivered"] == report["expected_deliveries"]
        assert exit_codes == [0, 0]
        # every WebSocket client was moved at least once: its process went away under it
        assert all(r.reconnects >= 1 for r in readers if r.mode == "ws"), report
    finally:
        for t in tasks:
            t.cancel()
        for v in visitors:
            await v.close()


async def test_sigterm_turns_readiness_off_before_the_socket_closes(database_url: str, tmp_path: Path) -> None:
    env = {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(), "WEBCHAT_DRAIN_DELAY": "3"}
    server = ServerProcess(database_url, tmp_path / "d", env)
    await asyncio.to_thread(server.start)
    assert server.proc is not None
    proc = server.proc
    seen: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as s:
            for path in ("/livez", "/readyz", "/healthz"):
                async with s.get(server.base + path) as r:
                    assert r.status == 200, (path, await r.text())
            proc.send_signal(signal.SIGTERM)
            # still listening during the drain delay: liveness yes, readiness no
            for _ in range(100):
                async with s.get(server.base + "/readyz") as r:
                    if r.status == 503:
                        seen["readyz"] = await r.json()
                        break
                await asyncio.sleep(0.02)
            async with s.get(server.base + "/livez") as r:
                seen["livez"] = r.status
        assert seen["readyz"]["status"] == "draining" and seen["livez"] == 200, seen
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        server.proc = proc if proc.poll() is None else None
        await asyncio.to_thread(server.stop)
