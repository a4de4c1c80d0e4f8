"""Caps that protect everyone else: live connections per account and address, slowloris, fd budget."""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from webchat_server.app import create_app
from webchat_server.settings import Settings

from .browser_support import ServerProcess
from .conftest import Api, next_event


async def refused(r: aiohttp.ClientResponse, status: int, code: str) -> None:
    assert r.status == status, await r.text()
    assert (await r.json())["error"]["code"] == code
    assert int(r.headers["Retry-After"]) >= 1


async def test_live_connections_capped_per_account_and_address(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(replace(settings, max_sockets_per_account=2, max_sockets_per_address=3)))
    alice = await Api(client).start()
    bob = await Api(await aiohttp_client(client.server)).start()
    await alice.send("hi")
    cursor = (await (await alice.get("/webchat/poll/", timeout=0)).json())["cursor"]
    first, second = await alice.ws(), await alice.ws()
    for ws in (first, second):
        assert (await next_event(ws))["type"] == "connection"
    # refused before the upgrade, with a JSON answer that says why
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await alice.ws()
    assert e.value.status == 429
    # a parked long-poll is a live connection too
    await refused(await alice.get("/webchat/poll/", cursor=cursor, timeout=5), 429, "rate_limited")
    # another account from the same address has the address's last slot, then the address is full
    bobs = await bob.ws()
    await next_event(bobs)
    r = await bob.get("/webchat/poll/", cursor=cursor, timeout=5)
    await refused(r, 429, "rate_limited")
    assert (await r.json())["error"]["limit"] == "sockets_per_address"
    # short requests are not capped
    assert (await alice.get("/webchat/chats/")).status == 200
    metrics = await (await alice.get("/metrics")).text()
    assert 'webchat_connections_refused_total{cap="sockets_per_account"} 2.0' in metrics
    assert 'webchat_connections_refused_total{cap="sockets_per_address"} 1.0' in metrics
    # a closed socket gives its slot back
    await first.close()
    for _ in range(100):
        with contextlib.suppress(aiohttp.WSServerHandshakeError):
            again = await alice.ws()
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the slot of a closed socket was never given back")
    assert (await next_event(again))["type"] == "connection"
    for ws in (second, bobs, again):
        await ws.close()


async def test_slowloris_headers_and_bodies_are_cut_off(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(replace(settings, header_timeout=1.0, body_timeout=1.0)))
    api = await Api(client).start()

    async def trickle_headers() -> bool:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /webchat/me HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(200):  # up to 60 s of one header line every 0.3 s, unless cut off
                writer.write(f"X-Slow-{i}: y\r\n".encode())
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1024), 0.3) == b"":
                        return True
            return False
        except ConnectionError:
            return True
        finally:
            writer.close()

    slow = [asyncio.create_task(trickle_headers()) for _ in range(50)]
    # meanwhile, everyone else is served
    assert (await api.get("/webchat/chats/")).status == 200
    assert all(await asyncio.gather(*slow)), "a connection trickling its headers was never closed"

    # a body that does not arrive: 408, and the connection is closed
    cookie = "; ".join(f"{c.key}={c.value}" for c in client.session.cookie_jar)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write((f"POST /webchat/send/ HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nX-CSRF-Token: {api.csrf}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b'"code": "timeout"' in await asyncio.wait_for(reader.read(), 30)  # read to EOF: closed
    writer.close()


FD_LIMIT = 256


@pytest.fixture
def small_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, tmp_path, {
        "WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(),
        "WEBCHAT_MAX_SOCKETS_PER_ACCOUNT": "0", "WEBCHAT_MAX_SOCKETS_PER_ADDRESS": "0"})
    server.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    server.start()
    yield server
    server.stop()


async def test_fd_budget_refuses_sockets_and_keeps_health(small_server: ServerProcess) -> None:
    base = small_server.base
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     connector=aiohttp.TCPConnector(limit=0)) as s:
        await (await s.get(base + "/webchat/me")).read()
        status = 0
        for _ in range(FD_LIMIT):
            try:
                ws = await s.ws_connect(base + "/ws/webchat/", heartbeat=None)
            except aiohttp.WSServerHandshakeError as e:
                status = e.status
                break
            sockets.append(ws)
            await ws.receive(timeout=10)
        # refused with 503 while descriptors are left for everything else
        assert status == 503 and len(sockets) < FD_LIMIT
        async with s.get(base + "/healthz") as r:
            assert r.status == 200
        async with s.get(base + "/webchat/chats/") as r:
            assert r.status == 200
        for ws in sockets:
            await ws.close()
    assert f"open file limit is {FD_LIMIT}" in small_server.log.read_text()


async def _idle(host: str, port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """An idle TCP connection from `source` that sends nothing, or None if it could not connect."""
    try:
        return await asyncio.open_connection(host, port, local_addr=(source, 0))
    except OSError:
        return None


async def _closed_by_server(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> bool:
    if conn is None:
        return True
    try:
        return await asyncio.wait_for(conn[0].read(1), 3) == b""
    except TimeoutError:
        return False  # still open, as an idle connection within the header timeout is
    except OSError:
        return True  # reset


async def test_idle_connections_are_capped_per_address_at_accept(settings: Settings, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(replace(settings, max_connections_per_address=20)))
    host, port = str(client.host), int(client.port)  # type: ignore[arg-type]
    flood = [await _idle(host, port, "127.0.0.2") for _ in range(40)]
    closed = await asyncio.gather(*(_closed_by_server(c) for c in flood))
    # the first 20 are held (idle, within the header timeout); the rest were closed at accept
    assert closed.count(False) == 20 and closed.count(True) == 20
    # another address is not affected
    reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.3", 0))
    writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await reader.read()).startswith(b"HTTP/1.1 200")
    writer.close()
    # a connection freed is a connection the address may open again
    for conn in flood:
        if conn is not None:
            conn[1].close()
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
    writer.write(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await reader.read()).startswith(b"HTTP/1.1 200")
    writer.close()


@pytest.fixture
def small_uncapped_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, tmp_path, {
        "WEBCHAT_SECRET_KEY": Fernet.generate_key().decode(), "WEBCHAT_MAX_CONNECTIONS_PER_ADDRESS": "0",
        "WEBCHAT_MAX_SOCKETS_PER_ACCOUNT": "0", "WEBCHAT_MAX_SOCKETS_PER_ADDRESS": "0"})
    server.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    server.start()
    yield server
    server.stop()


async def test_idle_flood_leaves_the_reserve_for_health_and_the_database(
        small_uncapped_server: ServerProcess) -> None:
    port = small_uncapped_server.port
    # more idle connections than the process has descriptors, from many addresses (no per-address cap)
    flood = [await _idle("127.0.0.1", port, f"127.0.1.{i % 50 + 1}") for i in range(FD_LIMIT + 44)]
    closed = await asyncio.gather(*(_closed_by_server(c) for c in flood))
    assert closed.count(True) > 0  # turned away at the budget
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(small_uncapped_server.base + "/healthz") as r:
            assert r.status == 200  # health still answers from loopback
        async with s.get(small_uncapped_server.base + "/webchat/me") as r:
            assert r.status == 200  # and the database pool still has descriptors
    for conn in flood:
        if conn is not None:
            conn[1].close()
