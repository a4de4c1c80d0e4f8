"""Live delivery: WebSocket and long-poll, exactly once, across disconnects and failures."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
from typing import Any

import aiohttp
import asyncpg
import pytest

from webchat_server.realtime.cursor import Keeper
from webchat_server.realtime.hub import hub_key, sockets_key
from webchat_server.realtime.listener import listener_key

from .conftest import Api, collect, next_event, quiet
from .realtime_helpers import add_member, insert, make_bot


async def poll(api: Api, cursor: str | None = None, timeout: float = 10) -> dict[str, Any]:
    params: dict[str, Any] = {"timeout": timeout}
    if cursor is not None:
        params["cursor"] = cursor
    r = await api.get("/webchat/poll/", **params)
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


async def test_sql_insert_reaches_ws_and_parked_poll(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("hi"))["chat_id"]
    bot = await make_bot(sql, chat)
    ws = await api.ws()
    hello = await next_event(ws)
    assert hello["type"] == "connection" and hello["account_id"] == api.id and hello["cursor"]
    start = await poll(api)  # no cursor: returns at once with the current position
    assert start["events"] == []
    parked = asyncio.create_task(poll(api, start["cursor"], timeout=30))
    await asyncio.sleep(0.3)
    assert not parked.done()
    big = "€" + "x" * 100_000 + "end"
    await insert(sql, chat, bot, big)
    ev = (await collect(ws, 1))[0]
    assert ev["chat_id"] == chat and ev["message"]["text"] == big and ev["message"]["seq"] == 2
    assert ev["message"]["is_outgoing"] is True
    got = await asyncio.wait_for(parked, 5)
    assert [e["message"]["text"] for e in got["events"] if e["type"] == "new_message"] == [big]
    await ws.close()


async def test_each_session_gets_each_event_once(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("m1"))["chat_id"]
    bob, eve = await new_api(), await new_api()
    await add_member(sql, chat, bob.id)
    bot = await make_bot(sql, chat)
    tabs = [await api.ws(), await api.ws(), await bob.ws()]
    eve_ws = await eve.ws()
    for ws in [*tabs, eve_ws]:
        assert (await next_event(ws))["type"] == "connection"
    eve_poll = asyncio.create_task(poll(eve, (await poll(eve))["cursor"], timeout=2))
    await api.send("m2", chat)
    await insert(sql, chat, bot, "m3")
    await bob.send("m4", chat)
    await insert(sql, chat, bot, "m5")
    for ws in tabs:
        got = await collect(ws, 4)
        assert [e["message"]["seq"] for e in got] == [2, 3, 4, 5]
        assert await quiet(ws, 0.3) == []
    assert await quiet(eve_ws, 0.3) == []
    assert (await eve_poll)["events"] == []
    for ws in [*tabs, eve_ws]:
        await ws.close()


async def test_resume_after_disconnect_ws(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("first"))["chat_id"]
    bot = await make_bot(sql, chat)
    keeper = Keeper()
    ws = await api.ws()
    keeper.see(await next_event(ws))
    await insert(sql, chat, bot, "seen")
    for ev in await collect(ws, 1):
        keeper.see(ev)
    await ws.close()
    for i in range(50):
        await insert(sql, chat, bot, f"missed {i}")
    ws = await api.ws(keeper.value)
    got = await collect(ws, 50)
    assert [e["message"]["seq"] for e in got] == list(range(3, 53))
    assert [e["message"]["text"] for e in got] == [f"missed {i}" for i in range(50)]
    assert await quiet(ws, 0.3) == []
    await ws.close()


async def test_resume_after_disconnect_poll_and_switching(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("first"))["chat_id"]
    bot = await make_bot(sql, chat)
    cursor = (await poll(api))["cursor"]
    for i in range(50):
        await insert(sql, chat, bot, f"p{i}")
    seqs: list[int] = []
    while len(seqs) < 50:
        body = await poll(api, cursor, timeout=5)
        seqs += [e["message"]["seq"] for e in body["events"] if e["type"] == "new_message"]
        cursor = body["cursor"]
    assert seqs == list(range(2, 52))

    # WS -> poll -> WS, writing all along: nothing lost, nothing twice
    keeper = Keeper()
    keeper.reset(cursor)
    ws = await api.ws(keeper.value)
    keeper.see(await next_event(ws))
    await insert(sql, chat, bot, "w1")
    for ev in await collect(ws, 1):
        keeper.see(ev)
        seqs.append(ev["message"]["seq"])
    await ws.close()
    await insert(sql, chat, bot, "between")
    body = await poll(api, keeper.value, timeout=5)
    seqs += [e["message"]["seq"] for e in body["events"] if e["type"] == "new_message"]
    await insert(sql, chat, bot, "after poll")
    ws = await api.ws(body["cursor"])
    seqs += [e["message"]["seq"] for e in await collect(ws, 1)]
    assert await quiet(ws, 0.3) == []
    await ws.close()
    assert seqs == list(range(2, 55))


async def test_edits_and_deletes_are_events_and_resumable(api: Api) -> None:
    sent = await api.send("typo")
    chat, mid = sent["chat_id"], sent["message"]["id"]
    keeper = Keeper()
    ws = await api.ws()
    keeper.see(await next_event(ws))
    await api.patch(f"/webchat/messages/{mid}/", {"text": "fixed"})
    ev = (await collect(ws, 1, types=("message_updated",)))[0]
    keeper.see(ev)
    assert ev["message"]["text"] == "fixed" and ev["message"]["edited_at"]
    await ws.close()
    await api.delete(f"/webchat/messages/{mid}/")
    ws = await api.ws(keeper.value)
    ev = (await collect(ws, 1, types=("message_updated", "new_message")))[0]
    assert ev["type"] == "message_updated" and ev["message"]["deleted"] and ev["chat_id"] == chat
    await ws.close()


async def test_concurrent_writers_while_client_reconnects(api: Api, database_url: str, sql: asyncpg.Connection) -> None:
    chat = (await api.send("start"))["chat_id"]
    bot = await make_bot(sql, chat)
    total_per_writer, writers = 60, 3

    async def writer(n: int) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for i in range(total_per_writer):
                await insert(conn, chat, bot, f"{n}-{i}")
                await asyncio.sleep(random.uniform(0, 0.01))
        finally:
            await conn.close()

    keeper = Keeper()
    keeper.reset((await poll(api))["cursor"])  # the client has seen seq 1
    writing = asyncio.gather(*(writer(n) for n in range(writers)))
    expected = 1 + total_per_writer * writers
    seen: list[int] = [1]
    ws = await api.ws(keeper.value)
    keeper.see(await next_event(ws))
    reconnects = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    budget = random.randint(1, 15)
    while len(seen) < expected and loop.time() < deadline:
        if budget == 0:
            # drop the connection mid-stream, then resume from what this client has seen
            await ws.close()
            reconnects += 1
            ws = await api.ws(keeper.value)
            budget = random.randint(1, 15)
        try:
            msg = await ws.receive(timeout=0.5)
        except TimeoutError:
            continue
        ev = json.loads(msg.data)
        keeper.see(ev)
        if ev["type"] == "new_message":
            seen.append(ev["message"]["seq"])
            budget -= 1
    await writing
    await ws.close()
    assert reconnects > 0
    assert seen == list(range(1, expected + 1))


async def test_listener_killed_while_inserting(api: Api, client: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("start"))["chat_id"]
    bot = await make_bot(sql, chat)
    ws = await api.ws()
    await next_event(ws)
    listener = client.server.app[listener_key]
    cursor = (await poll(api))["cursor"]
    polled: list[int] = []

    async def poller() -> None:
        nonlocal cursor
        while len(polled) < 100:
            body = await poll(api, cursor, timeout=5)
            polled.extend(e["message"]["seq"] for e in body["events"] if e["type"] == "new_message")
            cursor = body["cursor"]

    polling = asyncio.create_task(poller())
    for i in range(100):
        if i == 40:
            pid = listener.backend_pid
            assert pid
            assert await sql.fetchval("SELECT pg_terminate_backend($1)", pid)
        await insert(sql, chat, bot, f"m{i}")
        await asyncio.sleep(0.005)
    got = await collect(ws, 100, timeout=20)
    assert [e["message"]["seq"] for e in got] == list(range(2, 102))
    await asyncio.wait_for(polling, 20)
    assert polled == list(range(2, 102))
    assert listener.reconnects >= 1
    await ws.close()


async def test_typing_reaches_other_members_only(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("hi"))["chat_id"]
    bob = await new_api()
    await add_member(sql, chat, bob.id)
    bot = await make_bot(sql, chat, "Typist Bot")
    alice_ws, bob_ws = await api.ws(), await bob.ws()
    await next_event(alice_ws)
    await next_event(bob_ws)
    r = await api.post("/webchat/typing/", {"chat_id": chat, "is_typing": True})
    assert r.status == 200 and (await r.json())["sent"]
    ev = (await collect(bob_ws, 1, types=("typing",)))[0]
    assert ev == {**ev, "chat_id": chat, "is_typing": True, "account_id": api.id,
                  "user_name": api.account["display_name"]}
    assert await quiet(alice_ws, 0.3, types=("typing",)) == []
    # over the socket too, and stop-typing is never throttled away
    await bob_ws.send_str(json.dumps({"type": "typing", "chat_id": chat, "is_typing": False}))
    ev = (await collect(alice_ws, 1, types=("typing",)))[0]
    assert ev["is_typing"] is False and ev["account_id"] == bob.id
    # an integrating app types from SQL
    assert await sql.fetchval("SELECT webchat.typing($1, $2, true)", chat, bot)
    for ws in (alice_ws, bob_ws):
        ev = (await collect(ws, 1, types=("typing",)))[0]
        assert ev["user_name"] == "Typist Bot"
    # typing is never stored
    assert await sql.fetchval("SELECT count(*) FROM webchat.messages") == 1
    await alice_ws.close()
    await bob_ws.close()


async def test_ping_pong_and_chat_events(api: Api) -> None:
    ws = await api.ws()
    await next_event(ws)
    await ws.send_str(json.dumps({"type": "ping", "timestamp": 1234}))
    assert (await next_event(ws)) == {"type": "pong", "chat_id": None, "timestamp": 1234}
    created = (await (await api.post("/webchat/chats/", {"title": "New"})).json())["chat"]
    ev = await next_event(ws)
    assert ev["type"] == "chat_updated" and ev["chat"]["id"] == created["id"] and ev["chat"]["title"] == "New"
    await api.patch(f"/webchat/chats/{created['id']}/", {"title": "Renamed"})
    ev = await next_event(ws)
    assert ev["chat"]["title"] == "Renamed"
    await api.patch(f"/webchat/chats/{created['id']}/", {"is_archived": True})
    assert (await next_event(ws))["chat"]["is_archived"] is True
    # the new chat's messages arrive live without reconnecting
    await api.send("in new chat", created["id"])
    ev = (await collect(ws, 1))[0]
    assert ev["chat_id"] == created["id"] and ev["message"]["seq"] == 1
    await api.delete(f"/webchat/chats/{created['id']}/?hard=true")
    ev = await next_event(ws, skip=("read",))
    assert ev["type"] == "chat_updated" and ev["chat"] == {"id": created["id"], "deleted": True}
    await ws.close()


async def test_seed_poll_form(api: Api, sql: asyncpg.Connection) -> None:
    sent = await api.send("hello")
    chat, first_id = sent["chat_id"], sent["message"]["id"]
    bot = await make_bot(sql, chat)
    waiting = asyncio.create_task(api.get("/webchat/poll/", chat_id=chat, last_message_id=first_id, timeout=20))
    await asyncio.sleep(0.2)
    await insert(sql, chat, bot, "reply")
    r = await asyncio.wait_for(waiting, 5)
    body = await r.json()
    assert body["success"] and [m["text"] for m in body["messages"]] == ["reply"] and body["has_more"] is False
    r = await api.get("/webchat/poll/", chat_id=chat, last_message_id=0, timeout=0)
    assert [m["text"] for m in (await r.json())["messages"]] == ["hello", "reply"]


async def test_cross_origin_and_unauthenticated_ws_refused(api: Api, client: Any) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await api.ws(headers={"Origin": "https://evil.example"})
    assert e.value.status == 403
    ok = await api.ws(headers={"Origin": str(client.make_url("")).rstrip("/")})
    assert (await next_event(ok))["type"] == "connection"
    await ok.close()
    async with aiohttp.ClientSession() as anon:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await anon.ws_connect(client.make_url("/ws/webchat/"))
        assert e.value.status == 401


async def raw_ws(client: Any, path: str = "/ws/webchat/") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw socket that completes the upgrade with the client's cookie; reads only when told to."""
    cookie = "; ".join(f"{c.key}={c.value}" for c in client.session.cookie_jar)
    # a small receive window (set before connecting), so the server's writes back up sooner
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (client.host, client.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return reader, writer


async def read_frames(reader: asyncio.StreamReader) -> dict[str, Any]:
    """One server frame (unmasked text) from a raw socket."""
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    data = await reader.readexactly(n)
    if head[0] & 0x0F == 8:
        return {"type": "close", "code": struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None}
    return dict(json.loads(data))


async def test_slow_reader_pages_then_rejoins_live(settings: Any, sql: asyncpg.Connection,
                                                  aiohttp_client: Any) -> None:
    from dataclasses import replace

    from webchat_server.app import create_app

    client = await aiohttp_client(create_app(replace(settings, ws_high_water=32 * 1024)))
    api = await Api(client).start()
    chat = (await api.send("hi"))["chat_id"]
    bot = await make_bot(sql, chat)
    good = await api.ws()
    await next_event(good)
    reader, writer = await raw_ws(client)
    assert (await read_frames(reader))["type"] == "connection"
    hub = client.server.app[hub_key]
    text = "y" * 9_000
    reading = asyncio.create_task(collect(good, 1000, timeout=60))
    # one statement, 1000 rows of 9 kB: more than the kernel buffers and the slow socket's 32 kB
    # high-water mark can take
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                      "SELECT $1, $2, i || ':' || $3 FROM generate_series(0, 999) i", chat, bot, text)
    got = await reading
    assert [e["message"]["seq"] for e in got] == list(range(2, 1002))
    assert hub.paging_started >= 1  # the slow socket stopped taking live frames ...
    slow = [s for s in hub.subscribers() if s.kind == "ws" and s.paging]
    assert len(slow) == 1
    # ... and, read now at last, gets every row once, in order, from the database
    seqs = []
    while len(seqs) < 1000:
        ev = await asyncio.wait_for(read_frames(reader), 20)
        if ev["type"] == "new_message":
            seqs.append(ev["message"]["seq"])
    assert seqs == list(range(2, 1002))
    # then it is live again: a new row comes as a live frame
    await insert(sql, chat, bot, "live again")
    ev = await asyncio.wait_for(read_frames(reader), 10)
    assert ev["type"] == "new_message" and ev["message"]["text"] == "live again"
    assert not any(s.paging for s in hub.subscribers())
    assert hub.slow_consumers == 0
    writer.close()
    await good.close()


