"""Delivery under abuse: hostile NOTIFY payloads, membership changed while the listener is away,
cursors of thousands of chats."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from webchat_server.db import q
from webchat_server.realtime.delivery import delivery_key
from webchat_server.realtime.hub import hub_key
from webchat_server.realtime.kinds.messages import message_event
from webchat_server.realtime.listener import listener_key
from webchat_server.realtime.protocol import CHANNEL

from .conftest import Api, collect, next_event, quiet
from .realtime_helpers import add_member, insert, make_bot


def metrics(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


async def test_malformed_notifications_disturb_nobody(api: Api, client: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("hi"))["chat_id"]
    bot = await make_bot(sql, chat)
    ws = await api.ws()
    await next_event(ws)
    bad = ['{"t":"m","r":5}', '{"t":"y"}', '{"t":"m","r":[[1]]}', "garbage", '{"t":"zz","r":[[1]]}', "[1]",
           '{"t":"m","r":[[1,2,true,4]]}', '{"t":"j","r":[["x",1]]}', '{"t":"y","c":1,"a":2,"n":3,"on":true}', "{}"]
    for payload in bad:
        await sql.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
    await insert(sql, chat, bot, "after the garbage")
    got = await collect(ws, 1)
    assert got[0]["message"]["text"] == "after the garbage"
    assert await quiet(ws, 0.3, types=("resync",)) == []
    body = metrics(await (await client.get("/metrics")).text())
    rejected = sum(v for k, v in body.items() if k.startswith("webchat_notifications_rejected_total"))
    assert rejected == len(bad)
    assert body['webchat_notifications_rejected_total{kind="m"}'] == 3
    assert body["webchat_slow_consumers_total"] == 0
    assert client.server.app[listener_key].healthy
    await ws.close()


async def test_membership_changed_while_listener_away_is_reconciled(api: Api, new_api: Any, client: Any,
                                                                      sql: asyncpg.Connection) -> None:
    chat = (await api.send("hello"))["chat_id"]
    bob, carol = await new_api(), await new_api()
    await add_member(sql, chat, bob.id)
    bot = await make_bot(sql, chat)
    sockets = {name: await who.ws() for name, who in (("alice", api), ("bob", bob), ("carol", carol))}
    for ws in sockets.values():
        assert (await next_event(ws))["type"] == "connection"
    listener = client.server.app[listener_key]
    hub = client.server.app[hub_key]
    # hold the listener out: its reconnects are refused until the real address is back
    url, listener.url = listener.url, "postgresql://nobody@127.0.0.1:1/none"
    assert await sql.fetchval("SELECT pg_terminate_backend($1)", listener.backend_pid)
    for _ in range(100):
        if not listener.connected:
            break
        await asyncio.sleep(0.05)
    assert not listener.connected
    # membership changes nobody here hears of
    await sql.execute("DELETE FROM webchat.chat_members WHERE chat_id = $1 AND account_id = $2", chat, bob.id)
    await add_member(sql, chat, carol.id)
    await insert(sql, chat, bot, "while away")
    assert (await bob.get("/webchat/messages/", chat_id=chat)).status == 404
    listener.url = url
    for _ in range(200):
        if listener.healthy:
            break
        await asyncio.sleep(0.05)
    assert listener.healthy and listener.reconnects == 1
    # healthy means reconciled: bob is no longer subscribed, carol is
    by_account = {s.account_id: s for s in hub.subscribers()}
    assert chat not in by_account[bob.id].positions and chat in by_account[carol.id].positions
    ev = await next_event(sockets["bob"], skip=("read",))
    assert ev == {"type": "chat_updated", "chat_id": chat, "chat": {"id": chat, "deleted": True}}
    ev = await next_event(sockets["carol"])
    assert ev["type"] == "chat_updated" and ev["chat"]["id"] == chat
    assert [e["message"]["text"] for e in await collect(sockets["carol"], 2)] == ["hello", "while away"]
    assert [e["message"]["text"] for e in await collect(sockets["alice"], 1)] == ["while away"]
    # and from now on live: carol gets new messages, bob does not
    await insert(sql, chat, bot, "live")
    for name in ("alice", "carol"):
        assert [e["message"]["text"] for e in await collect(sockets[name], 1)] == ["live"]
    assert await quiet(sockets["bob"], 0.5) == []
    for ws in sockets.values():
        await ws.close()


async def test_resume_in_5000_chats_over_ws_and_post_poll(api: Api, client: Any, sql: asyncpg.Connection) -> None:
    await api.send("first chat")
    bot_id = await sql.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'B') RETURNING id")
    chats: list[int] = [r["id"] for r in await sql.fetch(
        "INSERT INTO webchat.chats (title, created_by) SELECT 'c' || i, $1 FROM generate_series(1, 4999) i "
        "RETURNING id", api.id)]
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) "
                      "SELECT c, a FROM unnest($1::bigint[]) c, unnest(ARRAY[$2, $3]::bigint[]) a",
                      chats, api.id, bot_id)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                      "SELECT c, $2, 'm' FROM unnest($1::bigint[]) c", chats, bot_id)
    r = await api.post("/webchat/poll/", {"cursor": None, "timeout": 0})
    assert r.status == 200, await r.text()
    cursor = (await r.json())["cursor"]
    assert cursor.count(",") == 4999 and len(cursor) > 16_000
    # too long for a URL ...
    assert (await api.get("/webchat/poll/", cursor=cursor, timeout=0)).status == 400
    # ... fine in a POST body
    picked = [chats[0], chats[2500], chats[-1]]
    for c in picked:
        await insert(sql, c, bot_id, f"missed in {c}")
    r = await api.post("/webchat/poll/", {"cursor": cursor, "timeout": 5})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert sorted(e["chat_id"] for e in body["events"] if e["type"] == "new_message") == sorted(picked)
    # and in the first WebSocket frame
    for c in picked:
        await insert(sql, c, bot_id, f"missed again in {c}")
    ws = await api.ws(headers={}, resume=True)
    await ws.send_str(json.dumps({"type": "resume", "cursor": body["cursor"]}))
    hello = await next_event(ws, timeout=20)
    assert hello["type"] == "connection" and hello["cursor"].count(",") == 4999
    got = await collect(ws, 3, timeout=20)
    assert sorted((e["chat_id"], e["message"]["text"]) for e in got) == sorted(
        (c, f"missed again in {c}") for c in picked)
    assert await quiet(ws, 0.5) == []
    await insert(sql, chats[10], bot_id, "live")
    assert (await collect(ws, 1))[0]["chat_id"] == chats[10]
    await ws.close()


async def test_bad_resume_frame_is_refused(api: Api) -> None:
    ws = await api.ws(resume=True)
    await ws.send_str(json.dumps({"type": "ping"}))
    msg = await ws.receive(timeout=5)
    assert msg.type.name in ("CLOSE", "CLOSED") and ws.close_code == 4400
    ws = await api.ws(resume=True)
    await ws.send_str(json.dumps({"type": "resume", "cursor": "not a cursor"}))
    await ws.receive(timeout=5)
    assert ws.close_code == 4400


async def test_long_poll_pages_a_large_gap_in_bounded_answers(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("start"))["chat_id"]
    bot = await make_bot(sql, chat)
    cursor = (await (await api.post("/webchat/poll/", {"cursor": None, "timeout": 0})).json())["cursor"]
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                      "SELECT $1, $2, repeat('p', 9000) FROM generate_series(1, 300)", chat, bot)
    seqs: list[int] = []
    answers = 0
    while len(seqs) < 300:
        r = await api.post("/webchat/poll/", {"cursor": cursor, "timeout": 5})
        raw = await r.read()
        # each answer stops at the waiter's byte budget (256 KiB) plus at most one event
        assert len(raw) < 300 * 1024
        body = json.loads(raw)
        seqs += [e["message"]["seq"] for e in body["events"] if e["type"] == "new_message"]
        cursor = body["cursor"]
        answers += 1
    assert seqs == list(range(2, 302))
    assert answers >= 10


class _GatedPool:
    """The real pool, except that a reader's membership read waits at a gate the test opens."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if query == q("memberships_with_seq") and not self.release.is_set():
            self.entered.set()
            await self.release.wait()
        return await self.pool.fetch(query, *args)  # type: ignore[no-any-return]