async def test_stalled_socket_is_closed_with_resync(settings: Any, sql: asyncpg.Connection,
                                                   aiohttp_client: Any) -> None:
    from dataclasses import replace

    from webchat_server.app import create_app

    client = await aiohttp_client(create_app(replace(settings, ws_high_water=16 * 1024, ws_stall_timeout=1.0)))
    api = await Api(client).start()
    chat = (await api.send("hi"))["chat_id"]
    bot = await make_bot(sql, chat)
    good = await api.ws()
    await next_event(good)
    reader, writer = await raw_ws(client)
    hub = client.server.app[hub_key]
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                      "SELECT $1, $2, repeat('z', 9000) FROM generate_series(1, 1000)", chat, bot)
    assert [e["message"]["seq"] for e in await collect(good, 1000, timeout=60)] == list(range(2, 1002))
    for _ in range(100):
        if hub.slow_consumers:
            break
        await asyncio.sleep(0.1)
    assert hub.slow_consumers == 1
    assert sum(1 for s in hub.subscribers() if s.kind == "ws") == 1
    # the server gave up on it: after what was buffered (resync and close 4008 if they got
    # through before the server aborted the stalled connection), the connection ends
    try:
        while (last := await asyncio.wait_for(read_frames(reader), 10))["type"] != "close":
            pass
        assert last["code"] == 4008
    except asyncio.IncompleteReadError:
        pass
    assert len(client.server.app[sockets_key].items) == 1
    writer.close()
    await good.close()