async def test_reconcile_during_attach_keeps_the_readers_cursor(api: Api, client: Any,
                                                                sql: asyncpg.Connection) -> None:
    """A reconcile (listener back) that runs while a socket is between register and its membership
    read must not subscribe it at "no known position": that replaced the client's cursor, so the
    socket got the chat's latest changes instead of everything after its cursor (a silent gap)."""
    chat = (await api.send("first"))["chat_id"]
    bot = await make_bot(sql, chat)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                      "SELECT $1, $2, 'm' || i FROM generate_series(2, 200) i", chat, bot)
    last = await sql.fetchval("SELECT last_seq FROM webchat.chats WHERE id = $1", chat)
    assert last == 200
    await asyncio.sleep(0.3)  # the notifications of those rows are fanned out (to nobody)
    app = client.server.app
    delivery = app[delivery_key]
    gated = _GatedPool(delivery.pool)
    delivery.pool = gated
    connecting = asyncio.create_task(api.ws(f"{chat}.71"))
    await asyncio.wait_for(gated.entered.wait(), 5)
    await delivery.reconcile()  # what the listener runs when it is back
    gated.release.set()
    ws = await connecting
    hello = await next_event(ws)
    assert hello["type"] == "connection" and hello["cursor"] == f"{chat}.71"
    got = await collect(ws, 129)
    assert [e["message"]["seq"] for e in got] == list(range(72, 201))
    assert await quiet(ws, 0.3) == []
    delivery.pool = gated.pool
    await ws.close()


async def test_a_frame_a_closing_socket_drops_moves_no_position(api: Api, client: Any,
                                                                 sql: asyncpg.Connection) -> None:
    """A write to a closing transport is dropped by asyncio: the subscriber leaves the hub and its
    position stays where the client's is (it used to move as if the frame had been written)."""
    chat = (await api.send("first"))["chat_id"]
    ws = await api.ws()
    assert (await next_event(ws))["type"] == "connection"
    hub = client.server.app[hub_key]
    (sub,) = [s for s in hub.subscribers() if s.account_id == api.id]
    assert sub.positions[chat] == 1
    row = await sql.fetchrow("SELECT * FROM webchat.message_view WHERE chat_id = $1", chat)
    later = message_event(row, True, 2)  # as if seq 2 had been committed
    sub.transport.close()  # same tick: the handler has not seen the close yet
    assert sub.replay(later) is False
    assert sub.positions[chat] == 1 and sub.closed and sub not in hub.subscribers()
    await ws.close()