@pytest.mark.slow
async def test_idle_poll_waiters_cost_no_queries(api: Api, client: Any, sql: asyncpg.Connection) -> None:
    await api.send("hi")
    cursor = (await poll(api))["cursor"]
    listener = client.server.app[listener_key]

    async def xacts() -> int:
        await sql.execute("SELECT pg_stat_clear_snapshot()")
        return int(await sql.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))

    parked = [asyncio.create_task(poll(api, cursor, timeout=20)) for _ in range(30)]
    # each poll ran one membership query on arrival; a backend may report its statistics up to
    # 10 s after its last transaction, so let those reports land before counting
    await asyncio.sleep(11)
    probes, before = listener.queries, await xacts()
    await asyncio.sleep(2.0)
    # a health probe is one transaction, its pg_notify
    during = await xacts() - before - (listener.queries - probes)
    # what is left is this test's own stats reads; one query per waiter per second would add 60
    assert during <= 5, during  # probes near the window edges may land on either side
    assert not any(t.done() for t in parked)
    for t in parked:
        t.cancel()
    await asyncio.gather(*parked, return_exceptions=True)


async def test_health_and_metrics(api: Api, client: Any, sql: asyncpg.Connection) -> None:
    r = await client.get("/healthz")
    body = await r.json()
    assert r.status == 200 and body["status"] == "ok" and body["listener"] == "ok" and body["database"] == "ok"
    chat = (await api.send("hi"))["chat_id"]
    ws = await api.ws()
    await next_event(ws)
    bot = await make_bot(sql, chat)
    await insert(sql, chat, bot, "counted")
    await collect(ws, 1)
    text = await (await client.get("/metrics")).text()
    metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert metrics["webchat_ws_connections"] == 1
    assert metrics["webchat_events_delivered_total"] >= 1
    assert metrics["webchat_notifications_total"] >= 1
    assert metrics["webchat_listener_healthy"] == 1
    assert metrics["webchat_listener_reconnects_total"] == 0
    await ws.close()


async def test_demo_bot_answers_by_inserting_rows(api: Api, database_url: str) -> None:
    from webchat_server.bot import DemoBot

    bot = DemoBot(database_url, reply_delay=0.05)
    running = asyncio.create_task(bot.run())
    try:
        for _ in range(100):  # until it is LISTENing
            if bot.bot_id:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        keeper = Keeper()
        keeper.reset((await poll(api))["cursor"])
        ws = await api.ws(keeper.value)
        await next_event(ws)
        await api.send("hello")  # a new chat: the bot joins it, shows typing, answers
        events = await collect(ws, 3, types=("typing", "new_message"))
        typing, reply = events[1], events[2]
        assert [e["type"] for e in events] == ["new_message", "typing", "new_message"]
        assert typing["user_name"] == "Demo Bot" and typing["is_typing"] is True
        assert reply["message"]["sender_kind"] == "bot" and reply["message"]["is_outgoing"] is True
        assert reply["message"]["text"] == f"Hello {api.account['display_name']}! Ask me for 'help'."
        await ws.close()
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_bad_websocket_frames_get_errors_not_crashes(api: Api, new_api: Any) -> None:
    other_chat = (await (await new_api()).send("not yours"))["chat_id"]
    ws = await api.ws()
    await next_event(ws)
    await ws.send_str("{not json")
    assert (await next_event(ws))["error"]["code"] == "bad_request"
    await ws.send_str(json.dumps({"type": "typing", "chat_id": "x"}))
    assert (await next_event(ws))["error"]["code"] == "bad_request"
    await ws.send_str(json.dumps({"type": "typing", "chat_id": other_chat, "is_typing": True}))
    assert (await next_event(ws))["error"]["code"] == "not_found"
    await ws.send_str(json.dumps(["a", "list"]))
    await ws.send_str(json.dumps({"type": "ping", "timestamp": 7}))
    assert (await next_event(ws)) == {"type": "pong", "chat_id": None, "timestamp": 7}
    # an oversized frame closes the socket with "message too big"; the server stays up
    await ws.send_str("x" * 70_000)
    msg = await ws.receive(timeout=5)
    assert msg.type.name in ("CLOSE", "CLOSED") and ws.close_code == 1009
    assert (await api.get("/webchat/me")).status == 200
